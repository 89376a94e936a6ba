// The VPNaaS kinds besides VPN services: IKE policies, IPsec policies, endpoint groups, IPsec site connections
// (neutron_lib.api.definitions.vpn and vpn_endpoint_groups). Responses are parsed with zod; unknown fields dropped.
import { z } from 'zod';
import { NeutronCollection } from './collection.ts';
import type { CloudLimits } from './limits.ts';
import type { NetworkSession } from './session.ts';

const text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
const optId = z
  .string()
  .nullish()
  .transform((v) => v ?? null);
const lifetime = z.object({ units: z.string(), value: z.number().int() });
const owner = { tenant_id: z.string().optional(), project_id: z.string().optional() };

export const IkePolicySchema = z.object({
  id: z.string().min(1),
  name: text,
  description: text,
  auth_algorithm: z.string(),
  encryption_algorithm: z.string(),
  phase1_negotiation_mode: z.string(),
  ike_version: z.string(),
  pfs: z.string(),
  lifetime,
  ...owner,
});
export type IkePolicy = z.infer<typeof IkePolicySchema>;

export interface IkePolicyFields {
  name?: string | undefined;
  description?: string | undefined;
  auth_algorithm?: string | undefined;
  encryption_algorithm?: string | undefined;
  phase1_negotiation_mode?: string | undefined;
  ike_version?: string | undefined;
  pfs?: string | undefined;
  lifetime?: { units: string; value: number } | undefined;
}
export type CreateIkePolicyRequest = IkePolicyFields & { tenant_id?: string | undefined };

export const IpsecPolicySchema = z.object({
  id: z.string().min(1),
  name: text,
  description: text,
  auth_algorithm: z.string(),
  encryption_algorithm: z.string(),
  transform_protocol: z.string(),
  encapsulation_mode: z.string(),
  pfs: z.string(),
  lifetime,
  ...owner,
});
export type IpsecPolicy = z.infer<typeof IpsecPolicySchema>;

export interface IpsecPolicyFields {
  name?: string | undefined;
  description?: string | undefined;
  auth_algorithm?: string | undefined;
  encryption_algorithm?: string | undefined;
  transform_protocol?: string | undefined;
  encapsulation_mode?: string | undefined;
  pfs?: string | undefined;
  lifetime?: { units: string; value: number } | undefined;
}
export type CreateIpsecPolicyRequest = IpsecPolicyFields & { tenant_id?: string | undefined };

export const EndpointGroupSchema = z.object({
  id: z.string().min(1),
  name: text,
  description: text,
  type: z.string(),
  endpoints: z.array(z.string()),
  ...owner,
});
export type EndpointGroup = z.infer<typeof EndpointGroupSchema>;

export interface CreateEndpointGroupRequest {
  name?: string | undefined;
  description?: string | undefined;
  type: string;
  endpoints: string[];
  tenant_id?: string | undefined;
}
/** Neutron changes only the name and description of a group. */
export interface UpdateEndpointGroupRequest {
  name?: string | undefined;
  description?: string | undefined;
}

export const SiteConnectionSchema = z.object({
  id: z.string().min(1),
  name: text,
  description: text,
  status: z.string(),
  vpnservice_id: z.string(),
  ikepolicy_id: z.string(),
  ipsecpolicy_id: z.string(),
  local_ep_group_id: optId,
  peer_ep_group_id: optId,
  peer_cidrs: z
    .array(z.string())
    .nullish()
    .transform((v) => v ?? []),
  peer_address: z.string(),
  peer_id: z.string(),
  local_id: text,
  mtu: z.number().int(),
  initiator: z.string(),
  dpd: z.object({ action: z.string(), interval: z.number().int(), timeout: z.number().int() }),
  admin_state_up: z.boolean(),
  route_mode: z.string().nullish(),
  auth_mode: z.string().nullish(),
  /** Neutron shows the pre-shared key; it never leaves the adapter (compared, never logged or shown). */
  psk: z.string().nullish(),
  ...owner,
});
export type SiteConnection = z.infer<typeof SiteConnectionSchema>;

export interface SiteConnectionFields {
  name?: string | undefined;
  description?: string | undefined;
  local_ep_group_id?: string | null | undefined;
  peer_ep_group_id?: string | null | undefined;
  peer_cidrs?: string[] | undefined;
  peer_address?: string | undefined;
  peer_id?: string | undefined;
  local_id?: string | undefined;
  mtu?: number | undefined;
  initiator?: string | undefined;
  dpd?: { action: string; interval: number; timeout: number } | undefined;
  admin_state_up?: boolean | undefined;
  psk?: string | undefined;
}
export type CreateSiteConnectionRequest = SiteConnectionFields & {
  vpnservice_id: string;
  ikepolicy_id: string;
  ipsecpolicy_id: string;
  peer_address: string;
  peer_id: string;
  psk: string;
  tenant_id?: string | undefined;
};

export type IkePolicyClient = NeutronCollection<typeof IkePolicySchema, CreateIkePolicyRequest, IkePolicyFields>;
export type IpsecPolicyClient = NeutronCollection<typeof IpsecPolicySchema, CreateIpsecPolicyRequest, IpsecPolicyFields>;
export type EndpointGroupClient = NeutronCollection<typeof EndpointGroupSchema, CreateEndpointGroupRequest, UpdateEndpointGroupRequest>;
export type SiteConnectionClient = NeutronCollection<typeof SiteConnectionSchema, CreateSiteConnectionRequest, SiteConnectionFields>;

export interface VpnaasClients {
  ikePolicies: IkePolicyClient;
  ipsecPolicies: IpsecPolicyClient;
  endpointGroups: EndpointGroupClient;
  siteConnections: SiteConnectionClient;
}

export function vpnaasClients(session: NetworkSession, opts: { pageSize?: number; limits?: CloudLimits } = {}): VpnaasClients {
  return {
    ikePolicies: new NeutronCollection(session, { path: '/vpn/ikepolicies', singular: 'ikepolicy', plural: 'ikepolicies', schema: IkePolicySchema }, opts),
    ipsecPolicies: new NeutronCollection(session, { path: '/vpn/ipsecpolicies', singular: 'ipsecpolicy', plural: 'ipsecpolicies', schema: IpsecPolicySchema }, opts),
    endpointGroups: new NeutronCollection(session, { path: '/vpn/endpoint-groups', singular: 'endpoint_group', plural: 'endpoint_groups', schema: EndpointGroupSchema }, opts),
    siteConnections: new NeutronCollection(
      session,
      { path: '/vpn/ipsec-site-connections', singular: 'ipsec_site_connection', plural: 'ipsec_site_connections', schema: SiteConnectionSchema, secretFields: ['psk'] },
      opts,
    ),
  };
}
