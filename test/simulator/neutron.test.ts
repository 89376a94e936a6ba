import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.ts';
import type { SeedRouter, Simulator } from '../../src/simulator/index.ts';
import { http, issueToken, neutron, passwordAuth, ROUTER_A, ROUTER_B, ROUTER_NO_GW, sleep, SUBNET_A, SUBNET_OTHER, UUID_RE } from './helpers.ts';

const SERVICE_KEYS = [
  'admin_state_up',
  'description',
  'external_v4_ip',
  'external_v6_ip',
  'flavor_id',
  'id',
  'name',
  'project_id',
  'router_id',
  'status',
  'subnet_id',
  'tenant_id',
];

function routers(): SeedRouter[] {
  return [
    { id: ROUTER_A, gatewayV4: '172.32.1.11', gatewayV6: '2001:db8::1', subnets: [SUBNET_A] },
    { id: ROUTER_B },
    { id: ROUTER_NO_GW, gatewayV4: null },
  ];
}

function expectNeutronError(r: { status: number; body: any; headers: Record<string, unknown> }, status: number, type: string, message?: string | RegExp) {
  expect({ status: r.status, type: r.body?.NeutronError?.type }).toEqual({ status, type });
  expect(r.body.NeutronError.detail).toBe('');
  expect(Object.keys(r.body)).toEqual(['NeutronError']);
  if (typeof message === 'string') expect(r.body.NeutronError.message).toBe(message);
  else if (message) expect(r.body.NeutronError.message).toMatch(message);
  expect(r.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
}

describe('simulator: Neutron VPN services (seed rules on)', () => {
  let sim: Simulator;
  let n: ReturnType<typeof neutron>;
  beforeAll(async () => {
    sim = await startSimulator({
      routers: routers(),
      projects: [{ name: 'demo' }, { name: 'other' }],
      users: [
        { name: 'demo', password: 'secret', projects: ['demo'] },
        { name: 'eve', password: 'x', projects: ['other'] },
        { name: 'root', password: 'admin', projects: ['demo'], admin: true },
      ],
    });
    n = neutron(sim, await issueToken(sim));
  });
  afterEach(() => {
    for (const s of sim.services()) sim.deleteService(s.id);
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('creates a service like the seed example: 201, PENDING_CREATE, gateway IPs, flavor_id null', async () => {
    const r = await n.create({ subnet_id: null, router_id: ROUTER_A, name: 'myservice', admin_state_up: true });
    expect(r.status).toBe(201);
    expect(r.headers['x-openstack-request-id']).toMatch(/^req-/);
    expect(r.headers['content-type']).toBe('application/json');
    const s = r.body.vpnservice;
    expect(Object.keys(s).sort()).toEqual(SERVICE_KEYS);
    expect(s).toMatchObject({
      router_id: ROUTER_A,
      status: 'PENDING_CREATE',
      name: 'myservice',
      external_v4_ip: '172.32.1.11',
      external_v6_ip: '2001:db8::1',
      admin_state_up: true,
      subnet_id: null,
      description: '',
      flavor_id: null,
      tenant_id: sim.projectId('demo'),
      project_id: sim.projectId('demo'),
    });
    expect(s.id).toMatch(UUID_RE);
    expect(sim.service(s.id)?.router_id).toBe(ROUTER_A);
  });

  it('fills defaults and assigns a gateway address to routers seeded without one', async () => {
    const r = await n.create({ router_id: ROUTER_B });
    expect(r.status).toBe(201);
    expect(r.body.vpnservice).toMatchObject({ name: '', description: '', admin_state_up: true, subnet_id: null, external_v6_ip: null });
    expect(r.body.vpnservice.external_v4_ip).toMatch(/^172\.(2[4-9]|3[01])\.\d+\.\d+$/);
  });

  it('gets, lists with filters and fields, updates and deletes', async () => {
    const a = (await n.create({ router_id: ROUTER_A, name: 'a', subnet_id: SUBNET_A, description: 'first' })).body.vpnservice;
    const b = (await n.create({ router_id: ROUTER_B, name: 'b' })).body.vpnservice;

    const got = await n.get(a.id);
    expect(got.status).toBe(200);
    expect(got.body.vpnservice).toMatchObject({ id: a.id, subnet_id: SUBNET_A, description: 'first' });

    expect((await n.list()).body.vpnservices.map((s: { id: string }) => s.id).sort()).toEqual([a.id, b.id].sort());
    const byRouter = await n.list(`router_id=${ROUTER_B}`);
    expect(byRouter.body.vpnservices.map((s: { id: string }) => s.id)).toEqual([b.id]);
    expect(byRouter.body.vpnservices_links).toBeUndefined();
    expect((await n.list('name=a')).body.vpnservices.map((s: { id: string }) => s.id)).toEqual([a.id]);
    expect((await n.list(`id=${b.id}`)).body.vpnservices.map((s: { id: string }) => s.id)).toEqual([b.id]);
    expect((await n.list(`id=${a.id}&id=${b.id}`)).body.vpnservices).toHaveLength(2);
    expect((await n.list(`router_id=${ROUTER_A}&name=b`)).body.vpnservices).toHaveLength(0);
    expect((await n.list('admin_state_up=True')).body.vpnservices).toHaveLength(2);
    expect((await n.list('unknown_filter=1')).body.vpnservices).toHaveLength(2);

    const fields = await n.list(`router_id=${ROUTER_A}&fields=id&fields=status`);
    expect(fields.body.vpnservices).toEqual([{ id: a.id, status: expect.any(String) }]);
    const oneField = await n.get(a.id, 'fields=name');
    expect(oneField.body.vpnservice).toEqual({ name: 'a' });

    // activeDelayMs defaults to 0: ACTIVE on the next read, and then updatable.
    expect((await n.get(a.id)).body.vpnservice.status).toBe('ACTIVE');
    const up = await n.update(a.id, { name: 'renamed', description: 'd2' });
    expect(up.status).toBe(200);
    expect(up.body.vpnservice).toMatchObject({ id: a.id, name: 'renamed', description: 'd2', status: 'ACTIVE', router_id: ROUTER_A });
    expect((await n.get(a.id)).body.vpnservice.name).toBe('renamed');

    const del = await n.delete(a.id);
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect(del.headers['x-openstack-request-id']).toMatch(/^req-/);
    expectNeutronError(await n.get(a.id), 404, 'VPNServiceNotFound', `VPNService ${a.id} could not be found`);
    expectNeutronError(await n.delete(a.id), 404, 'VPNServiceNotFound');
    expectNeutronError(await n.update(a.id, { name: 'x' }), 404, 'VPNServiceNotFound');
  });

  it('accepts the .json suffix older clients send', async () => {
    const a = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
    const r = await n.raw('GET', `/v2.0/vpn/vpnservices/${a.id}.json`);
    expect(r.body.vpnservice.id).toBe(a.id);
  });

  describe('request errors, as neutron-server answers them', () => {
    it('router missing: 404 RouterNotFound', async () => {
      const id = '11111111-2222-4333-8444-555555555555';
      expectNeutronError(await n.create({ router_id: id }), 404, 'RouterNotFound', `Router ${id} could not be found`);
    });
    it('router without gateway: 400 RouterIsNotExternal', async () => {
      expectNeutronError(
        await n.create({ router_id: ROUTER_NO_GW }),
        400,
        'RouterIsNotExternal',
        `Router ${ROUTER_NO_GW} has no external network gateway set`,
      );
    });
    it('non-UUID router_id and subnet_id: 400', async () => {
      expectNeutronError(await n.create({ router_id: 'vpc-1' }), 400, 'HTTPBadRequest', "Invalid input for router_id. Reason: 'vpc-1' is not a valid UUID.");
      expectNeutronError(
        await n.create({ router_id: ROUTER_A, subnet_id: 'nope' }),
        400,
        'HTTPBadRequest',
        "Invalid input for subnet_id. Reason: 'nope' is not a valid UUID.",
      );
    });
    it('missing router_id: 400', async () => {
      expectNeutronError(await n.create({ name: 'x' }), 400, 'HTTPBadRequest', "Failed to parse request. Required attribute 'router_id' not specified");
    });
    it('unknown attribute: 400 Unrecognized attribute(s)', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, bandwidth: 300 }), 400, 'HTTPBadRequest', "Unrecognized attribute(s) 'bandwidth'");
    });
    it('read-only attributes in POST: 400', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, status: 'ACTIVE' }), 400, 'HTTPBadRequest', "Attribute 'status' not allowed in POST");
    });
    it('malformed JSON: 400 MalformedRequestBody; empty or wrong bodies: 400', async () => {
      expectNeutronError(await n.createRaw('{"vpnservice": {'), 400, 'MalformedRequestBody', /^Malformed request body/);
      expectNeutronError(await n.createRaw(''), 400, 'HTTPBadRequest', 'Resource body required');
      expectNeutronError(await n.createRaw('{"router":{}}'), 400, 'HTTPBadRequest', "Unable to find 'vpnservice' in request body");
      expectNeutronError(await n.createRaw('{"vpnservice":"x"}'), 400, 'HTTPBadRequest', "Object 'vpnservice' contains invalid data");
    });
    it('subnet not on the router: 400 SubnetIsNotConnectedToRouter', async () => {
      expectNeutronError(
        await n.create({ router_id: ROUTER_A, subnet_id: SUBNET_OTHER }),
        400,
        'SubnetIsNotConnectedToRouter',
        `Subnet ${SUBNET_OTHER} is not connected to Router ${ROUTER_A}`,
      );
    });
    it('name over 255 characters: 400 (also without seed rules)', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: 'n'.repeat(256) }), 400, 'HTTPBadRequest', /^Invalid input for name\. Reason: 'n+' exceeds maximum length of 255\.$/);
      expectNeutronError(await n.create({ router_id: ROUTER_A, description: 'd'.repeat(256) }), 400, 'HTTPBadRequest', /description/);
    });
    it('wrong value types: 400', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: 5 }), 400, 'HTTPBadRequest', "Invalid input for name. Reason: '5' is not a valid string.");
      expectNeutronError(await n.create({ router_id: ROUTER_A, admin_state_up: 'maybe' }), 400, 'InvalidInput', /cannot be converted to boolean/);
    });
    it('tenant_id other than the token project or over 255 characters: 400', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, tenant_id: 't'.repeat(256) }), 400, 'HTTPBadRequest');
      expectNeutronError(await n.create({ router_id: ROUTER_A, tenant_id: sim.projectId('other') }), 400, 'HTTPBadRequest', /other than the authenticated project/);
      const own = await n.create({ router_id: ROUTER_A, tenant_id: sim.projectId('demo') });
      expect(own.status).toBe(201);
    });
    it('PUT while PENDING_*: 400 VPNStateInvalidToUpdate; PUT router_id: 400 read-only', async () => {
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      sim.setStatus(s.id, 'PENDING_CREATE');
      expectNeutronError(await n.update(s.id, { name: 'x' }), 400, 'VPNStateInvalidToUpdate', `Invalid state PENDING_CREATE of vpnaas resource ${s.id} for updating`);
      sim.setStatus(s.id, 'ACTIVE');
      expectNeutronError(await n.update(s.id, { router_id: ROUTER_B }), 400, 'HTTPBadRequest', 'Cannot update read-only attribute router_id');
      expectNeutronError(await n.update(s.id, { subnet_id: SUBNET_A }), 400, 'HTTPBadRequest', 'Cannot update read-only attribute subnet_id');
      expect((await n.update(s.id, { name: 'fine' })).status).toBe(200);
    });
    it('DELETE of an in-use service: 409 VPNServiceInUse; DELETE while PENDING_CREATE: 204', async () => {
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      const conn = sim.createSiteConnection(s.id);
      expectNeutronError(await n.delete(s.id), 409, 'VPNServiceInUse', `VPNService ${s.id} is still in use`);
      sim.deleteConnection(conn.id);
      sim.setStatus(s.id, 'PENDING_CREATE');
      expect((await n.delete(s.id)).status).toBe(204);
    });
    it('unknown paths: 404 in Neutron shape', async () => {
      expectNeutronError(await n.raw('GET', '/v2.0/vpn/no-such-collection'), 404, 'HTTPNotFound');
      expectNeutronError(await n.raw('PATCH', '/v2.0/vpn/vpnservices'), 405, 'HTTPMethodNotAllowed');
    });
  });

  describe("the seed cloud's rules", () => {
    it('a second VPN service on a router: 409 RouterInUseByVPNService naming the first', async () => {
      const first = (await n.create({ router_id: ROUTER_A, name: 'one' })).body.vpnservice;
      const second = await n.create({ router_id: ROUTER_A, name: 'two' });
      expectNeutronError(second, 409, 'RouterInUseByVPNService', `Router ${ROUTER_A} is used by VPNService ${first.id}`);
      expect(sim.services()).toHaveLength(1);
      // Once the first is gone the router is free again.
      await n.delete(first.id);
      expect((await n.create({ router_id: ROUTER_A, name: 'three' })).status).toBe(201);
    });
    it('admin_state_up false: 400 on POST and PUT', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, admin_state_up: false }), 400, 'HTTPBadRequest', /admin_state_up/);
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      await n.get(s.id); // ACTIVE
      expectNeutronError(await n.update(s.id, { admin_state_up: false }), 400, 'HTTPBadRequest', /admin_state_up/);
    });
    it('name must have 1 to 64 characters', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: 'x'.repeat(65) }), 400, 'HTTPBadRequest', /exceeds maximum length of 64/);
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: '' }), 400, 'HTTPBadRequest', /name/);
      expect((await n.create({ router_id: ROUTER_A, name: 'x'.repeat(64) })).status).toBe(201);
    });
    it('counts characters as Unicode code points, as Neutron (Python len) and the API server do', async () => {
      // 64 emoji are 128 UTF-16 code units: the CRD accepts them (maxLength counts code points), so must the cloud.
      const emoji64 = '\u{1F510}'.repeat(64);
      expect(emoji64.length).toBe(128);
      const r = await n.create({ router_id: ROUTER_A, name: emoji64 });
      expect(r.status).toBe(201);
      expect(r.body.vpnservice.name).toBe(emoji64);
      sim.deleteService(r.body.vpnservice.id);
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: '\u{1F510}'.repeat(65) }), 400, 'HTTPBadRequest', /exceeds maximum length of 64/);
      // The 255-character limits (name, description, tenant_id) count code points too.
      const d = (await n.create({ router_id: ROUTER_A, description: '\u{1F510}'.repeat(255) })).status;
      expect(d).toBe(201);
      for (const s of sim.services()) sim.deleteService(s.id);
      expectNeutronError(await n.create({ router_id: ROUTER_A, description: '\u{1F510}'.repeat(256) }), 400, 'HTTPBadRequest', /exceeds maximum length of 255/);
    });
    it('project_id in the body: 400', async () => {
      expectNeutronError(await n.create({ router_id: ROUTER_A, project_id: sim.projectId('demo') }), 400, 'HTTPBadRequest', "Unrecognized attribute(s) 'project_id'");
    });
  });

  describe('projects', () => {
    it("a service on another project's router: 404 RouterNotFound; others' services are invisible", async () => {
      const eve = neutron(sim, await issueToken(sim, passwordAuth('eve', 'x', { project: { name: 'other', domain: { name: 'Default' } } })));
      expectNeutronError(await eve.create({ router_id: ROUTER_A }), 404, 'RouterNotFound');
      expectNeutronError(await eve.router(ROUTER_A), 404, 'RouterNotFound');
      const mine = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      expect((await eve.list()).body.vpnservices).toEqual([]);
      expectNeutronError(await eve.get(mine.id), 404, 'VPNServiceNotFound');
      expectNeutronError(await eve.delete(mine.id), 404, 'VPNServiceNotFound');
      // An admin sees every project's services.
      const root = neutron(sim, await issueToken(sim, passwordAuth('root', 'admin')));
      expect((await root.list()).body.vpnservices.map((s: { id: string }) => s.id)).toEqual([mine.id]);
    });
  });

  it('shows routers (GET /v2.0/routers/{id}) with their gateway', async () => {
    const r = await n.router(ROUTER_A);
    expect(r.status).toBe(200);
    expect(r.body.router).toMatchObject({ id: ROUTER_A, tenant_id: sim.projectId('demo'), status: 'ACTIVE' });
    expect(r.body.router.external_gateway_info.external_fixed_ips.map((f: { ip_address: string }) => f.ip_address)).toEqual([
      '172.32.1.11',
      '2001:db8::1',
    ]);
    expect((await n.router(ROUTER_NO_GW)).body.router.external_gateway_info).toBeNull();
    const list = await n.raw('GET', `/v2.0/routers?id=${ROUTER_B}`);
    expect(list.body.routers.map((x: { id: string }) => x.id)).toEqual([ROUTER_B]);
  });

  it('serves the version documents', async () => {
    const root = await http('GET', `${sim.networkUrl}/`);
    expect(root.status).toBe(200);
    expect(root.body.versions[0]).toMatchObject({ id: 'v2.0', status: 'CURRENT' });
    const v2 = await n.raw('GET', '/v2.0');
    expect(v2.status).toBe(200);
    expect(v2.body.resources.map((x: { collection: string }) => x.collection)).toContain('routers');
    const ext = await n.raw('GET', '/v2.0/extensions');
    expect(ext.body.extensions.map((x: { alias: string }) => x.alias)).toContain('vpnaas');
  });
});

describe('simulator: pagination', () => {
  let sim: Simulator;
  let n: ReturnType<typeof neutron>;
  const ids: string[] = [];
  beforeAll(async () => {
    const rs: SeedRouter[] = Array.from({ length: 25 }, (_, i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` }));
    sim = await startSimulator({ routers: rs });
    n = neutron(sim, await issueToken(sim));
    for (const r of rs) ids.push((await n.create({ router_id: r.id, name: `svc-${r.id.slice(-2)}` })).body.vpnservice.id);
    ids.sort();
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('orders by id and walks pages with limit/marker and vpnservices_links rel=next', async () => {
    const seen: string[] = [];
    let next: string | undefined = `${sim.networkUrl}/v2.0/vpn/vpnservices?limit=10`;
    let pages = 0;
    const token = await issueToken(sim);
    while (next) {
      const r = await http('GET', next, { headers: { 'x-auth-token': token } });
      expect(r.status).toBe(200);
      pages++;
      seen.push(...r.body.vpnservices.map((s: { id: string }) => s.id));
      const links = r.body.vpnservices_links as Array<{ rel: string; href: string }>;
      expect(links.find((l) => l.rel === 'previous')).toBeDefined();
      next = links.find((l) => l.rel === 'next')?.href;
      if (next) expect(next).toMatch(new RegExp(`^${sim.networkUrl}/v2\\.0/vpn/vpnservices\\?limit=10&marker=[0-9a-f-]{36}$`));
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it('has a next link on a full last page (as Neutron), and an empty page after it', async () => {
    const r = await n.list(`limit=5&marker=${ids[19]}`);
    expect(r.body.vpnservices.map((s: { id: string }) => s.id)).toEqual(ids.slice(20));
    const next = r.body.vpnservices_links.find((l: { rel: string }) => l.rel === 'next');
    expect(next.href).toContain(`marker=${ids[24]}`);
    const empty = await n.list(`limit=5&marker=${ids[24]}`);
    expect(empty.body.vpnservices).toEqual([]);
    expect(empty.body.vpnservices_links.map((l: { rel: string }) => l.rel)).toEqual(['previous']);
  });

  it('pages backwards with page_reverse', async () => {
    const r = await n.list(`limit=4&marker=${ids[10]}&page_reverse=True`);
    expect(r.body.vpnservices.map((s: { id: string }) => s.id)).toEqual(ids.slice(6, 10));
    const prev = r.body.vpnservices_links.find((l: { rel: string }) => l.rel === 'previous');
    expect(prev.href).toContain(`marker=${ids[6]}`);
    expect(prev.href).toContain('page_reverse=True');
  });

  it('combines pagination with filters, fields and sort keys', async () => {
    const r = await n.list(`limit=3&fields=name&sort_key=name&sort_dir=desc`);
    expect(r.body.vpnservices).toEqual([{ name: 'svc-24' }, { name: 'svc-23' }, { name: 'svc-22' }]);
    const filtered = await n.list(`limit=2&status=ACTIVE&name=svc-03&name=svc-04&name=svc-05`);
    expect(filtered.body.vpnservices).toHaveLength(2);
  });

  it('rejects a bad limit, an unknown marker and bad sort parameters', async () => {
    expectNeutronError(await n.list('limit=-1'), 400, 'BadRequest');
    expectNeutronError(await n.list('limit=abc'), 400, 'BadRequest', "Bad limit request: Limit must be an integer 0 or greater and not 'abc'.");
    expectNeutronError(await n.list('limit=2&marker=11111111-2222-4333-8444-555555555555'), 404, 'VPNServiceNotFound');
    expectNeutronError(await n.list('sort_key=name'), 400, 'HTTPBadRequest', 'The number of sort_keys and sort_dirs must be same');
    expectNeutronError(await n.list('sort_key=nope&sort_dir=asc'), 400, 'HTTPBadRequest', /invalid attribute for sort_keys/);
  });

  it('limit=0 means no pagination', async () => {
    const r = await n.list('limit=0');
    expect(r.body.vpnservices).toHaveLength(25);
    expect(r.body.vpnservices_links).toBeUndefined();
  });
});

describe('simulator: seed rules off (upstream Neutron)', () => {
  it('accepts several services per router, long names, admin_state_up false and project_id', async () => {
    const sim = await startSimulator({ seedRules: false, routers: routers() });
    try {
      const n = neutron(sim, await issueToken(sim));
      expect((await n.create({ router_id: ROUTER_A, name: 'x'.repeat(65) })).status).toBe(201);
      expect((await n.create({ router_id: ROUTER_A, admin_state_up: false })).status).toBe(201);
      expect((await n.create({ router_id: ROUTER_A, project_id: sim.projectId() })).status).toBe(201);
      expect((await n.create({ router_id: ROUTER_A, name: '' })).status).toBe(201);
      expect((await n.list(`router_id=${ROUTER_A}`)).body.vpnservices).toHaveLength(4);
      expectNeutronError(await n.create({ router_id: ROUTER_A, name: 'x'.repeat(256) }), 400, 'HTTPBadRequest');
      expectNeutronError(await n.create({ router_id: ROUTER_A, tenant_id: 'x'.repeat(256) }), 400, 'HTTPBadRequest');
      // The rules can be switched at run time.
      sim.configure({ seedRules: true });
      expectNeutronError(await n.create({ router_id: ROUTER_A }), 409, 'RouterInUseByVPNService');
    } finally {
      await sim.stop();
    }
  });
});

describe('simulator: status', () => {
  it('stays PENDING_CREATE for activeDelayMs, then turns ACTIVE', async () => {
    const sim = await startSimulator({ activeDelayMs: 300, routers: routers() });
    try {
      const n = neutron(sim, await issueToken(sim));
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      expect(s.status).toBe('PENDING_CREATE');
      expect((await n.get(s.id)).body.vpnservice.status).toBe('PENDING_CREATE');
      expect((await n.list('status=PENDING_CREATE')).body.vpnservices).toHaveLength(1);
      await sleep(350);
      expect((await n.get(s.id)).body.vpnservice.status).toBe('ACTIVE');
      expect((await n.list('status=ACTIVE')).body.vpnservices).toHaveLength(1);
    } finally {
      await sim.stop();
    }
  });

  it('never turns ACTIVE with activeDelayMs null; only by an admin call', async () => {
    const sim = await startSimulator({ activeDelayMs: null, routers: routers() });
    try {
      const n = neutron(sim, await issueToken(sim));
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      await sleep(50);
      expect((await n.get(s.id)).body.vpnservice.status).toBe('PENDING_CREATE');
      sim.setStatus(s.id, 'DOWN');
      expect((await n.get(s.id)).body.vpnservice.status).toBe('DOWN');
      sim.setStatus(s.id, 'PENDING_CREATE');
      expect(sim.activateAll()).toBe(1);
      expect((await n.get(s.id)).body.vpnservice.status).toBe('ACTIVE');
      sim.setStatus(s.id, 'ERROR');
      expect((await n.get(s.id)).body.vpnservice.status).toBe('ERROR');
    } finally {
      await sim.stop();
    }
  });

  it('with updatePending, PUT moves ACTIVE → PENDING_UPDATE → ACTIVE', async () => {
    const sim = await startSimulator({ activeDelayMs: 200, updatePending: true, routers: routers() });
    try {
      const n = neutron(sim, await issueToken(sim));
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      sim.setStatus(s.id, 'ACTIVE');
      const up = await n.update(s.id, { description: 'x' });
      expect(up.body.vpnservice.status).toBe('PENDING_UPDATE');
      expectNeutronError(await n.update(s.id, { description: 'y' }), 400, 'VPNStateInvalidToUpdate');
      await sleep(250);
      expect((await n.get(s.id)).body.vpnservice.status).toBe('ACTIVE');
    } finally {
      await sim.stop();
    }
  });
});

describe('simulator: Neutron under a path prefix', () => {
  it('serves Neutron under networkPrefix and lists that URL in the catalog', async () => {
    const sim = await startSimulator({ networkPrefix: '/network', routers: routers() });
    try {
      const tok = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
      const net = tok.body.token.catalog.find((s: { type: string }) => s.type === 'network');
      expect(net.endpoints[0].url).toBe(`${sim.url}/network`);
      const n = neutron(sim, tok.headers['x-subject-token'] as string);
      expect((await n.create({ router_id: ROUTER_A })).status).toBe(201);
      expect((await http('GET', `${sim.url}/v2.0/vpn/vpnservices`)).status).toBe(404);
    } finally {
      await sim.stop();
    }
  });
});
