// The simulator's IKE policies, IPsec policies, endpoint groups and IPsec site connections, each a table indexed by
// id (a Map plus an id-sorted array for Neutron's id-ordered pagination), and the references of site connections
// indexed by what they use (VPN service, IKE policy, IPsec policy, endpoint group), so that "in use" is one Map
// lookup and never a scan. Site-connection status moves from PENDING_* to ACTIVE lazily, when read, after the same
// activation delay as VPN services (src/simulator/store.ts).
import { bound, isPending } from './store.ts';
import type { VpnStatus } from './store.ts';

export interface Lifetime {
  units: string;
  value: number;
}

/** Records exactly as Neutron returns them (key order included). */
export interface IkePolicyRecord {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  auth_algorithm: string;
  encryption_algorithm: string;
  phase1_negotiation_mode: string;
  lifetime: Lifetime;
  ike_version: string;
  pfs: string;
  project_id: string;
}

export interface IpsecPolicyRecord {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  transform_protocol: string;
  auth_algorithm: string;
  encryption_algorithm: string;
  encapsulation_mode: string;
  lifetime: Lifetime;
  pfs: string;
  project_id: string;
}

export interface EndpointGroupRecord {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  type: string;
  endpoints: string[];
  project_id: string;
}

export interface SiteConnectionRecord {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  peer_address: string;
  peer_id: string;
  local_id: string;
  route_mode: string;
  mtu: number;
  auth_mode: string;
  psk: string;
  initiator: string;
  dpd: { action: string; interval: number; timeout: number };
  admin_state_up: boolean;
  status: VpnStatus;
  vpnservice_id: string;
  ikepolicy_id: string;
  ipsecpolicy_id: string;
  peer_cidrs: string[];
  local_ep_group_id: string | null;
  peer_ep_group_id: string | null;
  project_id: string;
}

export interface Owned {
  id: string;
  tenant_id: string;
}

/** One collection: records by id, and the ids in ascending order. */
export class Table<R extends Owned> {
  private readonly map = new Map<string, R>();
  private readonly sorted: string[] = [];

  get size(): number {
    return this.map.size;
  }
  get(id: string): R | undefined {
    return this.map.get(id);
  }
  add(rec: R): void {
    this.map.set(rec.id, rec);
    this.sorted.splice(bound(this.sorted, rec.id, false), 0, rec.id);
  }
  delete(id: string): R | undefined {
    const rec = this.map.get(id);
    if (!rec) return undefined;
    this.map.delete(id);
    const i = bound(this.sorted, id, false);
    if (this.sorted[i] === id) this.sorted.splice(i, 1);
    return rec;
  }
  /** Ids in ascending order, starting after (or, reversed, before) `marker`. */
  *idsFrom(marker: string | undefined, reverse: boolean): Generator<string> {
    const ids = this.sorted;
    if (!reverse) {
      for (let i = marker === undefined ? 0 : bound(ids, marker, true); i < ids.length; i++) yield ids[i] as string;
    } else {
      for (let i = (marker === undefined ? ids.length : bound(ids, marker, false)) - 1; i >= 0; i--) yield ids[i] as string;
    }
  }
  values(): IterableIterator<R> {
    return this.map.values();
  }
}

/** A multimap id → ids of the site connections that reference it. */
class RefIndex {
  private readonly m = new Map<string, Set<string>>();
  add(key: string | null, conn: string): void {
    if (key === null) return;
    let s = this.m.get(key);
    if (!s) this.m.set(key, (s = new Set()));
    s.add(conn);
  }
  remove(key: string | null, conn: string): void {
    if (key === null) return;
    const s = this.m.get(key);
    if (!s) return;
    s.delete(conn);
    if (s.size === 0) this.m.delete(key);
  }
  of(key: string): ReadonlySet<string> {
    return this.m.get(key) ?? EMPTY;
  }
}
const EMPTY: ReadonlySet<string> = new Set();

/** The activation settings, shared with the VPN services (src/simulator/store.ts `Store`). */
export interface ActivationSettings {
  activeDelayMs: number | null;
  updatePending: boolean;
}

export class VpnaasStore {
  readonly ikePolicies = new Table<IkePolicyRecord>();
  readonly ipsecPolicies = new Table<IpsecPolicyRecord>();
  readonly endpointGroups = new Table<EndpointGroupRecord>();
  private readonly conns = new Table<SiteConnectionRecord>();
  /** When a PENDING_CREATE/PENDING_UPDATE connection turns ACTIVE (epoch ms); absent = only when reported. */
  private readonly activateAt = new Map<string, number>();
  private readonly byService = new RefIndex();
  private readonly byIke = new RefIndex();
  private readonly byIpsec = new RefIndex();
  private readonly byGroup = new RefIndex();
  private readonly settings: ActivationSettings;

  constructor(settings: ActivationSettings) {
    this.settings = settings;
  }

  // ---- references ("in use")
  connectionsOfService(id: string): ReadonlySet<string> {
    return this.byService.of(id);
  }
  connectionsOfIkePolicy(id: string): ReadonlySet<string> {
    return this.byIke.of(id);
  }
  connectionsOfIpsecPolicy(id: string): ReadonlySet<string> {
    return this.byIpsec.of(id);
  }
  connectionsOfEndpointGroup(id: string): ReadonlySet<string> {
    return this.byGroup.of(id);
  }

  private index(c: SiteConnectionRecord, add: boolean): void {
    const op = add ? 'add' : 'remove';
    this.byService[op](c.vpnservice_id, c.id);
    this.byIke[op](c.ikepolicy_id, c.id);
    this.byIpsec[op](c.ipsecpolicy_id, c.id);
    this.byGroup[op](c.local_ep_group_id, c.id);
    this.byGroup[op](c.peer_ep_group_id, c.id);
  }

  // ---- site connections
  get connectionCount(): number {
    return this.conns.size;
  }

  private activation(now: number): number | undefined {
    const d = this.settings.activeDelayMs;
    return d === null || d < 0 ? undefined : now + d;
  }

  /** Adds a connection (status PENDING_CREATE) and indexes its references. */
  addConnection(rec: SiteConnectionRecord, now: number): SiteConnectionRecord {
    this.conns.add(rec);
    this.index(rec, true);
    const at = this.activation(now);
    if (at !== undefined) this.activateAt.set(rec.id, at);
    return structuredClone(rec);
  }

  /** The live record (callers must not keep or mutate it), with its status brought up to date. */
  peekConnection(id: string, now: number): SiteConnectionRecord | undefined {
    const rec = this.conns.get(id);
    if (!rec) return undefined;
    const at = this.activateAt.get(id);
    if (at !== undefined && now >= at) {
      if (rec.status === 'PENDING_CREATE' || rec.status === 'PENDING_UPDATE') rec.status = 'ACTIVE';
      this.activateAt.delete(id);
    }
    return rec;
  }

  connection(id: string, now: number): SiteConnectionRecord | undefined {
    const rec = this.peekConnection(id, now);
    return rec ? structuredClone(rec) : undefined;
  }

  /** Applies a validated change; references are re-indexed. With `updatePending`, ACTIVE → PENDING_UPDATE. */
  updateConnection(id: string, patch: Partial<SiteConnectionRecord>, now: number): SiteConnectionRecord | undefined {
    const rec = this.peekConnection(id, now);
    if (!rec) return undefined;
    this.index(rec, false);
    Object.assign(rec, patch);
    this.index(rec, true);
    if (this.settings.updatePending && rec.status === 'ACTIVE') {
      rec.status = 'PENDING_UPDATE';
      const at = this.activation(now);
      if (at !== undefined) this.activateAt.set(id, at);
    }
    return structuredClone(rec);
  }

  /** Sets a status, as the VPN agent reports it; it stays until changed again (no automatic activation). */
  setConnectionStatus(id: string, status: VpnStatus): boolean {
    const rec = this.conns.get(id);
    if (!rec) return false;
    rec.status = status;
    this.activateAt.delete(id);
    return true;
  }

  deleteConnection(id: string): boolean {
    const rec = this.conns.delete(id);
    if (!rec) return false;
    this.index(rec, false);
    this.activateAt.delete(id);
    return true;
  }

  connectionIdsFrom(marker: string | undefined, reverse: boolean): Generator<string> {
    return this.conns.idsFrom(marker, reverse);
  }

  allConnections(now: number): SiteConnectionRecord[] {
    const out: SiteConnectionRecord[] = [];
    for (const id of this.conns.idsFrom(undefined, false)) {
      const rec = this.peekConnection(id, now);
      if (rec) out.push(structuredClone(rec));
    }
    return out;
  }

  /** Every pending or BUILD connection becomes ACTIVE; returns how many changed. */
  activateAllConnections(now: number): number {
    let n = 0;
    for (const id of [...this.conns.idsFrom(undefined, false)]) {
      const rec = this.peekConnection(id, now);
      if (rec && (isPending(rec.status) || rec.status === 'BUILD')) {
        rec.status = 'ACTIVE';
        this.activateAt.delete(id);
        n++;
      }
    }
    return n;
  }
}
