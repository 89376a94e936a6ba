// Neutron VPNaaS VPN services (`/v2.0/vpn/vpnservices`), as the seed page describes them. Request bodies carry only
// the seed's fields (never project_id); responses are parsed with zod and unknown fields are dropped.
import { z } from 'zod';
import { CloudError } from './errors.ts';
import type { HttpResponse } from './http.ts';
import { DEFAULT_LIMITS, ListingBudget, type CloudLimits } from './limits.ts';
import type { NetworkSession } from './session.ts';

const nullableString = z
  .string()
  .nullable()
  .optional()
  .transform((v) => v ?? null);

export const VpnServiceSchema = z.object({
  id: z.string().min(1),
  name: z
    .string()
    .nullable()
    .optional()
    .transform((v) => v ?? ''),
  description: z
    .string()
    .nullable()
    .optional()
    .transform((v) => v ?? ''),
  router_id: z.string(),
  subnet_id: nullableString,
  admin_state_up: z.boolean(),
  /** The cloud's status verbatim (PENDING_CREATE, ACTIVE, DOWN, BUILD, ERROR, PENDING_UPDATE, PENDING_DELETE). */
  status: z.string(),
  external_v4_ip: nullableString,
  external_v6_ip: nullableString,
  tenant_id: z.string().optional(),
  project_id: z.string().optional(),
});

/** A VPN service as the cloud reports it. */
export type VpnService = z.infer<typeof VpnServiceSchema>;

const PartialVpnServiceSchema = VpnServiceSchema.partial().extend({ id: z.string().min(1) });

/** POST body fields (the seed's request parameters). */
export interface CreateVpnServiceRequest {
  router_id: string;
  subnet_id?: string | null | undefined;
  name?: string | undefined;
  description?: string | undefined;
  admin_state_up?: boolean | undefined;
  tenant_id?: string | undefined;
}

/** PUT body fields (router_id and subnet_id are read-only in Neutron). */
export interface UpdateVpnServiceRequest {
  name?: string | undefined;
  description?: string | undefined;
  admin_state_up?: boolean | undefined;
}

export interface ListVpnServicesOptions {
  routerId?: string;
  name?: string;
  tenantId?: string;
  status?: string;
  /** Page size sent as `limit` (default: the client's page size, 1000). */
  pageSize?: number;
}

export type VpnServiceField = keyof VpnService;

export class VpnServiceClient {
  readonly #session: NetworkSession;
  readonly #pageSize: number;
  readonly #limits: CloudLimits;

  constructor(session: NetworkSession, opts: { pageSize?: number; limits?: CloudLimits } = {}) {
    this.#session = session;
    this.#pageSize = opts.pageSize ?? 1000;
    this.#limits = opts.limits ?? DEFAULT_LIMITS;
  }

  /** POST /v2.0/vpn/vpnservices. */
  async create(req: CreateVpnServiceRequest): Promise<VpnService> {
    const vpnservice: Record<string, unknown> = { router_id: req.router_id };
    if (req.subnet_id !== undefined) vpnservice.subnet_id = req.subnet_id;
    if (req.name !== undefined) vpnservice.name = req.name;
    if (req.description !== undefined) vpnservice.description = req.description;
    if (req.admin_state_up !== undefined) vpnservice.admin_state_up = req.admin_state_up;
    if (req.tenant_id !== undefined) vpnservice.tenant_id = req.tenant_id;
    const res = await this.#session.request({
      method: 'POST',
      path: '/vpn/vpnservices',
      route: '/vpn/vpnservices',
      body: { vpnservice },
    });
    return parseOne(res, 'POST', '/vpn/vpnservices');
  }

  /** GET /v2.0/vpn/vpnservices/{id}; a missing service is a CloudError classified `notFound`. */
  async get(id: string): Promise<VpnService> {
    const path = `/vpn/vpnservices/${encodeURIComponent(id)}`;
    const res = await this.#session.request({ method: 'GET', path, route: '/vpn/vpnservices/{id}' });
    return parseOne(res, 'GET', path);
  }

  /** PUT /v2.0/vpn/vpnservices/{id} with name, description and/or admin_state_up. */
  async update(id: string, patch: UpdateVpnServiceRequest): Promise<VpnService> {
    const vpnservice: Record<string, unknown> = {};
    if (patch.name !== undefined) vpnservice.name = patch.name;
    if (patch.description !== undefined) vpnservice.description = patch.description;
    if (patch.admin_state_up !== undefined) vpnservice.admin_state_up = patch.admin_state_up;
    const path = `/vpn/vpnservices/${encodeURIComponent(id)}`;
    const res = await this.#session.request({
      method: 'PUT',
      path,
      route: '/vpn/vpnservices/{id}',
      body: { vpnservice },
    });
    return parseOne(res, 'PUT', path);
  }

  /** DELETE /v2.0/vpn/vpnservices/{id}; 404 is thrown (classified `notFound`), 409 `conflict`. */
  async delete(id: string): Promise<void> {
    const path = `/vpn/vpnservices/${encodeURIComponent(id)}`;
    await this.#session.request({ method: 'DELETE', path, route: '/vpn/vpnservices/{id}' });
  }

  /**
   * GET /v2.0/vpn/vpnservices with filters, following `vpnservices_links` rel=next until the last page, within the
   * listing budget (a CloudError `ListingTooLarge` past it). With `fields`, only those fields (and `id`) are
   * requested and returned.
   */
  list(opts?: ListVpnServicesOptions): Promise<VpnService[]>;
  list<K extends VpnServiceField>(
    opts: ListVpnServicesOptions & { fields: readonly K[] },
  ): Promise<Array<Partial<Pick<VpnService, K>> & { id: string }>>;
  async list(
    opts: ListVpnServicesOptions & { fields?: readonly VpnServiceField[] } = {},
  ): Promise<Array<Partial<VpnService> & { id: string }>> {
    const q = new URLSearchParams();
    if (opts.routerId !== undefined) q.append('router_id', opts.routerId);
    if (opts.name !== undefined) q.append('name', opts.name);
    if (opts.tenantId !== undefined) q.append('tenant_id', opts.tenantId);
    if (opts.status !== undefined) q.append('status', opts.status);
    const fields = opts.fields;
    if (fields) {
      for (const f of new Set<string>(['id', ...fields])) q.append('fields', f);
    }
    q.append('limit', String(opts.pageSize ?? this.#pageSize));
    const schema = fields ? PartialVpnServiceSchema : VpnServiceSchema;

    const out: Array<Partial<VpnService> & { id: string }> = [];
    const seen = new Set<string>();
    const queries = new Set<string>();
    let query = q.toString();
    const budget = new ListingBudget(this.#limits, '/vpn/vpnservices');
    for (;;) {
      budget.beforePage();
      queries.add(query);
      const path = `/vpn/vpnservices?${query}`;
      const res = await this.#session.request({ method: 'GET', path, route: '/vpn/vpnservices' });
      const body = parseJson(res, 'GET', '/vpn/vpnservices');
      const pageSchema = z.object({
        vpnservices: z.array(schema),
        vpnservices_links: z
          .array(z.object({ rel: z.string(), href: z.string() }))
          .optional()
          .nullable(),
      });
      const parsed = pageSchema.safeParse(body);
      if (!parsed.success) throw invalidResponse(res, 'GET', '/vpn/vpnservices', parsed.error);
      budget.afterPage(res.text, parsed.data.vpnservices.length);
      let added = 0;
      for (const s of parsed.data.vpnservices) {
        if (seen.has(s.id)) continue;
        seen.add(s.id);
        out.push(s);
        added++;
      }
      const next = parsed.data.vpnservices_links?.find((l) => l.rel === 'next');
      if (!next || added === 0) break;
      // The next link's query (marker, limit, filters) is applied to our own endpoint: a cloud behind a proxy may
      // build the link with an internal host or scheme.
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
}

function parseJson(res: HttpResponse, method: string, path: string): unknown {
  try {
    return JSON.parse(res.text);
  } catch {
    throw new CloudError({
      status: res.status,
      code: 'InvalidResponse',
      cloudMessage: 'response is not JSON',
      requestId: res.requestId,
      method,
      path,
    });
  }
}

function invalidResponse(res: HttpResponse, method: string, path: string, err: z.ZodError): CloudError {
  const issue = err.issues[0];
  return new CloudError({
    status: res.status,
    code: 'InvalidResponse',
    cloudMessage: `unexpected response${issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : ''}`,
    requestId: res.requestId,
    method,
    path,
  });
}

function parseOne(res: HttpResponse, method: string, path: string): VpnService {
  const parsed = z.object({ vpnservice: VpnServiceSchema }).safeParse(parseJson(res, method, path));
  if (!parsed.success) throw invalidResponse(res, method, path, parsed.error);
  return parsed.data.vpnservice;
}
