// What every handler of the simulator shares.
import type { Identity } from './identity.ts';
import type { Store, VpnServiceRecord } from './store.ts';
import type { VpnaasStore } from './vpnaas-store.ts';

export type CreateHook = (service: VpnServiceRecord) => void | Promise<void>;

export interface SimState {
  identity: Identity;
  store: Store;
  /** IKE/IPsec policies, endpoint groups, site connections and who references what. */
  vpnaas: VpnaasStore;
  /** The seed cloud's stricter rules (one VPN service per router, name 1–64, admin_state_up true, no project_id, the PSK rule). */
  seedRules: boolean;
  region: string;
  /** `http://127.0.0.1:PORT`, known once the server listens. */
  url: string;
  /** Path under which Neutron is served ('' = the root, like a real neutron-server). */
  networkPrefix: string;
  onCreate: CreateHook | null;
  now(): number;
}
