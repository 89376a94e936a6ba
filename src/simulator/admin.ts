// The admin HTTP API under /_sim/… (JSON, no auth), mirroring the programmatic admin functions so an
// out-of-process driver (a demo, a benchmark) can steer the simulator.
import { z } from 'zod';
import { faultSpecSchema } from './faults.ts';
import type { FaultInfo, FaultSpec } from './faults.ts';
import { json, noContent } from './http.ts';
import { simProjectSchema, simUserSchema } from './identity.ts';
import type { SimProject, SimUser } from './identity.ts';
import type { Handler, RouteDef, SimRequest, SimResponse } from './http.ts';
import type { CountFilter, RequestLogEntry } from './counters.ts';
import { seedRouterSchema, vpnStatusSchema } from './store.ts';
import type { RouterRecord, SeedRouter, VpnServiceRecord, VpnStatus } from './store.ts';
import type { SiteConnectionRecord } from './vpnaas-store.ts';

export interface SimulatorConfig {
  activeDelayMs: number | null;
  seedRules: boolean;
  tokenTtlSeconds: number;
  updatePending: boolean;
}

export const configPatchSchema = z.object({
  activeDelayMs: z.number().nullable().optional(),
  seedRules: z.boolean().optional(),
  tokenTtlSeconds: z.number().positive().optional(),
  updatePending: z.boolean().optional(),
});
export type ConfigPatch = z.infer<typeof configPatchSchema>;

/** What the admin API drives: a subset of the Simulator interface. */
export interface AdminOps {
  services(): VpnServiceRecord[];
  service(id: string): VpnServiceRecord | undefined;
  setStatus(id: string, status: VpnStatus): void;
  deleteService(id: string): void;
  connections(): SiteConnectionRecord[];
  connection(id: string): SiteConnectionRecord | undefined;
  setConnectionStatus(id: string, status: VpnStatus): void;
  createSiteConnection(serviceId: string, opts?: { peerAddress?: string; peerCidr?: string; psk?: string }): SiteConnectionRecord;
  deleteConnection(id: string): void;
  activateAll(): number;
  routers(): RouterRecord[];
  addRouter(r: SeedRouter): void;
  removeRouter(id: string): void;
  injectFault(f: FaultSpec): () => void;
  faults(): FaultInfo[];
  removeFault(id: number): boolean;
  clearFaults(): void;
  counts(): Record<string, number>;
  countOf(f: CountFilter): number;
  resetCounts(): void;
  requestLog(): RequestLogEntry[];
  revokeTokens(): void;
  config(): SimulatorConfig;
  configure(patch: ConfigPatch): void;
  identitySummary(): unknown;
  projects(): { id: string; name: string; domainId: string }[];
  addProject(p: SimProject): string;
  addUser(u: SimUser): string;
}

class AdminError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function body<T>(req: SimRequest, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(req.body.toString('utf8') || 'null');
  } catch {
    throw new AdminError(400, 'body is not JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new AdminError(400, z.prettifyError(parsed.error));
  return parsed.data;
}

function routerJson(r: RouterRecord): unknown {
  return { id: r.id, name: r.name, projectId: r.projectId, gatewayV4: r.gatewayV4, gatewayV6: r.gatewayV6, subnets: [...r.subnets] };
}

function guard(fn: (req: SimRequest) => SimResponse): Handler {
  return (req) => {
    try {
      return fn(req);
    } catch (e) {
      if (e instanceof AdminError) return json(e.status, { error: e.message });
      throw e;
    }
  };
}

/** Runs an operation whose Error means the request named something impossible (unknown project, …): 400. */
function invalid<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new AdminError(400, e instanceof Error ? e.message : String(e));
  }
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new AdminError(404, `${what} not found`);
  return v;
}

const statusBody = z.object({ status: vpnStatusSchema });
const siteConnectionBody = z
  .object({ peerAddress: z.string().optional(), peerCidr: z.string().optional(), psk: z.string().optional() })
  .strict()
  .nullable();
const countQuery = (req: SimRequest): CountFilter => {
  const f: CountFilter = {};
  const method = req.query.get('method');
  const route = req.query.get('route');
  const status = req.query.get('status');
  if (method) f.method = method;
  if (route) f.route = route;
  if (status) f.status = /^\d+$/.test(status) ? Number(status) : (status as CountFilter['status']);
  return f;
};

export function adminRoutes(ops: AdminOps): RouteDef[] {
  const id = (req: SimRequest) => req.params.id ?? '';
  const r = (method: string, template: string, fn: (req: SimRequest) => SimResponse): RouteDef => ({
    method,
    template: `/_sim${template}`,
    handler: guard(fn),
  });
  return [
    r('GET', '/health', () => json(200, { ok: true })),
    r('GET', '/config', () => json(200, ops.config())),
    r('PATCH', '/config', (req) => {
      ops.configure(body(req, configPatchSchema));
      return json(200, ops.config());
    }),
    r('GET', '/identity', () => json(200, ops.identitySummary())),
    r('POST', '/projects', (req) => {
      const id = ops.addProject(body(req, simProjectSchema) as SimProject);
      return json(201, { project: ops.projects().find((p) => p.id === id) });
    }),
    r('POST', '/users', (req) => {
      const u = body(req, simUserSchema) as SimUser;
      const id = invalid(() => ops.addUser(u));
      return json(201, { user: { id, name: u.name } });
    }),
    r('GET', '/services', () => json(200, { services: ops.services() })),
    r('POST', '/services/activate-all', () => json(200, { changed: ops.activateAll() })),
    r('GET', '/services/{id}', (req) => json(200, { service: need(ops.service(id(req)), 'service') })),
    r('DELETE', '/services/{id}', (req) => {
      need(ops.service(id(req)), 'service');
      ops.deleteService(id(req));
      return noContent();
    }),
    r('PUT', '/services/{id}/status', (req) => {
      const { status } = body(req, statusBody);
      need(ops.service(id(req)), 'service');
      ops.setStatus(id(req), status);
      return json(200, { service: ops.service(id(req)) });
    }),
    r('POST', '/services/{id}/site-connection', (req) => {
      const opts = body(req, siteConnectionBody) ?? {};
      need(ops.service(id(req)), 'service');
      const o: { peerAddress?: string; peerCidr?: string; psk?: string } = {};
      if (opts.peerAddress !== undefined) o.peerAddress = opts.peerAddress;
      if (opts.peerCidr !== undefined) o.peerCidr = opts.peerCidr;
      if (opts.psk !== undefined) o.psk = opts.psk;
      return json(201, { connection: invalid(() => ops.createSiteConnection(id(req), o)) });
    }),
    r('GET', '/connections', () => json(200, { connections: ops.connections() })),
    r('GET', '/connections/{id}', (req) => json(200, { connection: need(ops.connection(id(req)), 'connection') })),
    r('DELETE', '/connections/{id}', (req) => {
      need(ops.connection(id(req)), 'connection');
      ops.deleteConnection(id(req));
      return noContent();
    }),
    r('PUT', '/connections/{id}/status', (req) => {
      const { status } = body(req, statusBody);
      need(ops.connection(id(req)), 'connection');
      ops.setConnectionStatus(id(req), status);
      return json(200, { connection: ops.connection(id(req)) });
    }),
    r('GET', '/routers', () => json(200, { routers: ops.routers().map(routerJson) })),
    r('POST', '/routers', (req) => {
      const seed = body(req, seedRouterSchema) as SeedRouter;
      invalid(() => ops.addRouter(seed));
      const added = ops.routers().find((x) => x.id === seed.id);
      return json(201, { router: added ? routerJson(added) : null });
    }),
    r('DELETE', '/routers/{id}', (req) => {
      need(ops.routers().find((x) => x.id === id(req)), 'router');
      ops.removeRouter(id(req));
      return noContent();
    }),
    r('GET', '/faults', () => json(200, { faults: ops.faults() })),
    r('POST', '/faults', (req) => {
      const spec = body(req, faultSpecSchema) as FaultSpec;
      ops.injectFault(spec);
      const all = ops.faults();
      return json(201, { fault: all[all.length - 1] });
    }),
    r('DELETE', '/faults', () => {
      ops.clearFaults();
      return noContent();
    }),
    r('DELETE', '/faults/{id}', (req) => {
      if (!/^\d+$/.test(id(req)) || !ops.removeFault(Number(id(req)))) throw new AdminError(404, 'fault not found');
      return noContent();
    }),
    r('GET', '/counts', (req) => json(200, { counts: ops.counts(), total: ops.countOf(countQuery(req)) })),
    r('DELETE', '/counts', () => {
      ops.resetCounts();
      return noContent();
    }),
    r('GET', '/requests', () => json(200, { requests: ops.requestLog() })),
    r('POST', '/tokens/revoke', () => {
      ops.revokeTokens();
      return noContent();
    }),
  ];
}
