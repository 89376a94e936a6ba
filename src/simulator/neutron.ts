// Neutron v2.0: VPN services (neutron-vpnaas), a minimal router read API and the version documents. Request
// checks run in the order neutron-server runs them (body → project info → unknown attributes → required and
// read-only attributes → value validation → policy/lookup → plugin validation), with its messages and types.
import { randomUUID } from 'node:crypto';
import { isRecord, json, NeutronFault, neutronErrorBody, noContent, pyStr } from './http.ts';
import type { Handler, RouteDef, SimRequest, SimResponse } from './http.ts';
import { requestToken, tokenRejected } from './keystone.ts';
import { isPending } from './store.ts';
import type { RouterRecord, VpnServiceRecord } from './store.ts';
import type { SimState } from './state.ts';

interface AuthContext {
  projectId: string | null;
  admin: boolean;
}

interface AttrSpec {
  post: boolean;
  put: boolean;
  /** Absent: required on POST. */
  default?: unknown;
  validate?: (v: unknown) => string | undefined;
  convert?: (v: unknown) => unknown;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export function isUuidLike(v: unknown): boolean {
  return typeof v === 'string' && UUID_RE.test(v.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1'));
}
const validateUuid = (v: unknown) => (isUuidLike(v) ? undefined : `'${pyStr(v)}' is not a valid UUID`);
const validateUuidOrNone = (v: unknown) => (v === null ? undefined : validateUuid(v));
const validateString = (max: number) => (v: unknown) => {
  if (typeof v !== 'string') return `'${pyStr(v)}' is not a valid string`;
  if (v.length > max) return `'${v}' exceeds maximum length of ${max}`;
  return undefined;
};
function convertToBoolean(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (l === 'true' || l === '1') return true;
    if (l === 'false' || l === '0') return false;
  }
  if (v === 0 || v === 1) return v === 1;
  throw new NeutronFault(400, 'InvalidInput', `Invalid input for operation: '${pyStr(v)}' cannot be converted to boolean.`);
}

// The vpnservice attribute map, in Neutron's order (neutron-lib vpn definition + vpn-flavors + project_id).
const ATTRS: Record<string, AttrSpec> = {
  id: { post: false, put: false },
  tenant_id: { post: true, put: false, validate: validateString(255) },
  name: { post: true, put: true, default: '', validate: validateString(255) },
  description: { post: true, put: true, default: '', validate: validateString(255) },
  subnet_id: { post: true, put: false, default: null, validate: validateUuidOrNone },
  router_id: { post: true, put: false, validate: validateUuid },
  admin_state_up: { post: true, put: true, default: true, convert: convertToBoolean },
  external_v4_ip: { post: false, put: false },
  external_v6_ip: { post: false, put: false },
  status: { post: false, put: false },
  flavor_id: { post: true, put: false, default: null, validate: validateUuidOrNone },
  project_id: { post: true, put: false, validate: validateString(255) },
};
const ATTR_NAMES = Object.keys(ATTRS);

function badRequest(message: string): NeutronFault {
  return new NeutronFault(400, 'HTTPBadRequest', message);
}
function serviceNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'VPNServiceNotFound', `VPNService ${id} could not be found`);
}
function routerNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'RouterNotFound', `Router ${id} could not be found`);
}

/** The JSON body as neutron-server's deserializer sees it: undefined when empty. */
function parseJson(req: SimRequest): unknown {
  const text = req.body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new NeutronFault(400, 'MalformedRequestBody', 'Malformed request body: Cannot understand JSON.');
  }
}

/** `prepare_request_body` for one vpnservice: returns the resource dict, filled and converted. */
function prepareBody(state: SimState, req: SimRequest, ctx: AuthContext, isCreate: boolean): Record<string, unknown> {
  const body = parseJson(req);
  if (body === undefined || body === null || body === false || (isRecord(body) && Object.keys(body).length === 0))
    throw badRequest('Resource body required');
  if (!isRecord(body)) throw badRequest('Body contains invalid data');
  if ('vpnservices' in body) throw badRequest('Bulk operation not supported');
  const res = body.vpnservice;
  if (res === undefined || res === null) throw badRequest("Unable to find 'vpnservice' in request body");
  if (!isRecord(res)) throw badRequest("Object 'vpnservice' contains invalid data");
  const dict: Record<string, unknown> = { ...res };

  // The seed cloud does not accept project_id at all.
  if (state.seedRules && 'project_id' in dict) throw badRequest("Unrecognized attribute(s) 'project_id'");

  // populate_project_id
  if ('tenant_id' in dict && !('project_id' in dict)) dict.project_id = dict.tenant_id;
  else if ('project_id' in dict && !('tenant_id' in dict)) dict.tenant_id = dict.project_id;
  if (dict.project_id !== dict.tenant_id) throw badRequest("'project_id' and 'tenant_id' do not match");
  if ('project_id' in dict && dict.project_id !== ctx.projectId && !ctx.admin)
    throw badRequest(
      "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request is not allowed for current user.",
    );
  if (isCreate && !('project_id' in dict)) {
    if (ctx.projectId === null) throw badRequest('Running without keystone AuthN requires that tenant_id is specified');
    dict.project_id = ctx.projectId;
    dict.tenant_id = ctx.projectId;
  }

  const unknown = Object.keys(dict).filter((k) => !(k in ATTRS));
  if (unknown.length > 0) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);

  if (isCreate) {
    for (const name of ATTR_NAMES) {
      const spec = ATTRS[name] as AttrSpec;
      if (spec.post) {
        if (!('default' in spec) && !(name in dict))
          throw badRequest(`Failed to parse request. Required attribute '${name}' not specified`);
        if (!(name in dict)) dict[name] = spec.default;
      } else if (name in dict) {
        throw badRequest(`Attribute '${name}' not allowed in POST`);
      }
    }
  } else {
    for (const name of ATTR_NAMES) {
      if (name in dict && !(ATTRS[name] as AttrSpec).put) throw badRequest(`Cannot update read-only attribute ${name}`);
    }
  }

  for (const name of ATTR_NAMES) {
    if (!(name in dict)) continue;
    const spec = ATTRS[name] as AttrSpec;
    if (spec.convert) dict[name] = spec.convert(dict[name]);
    const reason = spec.validate?.(dict[name]);
    if (reason !== undefined) throw badRequest(`Invalid input for ${name}. Reason: ${reason}.`);
  }

  if (state.seedRules) {
    if (typeof dict.name === 'string' && 'name' in res) {
      if (dict.name.length === 0) throw badRequest("Invalid input for name. Reason: '' is too short, minimum length is 1.");
      if (dict.name.length > 64) throw badRequest(`Invalid input for name. Reason: '${dict.name}' exceeds maximum length of 64.`);
    }
    if (dict.admin_state_up === false) throw badRequest('Invalid input for admin_state_up. Reason: only True is supported.');
  }
  return dict;
}

function visibleService(state: SimState, ctx: AuthContext, id: string): VpnServiceRecord | undefined {
  const rec = state.store.peek(id, state.now());
  if (!rec || !(ctx.admin || rec.tenant_id === ctx.projectId)) return undefined;
  return rec;
}

function visibleRouter(state: SimState, ctx: AuthContext, id: string): RouterRecord | undefined {
  const r = state.store.router(id);
  if (!r || !(ctx.admin || r.projectId === ctx.projectId)) return undefined;
  return r;
}

/** Only the requested `fields` (Neutron keeps the resource's own key order); all of them when none asked. */
function pickFields<T extends object>(rec: T, fields: string[]): Partial<T> {
  if (fields.length === 0) return { ...rec };
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(rec)) if (fields.includes(k)) (out as Record<string, unknown>)[k] = v;
  return out;
}

function fieldsOf(req: SimRequest): string[] {
  return req.query.getAll('fields').filter((f) => f !== '');
}

// ---- list

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
    // neutron-server really leaves the %d unformatted in this message.
    throw new NeutronFault(400, 'BadRequest', "Bad limit request: Limit must be an integer 0 or greater and not '%d'.");
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

function compareValues(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
}

function linkHref(req: SimRequest, params: URLSearchParams): string {
  return `${req.origin}${req.path}?${params.toString()}`;
}

function paginationLinks(req: SimRequest, items: VpnServiceRecord[], p: ListParams): Array<{ rel: string; href: string }> {
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

function listServices(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
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

// ---- create / update / delete

async function createService(state: SimState, req: SimRequest, ctx: AuthContext): Promise<SimResponse> {
  const dict = prepareBody(state, req, ctx, true);
  if (dict.flavor_id !== null) throw new NeutronFault(404, 'FlavorsPluginNotLoaded', 'Flavors plugin not found');
  const routerId = dict.router_id as string;
  const router = visibleRouter(state, ctx, routerId);
  if (!router) throw routerNotFound(routerId);
  if (router.gatewayV4 === null && router.gatewayV6 === null)
    throw new NeutronFault(400, 'RouterIsNotExternal', `Router ${routerId} has no external network gateway set`);
  const subnetId = dict.subnet_id as string | null;
  if (subnetId !== null && !router.subnets.has(subnetId))
    throw new NeutronFault(400, 'SubnetIsNotConnectedToRouter', `Subnet ${subnetId} is not connected to Router ${routerId}`);
  if (state.seedRules) {
    const existing = state.store.idsOnRouter(routerId).values().next();
    if (!existing.done)
      throw new NeutronFault(409, 'RouterInUseByVPNService', `Router ${routerId} is used by VPNService ${existing.value}`);
  }
  const rec = state.store.create(
    {
      name: dict.name as string,
      description: dict.description as string,
      routerId,
      subnetId,
      adminStateUp: dict.admin_state_up as boolean,
      tenantId: dict.tenant_id as string,
      externalV4Ip: router.gatewayV4,
      externalV6Ip: router.gatewayV6,
    },
    randomUUID(),
    state.now(),
  );
  // Committed: the hook sees the service exactly as the response will carry it.
  if (state.onCreate) await state.onCreate({ ...rec });
  return json(201, { vpnservice: rec });
}

function updateService(state: SimState, req: SimRequest, ctx: AuthContext, id: string): SimResponse {
  const dict = prepareBody(state, req, ctx, false);
  const rec = visibleService(state, ctx, id);
  if (!rec) throw serviceNotFound(id);
  if (isPending(rec.status))
    throw new NeutronFault(400, 'VPNStateInvalidToUpdate', `Invalid state ${rec.status} of vpnaas resource ${id} for updating`);
  const patch: { name?: string; description?: string; adminStateUp?: boolean } = {};
  if ('name' in dict) patch.name = dict.name as string;
  if ('description' in dict) patch.description = dict.description as string;
  if ('admin_state_up' in dict) patch.adminStateUp = dict.admin_state_up as boolean;
  const updated = state.store.update(id, patch, state.now());
  if (!updated) throw serviceNotFound(id);
  return json(200, { vpnservice: updated });
}

function deleteService(state: SimState, ctx: AuthContext, id: string): SimResponse {
  if (!visibleService(state, ctx, id)) throw serviceNotFound(id);
  if (state.store.inUse(id)) throw new NeutronFault(409, 'VPNServiceInUse', `VPNService ${id} is still in use`);
  state.store.delete(id);
  return noContent();
}

// ---- routers

function routerView(r: RouterRecord): Record<string, unknown> {
  const fixedIps: Array<{ subnet_id: string; ip_address: string }> = [];
  if (r.gatewayV4 !== null) fixedIps.push({ subnet_id: uuidFrom(r.id, 'v4'), ip_address: r.gatewayV4 });
  if (r.gatewayV6 !== null) fixedIps.push({ subnet_id: uuidFrom(r.id, 'v6'), ip_address: r.gatewayV6 });
  return {
    id: r.id,
    name: r.name,
    tenant_id: r.projectId,
    admin_state_up: true,
    status: 'ACTIVE',
    external_gateway_info:
      fixedIps.length > 0 ? { network_id: EXTERNAL_NETWORK_ID, enable_snat: true, external_fixed_ips: fixedIps } : null,
    description: '',
    routes: [],
    project_id: r.projectId,
  };
}

const EXTERNAL_NETWORK_ID = '5c4b3b44-7b0f-4b4c-9d2a-0c6f3f1e7a10';
/** A stable fake UUID derived from a router id (ids of its gateway subnets). */
function uuidFrom(id: string, salt: string): string {
  let h = 2166136261;
  const hex: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const ch of `${salt}:${round}:${id}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    hex.push(h.toString(16).padStart(8, '0'));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
}

function listRouters(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
  const ids = req.query.getAll('id').filter((v) => v !== '');
  const names = req.query.getAll('name').filter((v) => v !== '');
  const rows = state.store
    .routers()
    .filter((r) => ctx.admin || r.projectId === ctx.projectId)
    .filter((r) => (ids.length === 0 || ids.includes(r.id)) && (names.length === 0 || names.includes(r.name)))
    .sort((a, b) => compareValues(a.id, b.id));
  const fields = fieldsOf(req);
  return json(200, { routers: rows.map((r) => pickFields(routerView(r), fields)) });
}

// ---- routes

function authed(state: SimState, fn: (req: SimRequest, ctx: AuthContext) => SimResponse | Promise<SimResponse>): Handler {
  return async (req) => {
    const token = requestToken(state, req);
    if (!token) return tokenRejected(state);
    const user = state.identity.users.get(token.userId);
    const ctx: AuthContext = { projectId: token.projectId, admin: (user?.admin ?? false) && token.projectId !== null };
    try {
      return await fn(req, ctx);
    } catch (e) {
      if (e instanceof NeutronFault) return e.toResponse();
      throw e;
    }
  };
}

function param(req: SimRequest, name: string): string {
  return req.params[name] ?? '';
}

export function neutronRoutes(state: SimState): RouteDef[] {
  const p = state.networkPrefix;
  const versions: Handler = (req) =>
    json(200, { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${req.origin}${p}/v2.0/`, rel: 'self' }] }] });
  const resources = authed(state, (req) =>
    json(200, {
      resources: [
        ['router', 'routers'],
        ['vpnservice', 'vpn/vpnservices'],
      ].map(([name, collection]) => ({
        links: [{ href: `${req.origin}${p}/v2.0/${collection}`, rel: 'self' }],
        name,
        collection,
      })),
    }),
  );
  const extension = (alias: string, name: string, description: string) => ({
    alias,
    name,
    description,
    updated: '2012-08-01T10:00:00-00:00',
    links: [],
  });
  return [
    { method: 'GET', template: `${p}/`, handler: versions },
    ...(p === '' ? [] : [{ method: 'GET', template: p, handler: versions }]),
    { method: 'GET', template: `${p}/v2.0`, handler: resources },
    { method: 'GET', template: `${p}/v2.0/`, handler: resources },
    {
      method: 'GET',
      template: `${p}/v2.0/extensions`,
      handler: authed(state, () =>
        json(200, {
          extensions: [
            extension('router', 'Neutron L3 Router', 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.'),
            extension('external-net', 'Neutron external network', 'Adds external network attribute to network resource.'),
            extension('vpnaas', 'VPN service', 'Extension for VPN service'),
            extension('vpn-flavors', 'VPN Service Flavor Extension', 'Flavor support for vpnservice resource.'),
          ],
        }),
      ),
    },
    { method: 'GET', template: `${p}/v2.0/vpn/vpnservices`, handler: authed(state, (req, ctx) => listServices(state, req, ctx)) },
    { method: 'POST', template: `${p}/v2.0/vpn/vpnservices`, handler: authed(state, (req, ctx) => createService(state, req, ctx)) },
    {
      method: 'GET',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => {
        const id = param(req, 'id');
        const rec = visibleService(state, ctx, id);
        if (!rec) throw serviceNotFound(id);
        return json(200, { vpnservice: pickFields(rec, fieldsOf(req)) });
      }),
    },
    {
      method: 'PUT',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => updateService(state, req, ctx, param(req, 'id'))),
    },
    {
      method: 'DELETE',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => deleteService(state, ctx, param(req, 'id'))),
    },
    { method: 'GET', template: `${p}/v2.0/routers`, handler: authed(state, (req, ctx) => listRouters(state, req, ctx)) },
    {
      method: 'GET',
      template: `${p}/v2.0/routers/{id}`,
      handler: authed(state, (req, ctx) => {
        const id = param(req, 'id');
        const r = visibleRouter(state, ctx, id);
        if (!r) throw routerNotFound(id);
        return json(200, { router: pickFields(routerView(r), fieldsOf(req)) });
      }),
    },
  ];
}

/** Neutron's answer for a path it does not serve. */
export function neutronNotFound(): SimResponse {
  return json(404, neutronErrorBody('HTTPNotFound', 'The resource could not be found.'));
}
export function neutronMethodNotAllowed(): SimResponse {
  return json(405, neutronErrorBody('HTTPMethodNotAllowed', 'The server could not comply with the request since it is either malformed or otherwise incorrect.'));
}
