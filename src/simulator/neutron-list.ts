// GET /v2.0/vpn/vpnservices: filters, fields, sorting and Neutron's limit/marker pagination with
// `vpnservices_links`, walking the id-ordered store from the marker so a page costs O(limit).
import { json, NeutronFault } from './http.ts';
import type { SimRequest, SimResponse } from './http.ts';
import type { RouterRecord, VpnServiceRecord } from './store.ts';
import type { SimState } from './state.ts';
import { ATTRS, badRequest, convertToBoolean, serviceNotFound } from './vpnservice-body.ts';
import type { AuthContext } from './vpnservice-body.ts';

export function visibleService(state: SimState, ctx: AuthContext, id: string): VpnServiceRecord | undefined {
  const rec = state.store.peek(id, state.now());
  if (!rec || !(ctx.admin || rec.tenant_id === ctx.projectId)) return undefined;
  return rec;
}

export function visibleRouter(state: SimState, ctx: AuthContext, id: string): RouterRecord | undefined {
  const r = state.store.router(id);
  if (!r || !(ctx.admin || r.projectId === ctx.projectId)) return undefined;
  return r;
}

/** Only the requested `fields` (Neutron keeps the resource's own key order); all of them when none asked. */
export function pickFields<T extends object>(rec: T, fields: string[]): Partial<T> {
  if (fields.length === 0) return { ...rec };
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(rec)) if (fields.includes(k)) (out as Record<string, unknown>)[k] = v;
  return out;
}

export function fieldsOf(req: SimRequest): string[] {
  return req.query.getAll('fields').filter((f) => f !== '');
}

interface ListParams {
  fields: string[];
  limit: number;
  marker: string | undefined;
  pageReverse: boolean;
  sorts: Array<[string, boolean]>;
  filters: Map<string, unknown[]>;
}

const SPECIAL_PARAMS = new Set(['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir']);

function listParams(req: SimRequest): ListParams {
  const q = req.query;
  const rawLimit = q.get('limit') ?? '0';
  const limit = /^\s*[+-]?\d+\s*$/.test(rawLimit) ? Number.parseInt(rawLimit, 10) : Number.NaN;
  if (!(limit >= 0))
    throw new NeutronFault(400, 'BadRequest', `Bad limit request: Limit must be an integer 0 or greater and not '${rawLimit}'.`);
  const keys = q.getAll('sort_key').filter((v) => v !== '');
  const dirs = q.getAll('sort_dir').filter((v) => v !== '');
  if (keys.length !== dirs.length) throw badRequest('The number of sort_keys and sort_dirs must be same');
  const absent = keys.filter((k) => !(k in ATTRS));
  if (absent.length > 0) throw badRequest(`[${absent.map((k) => `'${k}'`).join(', ')}] is invalid attribute for sort_keys`);
  const badDirs = dirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length > 0)
    throw badRequest(`[${badDirs.map((d) => `'${d}'`).join(', ')}] is invalid value for sort_dirs, valid value is 'asc' and 'desc'`);
  const filters = new Map<string, unknown[]>();
  for (const key of new Set(q.keys())) {
    if (SPECIAL_PARAMS.has(key) || !(key in ATTRS)) continue; // unknown filters are ignored
    let values: unknown[] = q.getAll(key).filter((v) => v !== '');
    if (key === 'admin_state_up') values = values.map(convertToBoolean);
    if (values.length > 0) filters.set(key === 'project_id' ? 'tenant_id' : key, values);
  }
  return {
    fields: fieldsOf(req),
    limit,
    marker: limit > 0 ? (q.get('marker') ?? undefined) : undefined,
    pageReverse: (q.get('page_reverse') ?? 'False').toLowerCase() === 'true',
    sorts: keys.map((k, i) => [k, dirs[i] === 'asc']),
    filters,
  };
}

function matches(rec: VpnServiceRecord, filters: Map<string, unknown[]>): boolean {
  for (const [key, values] of filters) {
    const v = (rec as unknown as Record<string, unknown>)[key];
    if (!values.some((f) => f === v || (v === null && f === 'None'))) return false;
  }
  return true;
}

export function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
}

function linkHref(req: SimRequest, params: URLSearchParams): string {
  return `${req.origin}${req.path}?${params.toString()}`;
}

function paginationLinks(req: SimRequest, items: ReadonlyArray<{ id: string }>, p: { limit: number; pageReverse: boolean }): Array<{ rel: string; href: string }> {
  const links: Array<{ rel: string; href: string }> = [];
  if (!p.limit) return links;
  if (!(items.length < p.limit && !p.pageReverse)) {
    const params = new URLSearchParams(req.query);
    params.delete('marker');
    const last = items[items.length - 1];
    if (last) params.append('marker', last.id);
    params.delete('page_reverse');
    links.push({ rel: 'next', href: linkHref(req, params) });
  }
  if (!(items.length < p.limit && p.pageReverse)) {
    const params = new URLSearchParams(req.query);
    params.delete('marker');
    const first = items[0];
    if (first) params.append('marker', first.id);
    params.delete('page_reverse');
    params.append('page_reverse', 'True');
    links.push({ rel: 'previous', href: linkHref(req, params) });
  }
  return links;
}

export function listServices(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
  const p = listParams(req);
  const { store } = state;
  const now = state.now();
  let marker: VpnServiceRecord | undefined;
  if (p.marker !== undefined) {
    marker = visibleService(state, ctx, p.marker);
    if (!marker) throw serviceNotFound(p.marker);
  }
  const visible = (rec: VpnServiceRecord) => (ctx.admin || rec.tenant_id === ctx.projectId) && matches(rec, p.filters);

  // Candidate ids in ascending order: from the id or router index when filtered by them (small), else all ids.
  const idFilter = p.filters.get('id');
  const routerFilter = p.filters.get('router_id');
  let indexed: string[] | null = null;
  if (idFilter || routerFilter) {
    const set = new Set<string>();
    if (idFilter) for (const id of idFilter) set.add(String(id));
    else for (const r of routerFilter ?? []) for (const id of store.idsOnRouter(String(r))) set.add(id);
    indexed = [...set].sort();
  }

  let items: VpnServiceRecord[] = [];
  if (p.sorts.length === 0) {
    // Ascending id order: walk from the marker and stop at the page's end.
    const reverse = p.pageReverse && p.limit > 0;
    let source: Iterable<string>;
    if (indexed) {
      const m = p.marker;
      let list = m === undefined ? indexed : indexed.filter((id) => (reverse ? id < m : id > m));
      if (reverse) list = list.reverse();
      source = list;
    } else {
      source = store.idsFrom(p.marker, reverse);
    }
    for (const id of source) {
      const rec = store.peek(id, now);
      if (rec && visible(rec)) items.push({ ...rec });
      if (p.limit && items.length >= p.limit) break;
    }
    if (reverse) items.reverse();
  } else {
    const sorts = p.sorts.some(([k]) => k === 'id') ? p.sorts : [...p.sorts, ['id', true] as [string, boolean]];
    const cmp = (a: VpnServiceRecord, b: VpnServiceRecord) => {
      for (const [k, asc] of sorts) {
        const c = compareValues((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k]);
        if (c !== 0) return asc ? c : -c;
      }
      return 0;
    };
    for (const id of indexed ?? store.idsFrom(undefined, false)) {
      const rec = store.peek(id, now);
      if (rec && visible(rec)) items.push({ ...rec });
    }
    items.sort(cmp);
    if (p.limit) {
      if (p.pageReverse) {
        const before = marker ? items.filter((r) => cmp(r, marker) < 0) : items;
        items = before.slice(Math.max(0, before.length - p.limit));
      } else {
        const after = marker ? items.filter((r) => cmp(r, marker) > 0) : items;
        items = after.slice(0, p.limit);
      }
    }
  }

  const body: Record<string, unknown> = { vpnservices: items.map((r) => pickFields(r, p.fields)) };
  if (p.limit) body.vpnservices_links = paginationLinks(req, items, p);
  return json(200, body);
}

// ---- any other collection (IKE/IPsec policies, endpoint groups, site connections: src/simulator/vpnaas.ts)

export interface Collection<R extends { id: string; tenant_id: string }> {
  /** The list's body key, e.g. `ikepolicies`. */
  plural: string;
  /** Attributes usable as sort keys (the attribute map's). */
  attrs: ReadonlySet<string>;
  /** Attributes a filter applies to (the model's columns: Neutron ignores filters on the others). */
  filters: ReadonlySet<string>;
  idsFrom(marker: string | undefined, reverse: boolean): Iterable<string>;
  /** The live record (status brought up to date), or undefined. */
  peek(id: string): R | undefined;
  /** Small candidate sets for a filter on an indexed attribute (e.g. `vpnservice_id`), unordered. */
  index?: Record<string, (value: string) => Iterable<string>>;
  notFound(id: string): NeutronFault;
}

function filterMatches(v: unknown, f: string): boolean {
  if (v === null) return f === 'None';
  if (typeof v === 'boolean') return convertToBoolean(f) === v;
  if (typeof v === 'number') return String(v) === f.trim();
  return v === f;
}

/** GET of a collection with Neutron's filters, `fields`, sorting and `limit`/`marker`/`page_reverse` pagination;
 * without sorting it walks the id order from the marker and stops at the page's end (O(page), not O(all)). */
export function listCollection<R extends { id: string; tenant_id: string }>(
  c: Collection<R>,
  req: SimRequest,
  ctx: AuthContext,
): SimResponse {
  const q = req.query;
  const rawLimit = q.get('limit') ?? '0';
  const limit = /^\s*[+-]?\d+\s*$/.test(rawLimit) ? Number.parseInt(rawLimit, 10) : Number.NaN;
  if (!(limit >= 0))
    throw new NeutronFault(400, 'BadRequest', `Bad limit request: Limit must be an integer 0 or greater and not '${rawLimit}'.`);
  const keys = q.getAll('sort_key').filter((v) => v !== '');
  const dirs = q.getAll('sort_dir').filter((v) => v !== '');
  if (keys.length !== dirs.length) throw badRequest('The number of sort_keys and sort_dirs must be same');
  const absent = keys.filter((k) => !c.attrs.has(k));
  if (absent.length > 0) throw badRequest(`[${absent.map((k) => `'${k}'`).join(', ')}] is invalid attribute for sort_keys`);
  const badDirs = dirs.filter((d) => d !== 'asc' && d !== 'desc');
  if (badDirs.length > 0)
    throw badRequest(`[${badDirs.map((d) => `'${d}'`).join(', ')}] is invalid value for sort_dirs, valid value is 'asc' and 'desc'`);
  const filters = new Map<string, string[]>();
  for (const key of new Set(q.keys())) {
    if (SPECIAL_PARAMS.has(key)) continue;
    const name = key === 'project_id' ? 'tenant_id' : key;
    if (!c.filters.has(name)) continue; // Neutron ignores them
    const values = q.getAll(key).filter((v) => v !== '');
    if (values.length > 0) filters.set(name, values);
  }
  const fields = fieldsOf(req);
  const pageReverse = (q.get('page_reverse') ?? 'False').toLowerCase() === 'true';
  const markerId = limit > 0 ? (q.get('marker') ?? undefined) : undefined;
  let marker: R | undefined;
  if (markerId !== undefined) {
    marker = c.peek(markerId);
    if (!marker || !(ctx.admin || marker.tenant_id === ctx.projectId)) throw c.notFound(markerId);
  }
  const visible = (rec: R) => {
    if (!(ctx.admin || rec.tenant_id === ctx.projectId)) return false;
    for (const [k, values] of filters) {
      const v = (rec as unknown as Record<string, unknown>)[k];
      if (!values.some((f) => filterMatches(v, f))) return false;
    }
    return true;
  };

  // Candidates in ascending id order: from an index when filtered by an indexed attribute (small), else all ids.
  let indexed: string[] | null = null;
  const idFilter = filters.get('id');
  const indexKey = Object.keys(c.index ?? {}).find((k) => filters.has(k));
  if (idFilter || indexKey) {
    const set = new Set<string>();
    if (idFilter) for (const id of idFilter) set.add(id);
    else for (const v of filters.get(indexKey as string) ?? []) for (const id of (c.index as Record<string, (v: string) => Iterable<string>>)[indexKey as string]!(v)) set.add(id);
    indexed = [...set].sort();
  }

  let items: R[] = [];
  if (keys.length === 0) {
    const reverse = pageReverse && limit > 0;
    let source: Iterable<string>;
    if (indexed) {
      const m = markerId;
      let list = m === undefined ? indexed : indexed.filter((id) => (reverse ? id < m : id > m));
      if (reverse) list = list.reverse();
      source = list;
    } else {
      source = c.idsFrom(markerId, reverse);
    }
    for (const id of source) {
      const rec = c.peek(id);
      if (rec && visible(rec)) items.push(structuredClone(rec));
      if (limit && items.length >= limit) break;
    }
    if (reverse) items.reverse();
  } else {
    const sorts: Array<[string, boolean]> = keys.map((k, i) => [k, dirs[i] === 'asc']);
    if (!keys.includes('id')) sorts.push(['id', true]);
    const cmp = (a: R, b: R) => {
      for (const [k, asc] of sorts) {
        const r = compareValues((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k]);
        if (r !== 0) return asc ? r : -r;
      }
      return 0;
    };
    for (const id of indexed ?? c.idsFrom(undefined, false)) {
      const rec = c.peek(id);
      if (rec && visible(rec)) items.push(structuredClone(rec));
    }
    items.sort(cmp);
    if (limit) {
      if (pageReverse) {
        const before = marker ? items.filter((r) => cmp(r, marker) < 0) : items;
        items = before.slice(Math.max(0, before.length - limit));
      } else {
        const after = marker ? items.filter((r) => cmp(r, marker) > 0) : items;
        items = after.slice(0, limit);
      }
    }
  }

  const body: Record<string, unknown> = { [c.plural]: items.map((r) => pickFields(r, fields)) };
  if (limit) body[`${c.plural}_links`] = paginationLinks(req, items, { limit, pageReverse });
  return json(200, body);
}
