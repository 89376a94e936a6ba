// The reconciler's pure decisions: claim arbitration, status mapping, conditions, spec diff, status patches.
import { describe, expect, it } from 'vitest';
import { ownerOf, type Claimant } from '../../src/controller/claims.ts';
import { conditionsFor, mergeConditions } from '../../src/controller/conditions.ts';
import { nextStatus, outcomeOfCloudStatus, sameStatus, statusMergePatch, wantedUpdate } from '../../src/controller/status.ts';
import type { CloudVpn } from '../../src/controller/ports.ts';
import type { VpnService } from '../../src/api/vpnservice.ts';

const R = '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa';
const c = (key: string, ts: string, extra: Partial<Claimant> = {}): Claimant => ({
  key,
  routerId: R,
  endpoint: 'https://net/v2.0',
  creationTimestamp: ts,
  deleting: false,
  holds: false,
  ...extra,
});

describe('claim arbitration (one VPN service per router)', () => {
  it('the oldest wins, across namespaces', () => {
    const a = c('b-ns/old', '2026-01-01T00:00:00Z');
    const b = c('a-ns/young', '2026-01-01T00:00:05Z');
    expect(ownerOf(b, [a, b])).toBe('b-ns/old');
    expect(ownerOf(a, [a, b])).toBe('b-ns/old');
  });
  it('ties on creationTimestamp are broken by namespace/name, the same way for both', () => {
    const a = c('ns/a', '2026-01-01T00:00:00Z');
    const b = c('ns/b', '2026-01-01T00:00:00Z');
    expect(ownerOf(a, [a, b])).toBe('ns/a');
    expect(ownerOf(b, [b, a])).toBe('ns/a');
  });
  it('objects being deleted do not hold the router; a deleting object owns nothing', () => {
    const a = c('ns/a', '2026-01-01T00:00:00Z', { deleting: true });
    const b = c('ns/b', '2026-01-01T00:00:09Z');
    expect(ownerOf(b, [a, b])).toBe('ns/b');
    expect(ownerOf(a, [a, b])).toBeUndefined();
  });
  it('other routers and other clouds do not compete; an unknown endpoint is treated as the same cloud', () => {
    const me = c('ns/me', '2026-01-01T00:00:09Z');
    expect(ownerOf(me, [me, c('ns/x', '2026-01-01T00:00:00Z', { routerId: 'other' })])).toBe('ns/me');
    expect(ownerOf(me, [me, c('ns/y', '2026-01-01T00:00:00Z', { endpoint: 'https://elsewhere/v2.0' })])).toBe('ns/me');
    expect(ownerOf(me, [me, c('ns/z', '2026-01-01T00:00:00Z', { endpoint: undefined })])).toBe('ns/z');
  });
  it('an object that already holds a cloud service keeps the router against an older newcomer', () => {
    const holder = c('ns/b', '2026-01-01T00:00:00Z', { holds: true });
    const older = c('ns/a', '2026-01-01T00:00:00Z');
    expect(ownerOf(older, [older, holder])).toBe('ns/b');
  });
});

const svc = (over: Partial<CloudVpn> = {}): CloudVpn => ({
  id: 'id-1',
  name: 'vpn',
  description: '',
  router_id: R,
  subnet_id: null,
  admin_state_up: true,
  status: 'ACTIVE',
  external_v4_ip: '203.0.113.5',
  external_v6_ip: null,
  ...over,
});

describe('cloud status → Ready reason', () => {
  it.each([
    ['ACTIVE', 'Active'],
    ['PENDING_CREATE', 'Provisioning'],
    ['PENDING_UPDATE', 'Provisioning'],
    ['BUILD', 'Provisioning'],
    ['DOWN', 'Down'],
    ['ERROR', 'Error'],
  ])('%s → %s', (status, reason) => {
    expect(outcomeOfCloudStatus(svc({ status })).reason).toBe(reason);
  });
  it('Active names the external IP', () => {
    expect(outcomeOfCloudStatus(svc()).message).toContain('203.0.113.5');
  });
});

describe('conditions (kstatus)', () => {
  it('Active: Ready=True only; Provisioning: Reconciling=True; refusals: Stalled=True', () => {
    expect(conditionsFor({ reason: 'Active', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=True']);
    expect(conditionsFor({ reason: 'Provisioning', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=False', 'Reconciling=True']);
    expect(conditionsFor({ reason: 'InvalidSpec', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=False', 'Stalled=True']);
    expect(conditionsFor({ reason: 'RouterConflict', message: 'm' }, 3)[0]!.observedGeneration).toBe(3);
  });
  it('an unchanged status keeps lastTransitionTime, a changed one takes the new time', () => {
    const first = mergeConditions(undefined, conditionsFor({ reason: 'Provisioning', message: 'm' }, 1), 'T1');
    const same = mergeConditions(first, conditionsFor({ reason: 'Provisioning', message: 'm' }, 1), 'T2');
    expect(same).toEqual(first);
    const flipped = mergeConditions(first, conditionsFor({ reason: 'Active', message: 'ok' }, 1), 'T3');
    expect(flipped[0]!.lastTransitionTime).toBe('T3');
  });
});

const obj = (spec: Partial<VpnService['spec']> = {}, status?: VpnService['status']): VpnService => ({
  apiVersion: 'vpnaas.dev/v1alpha1',
  kind: 'VpnService',
  metadata: { name: 'vpn', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { routerId: R, adminStateUp: true, deletionPolicy: 'Delete', ...spec },
  ...(status ? { status } : {}),
});

describe('spec → cloud update', () => {
  it('nothing when the cloud matches; name defaults to metadata.name', () => {
    expect(wantedUpdate(obj(), svc())).toBeUndefined();
  });
  it('name and description changes; an absent description is left alone', () => {
    expect(wantedUpdate(obj({ name: 'new' }), svc({ description: 'theirs' }))).toEqual({ name: 'new' });
    expect(wantedUpdate(obj({ description: 'ours' }), svc({ description: 'theirs' }))).toEqual({ description: 'ours' });
  });
  it('a service administratively down is brought up', () => {
    expect(wantedUpdate(obj(), svc({ admin_state_up: false }))).toEqual({ admin_state_up: true });
  });
});

describe('status writes only when something changed', () => {
  it('the same observation twice gives an identical status (no write)', () => {
    const o = obj();
    const s1 = nextStatus(o, { id: 'id-1', status: 'ACTIVE' }, { reason: 'Active', message: 'm' }, '2026-01-01T00:00:01Z');
    const s2 = nextStatus(obj({}, s1), { id: 'id-1', status: 'ACTIVE' }, { reason: 'Active', message: 'm' }, '2026-01-01T00:09:00Z');
    expect(sameStatus(s1, s2)).toBe(true);
    expect(s2.lastSyncTime).toBe('2026-01-01T00:00:01Z');
  });
  it('a merge patch removes fields that disappeared', () => {
    expect(statusMergePatch({ id: 'a', externalV6Ip: 'x' }, { id: 'a' })).toEqual({ id: 'a', externalV6Ip: null });
  });
});
