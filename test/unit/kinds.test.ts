// The adapters' pure decisions, by tables: what a site connection, an endpoint group and a policy want changed,
// when they must be replaced, the PSK rule, the tunnel state as Ready, and that a cloud error never carries the PSK.
import { describe, expect, it } from 'vitest';
import { IPsecSiteConnection } from '../../src/api/siteconnection.ts';
import { EndpointGroup } from '../../src/api/endpointgroup.ts';
import { IKEPolicy } from '../../src/api/policies.ts';
import { CloudError, cloudErrorFromResponse } from '../../src/cloud/errors.ts';
import { Redactor } from '../../src/cloud/redact.ts';
import type { SiteConnection, EndpointGroup as CloudGroup, IkePolicy } from '../../src/cloud/vpnaas.ts';
import type { Inputs } from '../../src/core/adapter.ts';
import { resolveDependencies } from '../../src/core/deps.ts';
import { endpointGroupAdapter } from '../../src/kinds/endpointgroup/adapter.ts';
import { ikePolicyAdapter } from '../../src/kinds/policies/adapter.ts';
import { siteConnectionAdapter, tunnelOutcome } from '../../src/kinds/siteconnection/adapter.ts';

const meta = { name: 'to-b', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' };
const conn = (spec: Record<string, unknown> = {}, status?: Record<string, unknown>) =>
  IPsecSiteConnection.parse({
    apiVersion: 'vpnaas.dev/v1alpha1',
    kind: 'IPsecSiteConnection',
    metadata: meta,
    spec: {
      vpnServiceRef: { name: 'vpn' },
      ikePolicyRef: { name: 'ike' },
      ipsecPolicyRef: { name: 'ipsec' },
      localEndpointGroupRef: { name: 'local' },
      peerEndpointGroupRef: { name: 'peer' },
      peerAddress: '198.51.100.7',
      pskSecretRef: { name: 'psk' },
      ...spec,
    },
    ...(status ? { status } : {}),
  });
const ids = { vpnServiceRef: 'V', ikePolicyRef: 'I', ipsecPolicyRef: 'P', localEndpointGroupRef: 'L', peerEndpointGroupRef: 'R' };
const inputs = (over: Partial<Inputs> = {}): Inputs => ({ ids, secrets: { pskSecretRef: 'secret-key-1' }, secretVersions: { pskSecretRef: '7' }, ...over });
const cloudConn = (over: Partial<SiteConnection> = {}): SiteConnection => ({
  id: 'c1',
  name: 'to-b',
  description: '',
  status: 'ACTIVE',
  vpnservice_id: 'V',
  ikepolicy_id: 'I',
  ipsecpolicy_id: 'P',
  local_ep_group_id: 'L',
  peer_ep_group_id: 'R',
  peer_cidrs: [],
  peer_address: '198.51.100.7',
  peer_id: '198.51.100.7',
  local_id: '',
  mtu: 1500,
  initiator: 'bi-directional',
  dpd: { action: 'hold', interval: 30, timeout: 120 },
  admin_state_up: true,
  route_mode: 'static',
  auth_mode: 'psk',
  psk: 'secret-key-1',
  ...over,
});

describe('IPsecSiteConnection: what to change in place', () => {
  const cases: Array<[string, ReturnType<typeof conn>, SiteConnection, Inputs, Record<string, unknown> | undefined]> = [
    ['matching: nothing', conn(), cloudConn(), inputs(), undefined],
    ['mtu', conn({ mtu: 1400 }), cloudConn(), inputs(), { mtu: 1400 }],
    ['dpd', conn({ dpd: { action: 'restart', interval: 15, timeout: 60 } }), cloudConn(), inputs(), { dpd: { action: 'restart', interval: 15, timeout: 60 } }],
    ['peerId defaults to peerAddress', conn({ peerAddress: '198.51.100.8' }), cloudConn(), inputs(), { peer_address: '198.51.100.8', peer_id: '198.51.100.8' }],
    ['a new PSK in the Secret', conn(), cloudConn(), inputs({ secrets: { pskSecretRef: 'secret-key-2' } }), { psk: 'secret-key-2' }],
    ['a cloud that hides the PSK: the same Secret version applied', conn({}, { pskSecretVersion: '7' }), cloudConn({ psk: null }), inputs(), undefined],
    ['a cloud that hides the PSK: a new Secret version', conn({}, { pskSecretVersion: '6' }), cloudConn({ psk: null }), inputs(), { psk: 'secret-key-1' }],
    ['no Secret readable: the PSK is left alone', conn(), cloudConn({ psk: 'old' }), inputs({ secrets: {}, secretVersions: {} }), undefined],
    ['a replaced endpoint group: PUT the new id', conn(), cloudConn(), inputs({ ids: { ...ids, peerEndpointGroupRef: 'R2' } }), { peer_ep_group_id: 'R2' }],
    ['peer CIDRs compared as a set', conn({ localEndpointGroupRef: undefined, peerEndpointGroupRef: undefined, peerCidrs: ['10.2.0.0/24', '10.1.0.0/24'] }), cloudConn({ local_ep_group_id: null, peer_ep_group_id: null, peer_cidrs: ['10.1.0.0/24', '10.2.0.0/24'] }), inputs({ ids: { vpnServiceRef: 'V', ikePolicyRef: 'I', ipsecPolicyRef: 'P' } }), undefined],
    ['description only when set', conn({ description: 'x' }), cloudConn({ description: 'y' }), inputs(), { description: 'x' }],
    ['adminStateUp', conn({ adminStateUp: false }), cloudConn(), inputs(), { admin_state_up: false }],
  ];
  it.each(cases)('%s', (_name, obj, r, inp, want) => {
    expect(siteConnectionAdapter.wantedUpdate(obj, r, inp)).toEqual(want);
  });
});

describe('IPsecSiteConnection: when it must be replaced', () => {
  const cases: Array<[string, ReturnType<typeof conn>, SiteConnection, Inputs, RegExp | undefined]> = [
    ['nothing changed', conn(), cloudConn(), inputs(), undefined],
    ['its VPN service was recreated', conn(), cloudConn(), inputs({ ids: { ...ids, vpnServiceRef: 'V2' } }), /VPN service is now V2 \(was V\)/],
    ['its IKE policy is another one', conn(), cloudConn(), inputs({ ids: { ...ids, ikePolicyRef: 'I2' } }), /IKE policy is now I2/],
    ['its IPsec policy is another one', conn(), cloudConn(), inputs({ ids: { ...ids, ipsecPolicyRef: 'P2' } }), /IPsec policy is now P2/],
    ['a reference that does not resolve (being deleted) is no reason', conn(), cloudConn(), inputs({ ids: { ikePolicyRef: 'I' } }), undefined],
    ['from peerCidrs to endpoint groups', conn(), cloudConn({ local_ep_group_id: null, peer_ep_group_id: null, peer_cidrs: ['10.1.0.0/24'] }), inputs(), /from peerCidrs to endpoint groups/],
  ];
  it.each(cases)('%s', (_name, obj, r, inp, want) => {
    const why = siteConnectionAdapter.replaceReason!(obj, r, inp);
    if (want) expect(why).toMatch(want);
    else expect(why).toBeUndefined();
  });
});

describe('the PSK rule (seed clouds: 6-128 characters, no spaces, no ?), checked before any cloud call', () => {
  const ok = ['abcdef', 'x'.repeat(128), 'Ünïcödé-ключ', 'a!b@c#d$'];
  const bad = ['abcde', 'x'.repeat(129), 'has space', 'tab\tkey1', 'why?not1', ''];
  it.each(ok)('accepts %j', (v) => expect(siteConnectionAdapter.checkSecret!('pskSecretRef', v)).toBeUndefined());
  it.each(bad)('refuses %j, without quoting it', (v) => {
    const msg = siteConnectionAdapter.checkSecret!('pskSecretRef', v);
    expect(msg).toMatch(/6 to 128 characters/);
    if (v.length >= 3) expect(msg).not.toContain(v);
  });
});

describe('a cloud error never carries the PSK on (the secrets of a request reach its error; more in redact.test.ts)', () => {
  it('the key is replaced by *** in the message of a refused request', () => {
    const body = JSON.stringify({ NeutronError: { type: 'BadRequest', message: 'Invalid input for psk: secret-key-1 is bad' } });
    const got = cloudErrorFromResponse({ method: 'POST', path: '/v2.0/vpn/ipsec-site-connections', status: 400, headers: {}, body, secrets: new Redactor(['secret-key-1']) });
    expect(got).toBeInstanceOf(CloudError);
    expect(got.message).not.toContain('secret-key-1');
    expect(got.cloudMessage).toBe('Invalid input for psk: *** is bad');
    expect(got.status).toBe(400);
  });
  it('other errors are unchanged', () => {
    const body = JSON.stringify({ NeutronError: { type: 'Conflict', message: 'in use' } });
    const got = cloudErrorFromResponse({ method: 'PUT', path: '/x', status: 409, headers: {}, body, secrets: new Redactor(['secret-key-1']) });
    expect(got.message).toBe('PUT /x 409 Conflict: in use');
  });
});

describe('the tunnel state is the Ready reason', () => {
  it.each([
    ['ACTIVE', 'Active'],
    ['DOWN', 'Down'],
    ['ERROR', 'Error'],
    ['PENDING_CREATE', 'Provisioning'],
    ['PENDING_UPDATE', 'Provisioning'],
  ])('%s → %s', (status, reason) => expect(tunnelOutcome(cloudConn({ status })).reason).toBe(reason));
});

const group = (type: 'subnet' | 'cidr', endpoints: string[]) =>
  EndpointGroup.parse({ apiVersion: 'vpnaas.dev/v1alpha1', kind: 'EndpointGroup', metadata: { ...meta, name: 'peer' }, spec: { type, endpoints } });
const cloudGroup = (type: string, endpoints: string[]): CloudGroup => ({ id: 'g1', name: 'peer', description: '', type, endpoints });

describe('EndpointGroup: endpoints or type changed → replaced (new group first)', () => {
  it.each([
    ['same CIDRs in another order', group('cidr', ['10.2.0.0/24', '10.1.0.0/24']), cloudGroup('cidr', ['10.1.0.0/24', '10.2.0.0/24']), undefined],
    ['a CIDR added', group('cidr', ['10.1.0.0/24', '10.3.0.0/24']), cloudGroup('cidr', ['10.1.0.0/24']), /endpoints changed/],
    ['a subnet UUID in upper case is the same', group('subnet', ['AA5C1F0E-2D3C-4B5A-6978-8A9B0C1D2E3F']), cloudGroup('subnet', ['aa5c1f0e-2d3c-4b5a-6978-8a9b0c1d2e3f']), undefined],
    ['type changed', group('subnet', ['10.1.0.0/24']), cloudGroup('cidr', ['10.1.0.0/24']), /type changed/],
  ])('%s', (_n, obj, r, want) => {
    const why = endpointGroupAdapter.replaceReason!(obj, r, inputs());
    if (want) expect(why).toMatch(want);
    else expect(why).toBeUndefined();
  });
  it('is replaced new-first, and only a group with the same endpoints is taken for ours after a crash', () => {
    expect(endpointGroupAdapter.replaceOrder).toBe('createFirst');
    const obj = group('cidr', ['10.1.0.0/24']);
    expect(endpointGroupAdapter.isOurs(obj, cloudGroup('cidr', ['10.1.0.0/24']), new Set(['peer']))).toBe(true);
    expect(endpointGroupAdapter.isOurs(obj, cloudGroup('cidr', ['10.9.0.0/24']), new Set(['peer']))).toBe(false);
  });
});

describe('IKEPolicy: changed in place', () => {
  const ike = (spec: Record<string, unknown>) => IKEPolicy.parse({ apiVersion: 'vpnaas.dev/v1alpha1', kind: 'IKEPolicy', metadata: { ...meta, name: 'ike' }, spec });
  const cloud: IkePolicy = { id: 'i1', name: 'ike', description: '', auth_algorithm: 'sha1', encryption_algorithm: 'aes-128', phase1_negotiation_mode: 'main', ike_version: 'v1', pfs: 'group5', lifetime: { units: 'seconds', value: 3600 } };
  it.each([
    ['Neutron defaults: nothing', {}, undefined],
    ['lifetime', { lifetime: { value: 7200 } }, { lifetime: { units: 'seconds', value: 7200 } }],
    ['v2 + aes-256', { ikeVersion: 'v2', encryptionAlgorithm: 'aes-256' }, { ike_version: 'v2', encryption_algorithm: 'aes-256' }],
  ])('%s', (_n, spec, want) => expect(ikePolicyAdapter.wantedUpdate(ike(spec), cloud, inputs())).toEqual(want));
});

describe('references resolve partially for an object that exists', () => {
  it('gives the ids that resolved with the waiting outcome', () => {
    const refs = [
      { kind: 'VpnService', namespace: 'ns', name: 'vpn', field: 'vpnServiceRef' },
      { kind: 'IKEPolicy', namespace: 'ns', name: 'ike', field: 'ikePolicyRef' },
    ];
    const r = resolveDependencies(refs, (ref) => (ref.kind === 'VpnService' ? { state: 'ready', id: 'V' } : { state: 'deleting' }));
    expect(r.kind).toBe('waiting');
    expect(r.ids).toEqual({ vpnServiceRef: 'V' });
    if (r.kind === 'waiting') expect(r.outcome.message).toBe('IKEPolicy ike (ikePolicyRef) is being deleted. This object proceeds by itself when they exist in the cloud.');
  });
});
