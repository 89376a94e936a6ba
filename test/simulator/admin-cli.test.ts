import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { http, issueToken, neutron, passwordAuth, ROUTER_A, ROUTER_B, ROUTER_NO_GW } from './helpers.ts';

describe('simulator: admin HTTP API (/_sim)', () => {
  let sim: Simulator;
  let n: ReturnType<typeof neutron>;
  let admin: (method: string, p: string, body?: unknown) => ReturnType<typeof http>;
  beforeAll(async () => {
    sim = await startSimulator({ activeDelayMs: null });
    n = neutron(sim, await issueToken(sim));
    admin = (method, p, body) => http(method, `${sim.url}/_sim${p}`, body === undefined ? {} : { body });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('manages routers', async () => {
    expect((await admin('GET', '/health')).body).toEqual({ ok: true });
    const add = await admin('POST', '/routers', { id: ROUTER_A, gatewayV4: '10.1.2.3', subnets: [] });
    expect(add.status).toBe(201);
    expect(add.body.router).toMatchObject({ id: ROUTER_A, gatewayV4: '10.1.2.3', projectId: sim.projectId() });
    expect((await admin('POST', '/routers', { id: ROUTER_NO_GW, gatewayV4: null })).status).toBe(201);
    expect((await admin('POST', '/routers', { gatewayV4: 'x' })).status).toBe(400);
    expect((await admin('GET', '/routers')).body.routers.map((r: { id: string }) => r.id)).toEqual([ROUTER_A, ROUTER_NO_GW]);
    expect((await n.create({ router_id: ROUTER_NO_GW })).body.NeutronError.type).toBe('RouterIsNotExternal');
    expect((await admin('DELETE', `/routers/${ROUTER_NO_GW}`)).status).toBe(204);
    expect((await admin('DELETE', `/routers/${ROUTER_NO_GW}`)).status).toBe(404);
  });

  it('reads services and sets status, site connections (in use) and out-of-band deletes', async () => {
    const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
    expect((await admin('GET', '/services')).body.services.map((x: { id: string }) => x.id)).toEqual([s.id]);
    expect((await admin('GET', `/services/${s.id}`)).body.service.status).toBe('PENDING_CREATE');
    expect((await admin('PUT', `/services/${s.id}/status`, { status: 'BOGUS' })).status).toBe(400);
    const set = await admin('PUT', `/services/${s.id}/status`, { status: 'ACTIVE' });
    expect(set.body.service.status).toBe('ACTIVE');
    expect((await n.get(s.id)).body.vpnservice.status).toBe('ACTIVE');
    const made = await admin('POST', `/services/${s.id}/site-connection`, { peerCidr: '10.99.0.0/16' });
    expect(made.status).toBe(201);
    const conn = made.body.connection;
    expect(conn).toMatchObject({ vpnservice_id: s.id, status: 'PENDING_CREATE', peer_address: '198.51.100.10' });
    expect((await admin('POST', `/services/${s.id}/site-connection`, { bogus: 1 })).status).toBe(400);
    expect((await n.delete(s.id)).status).toBe(409);
    expect((await admin('GET', '/connections')).body.connections.map((x: { id: string }) => x.id)).toEqual([conn.id]);
    expect((await admin('PUT', `/connections/${conn.id}/status`, { status: 'DOWN' })).body.connection.status).toBe('DOWN');
    expect((await admin('GET', `/connections/${conn.id}`)).body.connection.status).toBe('DOWN');
    expect((await n.get(s.id)).body.vpnservice.status).toBe('ACTIVE');
    expect((await admin('DELETE', `/connections/${conn.id}`)).status).toBe(204);
    expect((await admin('GET', `/connections/${conn.id}`)).status).toBe(404);
    expect((await admin('PUT', `/connections/${conn.id}/status`, { status: 'ACTIVE' })).status).toBe(404);
    expect((await admin('POST', `/services/${s.id}/site-connection`, null)).status).toBe(201);
    expect((await admin('POST', `/services/${s.id}/site-connection`, {})).status).toBe(201);
    expect((await admin('PUT', `/services/${s.id}/status`, { status: 'PENDING_CREATE' })).status).toBe(200);
    // the service and the two connections made since
    expect((await admin('POST', '/services/activate-all')).body).toEqual({ changed: 3 });
    expect((await admin('DELETE', `/services/${s.id}`)).status).toBe(204);
    expect((await admin('GET', '/connections')).body.connections).toEqual([]);
    expect((await n.get(s.id)).status).toBe(404);
    expect((await admin('GET', `/services/${s.id}`)).status).toBe(404);
  });

  it('injects and removes faults; admin routes are never faulted or counted', async () => {
    expect((await admin('POST', '/faults', { route: 'GET *', status: 'x' })).status).toBe(400);
    const f = await admin('POST', '/faults', { route: 'GET /v2.0/vpn/vpnservices', status: 503 });
    expect(f.status).toBe(201);
    expect(f.body.fault).toMatchObject({ id: expect.any(Number), route: 'GET /v2.0/vpn/vpnservices', status: 503, hits: 0 });
    await admin('POST', '/faults', { route: '*', kind: 'reset' });
    await admin('DELETE', '/counts');
    // The catch-all reset fault would break these if admin routes were faulted.
    expect((await admin('GET', '/faults')).body.faults).toHaveLength(2);
    expect((await admin('DELETE', `/faults/${f.body.fault.id}`)).status).toBe(204);
    expect((await admin('DELETE', `/faults/${f.body.fault.id}`)).status).toBe(404);
    expect((await admin('DELETE', '/faults')).status).toBe(204);
    expect((await admin('GET', '/faults')).body.faults).toEqual([]);
    expect((await n.list()).status).toBe(200);
    const counts = await admin('GET', '/counts?method=GET');
    expect(counts.body).toEqual({ counts: { 'GET /v2.0/vpn/vpnservices 200': 1 }, total: 1 });
    expect((await admin('GET', '/requests')).body.requests).toHaveLength(1);
  });

  it('revokes tokens, changes configuration and describes identity', async () => {
    const t = await issueToken(sim);
    expect((await neutron(sim, t).list()).status).toBe(200);
    expect((await admin('POST', '/tokens/revoke')).status).toBe(204);
    expect((await neutron(sim, t).list()).status).toBe(401);
    n = neutron(sim, await issueToken(sim));

    expect((await admin('GET', '/config')).body).toEqual({ activeDelayMs: null, seedRules: true, tokenTtlSeconds: 3600, updatePending: false });
    expect((await admin('PATCH', '/config', { activeDelayMs: 'soon' })).status).toBe(400);
    const patched = await admin('PATCH', '/config', { activeDelayMs: 0, seedRules: false });
    expect(patched.body).toMatchObject({ activeDelayMs: 0, seedRules: false });
    await admin('POST', '/routers', { id: ROUTER_B });
    const a = (await n.create({ router_id: ROUTER_B })).body.vpnservice;
    expect((await n.create({ router_id: ROUTER_B })).status).toBe(201);
    expect((await n.get(a.id)).body.vpnservice.status).toBe('ACTIVE');

    // Projects and users at run time; a router of another project is invisible to the demo project.
    const proj = await admin('POST', '/projects', { name: 'team-b' });
    expect(proj.status).toBe(201);
    expect(proj.body.project).toMatchObject({ name: 'team-b', id: sim.projectId('team-b') });
    expect((await admin('POST', '/projects', { name: '' })).status).toBe(400);
    const user = await admin('POST', '/users', { name: 'bob', password: 'pw', projects: ['team-b'] });
    expect(user.status).toBe(201);
    expect(user.body.user).toEqual({ id: expect.any(String), name: 'bob' });
    expect((await admin('POST', '/users', { name: 'bob', password: 'pw' })).status).toBe(400);
    expect((await admin('POST', '/routers', { id: ROUTER_NO_GW, project: 'nobody' })).body).toEqual({ error: 'unknown project nobody' });
    const rb = await admin('POST', '/routers', { id: ROUTER_NO_GW, project: 'team-b', gatewayV4: '192.0.2.99' });
    expect(rb.body.router).toMatchObject({ projectId: sim.projectId('team-b') });
    expect((await n.create({ router_id: ROUTER_NO_GW })).body.NeutronError.type).toBe('RouterNotFound');
    const bob = neutron(sim, await issueToken(sim, passwordAuth('bob', 'pw', { project: { name: 'team-b', domain: { name: 'Default' } } })));
    expect((await bob.create({ router_id: ROUTER_NO_GW })).status).toBe(201);
    expect(sim.cloudsYaml('b', 'bob')).toContain('username: bob');

    const id = await admin('GET', '/identity');
    expect(id.body.projects[0]).toMatchObject({ name: 'demo', id: sim.projectId() });
    expect(id.body.users[0]).toMatchObject({ name: 'demo' });
    expect(id.text).not.toContain('secret');
    expect(id.text).not.toContain('"pw"');
  });
});

describe('simulator: scale', () => {
  it('holds 10,000 services under hundreds of concurrent requests, indexed by router', async () => {
    const sim = await startSimulator({ activeDelayMs: 0 });
    try {
      const N = 10_000;
      const routerIds = Array.from({ length: N }, (_, i) => `${(i + 1).toString(16).padStart(8, '0')}-aaaa-4bbb-8ccc-dddddddddddd`);
      for (const id of routerIds) sim.addRouter({ id });
      const n = neutron(sim, await issueToken(sim));

      const CONCURRENCY = 200;
      let next = 0;
      const statuses = new Map<number, number>();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < N) {
            const i = next++;
            const r = await n.create({ router_id: routerIds[i], name: `vpn-${i}` });
            statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          }
        }),
      );
      expect(Object.fromEntries(statuses)).toEqual({ 201: N });
      expect(sim.services()).toHaveLength(N);

      // Every router's service is one indexed lookup away.
      const some = await Promise.all(routerIds.slice(0, 300).map((id) => n.list(`router_id=${id}`)));
      for (const [i, r] of some.entries()) {
        expect(r.body.vpnservices).toHaveLength(1);
        expect(r.body.vpnservices[0].router_id).toBe(routerIds[i]);
      }

      // Paging through all of them costs N / limit calls.
      sim.resetCounts();
      const seen = new Set<string>();
      let marker: string | undefined;
      for (;;) {
        const r = await n.list(`limit=1000${marker ? `&marker=${marker}` : ''}`);
        for (const s of r.body.vpnservices) {
          expect(s.status).toBe('ACTIVE');
          seen.add(s.id);
        }
        const nextLink = r.body.vpnservices_links.find((l: { rel: string }) => l.rel === 'next');
        if (!nextLink) break;
        marker = new URL(nextLink.href).searchParams.get('marker') ?? undefined;
      }
      expect(seen.size).toBe(N);
      expect(sim.countOf({ route: '/v2.0/vpn/vpnservices' })).toBe(11);

      // A second service on any of these routers is refused (seed rule) even under concurrency.
      const dup = await Promise.all(routerIds.slice(0, 300).map((id) => n.create({ router_id: id })));
      expect(dup.every((r) => r.status === 409)).toBe(true);
    } finally {
      await sim.stop();
    }
  });
});

describe('simulator: CLI (out of process)', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vpnaas-sim-'));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const cli = fileURLToPath(new URL('../../src/simulator/cli.ts', import.meta.url));
  function run(args: string[]): { child: ChildProcess; firstLine: Promise<string>; exit: Promise<number | null>; stderr: () => string } {
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', `import { runSimulatorCli } from ${JSON.stringify(cli)}; await runSimulatorCli(process.argv.slice(1));`, '--', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let err = '';
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const rl = createInterface({ input: child.stdout as NonNullable<typeof child.stdout> });
    const firstLine = new Promise<string>((resolve, reject) => {
      rl.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
    });
    firstLine.catch(() => {}); // awaited only by the tests that need it
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, firstLine, exit, stderr: () => err };
  }

  it('prints its URL, writes clouds.yaml, serves routers from flags and a file, and stops on SIGTERM', async () => {
    const routersFile = path.join(dir, 'routers.yaml');
    await writeFile(routersFile, `- id: ${ROUTER_B}\n  gatewayV4: 192.0.2.7\n  gatewayV6: 2001:db8::7\n- id: ${ROUTER_NO_GW}\n  gatewayV4: null\n`);
    const clouds = path.join(dir, 'clouds.yaml');
    const { child, firstLine, exit } = run([
      '--port', '0',
      '--active-delay-ms', 'never',
      '--router', `${ROUTER_A}:198.51.100.9`,
      '--routers', routersFile,
      '--clouds-yaml', clouds,
    ]);
    const info = JSON.parse(await firstLine) as { url: string; authUrl: string; networkUrl: string };
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.authUrl).toBe(`${info.url}/v3`);

    const cfg = parseYaml(await readFile(clouds, 'utf8'));
    expect(cfg.clouds.simulator.auth).toMatchObject({ auth_url: info.authUrl, username: 'demo', password: 'secret', project_name: 'demo' });
    expect(cfg.clouds.simulator.region_name).toBe('RegionOne');

    const tok = await http('POST', `${info.authUrl}/auth/tokens`, { body: passwordAuth() });
    const h = { 'x-auth-token': tok.headers['x-subject-token'] as string };
    const a = await http('POST', `${info.url}/v2.0/vpn/vpnservices`, { headers: h, body: { vpnservice: { router_id: ROUTER_A } } });
    expect(a.body.vpnservice.external_v4_ip).toBe('198.51.100.9');
    const b = await http('POST', `${info.url}/v2.0/vpn/vpnservices`, { headers: h, body: { vpnservice: { router_id: ROUTER_B } } });
    expect(b.body.vpnservice).toMatchObject({ external_v4_ip: '192.0.2.7', external_v6_ip: '2001:db8::7' });
    const c = await http('POST', `${info.url}/v2.0/vpn/vpnservices`, { headers: h, body: { vpnservice: { router_id: ROUTER_NO_GW } } });
    expect(c.body.NeutronError.type).toBe('RouterIsNotExternal');
    expect((await http('GET', `${info.url}/v2.0/vpn/vpnservices/${a.body.vpnservice.id}`, { headers: h })).body.vpnservice.status).toBe('PENDING_CREATE');

    process.kill(child.pid as number, 'SIGTERM');
    expect(await exit).toBe(0);
  });

  it('makes further projects and users (--project, --user, --router ID:GW:PROJECT): routers belong to a project, others get 404', async () => {
    const clouds = path.join(dir, 'clouds-two.yaml');
    const ROUTER_C = '3c9e5d7a-1b2f-4e8d-9c6a-5f4e3d2c1b0a';
    const { child, firstLine, exit } = run([
      '--project', 'team-b',
      '--user', 'bob:b0b-pw:team-b',
      '--user', 'carol:c4rol:demo,team-b',
      '--router', ROUTER_A,
      '--router', `${ROUTER_B}:auto:team-b`,
      '--router', `${ROUTER_C}:none:team-b`,
      '--clouds-yaml', clouds,
    ]);
    const info = JSON.parse(await firstLine) as { url: string; authUrl: string };
    const cfg = parseYaml(await readFile(clouds, 'utf8'));
    expect(Object.keys(cfg.clouds)).toEqual(['simulator', 'simulator-bob', 'simulator-carol']);
    expect(cfg.clouds['simulator-bob'].auth).toMatchObject({ auth_url: info.authUrl, username: 'bob', password: 'b0b-pw', project_name: 'team-b' });
    expect(cfg.clouds['simulator-carol'].auth).toMatchObject({ username: 'carol', project_name: 'demo' });

    const token = async (user: string, password: string, project: string) => {
      const t = await http('POST', `${info.authUrl}/auth/tokens`, { body: passwordAuth(user, password, { project: { name: project, domain: { name: 'Default' } } }) });
      expect(t.status).toBe(201);
      return { 'x-auth-token': t.headers['x-subject-token'] as string };
    };
    const create = (h: Record<string, string>, router: string) =>
      http('POST', `${info.url}/v2.0/vpn/vpnservices`, { headers: h, body: { vpnservice: { router_id: router } } });
    const demo = await token('demo', 'secret', 'demo');
    const bob = await token('bob', 'b0b-pw', 'team-b');
    // Each project sees its own routers only; another project's router is 404 RouterNotFound, as in Neutron.
    expect((await create(bob, ROUTER_A)).body.NeutronError.type).toBe('RouterNotFound');
    expect((await http('GET', `${info.url}/v2.0/routers/${ROUTER_A}`, { headers: bob })).status).toBe(404);
    expect((await create(demo, ROUTER_B)).body.NeutronError.type).toBe('RouterNotFound');
    expect((await create(bob, ROUTER_C)).body.NeutronError.type).toBe('RouterIsNotExternal');
    const b = await create(bob, ROUTER_B);
    expect(b.status).toBe(201);
    expect(b.body.vpnservice.external_v4_ip).toMatch(/^172\.24\./);
    expect((await create(demo, ROUTER_A)).status).toBe(201);
    // carol is in both projects; scoped to team-b she sees bob's service, scoped to demo she does not.
    const carolB = await token('carol', 'c4rol', 'team-b');
    const list = await http('GET', `${info.url}/v2.0/vpn/vpnservices`, { headers: carolB });
    expect(list.body.vpnservices.map((x: { id: string }) => x.id)).toEqual([b.body.vpnservice.id]);
    // The admin API shows who owns what.
    const routers = (await http('GET', `${info.url}/_sim/routers`)).body.routers as { id: string; projectId: string }[];
    const ident = (await http('GET', `${info.url}/_sim/identity`)).body as { projects: { id: string; name: string }[] };
    const teamB = ident.projects.find((p) => p.name === 'team-b')?.id;
    expect(routers.find((r) => r.id === ROUTER_B)?.projectId).toBe(teamB);
    process.kill(child.pid as number, 'SIGTERM');
    expect(await exit).toBe(0);
  });

  it('refuses malformed --user and --router flags and unknown router projects', async () => {
    for (const [args, msg] of [
      [['--user', 'bob'], '--user'],
      [['--user', 'bob:'], 'NAME:PASSWORD'],
      [['--user', 'demo:x'], "given twice (or 'demo'"],
      [['--router', `${ROUTER_A}:auto:`], 'ID[:GWV4[:PROJECT]]'],
      [['--router', `${ROUTER_A}:auto:nobody`], 'unknown project nobody'],
    ] as const) {
      const r = run([...args]);
      expect(await r.exit).not.toBe(0);
      expect(r.stderr()).toContain(msg);
    }
  });

  it('--no-seed-rules behaves like upstream Neutron', async () => {
    const { child, firstLine, exit } = run(['--no-seed-rules', '--router', ROUTER_A]);
    const info = JSON.parse(await firstLine) as { url: string; authUrl: string };
    const tok = await http('POST', `${info.authUrl}/auth/tokens`, { body: passwordAuth() });
    const h = { 'x-auth-token': tok.headers['x-subject-token'] as string };
    for (let i = 0; i < 2; i++) {
      const r = await http('POST', `${info.url}/v2.0/vpn/vpnservices`, { headers: h, body: { vpnservice: { router_id: ROUTER_A, admin_state_up: false } } });
      expect(r.status).toBe(201);
    }
    process.kill(child.pid as number, 'SIGINT');
    expect(await exit).toBe(0);
  });

  it('prints help, and refuses bad flags and bad router files', async () => {
    const help = run(['--help']);
    expect(await help.firstLine).toMatch(/^Usage: vpnaas-operator simulator/);
    expect(await help.exit).toBe(0);
    const bad = run(['--bogus']);
    expect(await bad.exit).not.toBe(0);
    expect(bad.stderr()).toContain("Unknown option '--bogus'");
    const file = path.join(dir, 'bad.json');
    await writeFile(file, JSON.stringify([{ gatewayV4: 5 }]));
    const badFile = run(['--routers', file]);
    expect(await badFile.exit).not.toBe(0);
    expect(badFile.stderr()).toContain(`--routers ${file}`);
  });
});
