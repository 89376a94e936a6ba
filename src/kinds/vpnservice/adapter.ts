// The VpnService adapter: everything the core needs to know about Neutron VPN services, and nothing else. One VPN
// service per VPC (router) is its exclusive policy: the scope is the router id, compared in lower case.
import { cloudName, type VpnService, type VpnServiceStatus } from '../../api/vpnservice.ts';
import { classify } from '../../cloud/errors.ts';
import type { UpdateVpnServiceRequest, VpnService as CloudVpn } from '../../cloud/vpnservices.ts';
import type { ResourceAdapter } from '../../core/adapter.ts';
import { canonicalScope } from '../../core/claims.ts';
import type { CloudHandle } from '../../core/cloud.ts';
import type { Outcome } from '../../core/conditions.ts';
import { CloudView } from './view.ts';

export type { CloudVpn };

export const PENDING_STATES: ReadonlySet<string> = new Set(['PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE', 'BUILD']);

export function isPending(status: string | undefined): boolean {
  return status !== undefined && PENDING_STATES.has(status);
}

/** The bulk view of a cloud's VPN services (one per cloud handle). */
export function vpnView(cloud: CloudHandle): CloudView {
  return cloud.view('vpnservices', () => new CloudView(cloud.cloud.vpnServices));
}

/** The status fields that mirror the cloud's view of the service. */
export function observedFields(svc: CloudVpn, endpoint: string): VpnServiceStatus {
  const s: VpnServiceStatus = { id: svc.id, status: svc.status, routerId: svc.router_id, name: svc.name, cloudEndpoint: endpoint };
  if (svc.external_v4_ip) s.externalV4Ip = svc.external_v4_ip;
  if (svc.external_v6_ip) s.externalV6Ip = svc.external_v6_ip;
  if (svc.subnet_id) s.subnetId = svc.subnet_id;
  if (svc.tenant_id) s.tenantId = svc.tenant_id;
  return s;
}

/** What must change in the cloud for the service to match the spec (undefined: nothing). */
export function wantedUpdate(obj: Pick<VpnService, 'metadata' | 'spec'>, svc: CloudVpn): UpdateVpnServiceRequest | undefined {
  const patch: UpdateVpnServiceRequest = {};
  const name = cloudName(obj);
  if (svc.name !== name) patch.name = name;
  // An absent description is not managed (an adopted service keeps its own).
  if (obj.spec.description !== undefined && svc.description !== obj.spec.description) patch.description = obj.spec.description;
  if (svc.admin_state_up !== obj.spec.adminStateUp) patch.admin_state_up = obj.spec.adminStateUp;
  return Object.keys(patch).length ? patch : undefined;
}

/** The Ready outcome of a service that exists in the cloud and matches the spec. */
export function outcomeOfCloudStatus(svc: CloudVpn): Outcome {
  const ip = svc.external_v4_ip ?? svc.external_v6_ip;
  switch (svc.status) {
    case 'ACTIVE':
      return { reason: 'Active', message: `VPN service ${svc.id} is ACTIVE${ip ? ` with external IP ${ip}` : ''}.` };
    case 'DOWN':
      return {
        reason: 'Down',
        message: `The cloud reports VPN service ${svc.id} DOWN. Check its IPsec site connections and the router's gateway; the operator keeps watching it.`,
      };
    case 'ERROR':
      return {
        reason: 'Error',
        message: `The cloud reports VPN service ${svc.id} in ERROR. Inspect it in the cloud (openstack vpn service show ${svc.id}); deleting and recreating the VpnService creates a new one.`,
      };
    default:
      return {
        reason: 'Provisioning',
        message: isPending(svc.status)
          ? `The cloud is provisioning VPN service ${svc.id} (status ${svc.status}); waiting for ACTIVE.`
          : `The cloud reports VPN service ${svc.id} with status ${svc.status}; waiting for ACTIVE.`,
      };
  }
}

async function getService(cloud: CloudHandle, id: string): Promise<CloudVpn | undefined> {
  try {
    return await cloud.cloud.vpnServices.get(id);
  } catch (err) {
    if (classify(err) === 'notFound') return undefined;
    throw err;
  }
}

export const vpnServiceAdapter: ResourceAdapter<VpnService, CloudVpn, UpdateVpnServiceRequest> = {
  kind: 'VpnService',
  noun: 'VPN service',
  cloudName,
  busy: isPending,
  get: getService,

  async observe(cloud, id, notBefore) {
    const view = vpnView(cloud);
    const snap = await view.fresh(notBefore);
    const seen = snap.byId.get(id);
    if (seen) return { resource: seen, readAt: snap.startedAt };
    // Not in the bulk view: confirm with a direct read before concluding it is gone.
    const svc = await getService(cloud, id);
    if (svc) view.remember(svc);
    return { resource: svc, readAt: snap.startedAt };
  },

  listCandidates(cloud, obj) {
    return cloud.cloud.vpnServices.list({ routerId: canonicalScope(obj.spec.routerId) });
  },

  isOurs(obj, r, names) {
    return canonicalScope(r.router_id) === canonicalScope(obj.spec.routerId) && names.has(r.name);
  },

  importProblem(obj, r) {
    if (canonicalScope(r.router_id) === canonicalScope(obj.spec.routerId)) return undefined;
    return `spec.importId ${r.id} is on router ${r.router_id}, not on spec.routerId ${obj.spec.routerId}. Create a VpnService with the matching routerId to import it.`;
  },

  create(cloud, obj) {
    return cloud.cloud.vpnServices.create({
      router_id: canonicalScope(obj.spec.routerId),
      name: cloudName(obj),
      admin_state_up: obj.spec.adminStateUp,
      ...(obj.spec.subnetId ? { subnet_id: obj.spec.subnetId } : {}),
      ...(obj.spec.description !== undefined ? { description: obj.spec.description } : {}),
      ...(obj.spec.tenantId !== undefined ? { tenant_id: obj.spec.tenantId } : {}),
    });
  },

  wantedUpdate,
  updateFields: (p) => Object.keys(p),
  update: (cloud, id, patch) => cloud.cloud.vpnServices.update(id, patch),

  async delete(cloud, id) {
    try {
      await cloud.cloud.vpnServices.delete(id);
    } catch (err) {
      if (classify(err) !== 'notFound') throw err;
    }
  },

  observedStatus: observedFields,
  outcome: outcomeOfCloudStatus,

  exclusive: {
    noun: 'router',
    scopeOf: (obj) => canonicalScope(obj.spec.routerId),
    scopeOfResource: (r) => canonicalScope(r.router_id),
    async visible(cloud, obj) {
      const router = await cloud.cloud.routers.get(canonicalScope(obj.spec.routerId));
      if (router) return undefined;
      return {
        reason: 'RouterNotFound',
        message: `The cloud has no router ${obj.spec.routerId} that these credentials can see. Check spec.routerId and that the credentials belong to the router's project; the operator looks again every few minutes and when the credentials change.`,
      };
    },
  },

  watchPending(cloud, r, notify) {
    vpnView(cloud).waitForChange(r.id, r.status, notify);
  },
  settle(cloud, id, gone) {
    const view = vpnView(cloud);
    view.stopWaiting(id);
    if (gone) view.forget(id);
  },
  remember(cloud, r) {
    vpnView(cloud).remember(r);
  },
};
