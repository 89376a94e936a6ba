// The simulator's other VPNaaS kinds beyond the contract suite (test/contract/): site-connection status over time
// (activation delay, updatePending, the agent-like admin call), projects, the seed PSK rule, out-of-band deletes,
// and 1,000 site connections (references indexed: LIST in pages, in-use checks by index; figures printed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { http, issueToken, passwordAuth, ROUTER_A, ROUTER_B, sleep, SUBNET_A } from './helpers.ts';

const SUBNET_B = '3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a';

/** A Neutron client for the VPNaaS collections, bound to one token. */
function vpn(sim: Simulator, token: string) {
  const base = `${sim.networkUrl}/v2.0/vpn`;
  const h = { 'x-auth-token': token };
  const post = (c: string, key: string, body: unknown) => http('POST', `${base}/${c}`, { headers: h, body: { [key]: body } });
  return {
    post,
    get: (c: string, id = '', query = '') => http('GET', `${base}/${c}${id ? `/${id}` : ''}${query ? `?${query}` : ''}`, { headers: h }),
    put: (c: string, id: string, key: string, body: unknown) => http('PUT', `${base}/${c}/${id}`, { headers: h, body: { [key]: body } }),
    del: (c: string, id: string) => http('DELETE', `${base}/${c}/${id}`, { headers: h }),
    async chain(routerId: string, subnetId: string): Promise<{ vs: string; ike: string; ipsec: string; local: string; peer: string }> {
      const vs = (await post('vpnservices', 'vpnservice', { router_id: routerId })).body.vpnservice.id as string;
      const ike = (await post('ikepolicies', 'ikepolicy', {})).body.ikepolicy.id as string;
      const ipsec = (await post('ipsecpolicies', 'ipsecpolicy', {})).body.ipsecpolicy.id as string;
      const local = (await post('endpoint-groups', 'endpoint_group', { type: 'subnet', endpoints: [subnetId] })).body.endpoint_group.id as string;
      const peer = (await post('endpoint-groups', 'endpoint_group', { type: 'cidr', endpoints: ['10.200.0.0/16'] })).body.endpoint_group.id as string;
      return { vs, ike, ipsec, local, peer };
    },
  };
}

const conn = (c: { vs: string; ike: string; ipsec: string; local: string; peer: string }, extra: object = {}) => ({
  vpnservice_id: c.vs,
  ikepolicy_id: c.ike,
  ipsecpolicy_id: c.ipsec,
  local_ep_group_id: c.local,
  peer_ep_group_id: c.peer,
  peer_address: '198.51.100.1',
  peer_id: '198.51.100.1',
  psk: 'sim-psk-123',
  ...extra,
});

describe('simulator: IPsec site connections', () => {
  it('PENDING_CREATE for activeDelayMs, then ACTIVE by itself; the VPN service follows its own clock', async () => {
    const sim = await startSimulator({ activeDelayMs: 300, routers: [{ id: ROUTER_A, subnets: [SUBNET_A] }] });
    try {
      const v = vpn(sim, await issueToken(sim));
      const ch = await v.chain(ROUTER_A, SUBNET_A);
      const c = (await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch))).body.ipsec_site_connection;
      expect(c.status).toBe('PENDING_CREATE');
      expect((await v.get('ipsec-site-connections', c.id)).body.ipsec_site_connection.status).toBe('PENDING_CREATE');
      await sleep(350);
      expect((await v.get('ipsec-site-connections', '', `vpnservice_id=${ch.vs}`)).body.ipsec_site_connections.map((x: { status: string }) => x.status)).toEqual(['ACTIVE']);
      // the agent reports the tunnel down: it stays down, and the service is not touched
      sim.setConnectionStatus(c.id, 'DOWN');
      expect(sim.connection(c.id)?.status).toBe('DOWN');
      expect((await v.get('vpnservices', ch.vs)).body.vpnservice.status).toBe('ACTIVE');
      await sleep(50);
      expect((await v.get('ipsec-site-connections', c.id)).body.ipsec_site_connection.status).toBe('DOWN');
      // the same settings as VPN services, changed at run time
      sim.configure({ activeDelayMs: null });
      const d = (await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { peer_address: '198.51.100.2' }))).body.ipsec_site_connection;
      await sleep(50);
      expect(sim.connection(d.id)?.status).toBe('PENDING_CREATE');
      expect(sim.activateAll()).toBe(1);
      expect(sim.connection(d.id)?.status).toBe('ACTIVE');
      expect(() => sim.setConnectionStatus('00000000-0000-4000-8000-000000000000', 'ACTIVE')).toThrow(/no IPsec site connection/);
    } finally {
      await sim.stop();
    }
  });

  it('with updatePending, a PUT moves the connection ACTIVE → PENDING_UPDATE → ACTIVE', async () => {
    const sim = await startSimulator({ activeDelayMs: 150, updatePending: true, routers: [{ id: ROUTER_A, subnets: [SUBNET_A] }] });
    try {
      const v = vpn(sim, await issueToken(sim));
      const ch = await v.chain(ROUTER_A, SUBNET_A);
      const c = (await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch))).body.ipsec_site_connection;
      await sleep(200);
      expect((await v.put('ipsec-site-connections', c.id, 'ipsec_site_connection', { mtu: 1400 })).body.ipsec_site_connection.status).toBe('PENDING_UPDATE');
      expect((await v.put('ipsec-site-connections', c.id, 'ipsec_site_connection', { mtu: 1300 })).body.NeutronError.type).toBe('VPNStateInvalidToUpdate');
      await sleep(200);
      expect((await v.get('ipsec-site-connections', c.id)).body.ipsec_site_connection).toMatchObject({ status: 'ACTIVE', mtu: 1400 });
    } finally {
      await sim.stop();
    }
  });

  it("projects: another project's policies, groups, services and connections are 404 to a member; admin sees all", async () => {
    const sim = await startSimulator({
      activeDelayMs: null,
      routers: [{ id: ROUTER_A, subnets: [SUBNET_A] }],
      projects: [{ name: 'demo' }, { name: 'other' }],
      users: [
        { name: 'demo', password: 'secret', projects: ['demo'] },
        { name: 'eve', password: 'x', projects: ['other'] },
        { name: 'root', password: 'admin', projects: ['demo'], admin: true },
      ],
    });
    try {
      const demo = vpn(sim, await issueToken(sim));
      const eve = vpn(sim, await issueToken(sim, passwordAuth('eve', 'x', { project: { name: 'other', domain: { name: 'Default' } } })));
      const root = vpn(sim, await issueToken(sim, passwordAuth('root', 'admin')));
      const ch = await demo.chain(ROUTER_A, SUBNET_A);
      const c = (await demo.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch))).body.ipsec_site_connection;
      expect((await eve.get('ikepolicies', ch.ike)).body.NeutronError.type).toBe('IKEPolicyNotFound');
      expect((await eve.get('endpoint-groups', ch.local)).body.NeutronError.type).toBe('VPNEndpointGroupNotFound');
      expect((await eve.get('ipsec-site-connections', c.id)).body.NeutronError.type).toBe('IPsecSiteConnectionNotFound');
      expect((await eve.get('ipsec-site-connections')).body.ipsec_site_connections).toEqual([]);
      expect((await eve.del('ikepolicies', ch.ike)).status).toBe(409); // in use is checked first, as in Neutron
      // eve's IKE policy: her own; with demo's service the VPN service is not hers (404), with a missing one 500
      const eveIke = (await eve.post('ikepolicies', 'ikepolicy', {})).body.ikepolicy.id;
      const eveIpsec = (await eve.post('ipsecpolicies', 'ipsecpolicy', {})).body.ipsecpolicy.id;
      const r = await eve.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { ikepolicy_id: eveIke, ipsecpolicy_id: eveIpsec }));
      expect([r.status, r.body.NeutronError.type]).toEqual([404, 'VPNServiceNotFound']);
      // the subnet of a router of another project does not exist for eve
      expect((await eve.post('endpoint-groups', 'endpoint_group', { type: 'subnet', endpoints: [SUBNET_A] })).body.NeutronError.type).toBe('NonExistingSubnetInEndpointGroup');
      expect((await root.get('ipsec-site-connections', c.id)).status).toBe(200);
      expect((await root.get('ikepolicies')).body.ikepolicies).toHaveLength(2);
    } finally {
      await sim.stop();
    }
  });

  it('a peer address that is not an IP address: 400 VPNPeerAddressNotResolved (no DNS here); an IPv6 peer on a router with an IPv6 gateway: accepted', async () => {
    const sim = await startSimulator({ activeDelayMs: null, routers: [{ id: ROUTER_A, gatewayV6: '2001:db8::1', subnets: [SUBNET_A] }] });
    try {
      const v = vpn(sim, await issueToken(sim));
      const ch = await v.chain(ROUTER_A, SUBNET_A);
      const r = await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { peer_address: 'peer.example.org' }));
      expect([r.status, r.body.NeutronError.type, r.body.NeutronError.message]).toEqual([400, 'VPNPeerAddressNotResolved', 'Peer address peer.example.org cannot be resolved']);
      expect((await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { peer_address: '2001:db8:9::1' }))).status).toBe(201);
    } finally {
      await sim.stop();
    }
  });

  it("the seed PSK rule applies to POST and PUT; the PSK never appears in the refusal; upstream mode has none", async () => {
    for (const seedRules of [true, false]) {
      const sim = await startSimulator({ seedRules, activeDelayMs: 0, routers: [{ id: ROUTER_A, subnets: [SUBNET_A] }] });
      try {
        const v = vpn(sim, await issueToken(sim));
        const ch = await v.chain(ROUTER_A, SUBNET_A);
        for (const psk of ['12345', 'has space', 'why?', '******', 'x'.repeat(129)]) {
          const r = await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { psk }));
          if (seedRules) {
            expect([r.status, r.body.NeutronError.type]).toEqual([400, 'HTTPBadRequest']);
            expect(r.body.NeutronError.message).toMatch(/^Invalid input for psk\. Reason: /);
            expect(r.text).not.toContain(psk);
          } else expect(r.status).toBe(201);
        }
        const ok = await v.post('ipsec-site-connections', 'ipsec_site_connection', conn(ch, { psk: 'abc~!@#$%^()-_+=123456' }));
        expect(ok.status).toBe(201);
        const put = await v.put('ipsec-site-connections', ok.body.ipsec_site_connection.id, 'ipsec_site_connection', { psk: 'a b c d e f' });
        expect(put.status).toBe(seedRules ? 400 : 200);
      } finally {
        await sim.stop();
      }
    }
  });

  it('admin: createSiteConnection attaches a subnet to a router without one; deleteService takes its connections; deleteConnection frees the service', async () => {
    const sim = await startSimulator({ activeDelayMs: null, routers: [{ id: ROUTER_B }] });
    try {
      const v = vpn(sim, await issueToken(sim));
      const vs = (await v.post('vpnservices', 'vpnservice', { router_id: ROUTER_B })).body.vpnservice.id;
      const c = sim.createSiteConnection(vs);
      expect(sim.routers()[0]?.subnets.size).toBe(1);
      expect((await v.del('vpnservices', vs)).body.NeutronError.type).toBe('VPNServiceInUse');
      const groups = (await v.get('endpoint-groups')).body.endpoint_groups;
      expect(groups.map((g: { type: string }) => g.type).sort()).toEqual(['cidr', 'subnet']);
      expect((await v.del('endpoint-groups', c.peer_ep_group_id as string)).body.NeutronError.type).toBe('EndpointGroupInUse');
      sim.deleteConnection(c.id);
      expect((await v.del('endpoint-groups', c.peer_ep_group_id as string)).status).toBe(204);
      const d = sim.createSiteConnection(vs, { peerCidr: '10.9.0.0/16' });
      sim.deleteService(vs);
      expect(sim.connection(d.id)).toBeUndefined();
      expect((await v.del('ikepolicies', d.ikepolicy_id)).status).toBe(204);
      expect(() => sim.createSiteConnection(vs)).toThrow(/no VPN service/);
    } finally {
      await sim.stop();
    }
  });
});

describe('simulator: 1,000 IPsec site connections', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ seedRules: false, activeDelayMs: null, routers: [{ id: ROUTER_A, subnets: [SUBNET_A] }, { id: ROUTER_B, subnets: [SUBNET_B] }] });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('LIST of all connections in pages of 100 (each page walks only its own ids); in-use checks by index; figures printed', async () => {
    const v = vpn(sim, await issueToken(sim));
    const a = await v.chain(ROUTER_A, SUBNET_A);
    const b = await v.chain(ROUTER_B, SUBNET_B);
    const N = 1000;
    let t = performance.now();
    for (let i = 0; i < N; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          v.post('ipsec-site-connections', 'ipsec_site_connection', conn((i + j) % 2 === 0 ? a : b, { name: `c${i + j}`, peer_address: `198.51.${(i + j) >> 8}.${(i + j) & 255}` })),
        ),
      );
    }
    const createMs = performance.now() - t;
    // Some tunnels are reported up, some down.
    const all = sim.connections();
    expect(all).toHaveLength(N);
    for (const c of all.slice(0, 300)) sim.setConnectionStatus(c.id, 'ACTIVE');
    for (const c of all.slice(300, 310)) sim.setConnectionStatus(c.id, 'DOWN');

    t = performance.now();
    const seen: Array<{ id: string; status: string }> = [];
    let pages = 0;
    let next: string | undefined = 'vpn/ipsec-site-connections?limit=100&fields=id&fields=status';
    while (next) {
      const r = await http('GET', `${sim.networkUrl}/v2.0/${next}`, { headers: { 'x-auth-token': (await issueToken(sim)) } });
      pages++;
      seen.push(...r.body.ipsec_site_connections);
      const link = (r.body.ipsec_site_connections_links as Array<{ rel: string; href: string }>).find((l) => l.rel === 'next');
      next = r.body.ipsec_site_connections.length === 100 && link ? link.href.slice(link.href.indexOf('/v2.0/') + 6) : undefined;
    }
    const listMs = performance.now() - t;
    expect(new Set(seen.map((x) => x.id)).size).toBe(N);
    expect(seen.filter((x) => x.status === 'ACTIVE')).toHaveLength(300);
    expect(seen.filter((x) => x.status === 'DOWN')).toHaveLength(10);
    expect(pages).toBe(11);

    const byService = await v.get('ipsec-site-connections', '', `vpnservice_id=${a.vs}&limit=1000&fields=id`);
    expect(byService.body.ipsec_site_connections).toHaveLength(N / 2);

    t = performance.now();
    for (let i = 0; i < 100; i++) {
      expect((await v.del('vpnservices', a.vs)).status).toBe(409);
      expect((await v.del('endpoint-groups', b.peer)).status).toBe(400);
    }
    const inUseMs = (performance.now() - t) / 200;
    console.log(
      `simulator, ${N} site connections: create ${(createMs / N).toFixed(2)} ms each (50 at a time); LIST of all in ${pages} pages of 100: ${listMs.toFixed(0)} ms; ` +
        `an in-use DELETE refusal: ${inUseMs.toFixed(2)} ms`,
    );
  });
});
