// What the controller needs from the cloud side, as interfaces: the reconciler decides, src/cloud does the HTTP.
import type { CloudView } from './cloudview.ts';
import type { CreateVpnServiceRequest, UpdateVpnServiceRequest, VpnService } from '../cloud/vpnservices.ts';

/** A VPN service as the cloud reports it (Neutron's field names), and the bodies of create and update. */
export type CloudVpn = VpnService;
export type CreateVpn = CreateVpnServiceRequest;
export type UpdateVpn = UpdateVpnServiceRequest;

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
