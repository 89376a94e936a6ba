// The cloud simulator: Keystone v3 + Neutron VPNaaS over real HTTP on 127.0.0.1, with the seed cloud's stricter
// rules, delayed or manual ACTIVE, fault injection, counters and an admin API. Used in-process by tests and
// benchmarks (startSimulator) and out of process (`vpnaas-operator simulator`, see cli.ts).
//
// Wire format: as neutron-server (Zed) + keystonemiddleware answer (see FACTS.md): errors are
// {"NeutronError":{"type","message","detail"}}, every response carries X-Openstack-Request-Id: req-<uuid>, a bad
// token gets Keystone's 401 body.
//
// The seed cloud's rules (`seedRules`, on by default), answered in Neutron's error shape:
// - a second VPN service on a router: 409 {"NeutronError":{"type":"RouterInUseByVPNService",
//   "message":"Router <router_id> is used by VPNService <existing id>","detail":""}} (the message names the service
//   already there, so a client can offer to import it);
// - `project_id` in the body: 400 HTTPBadRequest "Unrecognized attribute(s) 'project_id'";
// - `name`, when given, outside 1–64 characters: 400 HTTPBadRequest "Invalid input for name. Reason: …" (absent: '');
// - `admin_state_up: false` (POST or PUT): 400 HTTPBadRequest "Invalid input for admin_state_up. Reason: …".
// `tenant_id` over 255 characters is refused by upstream Neutron too. With `seedRules: false` the simulator
// behaves like upstream neutron-vpnaas.
//
// Status: a new service is PENDING_CREATE and turns ACTIVE `activeDelayMs` after creation (evaluated when read;
// 0 = on the next read; null or negative = never, only through setStatus/activateAll). Like Neutron, PUT keeps the
// status unless `updatePending` is set (then ACTIVE → PENDING_UPDATE → ACTIVE after the same delay). IPsec site
// connections follow the same settings on their own (a tunnel comes up `activeDelayMs` after its creation), and
// setConnectionStatus sets one at a chosen moment, as the VPN agent reports it; neither touches the VPN service.
//
// The other VPNaaS kinds (IKE/IPsec policies, endpoint groups, site connections: src/simulator/vpnaas.ts) are
// checked as neutron-vpnaas checks them; "in use" (409 VPNServiceInUse, IKEPolicyInUse, IPsecPolicyInUse, 400
// EndpointGroupInUse) comes from the site connections that reference them, indexed by reference. The seed rules
// add the seed cloud's PSK rule (6–128 characters, no spaces or `?`, not only `*`).
import { stringify } from 'yaml';
import { adminRoutes } from './admin.ts';
import type { AdminOps, ConfigPatch, SimulatorConfig } from './admin.ts';
import { Counters } from './counters.ts';
import type { CountFilter, RequestLogEntry } from './counters.ts';
import { Faults } from './faults.ts';
import type { FaultInfo, FaultSpec } from './faults.ts';
import { Identity } from './identity.ts';
import type { SimAppCredential, SimProject, SimUser, User } from './identity.ts';
import { keystoneRoutes } from './keystone.ts';
import { neutronRoutes } from './neutron.ts';
import { close, createSimServer, listen, Routes } from './server.ts';
import type { CreateHook, SimState } from './state.ts';
import { Store } from './store.ts';
import { VpnaasStore } from './vpnaas-store.ts';
import type { SiteConnectionRecord } from './vpnaas-store.ts';
import { createSiteConnectionFor } from './vpnaas.ts';
import type { RouterRecord, SeedRouter, VpnServiceRecord, VpnStatus } from './store.ts';

export type { CountFilter, Outcome, RequestLogEntry } from './counters.ts';
export type { FaultInfo, FaultKind, FaultSpec } from './faults.ts';
export type { SimAppCredential, SimProject, SimUser } from './identity.ts';
export type { CreateHook } from './state.ts';
export type { RouterRecord, SeedRouter, VpnServiceRecord, VpnStatus } from './store.ts';
export type { EndpointGroupRecord, IkePolicyRecord, IpsecPolicyRecord, SiteConnectionRecord } from './vpnaas-store.ts';
export type { ConfigPatch, SimulatorConfig } from './admin.ts';
export { runSimulatorCli } from './cli.ts';

export interface SimulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** The loopback address to listen on (default 127.0.0.1): another one (127.0.0.2) is another host to a client. */
  host?: string;
  /** Default 0 (ACTIVE on the next read); null or negative: never on its own. */
  activeDelayMs?: number | null;
  /** Default true. */
  seedRules?: boolean;
  /** Default false (like Neutron): PUT does not touch the status. */
  updatePending?: boolean;
  routers?: SeedRouter[];
  /** Default 3600. */
  tokenTtlSeconds?: number;
  /** Default: project `demo` in domain `Default`. Projects named by users are created as needed. */
  projects?: SimProject[];
  /** Default: user `demo`, password `secret`, domain `Default`, member of `demo`. */
  users?: SimUser[];
  appCredentials?: SimAppCredential[];
  /** Default `RegionOne`. */
  region?: string;
  /** Serve Neutron under this path (e.g. `/network`) instead of the root; the catalog URL includes it. */
  networkPrefix?: string;
  /** Seed for the fault injector's random numbers (reproducible runs). */
  faultSeed?: number;
  /** How many recent requests requestLog() keeps (default 10,000). */
  requestLogLimit?: number;
}

export interface ProjectInfo {
  id: string;
  name: string;
  domainId: string;
}

export interface Simulator {
  /** http://127.0.0.1:PORT (or the `host` it listens on) */
  url: string;
  /** Keystone: `${url}/v3`. */
  authUrl: string;
  /** Neutron's endpoint as the catalog lists it (no /v2.0). */
  networkUrl: string;
  port: number;
  stop(): Promise<void>;

  // identity
  /** The id of a project (default: the first one, which owns routers seeded without a project). */
  projectId(name?: string): string;
  projects(): ProjectInfo[];
  /** A clouds.yaml (text) for a user (default: the first one) scoped to its first project, cloud name
   * `simulator` by default. */
  cloudsYaml(cloudName?: string, userName?: string): string;
  /** Adds a project (domain `Default` unless named); returns its id (an existing one's when the name is taken). */
  addProject(p: SimProject): string;
  /** Adds a user, member of the named projects (created when missing; default the first project); returns its id. */
  addUser(u: SimUser): string;
  revokeTokens(): void;

  // routers
  addRouter(r: SeedRouter): void;
  removeRouter(id: string): void;
  routers(): RouterRecord[];

  // services
  services(): VpnServiceRecord[];
  service(id: string): VpnServiceRecord | undefined;
  setStatus(id: string, status: VpnStatus): void;
  /** Every PENDING_CREATE/PENDING_UPDATE/PENDING_DELETE/BUILD service and site connection becomes ACTIVE;
   * returns how many. */
  activateAll(): number;
  /** Out of band, as if someone deleted it in the cloud console (with its site connections). */
  deleteService(id: string): void;

  // IPsec site connections (a VPN service, IKE/IPsec policy or endpoint group they use is "in use")
  connections(): SiteConnectionRecord[];
  connection(id: string): SiteConnectionRecord | undefined;
  /** Sets a connection's status as the VPN agent reports it (`update_status` with `ipsec_site_connections`); it
   * stays until changed again. The VPN service's status is not touched. */
  setConnectionStatus(id: string, status: VpnStatus): void;
  /** A complete site connection on the service, as a user makes it: an IKE and an IPsec policy, endpoint groups
   * (the router's first subnet, attached first when it has none; `peerCidr`, default 192.168.100.0/24) or
   * `peer_cidrs` for a service with a subnet; in the service's project, through Neutron's checks. */
  createSiteConnection(serviceId: string, opts?: { peerAddress?: string; peerCidr?: string; psk?: string }): SiteConnectionRecord;
  /** Out of band (its policies and groups stay). */
  deleteConnection(id: string): void;

  // faults
  injectFault(f: FaultSpec): () => void;
  faults(): FaultInfo[];
  removeFault(id: number): boolean;
  clearFaults(): void;
  /** Runs after a create is committed and before its response is written (or dropped); may return a promise,
   * which is awaited. If it throws, the client gets a 500 (the service stays created). null removes it. */
  onCreate(hook: CreateHook | null): void;

  // counters
  /** `{"POST /v2.0/vpn/vpnservices 201": 3, …}`: method, route template, status (or reset/lost/aborted). */
  counts(): Record<string, number>;
  countOf(f?: CountFilter): number;
  resetCounts(): void;
  requestLog(): RequestLogEntry[];

  // runtime configuration
  config(): SimulatorConfig;
  configure(patch: ConfigPatch): void;
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const identity = new Identity({
    ...(opts.projects ? { projects: opts.projects } : {}),
    ...(opts.users ? { users: opts.users } : {}),
    ...(opts.appCredentials ? { appCredentials: opts.appCredentials } : {}),
    ...(opts.tokenTtlSeconds !== undefined ? { tokenTtlSeconds: opts.tokenTtlSeconds } : {}),
  });
  const store = new Store(opts.activeDelayMs === undefined ? 0 : opts.activeDelayMs, opts.updatePending ?? false);
  const networkPrefix = (opts.networkPrefix ?? '').replace(/\/+$/, '');
  if (networkPrefix !== '' && !networkPrefix.startsWith('/')) throw new Error('networkPrefix must start with /');
  const state: SimState = {
    identity,
    store,
    vpnaas: new VpnaasStore(store),
    seedRules: opts.seedRules ?? true,
    region: opts.region ?? 'RegionOne',
    url: '',
    networkPrefix,
    onCreate: null,
    now: Date.now,
  };
  const faults = new Faults(opts.faultSeed);
  const counters = new Counters(opts.requestLogLimit ?? 10_000);
  const projectId = (name?: string): string => {
    if (name === undefined) return identity.defaultProject.id;
    for (const p of identity.projects.values()) if (p.name === name) return p.id;
    throw new Error(`unknown project ${name}`);
  };
  /** A router's owner: `projectId`, else the project named `project`, else the first project. */
  const addRouter = (r: SeedRouter): void => {
    if (r.project !== undefined && r.projectId !== undefined) throw new Error(`router ${r.id}: give project or projectId, not both`);
    const owner = r.project !== undefined ? projectId(r.project) : (r.projectId ?? identity.defaultProject.id);
    store.addRouter({ ...r, projectId: owner }, owner);
  };
  for (const r of opts.routers ?? []) addRouter(r);

  const domainName = (id: string | undefined) => (id === undefined ? 'Default' : (identity.domains.get(id)?.name ?? 'Default'));
  const cloudEntry = (user: User): unknown => {
    const project = identity.projects.get(user.projectIds.values().next().value ?? '');
    return {
      auth: {
        auth_url: `${state.url}/v3`,
        username: user.name,
        password: user.password,
        project_name: project?.name,
        user_domain_name: domainName(user.domainId),
        project_domain_name: domainName(project?.domainId),
      },
      region_name: state.region,
      interface: 'public',
      identity_api_version: 3,
    };
  };

  const ops: AdminOps & Omit<Simulator, 'url' | 'authUrl' | 'networkUrl' | 'port' | 'stop'> = {
    projectId,
    projects: () => [...identity.projects.values()].map((p) => ({ ...p })),
    cloudsYaml: (cloudName = 'simulator', userName?: string) => {
      const clouds: Record<string, unknown> = {};
      const users = [...identity.users.values()];
      const user = userName === undefined ? users[0] : users.find((u) => u.name === userName);
      if (!user) throw new Error(userName === undefined ? 'no users' : `unknown user ${userName}`);
      clouds[cloudName] = cloudEntry(user);
      return stringify({ clouds });
    },
    addProject: (p) => identity.addProject(p).id,
    addUser: (u) => {
      if ([...identity.users.values()].some((x) => x.name === u.name && x.domainId === (identity.findDomain({ name: u.domain ?? 'Default' })?.id ?? '')))
        throw new Error(`user ${u.name} exists`);
      return identity.addUser(u).id;
    },
    revokeTokens: () => identity.revokeAll(),
    addRouter,
    removeRouter: (id) => {
      store.removeRouter(id);
    },
    routers: () => store.routers(),
    services: () => store.all(Date.now()),
    service: (id) => store.get(id, Date.now()),
    setStatus: (id, status) => {
      if (!store.setStatus(id, status)) throw new Error(`no VPN service ${id}`);
    },
    activateAll: () => store.activateAll(Date.now()) + state.vpnaas.activateAllConnections(Date.now()),
    deleteService: (id) => {
      for (const c of [...state.vpnaas.connectionsOfService(id)]) state.vpnaas.deleteConnection(c);
      store.delete(id);
    },
    connections: () => state.vpnaas.allConnections(Date.now()),
    connection: (id) => state.vpnaas.connection(id, Date.now()),
    setConnectionStatus: (id, status) => {
      if (!state.vpnaas.setConnectionStatus(id, status)) throw new Error(`no IPsec site connection ${id}`);
    },
    createSiteConnection: (serviceId, opts) => createSiteConnectionFor(state, serviceId, opts),
    deleteConnection: (id) => {
      state.vpnaas.deleteConnection(id);
    },
    injectFault: (f) => {
      const id = faults.add(f);
      return () => {
        faults.remove(id);
      };
    },
    faults: () => faults.list(),
    removeFault: (id) => faults.remove(id),
    clearFaults: () => faults.clear(),
    onCreate: (hook) => {
      state.onCreate = hook;
    },
    counts: () => counters.snapshot(),
    countOf: (f = {}) => counters.count(f),
    resetCounts: () => counters.reset(),
    requestLog: () => counters.entries(),
    config: () => ({
      activeDelayMs: store.activeDelayMs,
      seedRules: state.seedRules,
      tokenTtlSeconds: identity.tokenTtlSeconds,
      updatePending: store.updatePending,
    }),
    configure: (patch) => {
      if (patch.activeDelayMs !== undefined) store.activeDelayMs = patch.activeDelayMs;
      if (patch.seedRules !== undefined) state.seedRules = patch.seedRules;
      if (patch.tokenTtlSeconds !== undefined) identity.tokenTtlSeconds = patch.tokenTtlSeconds;
      if (patch.updatePending !== undefined) store.updatePending = patch.updatePending;
    },
    identitySummary: () => ({
      projects: [...identity.projects.values()],
      users: [...identity.users.values()].map((u) => ({ id: u.id, name: u.name, domainId: u.domainId, projectIds: [...u.projectIds], admin: u.admin })),
      applicationCredentials: [...identity.appCreds.values()].map((a) => ({ id: a.id, name: a.name, userId: a.userId, projectId: a.projectId })),
    }),
  };

  const routes = new Routes();
  routes.add('admin', adminRoutes(ops));
  routes.add('keystone', keystoneRoutes(state));
  routes.add('neutron', neutronRoutes(state));
  const server = createSimServer({ routes, faults, counters, networkPrefix });
  const host = opts.host ?? '127.0.0.1';
  const port = await listen(server, opts.port ?? 0, host);
  state.url = `http://${host}:${port}`;

  let stopped: Promise<void> | undefined;
  return {
    ...ops,
    url: state.url,
    authUrl: `${state.url}/v3`,
    networkUrl: `${state.url}${networkPrefix}`,
    port,
    stop: () => (stopped ??= close(server)),
  };
}
