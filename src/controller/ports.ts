// What the controller needs from the cloud side, as interfaces: the reconciler decides, src/cloud does the HTTP.
import type { CloudView } from './cloudview.ts';

/** A VPN service as the cloud reports it (Neutron's field names). */
export interface CloudVpn {
  id: string;
  name: string;
  description: string;
  router_id: string;
  subnet_id: string | null;
  admin_state_up: boolean;
  status: string;
  external_v4_ip?: string | null | undefined;
  external_v6_ip?: string | null | undefined;
  tenant_id?: string | null | undefined;
}

export interface CreateVpn {
  router_id: string;
  subnet_id?: string | null;
  name: string;
  description?: string;
  admin_state_up: boolean;
  tenant_id?: string;
}

export interface UpdateVpn {
  name?: string;
  description?: string;
  admin_state_up?: boolean;
}

export interface VpnApi {
  create(req: CreateVpn): Promise<CloudVpn>;
  get(id: string): Promise<CloudVpn>;
  list(filter: { routerId?: string }): Promise<CloudVpn[]>;
  update(id: string, patch: UpdateVpn): Promise<CloudVpn>;
  delete(id: string): Promise<void>;
}

/** One cloud as resolved for an object: its network endpoint (the claim key's first half), API and view. */
export interface CloudHandle {
  endpoint: string;
  api: VpnApi;
  view: CloudView;
}

/** Raised when an object's cloud cannot be resolved (missing Secret, bad clouds.yaml, unknown cloud name). */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}
