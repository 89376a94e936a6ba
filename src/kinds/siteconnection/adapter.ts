// The IPsecSiteConnection adapter. It names its VPN service, policies and endpoint groups by reference (the core
// resolves their cloud ids) and takes the pre-shared key from a Secret (the core reads it; it is compared and sent,
// never logged or shown: the site connection client declares `psk` a secret field, so the cloud layer scrubs it in
// any encoding from the error of a create or update, src/cloud/redact.ts). Its Ready follows the tunnel:
// PENDING_CREATE until the VPN agent reports, then ACTIVE, DOWN or ERROR, re-read every 30 s in bulk.
import { cloudName } from '../../api/common.ts';
import { PSK_RULE, type IPsecSiteConnection, type IPsecSiteConnectionStatus } from '../../api/siteconnection.ts';
import type { SiteConnection, SiteConnectionFields } from '../../cloud/vpnaas.ts';
import type { Inputs, ResourceAdapter } from '../../core/adapter.ts';
import type { Outcome } from '../../core/conditions.ts';
import type { Ref } from '../../core/deps.ts';
import { listByNames, pending, viewMembers } from '../shared/collection.ts';

type Conn = IPsecSiteConnection;

const PSK = 'pskSecretRef';

/** The references of a connection, by spec field. */
export function connectionRefs(obj: Conn): Ref[] {
  const ns = obj.metadata.namespace;
  const s = obj.spec;
  const refs: Ref[] = [
    { kind: 'VpnService', namespace: ns, name: s.vpnServiceRef.name, field: 'vpnServiceRef' },
    { kind: 'IKEPolicy', namespace: ns, name: s.ikePolicyRef.name, field: 'ikePolicyRef' },
    { kind: 'IPsecPolicy', namespace: ns, name: s.ipsecPolicyRef.name, field: 'ipsecPolicyRef' },
  ];
  if (s.localEndpointGroupRef) refs.push({ kind: 'EndpointGroup', namespace: ns, name: s.localEndpointGroupRef.name, field: 'localEndpointGroupRef' });
  if (s.peerEndpointGroupRef) refs.push({ kind: 'EndpointGroup', namespace: ns, name: s.peerEndpointGroupRef.name, field: 'peerEndpointGroupRef' });
  return refs;
}

/** The fields Neutron updates in place, as the spec and inputs want them. */
function updatable(obj: Conn, inputs: Inputs): SiteConnectionFields {
  const s = obj.spec;
  const f: SiteConnectionFields = {
    name: cloudName(obj),
    peer_address: s.peerAddress,
    peer_id: s.peerId ?? s.peerAddress,
    mtu: s.mtu,
    initiator: s.initiator,
    dpd: { action: s.dpd.action, interval: s.dpd.interval, timeout: s.dpd.timeout },
    admin_state_up: s.adminStateUp,
  };
  if (s.description !== undefined) f.description = s.description;
  if (s.localId !== undefined) f.local_id = s.localId;
  if (s.peerCidrs) f.peer_cidrs = [...s.peerCidrs];
  if (inputs.ids.localEndpointGroupRef) f.local_ep_group_id = inputs.ids.localEndpointGroupRef;
  if (inputs.ids.peerEndpointGroupRef) f.peer_ep_group_id = inputs.ids.peerEndpointGroupRef;
  return f;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const n = (l: readonly string[]) => [...new Set(l.map((x) => x.toLowerCase()))].sort().join(',');
  return n(a) === n(b);
}

export function tunnelOutcome(r: SiteConnection): Outcome {
  const peer = r.peer_address;
  switch (r.status) {
    case 'ACTIVE':
      return { reason: 'Active', message: `IPsec site connection ${r.id} is ACTIVE: the tunnel to ${peer} is up.` };
    case 'DOWN':
      return {
        reason: 'Down',
        message: `The cloud reports IPsec site connection ${r.id} DOWN: the tunnel to ${peer} is not up. Check that the peer uses the same pre-shared key, IKE and IPsec policies and peer id, and that it is reachable; the operator keeps watching.`,
      };
    case 'ERROR':
      return {
        reason: 'Error',
        message: `The cloud reports IPsec site connection ${r.id} in ERROR. Inspect it in the cloud (openstack vpn ipsec site connection show ${r.id}) and the VPN agent's log.`,
      };
    default:
      return {
        reason: 'Provisioning',
        message: `Waiting for the tunnel of IPsec site connection ${r.id} to ${peer} (status ${r.status}); the VPN agent reports when IKE has come up.`,
      };
  }
}

export const siteConnectionAdapter: ResourceAdapter<Conn, SiteConnection, SiteConnectionFields> = {
  kind: 'IPsecSiteConnection',
  noun: 'IPsec site connection',
  cloudName,
  busy: pending,
  followMs: 30_000,
  ...viewMembers<SiteConnection>('ipsecsiteconnections', (c) => c.cloud.siteConnections),
  listCandidates: (cloud, obj) => listByNames(cloud.cloud.siteConnections, obj, cloudName(obj)),
  isOurs: (obj, r, names) => names.has(r.name) && r.peer_address === obj.spec.peerAddress,
  importProblem: () => undefined,
  references: connectionRefs,
  secretInputs: (obj) => [{ field: PSK, name: obj.spec.pskSecretRef.name, key: obj.spec.pskSecretRef.key }],
  checkSecret(_field, value) {
    if (PSK_RULE.test(value)) return undefined;
    return `the pre-shared key must be 6 to 128 characters long, with no spaces and no '?' (it has ${[...value].length} characters${/\s/u.test(value) ? ', with whitespace' : ''}${value.includes('?') ? ", with '?'" : ''}).`;
  },

  create(cloud, obj, inputs) {
    const psk = inputs.secrets[PSK];
    const ids = inputs.ids;
    if (!psk || !ids.vpnServiceRef || !ids.ikePolicyRef || !ids.ipsecPolicyRef) throw new Error('internal: a site connection is created only with its references and PSK');
    return cloud.cloud.siteConnections.create({
      ...updatable(obj, inputs),
      vpnservice_id: ids.vpnServiceRef!,
      ikepolicy_id: ids.ikePolicyRef!,
      ipsecpolicy_id: ids.ipsecPolicyRef!,
      peer_address: obj.spec.peerAddress,
      peer_id: obj.spec.peerId ?? obj.spec.peerAddress,
      psk,
      ...(obj.spec.tenantId !== undefined ? { tenant_id: obj.spec.tenantId } : {}),
    });
  },

  replaceReason(obj, r, inputs) {
    const ids = inputs.ids;
    if (ids.vpnServiceRef && ids.vpnServiceRef !== r.vpnservice_id) return `its VPN service is now ${ids.vpnServiceRef} (was ${r.vpnservice_id})`;
    if (ids.ikePolicyRef && ids.ikePolicyRef !== r.ikepolicy_id) return `its IKE policy is now ${ids.ikePolicyRef} (was ${r.ikepolicy_id})`;
    if (ids.ipsecPolicyRef && ids.ipsecPolicyRef !== r.ipsecpolicy_id) return `its IPsec policy is now ${ids.ipsecPolicyRef} (was ${r.ipsecpolicy_id})`;
    const wantsGroups = obj.spec.localEndpointGroupRef !== undefined;
    const hasGroups = r.local_ep_group_id !== null;
    if (wantsGroups !== hasGroups) return wantsGroups ? 'it moves from peerCidrs to endpoint groups' : 'it moves from endpoint groups to peerCidrs';
    return undefined;
  },

  wantedUpdate(obj, r, inputs) {
    const want = updatable(obj, inputs);
    const patch: SiteConnectionFields = {};
    for (const [k, v] of Object.entries(want) as Array<[keyof SiteConnectionFields, unknown]>) {
      const have = (r as Record<string, unknown>)[k];
      const same = k === 'peer_cidrs' ? sameSet(v as string[], r.peer_cidrs) : JSON.stringify(v) === JSON.stringify(have);
      if (!same) (patch as Record<string, unknown>)[k] = v;
    }
    const psk = inputs.secrets[PSK];
    if (psk !== undefined) {
      // Neutron shows the key: compare it. A cloud that hides it: apply a Secret version not applied yet.
      const changed = typeof r.psk === 'string' ? r.psk !== psk : obj.status?.pskSecretVersion !== inputs.secretVersions[PSK];
      if (changed) patch.psk = psk;
    }
    return Object.keys(patch).length ? patch : undefined;
  },
  updateFields: (p) => Object.keys(p),
  update: (cloud, id, patch) => cloud.cloud.siteConnections.update(id, patch),

  usedIds(obj) {
    const st = obj.status;
    return [st?.vpnServiceId, st?.ikePolicyId, st?.ipsecPolicyId, st?.localEndpointGroupId, st?.peerEndpointGroupId].filter((x): x is string => !!x);
  },

  observedStatus(r, endpoint, inputs): IPsecSiteConnectionStatus {
    const st: IPsecSiteConnectionStatus = {
      id: r.id,
      status: r.status,
      name: r.name,
      cloudEndpoint: endpoint,
      vpnServiceId: r.vpnservice_id,
      ikePolicyId: r.ikepolicy_id,
      ipsecPolicyId: r.ipsecpolicy_id,
      peerAddress: r.peer_address,
    };
    if (r.local_ep_group_id) st.localEndpointGroupId = r.local_ep_group_id;
    if (r.peer_ep_group_id) st.peerEndpointGroupId = r.peer_ep_group_id;
    if (r.route_mode) st.routeMode = r.route_mode;
    if (r.auth_mode) st.authMode = r.auth_mode;
    const tenant = r.tenant_id ?? r.project_id;
    if (tenant) st.tenantId = tenant;
    // Which Secret version the cloud has: only when it shows the same key (or hides it), never the key itself.
    const version = inputs.secretVersions[PSK];
    const psk = inputs.secrets[PSK];
    if (version !== undefined && (typeof r.psk !== 'string' || r.psk === psk)) st.pskSecretVersion = version;
    return st;
  },
  outcome: tunnelOutcome,
};
