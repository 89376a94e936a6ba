// From what the cloud reports to what the object shows: status fields, the outcome (Ready reason + message),
// when to look again, and the minimal status patch. Pure functions.
import type { VpnService, VpnServiceStatus } from '../api/vpnservice.ts';
import { cloudName } from '../api/vpnservice.ts';
import { conditionsFor, mergeConditions, type Outcome } from './conditions.ts';
import type { CloudVpn, UpdateVpn } from './ports.ts';

export const PENDING_STATES = new Set(['PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE', 'BUILD']);

export function isPending(status: string | undefined): boolean {
  return status !== undefined && PENDING_STATES.has(status);
}

/** The status fields that mirror the cloud's view of the service. */
export function observedFields(svc: CloudVpn, endpoint: string): VpnServiceStatus {
  const s: VpnServiceStatus = {
    id: svc.id,
    status: svc.status,
    routerId: svc.router_id,
    name: svc.name,
    cloudEndpoint: endpoint,
  };
  if (svc.external_v4_ip) s.externalV4Ip = svc.external_v4_ip;
  if (svc.external_v6_ip) s.externalV6Ip = svc.external_v6_ip;
  if (svc.subnet_id) s.subnetId = svc.subnet_id;
  if (svc.tenant_id) s.tenantId = svc.tenant_id;
  return s;
}

/** What must change in the cloud for the service to match the spec (undefined: nothing). */
export function wantedUpdate(obj: Pick<VpnService, 'metadata' | 'spec'>, svc: CloudVpn): UpdateVpn | undefined {
  const patch: UpdateVpn = {};
  const name = cloudName(obj);
  if (svc.name !== name) patch.name = name;
  // An absent description is not managed (an adopted service keeps its own).
  if (obj.spec.description !== undefined && svc.description !== obj.spec.description) {
    patch.description = obj.spec.description;
  }
  if (svc.admin_state_up !== obj.spec.adminStateUp) patch.admin_state_up = obj.spec.adminStateUp;
  return Object.keys(patch).length ? patch : undefined;
}

/** The outcome for a service that exists in the cloud and matches the spec. */
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
      if (isPending(svc.status)) {
        return {
          reason: 'Provisioning',
          message: `The cloud is provisioning VPN service ${svc.id} (status ${svc.status}); waiting for ACTIVE.`,
        };
      }
      return {
        reason: 'Provisioning',
        message: `The cloud reports VPN service ${svc.id} with status ${svc.status}; waiting for ACTIVE.`,
      };
  }
}

/** The complete status to show: observed fields (or the previous ones when the cloud was not read), conditions. */
export function nextStatus(
  obj: VpnService,
  observed: VpnServiceStatus | undefined,
  outcome: Outcome,
  now: string,
): VpnServiceStatus {
  const prev = obj.status ?? {};
  const base: VpnServiceStatus = observed ?? pickObserved(prev);
  const conditions = mergeConditions(prev.conditions, conditionsFor(outcome, obj.metadata.generation), now);
  const next: VpnServiceStatus = { ...base, observedGeneration: obj.metadata.generation, conditions };
  if (observed && !sameStatus({ ...next, lastSyncTime: undefined }, { ...prev, lastSyncTime: undefined })) {
    next.lastSyncTime = now;
  } else if (prev.lastSyncTime) {
    next.lastSyncTime = prev.lastSyncTime;
  }
  return next;
}

function pickObserved(prev: VpnServiceStatus): VpnServiceStatus {
  const { conditions: _c, observedGeneration: _g, lastSyncTime: _t, ...rest } = prev;
  return rest;
}

/** Deep equality of two statuses, ignoring key order and undefined values. */
export function sameStatus(a: VpnServiceStatus | undefined, b: VpnServiceStatus | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(
        Object.entries(val as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
      );
    }
    return val;
  });
}

/** A JSON merge patch turning `prev` into `next` (keys that disappear are set to null). */
export function statusMergePatch(prev: VpnServiceStatus | undefined, next: VpnServiceStatus): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  for (const k of Object.keys(prev ?? {})) if (!(k in next) || next[k as keyof VpnServiceStatus] === undefined) patch[k] = null;
  return patch;
}
