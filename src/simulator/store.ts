// The simulator's cloud state: routers and VPN services, indexed by id (a Map plus an id-sorted array for
// Neutron's id-ordered pagination) and by router. Status moves from PENDING_* to ACTIVE lazily, when a service is
// read, so 10,000 pending services cost no timers.
import { z } from 'zod';

export const VPN_STATUSES = [
  'ACTIVE',
  'DOWN',
  'BUILD',
  'ERROR',
  'PENDING_CREATE',
  'PENDING_UPDATE',
  'PENDING_DELETE',
] as const;
export type VpnStatus = (typeof VPN_STATUSES)[number];
export const vpnStatusSchema = z.enum(VPN_STATUSES);

export function isPending(status: string): boolean {
  return status.startsWith('PENDING_');
}

/** A router the simulated cloud knows. `gatewayV4`: absent = an address is assigned; null = none.
 * `gatewayV6`: absent or null = none. A router with neither has no external gateway. */
export interface SeedRouter {
  id: string;
  /** The owning project's id; default the first project. */
  projectId?: string;
  /** The owning project by name (domain `Default`), instead of `projectId`; it must exist. */
  project?: string;
  name?: string;
  gatewayV4?: string | null;
  gatewayV6?: string | null;
  /** Subnets with an interface on the router. */
  subnets?: string[];
}

export const seedRouterSchema = z.object({
  id: z.string().min(1),
  projectId: z.string().min(1).optional(),
  project: z.string().min(1).optional(),
  name: z.string().optional(),
  gatewayV4: z.string().nullable().optional(),
  gatewayV6: z.string().nullable().optional(),
  subnets: z.array(z.string()).optional(),
});

export interface RouterRecord {
  id: string;
  name: string;
  projectId: string;
  gatewayV4: string | null;
  gatewayV6: string | null;
  subnets: ReadonlySet<string>;
}

/** A VPN service exactly as Neutron returns it. */
export interface VpnServiceRecord {
  id: string;
  name: string;
  description: string;
  router_id: string;
  subnet_id: string | null;
  admin_state_up: boolean;
  status: VpnStatus;
  external_v4_ip: string | null;
  external_v6_ip: string | null;
  tenant_id: string;
  project_id: string;
  flavor_id: string | null;
}

interface Row {
  rec: VpnServiceRecord;
  /** When a PENDING_CREATE/PENDING_UPDATE service turns ACTIVE (epoch ms); null = only by an admin call. */
  activateAt: number | null;
}

export interface NewService {
  name: string;
  description: string;
  routerId: string;
  subnetId: string | null;
  adminStateUp: boolean;
  tenantId: string;
  externalV4Ip: string | null;
  externalV6Ip: string | null;
}

/** First index in the sorted array whose value is > id (upper bound) or >= id (lower bound). */
export function bound(sorted: readonly string[], id: string, upper: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = sorted[mid] as string;
    if (v < id || (upper && v === id)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Gateway addresses handed out to routers seeded without an explicit one: 172.24.4.10, .11, … (172.24.0.0/13).
const AUTO_GW_BASE = (172 << 24) + (24 << 16) + (4 << 8) + 10;
function autoGatewayV4(n: number): string {
  const a = (AUTO_GW_BASE + n) >>> 0;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

export class Store {
  /** ms from create (or update, when `updatePending`) to ACTIVE; null = never on its own. */
  activeDelayMs: number | null;
  updatePending: boolean;
  private readonly routerMap = new Map<string, RouterRecord>();
  private readonly rows = new Map<string, Row>();
  private readonly sortedIds: string[] = [];
  private readonly routerIndex = new Map<string, Set<string>>();
  private autoGw = 0;

  constructor(activeDelayMs: number | null, updatePending: boolean) {
    this.activeDelayMs = activeDelayMs;
    this.updatePending = updatePending;
  }

  // ---- routers
  addRouter(seed: SeedRouter, defaultProjectId: string): RouterRecord {
    const r: RouterRecord = {
      id: seed.id,
      name: seed.name ?? `router-${seed.id.slice(0, 8)}`,
      projectId: seed.projectId ?? defaultProjectId,
      gatewayV4: seed.gatewayV4 === undefined ? autoGatewayV4(this.autoGw++) : seed.gatewayV4,
      gatewayV6: seed.gatewayV6 ?? null,
      subnets: new Set(seed.subnets ?? []),
    };
    this.routerMap.set(r.id, r);
    return r;
  }
  /** Attaches a subnet to a router (an interface); returns the subnet id. */
  attachSubnet(routerId: string, subnetId: string): string {
    const r = this.routerMap.get(routerId);
    if (r) (r.subnets as Set<string>).add(subnetId);
    return subnetId;
  }
  removeRouter(id: string): boolean {
    return this.routerMap.delete(id);
  }
  router(id: string): RouterRecord | undefined {
    return this.routerMap.get(id);
  }
  routers(): RouterRecord[] {
    return [...this.routerMap.values()];
  }

  // ---- services
  get size(): number {
    return this.rows.size;
  }

  create(s: NewService, id: string, now: number): VpnServiceRecord {
    const rec: VpnServiceRecord = {
      id,
      name: s.name,
      description: s.description,
      router_id: s.routerId,
      subnet_id: s.subnetId,
      admin_state_up: s.adminStateUp,
      status: 'PENDING_CREATE',
      external_v4_ip: s.externalV4Ip,
      external_v6_ip: s.externalV6Ip,
      tenant_id: s.tenantId,
      project_id: s.tenantId,
      flavor_id: null,
    };
    this.rows.set(id, { rec, activateAt: this.activationTime(now) });
    this.sortedIds.splice(bound(this.sortedIds, id, false), 0, id);
    let set = this.routerIndex.get(s.routerId);
    if (!set) this.routerIndex.set(s.routerId, (set = new Set()));
    set.add(id);
    return { ...rec };
  }

  private activationTime(now: number): number | null {
    const d = this.activeDelayMs;
    return d === null || d < 0 ? null : now + d;
  }

  private materialize(row: Row, now: number): VpnServiceRecord {
    if (row.activateAt !== null && now >= row.activateAt) {
      if (row.rec.status === 'PENDING_CREATE' || row.rec.status === 'PENDING_UPDATE') row.rec.status = 'ACTIVE';
      row.activateAt = null;
    }
    return row.rec;
  }

  /** The live record (callers must not keep or mutate it), with its status brought up to date. */
  peek(id: string, now: number): VpnServiceRecord | undefined {
    const row = this.rows.get(id);
    return row ? this.materialize(row, now) : undefined;
  }

  get(id: string, now: number): VpnServiceRecord | undefined {
    const rec = this.peek(id, now);
    return rec ? { ...rec } : undefined;
  }

  update(id: string, patch: { name?: string; description?: string; adminStateUp?: boolean }, now: number): VpnServiceRecord | undefined {
    const row = this.rows.get(id);
    if (!row) return undefined;
    const rec = this.materialize(row, now);
    if (patch.name !== undefined) rec.name = patch.name;
    if (patch.description !== undefined) rec.description = patch.description;
    if (patch.adminStateUp !== undefined) rec.admin_state_up = patch.adminStateUp;
    if (this.updatePending && rec.status === 'ACTIVE') {
      rec.status = 'PENDING_UPDATE';
      row.activateAt = this.activationTime(now);
    }
    return { ...rec };
  }

  /** Sets a status; it stays until changed again (no automatic activation). */
  setStatus(id: string, status: VpnStatus): boolean {
    const row = this.rows.get(id);
    if (!row) return false;
    row.rec.status = status;
    row.activateAt = null;
    return true;
  }

  /** Every pending (PENDING_something) or BUILD service becomes ACTIVE; returns how many changed. */
  activateAll(now: number): number {
    let n = 0;
    for (const row of this.rows.values()) {
      const s = this.materialize(row, now).status;
      if (isPending(s) || s === 'BUILD') {
        row.rec.status = 'ACTIVE';
        row.activateAt = null;
        n++;
      }
    }
    return n;
  }

  delete(id: string): boolean {
    const row = this.rows.get(id);
    if (!row) return false;
    this.rows.delete(id);
    const i = bound(this.sortedIds, id, false);
    if (this.sortedIds[i] === id) this.sortedIds.splice(i, 1);
    const set = this.routerIndex.get(row.rec.router_id);
    if (set) {
      set.delete(id);
      if (set.size === 0) this.routerIndex.delete(row.rec.router_id);
    }
    return true;
  }

  /** Ids of the services on a router (unordered). */
  idsOnRouter(routerId: string): ReadonlySet<string> {
    return this.routerIndex.get(routerId) ?? new Set();
  }

  /** All ids in ascending order, starting after (or, reversed, before) `marker`. */
  *idsFrom(marker: string | undefined, reverse: boolean): Generator<string> {
    const ids = this.sortedIds;
    if (!reverse) {
      for (let i = marker === undefined ? 0 : bound(ids, marker, true); i < ids.length; i++) yield ids[i] as string;
    } else {
      for (let i = (marker === undefined ? ids.length : bound(ids, marker, false)) - 1; i >= 0; i--) yield ids[i] as string;
    }
  }

  all(now: number): VpnServiceRecord[] {
    return this.sortedIds.map((id) => ({ ...this.materialize(this.rows.get(id) as Row, now) }));
  }
}
