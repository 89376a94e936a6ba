// Neutron VPNaaS besides VPN services: IKE policies, IPsec policies, endpoint groups and IPsec site connections,
// as neutron-server (Zed) + neutron-vpnaas (strongSwan driver) answer them, recorded on the real one
// (test/contract/contract.ts runs the same cases on both). Attribute maps: neutron_lib.api.definitions.vpn and
// vpn_endpoint_groups; checks and their order: neutron_vpnaas db/vpn/vpn_db.py, vpn_validator.py and the IPsec
// driver's validator. Where upstream answers oddly, the simulator does the same, on purpose:
// - an endpoint group in use: DELETE → 400 EndpointGroupInUse (a BadRequest in neutron-lib, not 409);
// - a site connection naming a VPN service that does not exist, an IPsec policy that does not exist (or is not
//   visible), or an IPsec policy with transform_protocol ah-esp: 500 (the driver's validator raises inside a
//   transaction and neutron-server turns it into "internal server error"); a missing IKE policy or endpoint group
//   is a proper 404;
// - a filter on an attribute that is not a column (endpoint group `type`/`endpoints`, `lifetime`, `dpd`,
//   `peer_cidrs`) is ignored;
// - a PUT keeps the connection's status (only the agent moves it), unless `updatePending`.
// The simulator knows no subnet CIDRs: every subnet is IPv4. `peer_address` must be an IP address (no DNS here:
// a name gets 400 VPNPeerAddressNotResolved).
// The seed cloud's rule (seedRules): the PSK is 6–128 characters, without spaces or `?`, and not only `*`
// (Open Telekom Cloud, native OpenStack API, "Creating an IPsec VPN Connection").
import { randomUUID } from 'node:crypto';
import { json, NeutronFault, noContent } from './http.ts';
import type { Handler, RouteDef, SimRequest, SimResponse } from './http.ts';
import {
  badRequest,
  charCount,
  convertNoneToEmptyDict,
  convertToBoolean,
  convertToInt,
  convertToList,
  internalError,
  ipVersion,
  isIpAddress,
  isUuidLike,
  prepareResourceBody,
  pyInt,
  pyRepr,
  subnetReason,
  validateDictOrEmpty,
  validateNonNegative,
  validateRange,
  validateString,
  validateSubnetListOrNone,
  validateUuid,
  validateUuidOrNone,
  validateValues,
} from './body.ts';
import type { AttrSpec, AuthContext, ResourceDef } from './body.ts';
import { fieldsOf, listCollection, pickFields } from './neutron-list.ts';
import type { Collection } from './neutron-list.ts';
import { isPending } from './store.ts';
import type { VpnServiceRecord } from './store.ts';
import type { SimState } from './state.ts';
import type {
  EndpointGroupRecord,
  IkePolicyRecord,
  IpsecPolicyRecord,
  Lifetime,
  Owned,
  SiteConnectionRecord,
  Table,
} from './vpnaas-store.ts';

// ---- Neutron's allowed values (neutron_lib.api.definitions.vpn / vpn_endpoint_groups)

export const AUTH_ALGORITHMS = ['sha1', 'sha256', 'sha384', 'sha512'] as const;
export const ENCRYPTION_ALGORITHMS = ['3des', 'aes-128', 'aes-192', 'aes-256'] as const;
export const PHASE1_NEGOTIATION_MODES = ['main', 'aggressive'] as const;
export const IKE_VERSIONS = ['v1', 'v2'] as const;
export const PFS_GROUPS = ['group2', 'group5', 'group14'] as const;
export const TRANSFORM_PROTOCOLS = ['ah', 'ah-esp', 'esp'] as const;
export const ENCAPSULATION_MODES = ['transport', 'tunnel'] as const;
export const LIFETIME_UNITS = ['seconds'] as const;
export const INITIATORS = ['bi-directional', 'response-only'] as const;
export const DPD_ACTIONS = ['clear', 'disabled', 'hold', 'restart', 'restart-by-peer'] as const;
export const ENDPOINT_TYPES = ['cidr', 'network', 'router', 'subnet', 'vlan'] as const;

const owner = {
  id: { post: false, put: false },
  tenant_id: { post: true, put: false, validate: validateString(255) },
  name: { post: true, put: true, default: '', validate: validateString(255) },
  description: { post: true, put: true, default: '', validate: validateString(255) },
} satisfies Record<string, AttrSpec>;

const lifetimeAttr: AttrSpec = {
  post: true,
  put: true,
  convert: convertNoneToEmptyDict,
  default: {},
  validate: validateDictOrEmpty({ units: validateValues(LIFETIME_UNITS), value: validateRange(60) }),
};
const values = (v: readonly string[], dflt: string): AttrSpec => ({ post: true, put: true, default: dflt, validate: validateValues(v) });

const IKE: ResourceDef = {
  singular: 'ikepolicy',
  plural: 'ikepolicies',
  attrs: {
    ...owner,
    auth_algorithm: values(AUTH_ALGORITHMS, 'sha1'),
    encryption_algorithm: values(ENCRYPTION_ALGORITHMS, 'aes-128'),
    phase1_negotiation_mode: values(PHASE1_NEGOTIATION_MODES, 'main'),
    lifetime: lifetimeAttr,
    ike_version: values(IKE_VERSIONS, 'v1'),
    pfs: values(PFS_GROUPS, 'group5'),
  },
};

const IPSEC: ResourceDef = {
  singular: 'ipsecpolicy',
  plural: 'ipsecpolicies',
  attrs: {
    ...owner,
    transform_protocol: values(TRANSFORM_PROTOCOLS, 'esp'),
    auth_algorithm: values(AUTH_ALGORITHMS, 'sha1'),
    encryption_algorithm: values(ENCRYPTION_ALGORITHMS, 'aes-128'),
    encapsulation_mode: values(ENCAPSULATION_MODES, 'tunnel'),
    lifetime: lifetimeAttr,
    pfs: values(PFS_GROUPS, 'group5'),
  },
};

const EPG: ResourceDef = {
  singular: 'endpoint_group',
  plural: 'endpoint_groups',
  attrs: {
    ...owner,
    type: { post: true, put: false, validate: validateValues(ENDPOINT_TYPES) },
    endpoints: { post: true, put: false, convert: convertToList, default: [] },
  },
};

const CONN: ResourceDef = {
  singular: 'ipsec_site_connection',
  plural: 'ipsec_site_connections',
  attrs: {
    ...owner,
    local_id: { post: true, put: true, default: '', validate: validateString() },
    peer_address: { post: true, put: true, validate: validateString() },
    peer_id: { post: true, put: true, validate: validateString() },
    peer_cidrs: { post: true, put: true, convert: convertToList, validate: validateSubnetListOrNone, default: null },
    local_ep_group_id: { post: true, put: true, validate: validateUuidOrNone, default: null },
    peer_ep_group_id: { post: true, put: true, validate: validateUuidOrNone, default: null },
    route_mode: { post: false, put: false },
    mtu: { post: true, put: true, default: 1500, validate: validateNonNegative, convert: convertToInt },
    initiator: values(INITIATORS, 'bi-directional'),
    auth_mode: { post: false, put: false, default: 'psk' },
    psk: { post: true, put: true, validate: validateString() },
    dpd: {
      post: true,
      put: true,
      convert: convertNoneToEmptyDict,
      default: {},
      validate: validateDictOrEmpty({ action: validateValues(DPD_ACTIONS), interval: validateNonNegative, timeout: validateNonNegative }),
    },
    admin_state_up: { post: true, put: true, default: true, convert: convertToBoolean },
    status: { post: false, put: false },
    vpnservice_id: { post: true, put: false, validate: validateUuid },
    ikepolicy_id: { post: true, put: false, validate: validateUuid },
    ipsecpolicy_id: { post: true, put: false, validate: validateUuid },
  },
};

// ---- errors

const ikeNotFound = (id: string) => new NeutronFault(404, 'IKEPolicyNotFound', `IKEPolicy ${id} could not be found`);
const ipsecNotFound = (id: string) => new NeutronFault(404, 'IPsecPolicyNotFound', `IPsecPolicy ${id} could not be found`);
const groupNotFound = (id: string) => new NeutronFault(404, 'VPNEndpointGroupNotFound', `Endpoint group ${id} could not be found`);
const connNotFound = (id: string) => new NeutronFault(404, 'IPsecSiteConnectionNotFound', `ipsec_site_connection ${id} not found`);
const serviceNotFound = (id: string) => new NeutronFault(404, 'VPNServiceNotFound', `VPNService ${id} could not be found`);
const stateInvalid = (id: string, status: string) =>
  new NeutronFault(400, 'VPNStateInvalidToUpdate', `Invalid state ${status} of vpnaas resource ${id} for updating`);

// ---- helpers

function visible<R extends Owned>(ctx: AuthContext, rec: R | undefined): R | undefined {
  return rec && (ctx.admin || rec.tenant_id === ctx.projectId) ? rec : undefined;
}

function lifetimeOf(v: unknown, prev?: Lifetime): Lifetime {
  const d = (v ?? {}) as { units?: unknown; value?: unknown };
  if (prev) {
    // update: each part only when given and truthy (vpn_db.update_ikepolicy)
    return { units: d.units ? String(d.units) : prev.units, value: d.value ? (pyInt(d.value) ?? prev.value) : prev.value };
  }
  return { units: d.units === undefined ? 'seconds' : String(d.units), value: d.value === undefined ? 3600 : (pyInt(d.value) ?? 3600) };
}

function common(dict: Record<string, unknown>): { id: string; tenant_id: string; name: string; description: string } {
  return { id: randomUUID(), tenant_id: dict.tenant_id as string, name: dict.name as string, description: dict.description as string };
}

function patchOf<T>(dict: Record<string, unknown>, keys: readonly (keyof T & string)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (k in dict) (out as Record<string, unknown>)[k] = dict[k];
  return out;
}

/** The seed cloud's PSK rule (Open Telekom Cloud documents it for POST /v2.0/vpn/ipsec-site-connections). */
function checkSeedPsk(psk: string): void {
  const n = charCount(psk);
  if (n < 6 || n > 128) throw badRequest(`Invalid input for psk. Reason: the PSK must be 6 to 128 characters long, not ${n}.`);
  if (/[\s?]/.test(psk)) throw badRequest('Invalid input for psk. Reason: spaces and question marks (?) are not allowed in a PSK.');
  if (/^\*+$/.test(psk)) throw badRequest('Invalid input for psk. Reason: the PSK cannot contain only asterisks (*).');
}

// ---- policies

type PolicyKind = 'ike' | 'ipsec';

function policyTable(state: SimState, kind: PolicyKind): Table<IkePolicyRecord> | Table<IpsecPolicyRecord> {
  return kind === 'ike' ? state.vpnaas.ikePolicies : state.vpnaas.ipsecPolicies;
}

function policyInUse(state: SimState, kind: PolicyKind, id: string): NeutronFault | undefined {
  if (kind === 'ike') {
    if (state.vpnaas.connectionsOfIkePolicy(id).size > 0)
      return new NeutronFault(409, 'IKEPolicyInUse', `IKEPolicy ${id} is in use by existing IPsecSiteConnection and can't be updated or deleted`);
  } else if (state.vpnaas.connectionsOfIpsecPolicy(id).size > 0) {
    return new NeutronFault(409, 'IPsecPolicyInUse', `IPsecPolicy ${id} is in use by existing IPsecSiteConnection and can't be updated or deleted`);
  }
  return undefined;
}

function createPolicy(state: SimState, req: SimRequest, ctx: AuthContext, kind: PolicyKind): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, true, kind === 'ike' ? IKE : IPSEC);
  const c = common(dict);
  const lifetime = lifetimeOf(dict.lifetime);
  if (kind === 'ike') {
    const rec: IkePolicyRecord = {
      ...c,
      auth_algorithm: dict.auth_algorithm as string,
      encryption_algorithm: dict.encryption_algorithm as string,
      phase1_negotiation_mode: dict.phase1_negotiation_mode as string,
      lifetime,
      ike_version: dict.ike_version as string,
      pfs: dict.pfs as string,
      project_id: c.tenant_id,
    };
    state.vpnaas.ikePolicies.add(rec);
    return json(201, { ikepolicy: structuredClone(rec) });
  }
  const rec: IpsecPolicyRecord = {
    ...c,
    transform_protocol: dict.transform_protocol as string,
    auth_algorithm: dict.auth_algorithm as string,
    encryption_algorithm: dict.encryption_algorithm as string,
    encapsulation_mode: dict.encapsulation_mode as string,
    lifetime,
    pfs: dict.pfs as string,
    project_id: c.tenant_id,
  };
  state.vpnaas.ipsecPolicies.add(rec);
  return json(201, { ipsecpolicy: structuredClone(rec) });
}

const IKE_PUT = ['name', 'description', 'auth_algorithm', 'encryption_algorithm', 'phase1_negotiation_mode', 'ike_version', 'pfs'] as const;
const IPSEC_PUT = ['name', 'description', 'transform_protocol', 'auth_algorithm', 'encryption_algorithm', 'encapsulation_mode', 'pfs'] as const;

function updatePolicy(state: SimState, req: SimRequest, ctx: AuthContext, kind: PolicyKind, id: string): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, false, kind === 'ike' ? IKE : IPSEC);
  // vpn_db: the in-use check comes before the look-up
  const inUse = policyInUse(state, kind, id);
  if (inUse) throw inUse;
  const rec = visible(ctx, policyTable(state, kind).get(id));
  if (!rec) throw kind === 'ike' ? ikeNotFound(id) : ipsecNotFound(id);
  Object.assign(rec, patchOf<IkePolicyRecord & IpsecPolicyRecord>(dict, kind === 'ike' ? IKE_PUT : IPSEC_PUT));
  if (dict.lifetime) rec.lifetime = lifetimeOf(dict.lifetime, rec.lifetime);
  return json(200, { [kind === 'ike' ? 'ikepolicy' : 'ipsecpolicy']: structuredClone(rec) });
}

function deletePolicy(state: SimState, ctx: AuthContext, kind: PolicyKind, id: string): SimResponse {
  const inUse = policyInUse(state, kind, id);
  if (inUse) throw inUse;
  const table = policyTable(state, kind);
  if (!visible(ctx, table.get(id))) throw kind === 'ike' ? ikeNotFound(id) : ipsecNotFound(id);
  table.delete(id);
  return noContent();
}

// ---- endpoint groups

/** Subnets the caller can see: those with an interface on a router of the caller's project (any, for admin). */
function subnetRouter(state: SimState, ctx: AuthContext, subnetId: string): string | undefined {
  for (const r of state.store.routers()) if ((ctx.admin || r.projectId === ctx.projectId) && r.subnets.has(subnetId)) return r.id;
  return undefined;
}

function createGroup(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, true, EPG);
  const endpoints = dict.endpoints as unknown[];
  if (endpoints.length === 0)
    throw new NeutronFault(400, 'MissingEndpointForEndpointGroup', `No endpoints specified for endpoint group '${pyRepr(dict)}'`);
  const type = dict.type as string;
  for (const e of endpoints) {
    if (type === 'cidr' && subnetReason(e) !== undefined)
      throw new NeutronFault(400, 'InvalidEndpointInEndpointGroup', `Endpoint '${String(e)}' is invalid for group type 'cidr': Invalid CIDR`);
    if (type === 'subnet') {
      if (!isUuidLike(e))
        throw new NeutronFault(400, 'InvalidEndpointInEndpointGroup', `Endpoint '${String(e)}' is invalid for group type 'subnet': Invalid UUID`);
      if (subnetRouter(state, ctx, e as string) === undefined)
        throw new NeutronFault(400, 'NonExistingSubnetInEndpointGroup', `Subnet ${String(e)} in endpoint group does not exist`);
    }
  }
  const c = common(dict);
  const rec: EndpointGroupRecord = { ...c, type, endpoints: endpoints.map(String), project_id: c.tenant_id };
  state.vpnaas.endpointGroups.add(rec);
  return json(201, { endpoint_group: structuredClone(rec) });
}

function updateGroup(state: SimState, req: SimRequest, ctx: AuthContext, id: string): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, false, EPG);
  const rec = visible(ctx, state.vpnaas.endpointGroups.get(id));
  if (!rec) throw groupNotFound(id);
  Object.assign(rec, patchOf<EndpointGroupRecord>(dict, ['name', 'description']));
  return json(200, { endpoint_group: structuredClone(rec) });
}

function deleteGroup(state: SimState, ctx: AuthContext, id: string): SimResponse {
  if (state.vpnaas.connectionsOfEndpointGroup(id).size > 0)
    throw new NeutronFault(400, 'EndpointGroupInUse', `Endpoint group ${id} is in use and cannot be deleted`);
  if (!visible(ctx, state.vpnaas.endpointGroups.get(id))) throw groupNotFound(id);
  state.vpnaas.endpointGroups.delete(id);
  return noContent();
}

// ---- site connections

interface Resolved {
  dpd: { action: string; interval: number; timeout: number };
  peer_cidrs: string[];
  local_ep_group_id: string | null;
  peer_ep_group_id: string | null;
}

/**
 * What vpn_db checks for a connection, create and update alike, in its order: legacy (service with a subnet: peer
 * CIDRs, no groups) or endpoint groups (both, no peer CIDRs); the groups' types, subnets on the router and IP
 * versions; DPD timeout > interval; MTU; then the peer address against the router's gateway IP versions.
 */
function validateConnection(
  state: SimState,
  ctx: AuthContext,
  service: VpnServiceRecord,
  c: Resolved & { mtu: number },
  peerAddress: string | undefined,
): void {
  const { local_ep_group_id: localId, peer_ep_group_id: peerId, peer_cidrs: peerCidrs } = c;
  if (service.subnet_id !== null) {
    if (peerCidrs.length === 0) throw new NeutronFault(400, 'MissingPeerCidrs', 'Missing peer CIDRs for IPsec site-to-site connection');
    const epgs = [localId ? 'local' : '', peerId ? 'peer' : ''].filter((x) => x !== '');
    if (epgs.length > 0)
      throw new NeutronFault(
        400,
        'InvalidEndpointGroup',
        `Endpoint group${epgs.length > 1 ? 's' : ''} ${epgs.join(' and ')} cannot be specified, when VPN Service has subnet specified`,
      );
  } else {
    if (peerCidrs.length > 0) throw new NeutronFault(400, 'PeerCidrsInvalid', 'Peer CIDRs cannot be specified, when using endpoint groups');
    const epgs = [localId ? '' : 'local', peerId ? '' : 'peer'].filter((x) => x !== '');
    if (epgs.length > 0)
      throw new NeutronFault(
        400,
        'MissingRequiredEndpointGroup',
        `Missing endpoint group${epgs.length > 1 ? 's' : ''} ${epgs.join(' and ')} for IPSec site-to-site connection`,
      );
  }
  let localVersion: 4 | 6;
  let peerVersions: Set<4 | 6>;
  if (localId) {
    const local = visible(ctx, state.vpnaas.endpointGroups.get(localId));
    if (!local) throw groupNotFound(localId);
    const peer = visible(ctx, state.vpnaas.endpointGroups.get(peerId as string));
    if (!peer) throw groupNotFound(peerId as string);
    if (local.type !== 'subnet')
      throw new NeutronFault(400, 'WrongEndpointGroupType', `Endpoint group ${local.id} type is '${local.type}' and should be 'subnet'`);
    const router = state.store.router(service.router_id);
    for (const s of local.endpoints) {
      if (subnetRouter(state, ctx, s) === undefined) continue; // the query finds only existing subnets
      if (!router?.subnets.has(s))
        throw new NeutronFault(400, 'SubnetIsNotConnectedToRouter', `Subnet ${s} is not connected to Router ${service.router_id}`);
    }
    localVersion = 4; // the simulator's subnets are IPv4
    if (peer.type !== 'cidr')
      throw new NeutronFault(400, 'WrongEndpointGroupType', `Endpoint group ${peer.id} type is '${peer.type}' and should be 'cidr'`);
    peerVersions = new Set(peer.endpoints.map(ipVersion));
    if (peerVersions.size > 1)
      throw new NeutronFault(
        400,
        'MixedIPVersionsForIPSecEndpoints',
        `Endpoints in group ${peer.id} do not have the same IP version, as required for IPSec site-to-site connection`,
      );
  } else {
    for (const cidr of peerCidrs)
      if (subnetReason(cidr) !== undefined)
        throw new NeutronFault(400, 'IPsecSiteConnectionPeerCidrError', `ipsec_site_connection peer cidr ${cidr} is invalid CIDR`);
    localVersion = 4;
    peerVersions = new Set(peerCidrs.map(ipVersion));
    if (peerVersions.size > 1)
      throw new NeutronFault(400, 'MixedIPVersionsForPeerCidrs', 'Peer CIDRs do not have the same IP version, as required for IPSec site-to-site connection');
  }
  if ([...peerVersions][0] !== localVersion)
    throw new NeutronFault(400, 'MixedIPVersionsForIPSecConnection', 'IP versions are not compatible between peer and local endpoints');
  if (c.dpd.timeout <= c.dpd.interval)
    throw new NeutronFault(400, 'IPsecSiteConnectionDpdIntervalValueError', 'ipsec_site_connection dpd_timeout is equal to or less than dpd_interval');
  if (c.mtu && c.mtu < (localVersion === 4 ? 68 : 1280))
    throw new NeutronFault(400, 'IPsecSiteConnectionMtuError', `ipsec_site_connection MTU ${c.mtu} is too small for ipv${localVersion}`);
  if (peerAddress !== undefined) {
    if (!isIpAddress(peerAddress))
      throw new NeutronFault(400, 'VPNPeerAddressNotResolved', `Peer address ${peerAddress} cannot be resolved`);
    const router = state.store.router(service.router_id);
    const v = ipVersion(peerAddress);
    if ((v === 4 ? router?.gatewayV4 : router?.gatewayV6) == null)
      throw new NeutronFault(400, 'ExternalNetworkHasNoSubnet', `Router's ${service.router_id} external network has no IPv${v} subnet`);
  }
}

function dpdOf(v: unknown, prev: { action: string; interval: number; timeout: number }): { action: string; interval: number; timeout: number } {
  const d = (v ?? {}) as { action?: unknown; interval?: unknown; timeout?: unknown };
  return {
    action: d.action === undefined ? prev.action : String(d.action),
    interval: d.interval === undefined ? prev.interval : (pyInt(d.interval) ?? prev.interval),
    timeout: d.timeout === undefined ? prev.timeout : (pyInt(d.timeout) ?? prev.timeout),
  };
}

function createConnection(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, true, CONN);
  if (state.seedRules) checkSeedPsk(dict.psk as string);
  const now = state.now();
  const serviceId = dict.vpnservice_id as string;
  // The driver is looked up by the service, then the driver validates the IPsec policy: both fail as a 500.
  const anyService = state.store.peek(serviceId, now);
  if (!anyService) throw internalError();
  const ipsec = visible(ctx, state.vpnaas.ipsecPolicies.get(dict.ipsecpolicy_id as string));
  if (!ipsec || ipsec.transform_protocol === 'ah-esp') throw internalError();
  const service = visible(ctx, anyService);
  if (!service) throw serviceNotFound(serviceId);
  const ikeId = dict.ikepolicy_id as string;
  if (!visible(ctx, state.vpnaas.ikePolicies.get(ikeId))) throw ikeNotFound(ikeId);
  const resolved: Resolved & { mtu: number } = {
    dpd: dpdOf(dict.dpd, { action: 'hold', interval: 30, timeout: 120 }),
    peer_cidrs: (dict.peer_cidrs as string[] | null) ?? [],
    local_ep_group_id: dict.local_ep_group_id as string | null,
    peer_ep_group_id: dict.peer_ep_group_id as string | null,
    mtu: dict.mtu as number,
  };
  validateConnection(state, ctx, service, resolved, dict.peer_address as string);
  const c = common(dict);
  const rec: SiteConnectionRecord = {
    ...c,
    peer_address: dict.peer_address as string,
    peer_id: dict.peer_id as string,
    local_id: dict.local_id as string,
    route_mode: 'static',
    mtu: resolved.mtu,
    auth_mode: 'psk',
    psk: dict.psk as string,
    initiator: dict.initiator as string,
    dpd: resolved.dpd,
    admin_state_up: dict.admin_state_up as boolean,
    status: 'PENDING_CREATE',
    vpnservice_id: serviceId,
    ikepolicy_id: ikeId,
    ipsecpolicy_id: ipsec.id,
    peer_cidrs: [...new Set(resolved.peer_cidrs)],
    local_ep_group_id: resolved.local_ep_group_id,
    peer_ep_group_id: resolved.peer_ep_group_id,
    project_id: c.tenant_id,
  };
  return json(201, { ipsec_site_connection: state.vpnaas.addConnection(rec, now) });
}

const CONN_PUT = ['name', 'description', 'local_id', 'peer_address', 'peer_id', 'mtu', 'initiator', 'psk', 'admin_state_up', 'local_ep_group_id', 'peer_ep_group_id'] as const;

function updateConnection(state: SimState, req: SimRequest, ctx: AuthContext, id: string): SimResponse {
  const { dict } = prepareResourceBody(state, req, ctx, false, CONN);
  if (state.seedRules && typeof dict.psk === 'string') checkSeedPsk(dict.psk);
  const now = state.now();
  const rec = visible(ctx, state.vpnaas.peekConnection(id, now));
  if (!rec) throw connNotFound(id);
  const service = state.store.peek(rec.vpnservice_id, now);
  if (!service) throw serviceNotFound(rec.vpnservice_id);
  const resolved: Resolved & { mtu: number } = {
    dpd: dpdOf(dict.dpd, rec.dpd),
    peer_cidrs: 'peer_cidrs' in dict ? ((dict.peer_cidrs as string[] | null) ?? []) : rec.peer_cidrs,
    local_ep_group_id: 'local_ep_group_id' in dict ? (dict.local_ep_group_id as string | null) : rec.local_ep_group_id,
    peer_ep_group_id: 'peer_ep_group_id' in dict ? (dict.peer_ep_group_id as string | null) : rec.peer_ep_group_id,
    mtu: 'mtu' in dict ? (dict.mtu as number) : rec.mtu,
  };
  validateConnection(state, ctx, service, resolved, 'peer_address' in dict ? (dict.peer_address as string) : undefined);
  if (isPending(rec.status)) throw stateInvalid(id, rec.status);
  const patch: Partial<SiteConnectionRecord> = patchOf<SiteConnectionRecord>(dict, CONN_PUT);
  patch.dpd = resolved.dpd;
  if ('peer_cidrs' in dict) patch.peer_cidrs = [...new Set(resolved.peer_cidrs)];
  const updated = state.vpnaas.updateConnection(id, patch, now);
  if (!updated) throw connNotFound(id);
  return json(200, { ipsec_site_connection: updated });
}

function deleteConnection(state: SimState, ctx: AuthContext, id: string): SimResponse {
  if (!visible(ctx, state.vpnaas.peekConnection(id, state.now()))) throw connNotFound(id);
  state.vpnaas.deleteConnection(id);
  return noContent();
}

// ---- lists

const columns = (def: ResourceDef, not: string[]) => new Set(Object.keys(def.attrs).filter((k) => !not.includes(k)));

function tableCollection<R extends Owned>(def: ResourceDef, table: Table<R>, notFound: (id: string) => NeutronFault, not: string[]): Collection<R> {
  return {
    plural: def.plural,
    attrs: new Set(Object.keys(def.attrs)),
    filters: columns(def, not),
    idsFrom: (m, r) => table.idsFrom(m, r),
    peek: (id) => table.get(id),
    notFound,
  };
}

// ---- routes

export function vpnaasRoutes(
  state: SimState,
  authed: (fn: (req: SimRequest, ctx: AuthContext) => SimResponse | Promise<SimResponse>) => Handler,
): RouteDef[] {
  const p = `${state.networkPrefix}/v2.0/vpn`;
  const id = (req: SimRequest) => req.params.id ?? '';
  const v = state.vpnaas;
  const collections = {
    ike: tableCollection(IKE, v.ikePolicies, ikeNotFound, ['lifetime']),
    ipsec: tableCollection(IPSEC, v.ipsecPolicies, ipsecNotFound, ['lifetime']),
    epg: tableCollection(EPG, v.endpointGroups, groupNotFound, ['type', 'endpoints']),
    conn: {
      plural: CONN.plural,
      attrs: new Set(Object.keys(CONN.attrs)),
      filters: columns(CONN, ['dpd', 'peer_cidrs']),
      idsFrom: (m: string | undefined, r: boolean) => v.connectionIdsFrom(m, r),
      peek: (cid: string) => v.peekConnection(cid, state.now()),
      index: { vpnservice_id: (sid: string) => v.connectionsOfService(sid) },
      notFound: connNotFound,
    } satisfies Collection<SiteConnectionRecord>,
  };
  const getOne = <R extends Owned>(key: string, c: Collection<R>): Handler =>
    authed((req, ctx) => {
      const rec = visible(ctx, c.peek(id(req)));
      if (!rec) throw c.notFound(id(req));
      return json(200, { [key]: pickFields(structuredClone(rec), fieldsOf(req)) });
    });
  const routes = (path: string, key: string, c: Collection<Owned>, ops: {
    create: (req: SimRequest, ctx: AuthContext) => SimResponse | Promise<SimResponse>;
    update: (req: SimRequest, ctx: AuthContext, id: string) => SimResponse;
    remove: (ctx: AuthContext, id: string) => SimResponse;
  }): RouteDef[] => [
    { method: 'GET', template: `${p}/${path}`, handler: authed((req, ctx) => listCollection(c, req, ctx)) },
    { method: 'POST', template: `${p}/${path}`, handler: authed(ops.create) },
    { method: 'GET', template: `${p}/${path}/{id}`, handler: getOne(key, c) },
    { method: 'PUT', template: `${p}/${path}/{id}`, handler: authed((req, ctx) => ops.update(req, ctx, id(req))) },
    { method: 'DELETE', template: `${p}/${path}/{id}`, handler: authed((_req, ctx) => ops.remove(ctx, id(_req))) },
  ];
  return [
    ...routes('ikepolicies', 'ikepolicy', collections.ike as unknown as Collection<Owned>, {
      create: (req, ctx) => createPolicy(state, req, ctx, 'ike'),
      update: (req, ctx, i) => updatePolicy(state, req, ctx, 'ike', i),
      remove: (ctx, i) => deletePolicy(state, ctx, 'ike', i),
    }),
    ...routes('ipsecpolicies', 'ipsecpolicy', collections.ipsec as unknown as Collection<Owned>, {
      create: (req, ctx) => createPolicy(state, req, ctx, 'ipsec'),
      update: (req, ctx, i) => updatePolicy(state, req, ctx, 'ipsec', i),
      remove: (ctx, i) => deletePolicy(state, ctx, 'ipsec', i),
    }),
    ...routes('endpoint-groups', 'endpoint_group', collections.epg as unknown as Collection<Owned>, {
      create: (req, ctx) => createGroup(state, req, ctx),
      update: (req, ctx, i) => updateGroup(state, req, ctx, i),
      remove: (ctx, i) => deleteGroup(state, ctx, i),
    }),
    ...routes('ipsec-site-connections', 'ipsec_site_connection', collections.conn as unknown as Collection<Owned>, {
      create: (req, ctx) => createConnection(state, req, ctx),
      update: (req, ctx, i) => updateConnection(state, req, ctx, i),
      remove: (ctx, i) => deleteConnection(state, ctx, i),
    }),
  ];
}

/**
 * For the simulator's admin (tests, demos): a complete site connection on a VPN service, made the way a user
 * would make it (an IKE policy, an IPsec policy, endpoint groups for a service without subnet: the router's first
 * subnet as local (a router without one gets a new subnet attached first), `peerCidr` as peer; `peer_cidrs` for a
 * service with a subnet), through the same checks as the API. Throws (a NeutronFault) when Neutron would refuse.
 */
export function createSiteConnectionFor(
  state: SimState,
  serviceId: string,
  opts: { peerAddress?: string; peerCidr?: string; psk?: string } = {},
): SiteConnectionRecord {
  const now = state.now();
  const service = state.store.peek(serviceId, now);
  if (!service) throw new Error(`no VPN service ${serviceId}`);
  const ctx: AuthContext = { projectId: service.tenant_id, admin: false };
  const tenant = service.tenant_id;
  const suffix = serviceId.slice(0, 8);
  const call = (kind: 'ike' | 'ipsec' | 'epg', body: Record<string, unknown>): Owned => {
    const def = kind === 'ike' ? IKE : kind === 'ipsec' ? IPSEC : EPG;
    const req = fakeRequest(def.singular, { ...body, tenant_id: tenant });
    const res = kind === 'epg' ? createGroup(state, req, ctx) : createPolicy(state, req, ctx, kind);
    return (res.body as Record<string, Owned>)[def.singular] as Owned;
  };
  const ike = call('ike', { name: `ike-${suffix}` });
  const ipsec = call('ipsec', { name: `ipsec-${suffix}` });
  const peerCidr = opts.peerCidr ?? '192.168.100.0/24';
  const peerAddress = opts.peerAddress ?? '198.51.100.10';
  const conn: Record<string, unknown> = {
    name: `conn-${suffix}`,
    tenant_id: tenant,
    vpnservice_id: serviceId,
    ikepolicy_id: ike.id,
    ipsecpolicy_id: ipsec.id,
    peer_address: peerAddress,
    peer_id: peerAddress,
    psk: opts.psk ?? 'simulator-psk',
  };
  if (service.subnet_id !== null) conn.peer_cidrs = [peerCidr];
  else {
    const router = state.store.router(service.router_id);
    if (!router) throw new Error(`router ${service.router_id} of VPN service ${serviceId} does not exist`);
    // A router without an interface gets one first, as a user would add it.
    const subnet = router.subnets.values().next().value ?? state.store.attachSubnet(router.id, randomUUID());
    conn.local_ep_group_id = call('epg', { name: `local-${suffix}`, type: 'subnet', endpoints: [subnet] }).id;
    conn.peer_ep_group_id = call('epg', { name: `peer-${suffix}`, type: 'cidr', endpoints: [peerCidr] }).id;
  }
  const res = createConnection(state, fakeRequest('ipsec_site_connection', conn), ctx);
  return (res.body as { ipsec_site_connection: SiteConnectionRecord }).ipsec_site_connection;
}

function fakeRequest(key: string, body: Record<string, unknown>): SimRequest {
  return {
    method: 'POST',
    path: '',
    query: new URLSearchParams(),
    headers: {},
    body: Buffer.from(JSON.stringify({ [key]: body })),
    params: {},
    requestId: '',
    origin: '',
  };
}
