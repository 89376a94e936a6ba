// "No duplicate, no leak" as the end-to-end suites assert it, from the cloud's side: the services a cloud holds are
// compared with the VpnService objects that may own them. Works on any list of services (the simulator's store,
// a LIST of real Neutron), so the same assertion runs on the seed cloud, in upstream mode and on Neutron.
//
// - duplicates: a router with more than one service, or an object name used by more than one service on a router
//   (what a second POST for one object leaves behind); with the simulator's creation log (CreationLog) also every
//   moment a router held two services, even if one was deleted again later ("never two", not only "not at the end");
// - leaks: a service that no live object names in status.id (and that is not explicitly allowed, e.g. an Orphan).
import type { Simulator, VpnServiceRecord } from '../../src/simulator/index.ts';

export interface CloudService {
  id: string;
  router_id: string;
  name: string;
}

export interface AuditResult {
  /** Routers holding more than one service: router id → service ids. */
  routersWithSeveral: Array<{ routerId: string; ids: string[] }>;
  /** (router, name) pairs held by more than one service. */
  namesWithSeveral: Array<{ routerId: string; name: string; ids: string[] }>;
  /** Services no live object owns and the caller did not allow. */
  leaked: CloudService[];
  /** Number of services looked at. */
  services: number;
}

/** A router id as Neutron compares it (UUIDs, case-insensitive). */
export const canonicalRouter = (id: string): string => id.toLowerCase();

/**
 * @param services what the cloud holds (restricted by the caller to the routers of the test)
 * @param ownedIds status.id of every live object (a service named by a live object is not a leak)
 * @param allowed services that may exist without an owner (Orphan policy, out-of-band services of the test)
 */
export function auditCloud(services: CloudService[], ownedIds: Iterable<string>, allowed: (s: CloudService) => boolean = () => false): AuditResult {
  const byRouter = new Map<string, CloudService[]>();
  const byName = new Map<string, CloudService[]>();
  for (const s of services) {
    const r = canonicalRouter(s.router_id);
    byRouter.set(r, [...(byRouter.get(r) ?? []), s]);
    const k = `${r} ${s.name}`;
    byName.set(k, [...(byName.get(k) ?? []), s]);
  }
  const owned = new Set(ownedIds);
  return {
    routersWithSeveral: [...byRouter].filter(([, l]) => l.length > 1).map(([routerId, l]) => ({ routerId, ids: l.map((s) => s.id) })),
    namesWithSeveral: [...byName]
      .filter(([, l]) => l.length > 1)
      .map(([k, l]) => ({ routerId: k.split(' ')[0]!, name: l[0]!.name, ids: l.map((s) => s.id) })),
    leaked: services.filter((s) => !owned.has(s.id) && !allowed(s)),
    services: services.length,
  };
}

/** One line for a test log: "N services, D routers with several, L leaked". */
export function describeAudit(a: AuditResult): string {
  return `${a.services} cloud services, ${a.routersWithSeveral.length} routers with several, ${a.namesWithSeveral.length} names with several, ${a.leaked.length} leaked`;
}

export interface Creation {
  id: string;
  routerId: string;
  name: string;
  at: number;
  /** How many services the router held right after this one was created (this one included). */
  onRouter: number;
}

/**
 * Every service the simulator creates, recorded by its create hook (called after the create is committed, before
 * the response is written): a second service on a router is seen even when something deletes it again later.
 * `routers` limits it to the routers of a test. `then` runs after the record (e.g. to kill the operator there).
 */
export class CreationLog {
  readonly creations: Creation[] = [];
  private readonly sim: Simulator;
  private readonly routers: Set<string> | undefined;
  private then: ((c: Creation, log: CreationLog) => void | Promise<void>) | undefined;

  constructor(sim: Simulator, routers?: Iterable<string>) {
    this.sim = sim;
    this.routers = routers === undefined ? undefined : new Set([...routers].map(canonicalRouter));
    sim.onCreate((svc: VpnServiceRecord) => {
      const routerId = canonicalRouter(svc.router_id);
      if (this.routers !== undefined && !this.routers.has(routerId)) return;
      const onRouter = sim.services().filter((s) => canonicalRouter(s.router_id) === routerId).length;
      const c: Creation = { id: svc.id, routerId, name: svc.name, at: Date.now(), onRouter };
      this.creations.push(c);
      return this.then?.(c, this);
    });
  }

  /** Runs `fn` after each recorded creation (awaited before the cloud answers the POST). */
  onEach(fn: ((c: Creation, log: CreationLog) => void | Promise<void>) | undefined): void {
    this.then = fn;
  }

  /** Creations that found another service already on their router. */
  doubles(): Creation[] {
    return this.creations.filter((c) => c.onRouter > 1);
  }

  /** How many services were created per router, over the whole run. */
  perRouter(): Map<string, number> {
    const m = new Map<string, number>();
    for (const c of this.creations) m.set(c.routerId, (m.get(c.routerId) ?? 0) + 1);
    return m;
  }

  stop(): void {
    this.sim.onCreate(null);
  }
}
