// One Neutron collection (`/v2.0/vpn/<collection>`): create, get, update, delete and paged list, with every response
// parsed by the kind's zod schema. The VPNaaS kinds other than VPN services use it (src/cloud/vpnaas.ts). A listing
// call reads at most the limits' pages, objects and bytes (src/cloud/limits.ts).
import { z } from 'zod';
import { CloudError } from './errors.ts';
import type { HttpResponse } from './http.ts';
import { DEFAULT_LIMITS, ListingBudget, type CloudLimits } from './limits.ts';
import { Redactor } from './redact.ts';
import type { NetworkSession } from './session.ts';

/** 400s that mean "in use" (neutron-lib raises these as BadRequest). */
const IN_USE_CODES = new Set(['EndpointGroupInUse']);

export interface CollectionSpec<S extends z.ZodType<{ id: string }>> {
  /** URL path under the endpoint, e.g. `/vpn/ikepolicies`. */
  path: string;
  /** The JSON key of one resource (`ikepolicy`) and of a list (`ikepolicies`). */
  singular: string;
  plural: string;
  schema: S;
  /**
   * Request fields that hold secrets (a site connection's `psk`): their values are passed down as the request's
   * secrets, so that no error of a create or update quotes them, in any encoding (src/cloud/redact.ts).
   */
  secretFields?: readonly string[];
}

export class NeutronCollection<S extends z.ZodType<{ id: string }>, C extends object, U extends object> {
  readonly #session: NetworkSession;
  readonly #spec: CollectionSpec<S>;
  readonly #pageSize: number;
  readonly #limits: CloudLimits;

  constructor(session: NetworkSession, spec: CollectionSpec<S>, opts: { pageSize?: number; limits?: CloudLimits } = {}) {
    this.#session = session;
    this.#spec = spec;
    this.#pageSize = opts.pageSize ?? 1000;
    this.#limits = opts.limits ?? DEFAULT_LIMITS;
  }

  /** POST; fields left undefined are not sent. */
  async create(req: C): Promise<z.infer<S>> {
    const { path, singular } = this.#spec;
    const secrets = this.#secretsOf(req);
    const res = await this.#session.request({ method: 'POST', path, route: path, body: { [singular]: defined(req) }, secrets });
    return this.#one(res, 'POST', path, secrets);
  }

  /** GET one; a missing resource is a CloudError classified `notFound`. */
  async get(id: string): Promise<z.infer<S>> {
    const path = `${this.#spec.path}/${encodeURIComponent(id)}`;
    const res = await this.#session.request({ method: 'GET', path, route: `${this.#spec.path}/{id}` });
    return this.#one(res, 'GET', path);
  }

  /** PUT with the given fields. */
  async update(id: string, patch: U): Promise<z.infer<S>> {
    const path = `${this.#spec.path}/${encodeURIComponent(id)}`;
    const secrets = this.#secretsOf(patch);
    const res = await this.#session.request({ method: 'PUT', path, route: `${this.#spec.path}/{id}`, body: { [this.#spec.singular]: defined(patch) }, secrets });
    return this.#one(res, 'PUT', path, secrets);
  }

  /**
   * DELETE; 404 is thrown (classified `notFound`), 409 `conflict`. Neutron refuses to delete an endpoint group in
   * use with 400 `EndpointGroupInUse` (a BadRequest in neutron-lib, seen on the real one): that one is classified
   * `conflict` too (still in use, try again once nothing uses it), with its status and code kept.
   */
  async delete(id: string): Promise<void> {
    const path = `${this.#spec.path}/${encodeURIComponent(id)}`;
    try {
      await this.#session.request({ method: 'DELETE', path, route: `${this.#spec.path}/{id}` });
    } catch (e) {
      if (e instanceof CloudError && e.status === 400 && IN_USE_CODES.has(e.code ?? '')) {
        throw new CloudError({
          status: e.status,
          code: e.code,
          cloudMessage: e.cloudMessage,
          detail: e.detail,
          requestId: e.requestId,
          method: e.method,
          path: e.path,
          kind: 'conflict',
          cause: e,
        });
      }
      throw e;
    }
  }

  /**
   * GET the collection with filters (query parameters), following the `<plural>_links` next link to the end, within
   * the listing budget (a CloudError `ListingTooLarge` past it).
   */
  async list(filters: Record<string, string | undefined> = {}, opts: { pageSize?: number } = {}): Promise<Array<z.infer<S>>> {
    const { path: base, plural, schema } = this.#spec;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v !== undefined) q.append(k, v);
    q.append('limit', String(opts.pageSize ?? this.#pageSize));
    const pageSchema = z.object({
      [plural]: z.array(schema),
      [`${plural}_links`]: z.array(z.object({ rel: z.string(), href: z.string() })).nullish(),
    });
    const out: Array<z.infer<S>> = [];
    const seen = new Set<string>();
    const queries = new Set<string>();
    let query = q.toString();
    const budget = new ListingBudget(this.#limits, base);
    for (;;) {
      budget.beforePage();
      queries.add(query);
      const res = await this.#session.request({ method: 'GET', path: `${base}?${query}`, route: base });
      const parsed = pageSchema.safeParse(parseJson(res, 'GET', base));
      if (!parsed.success) throw invalidResponse(res, 'GET', base, parsed.error);
      const items = parsed.data[plural] as Array<z.infer<S>>;
      budget.afterPage(res.text, items.length);
      const links = parsed.data[`${plural}_links`] as Array<{ rel: string; href: string }> | null | undefined;
      let added = 0;
      for (const item of items) {
        if (seen.has(item.id)) continue;
        seen.add(item.id);
        out.push(item);
        added++;
      }
      const next = links?.find((l) => l.rel === 'next');
      if (!next || added === 0) break;
      // The next link's query is applied to our own endpoint (a proxy may build it with an internal host).
      let nextQuery: string;
      try {
        nextQuery = new URL(next.href, 'http://placeholder.invalid/').search.replace(/^\?/, '');
      } catch {
        break;
      }
      if (nextQuery === '' || queries.has(nextQuery)) break;
      query = nextQuery;
    }
    return out;
  }

  #one(res: HttpResponse, method: string, path: string, secrets: readonly string[] = []): z.infer<S> {
    const parsed = z.object({ [this.#spec.singular]: this.#spec.schema }).safeParse(parseJson(res, method, path));
    if (!parsed.success) throw invalidResponse(res, method, path, parsed.error, secrets);
    return parsed.data[this.#spec.singular] as z.infer<S>;
  }

  /** The values of the spec's secret fields in a request. */
  #secretsOf(req: object): string[] {
    const out: string[] = [];
    for (const f of this.#spec.secretFields ?? []) {
      const v = (req as Record<string, unknown>)[f];
      if (typeof v === 'string' && v !== '') out.push(v);
    }
    return out;
  }
}

function defined(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function parseJson(res: HttpResponse, method: string, path: string): unknown {
  try {
    return JSON.parse(res.text);
  } catch {
    throw new CloudError({ status: res.status, code: 'InvalidResponse', cloudMessage: 'response is not JSON', requestId: res.requestId, method, path });
  }
}

function invalidResponse(res: HttpResponse, method: string, path: string, err: z.ZodError, secrets: readonly string[] = []): CloudError {
  const issue = err.issues[0];
  return new CloudError({
    secrets: secrets.length > 0 ? new Redactor(secrets) : undefined,
    status: res.status,
    code: 'InvalidResponse',
    cloudMessage: `unexpected response${issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : ''}`,
    requestId: res.requestId,
    method,
    path: path.split('?')[0] ?? path,
  });
}
