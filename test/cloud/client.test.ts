// The cloud client against the simulator over real HTTP (and, for TLS, through a TLS-terminating proxy in front of
// it, with a CA made by the openssl CLI).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud, CreateCloudOptions } from '../../src/cloud/cloud.ts';
import { createCloud } from '../../src/cloud/cloud.ts';
import type { CloudConfig } from '../../src/cloud/config.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { classify, CloudError } from '../../src/cloud/errors.ts';
import type { RequestEvent } from '../../src/cloud/http.ts';
import type { Simulator, SimulatorOptions } from '../../src/simulator/index.ts';
import { startSimulator } from '../../src/simulator/index.ts';

const USER_ID = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const PROJECT_ID = '0f9e8d7c6b5a49382716a5b4c3d2e1f0';
const AC_ID = 'ac0000000000000000000000000000a1';
const AC_SECRET = 'app-cred-secret-value';
const PASSWORD = 'secret-pass-word';

const simulators: Simulator[] = [];
const clouds: Cloud[] = [];

async function sim(opts: SimulatorOptions = {}): Promise<Simulator> {
  const s = await startSimulator({
    projects: [{ id: PROJECT_ID, name: 'demo' }],
    users: [{ id: USER_ID, name: 'demo', password: PASSWORD, projects: ['demo'] }],
    appCredentials: [{ id: AC_ID, name: 'operator', secret: AC_SECRET, user: 'demo' }],
    ...opts,
  });
  simulators.push(s);
  return s;
}

function cloudFrom(yamlText: string, opts: CreateCloudOptions = {}): Cloud {
  const c = createCloud(loadCloudConfigFromString(yamlText, undefined, { source: 'test clouds.yaml', allowFilePaths: true }), opts);
  clouds.push(c);
  return c;
}

function open(config: CloudConfig, opts: CreateCloudOptions = {}): Cloud {
  const c = createCloud(config, opts);
  clouds.push(c);
  return c;
}

const byNames = (s: Simulator, extra = ''): string => `
clouds:
  sim:
    auth:
      auth_url: ${s.authUrl}
      username: demo
      password: ${PASSWORD}
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
${extra}`;

function router(gatewayV4: string | null = '172.24.4.10'): { id: string; gatewayV4: string | null } {
  return { id: randomUUID(), gatewayV4 };
}

async function caught(p: Promise<unknown>): Promise<CloudError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CloudError);
    return e as CloudError;
  }
  throw new Error('expected a CloudError');
}

const authPosts = (s: Simulator): number => s.countOf({ method: 'POST', route: '/v3/auth/tokens' });

afterEach(async () => {
  await Promise.all(clouds.splice(0).map((c) => c.close()));
  await Promise.all(simulators.splice(0).map((s) => s.stop()));
});

describe('authentication and endpoint discovery', () => {
  it('password by names: the catalog endpoint gets /v2.0, one token serves many calls', async () => {
    const s = await sim({ routers: [router()] });
    const events: RequestEvent[] = [];
    const c = cloudFrom(byNames(s), { onRequest: (e) => events.push(e) });
    expect(await c.endpoint()).toBe(`${s.networkUrl}/v2.0`);
    await Promise.all(Array.from({ length: 20 }, () => c.vpnServices.list()));
    await c.vpnServices.list();
    expect(authPosts(s)).toBe(1);
    expect(s.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' })).toBe(21);
    const auth = events.filter((e) => e.route === '/v3/auth/tokens');
    expect(auth).toHaveLength(1);
    expect(auth[0]).toMatchObject({ cloud: 'sim', method: 'POST', status: 201 });
    const list = events.find((e) => e.route === '/vpn/vpnservices');
    expect(list).toMatchObject({ method: 'GET', status: 200 });
    expect(list?.requestId).toMatch(/^req-/);
    expect(list?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('password by ids, project-scoped', async () => {
    const s = await sim();
    const c = cloudFrom(`
clouds:
  ids:
    auth: {auth_url: "${s.url}", user_id: ${USER_ID}, password: ${PASSWORD}, project_id: ${PROJECT_ID}}
`);
    expect(await c.vpnServices.list()).toEqual([]);
    const t = await c.auth.token();
    expect(t?.projectId).toBe(PROJECT_ID);
    expect(t?.userId).toBe(USER_ID);
  });

  it('domain-scoped password auth works; an unscoped token has no catalog: a terminal EndpointNotFound', async () => {
    const s = await sim();
    const d = cloudFrom(`
clouds:
  dom:
    auth: {auth_url: "${s.authUrl}", username: demo, user_domain_name: Default, password: ${PASSWORD}, domain_name: Default}
`);
    expect(await d.endpoint()).toBe(`${s.networkUrl}/v2.0`);
    const u = cloudFrom(`
clouds:
  unscoped:
    auth: {auth_url: "${s.authUrl}", user_id: ${USER_ID}, password: ${PASSWORD}}
`);
    const e = await caught(u.endpoint());
    expect(e.code).toBe('EndpointNotFound');
    expect(classify(e)).toBe('terminal');
    expect(e.message).toContain('network_endpoint_override');
  });

  it('a wrong password is an auth error after exactly one request', async () => {
    const s = await sim();
    const c = cloudFrom(byNames(s).replace(PASSWORD, 'wrong-password'));
    const e = await caught(c.vpnServices.list());
    expect(e.status).toBe(401);
    expect(e.code).toBe('Unauthorized');
    expect(classify(e)).toBe('auth');
    expect(e.requestId).toMatch(/^req-/);
    expect(e.message).not.toContain('wrong-password');
    expect(authPosts(s)).toBe(1);
  });

  it('application credentials, by id and by name + user', async () => {
    const s = await sim();
    const byId = cloudFrom(`
clouds:
  ac:
    auth_type: v3applicationcredential
    auth: {auth_url: "${s.authUrl}", application_credential_id: ${AC_ID}, application_credential_secret: ${AC_SECRET}}
`);
    expect(await byId.vpnServices.list()).toEqual([]);
    expect((await byId.auth.token())?.projectId).toBe(PROJECT_ID);
    const byName = cloudFrom(`
clouds:
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: ${s.authUrl}
      application_credential_name: operator
      application_credential_secret: ${AC_SECRET}
      username: demo
      user_domain_name: Default
`);
    expect(await byName.endpoint()).toBe(`${s.networkUrl}/v2.0`);
    const bad = cloudFrom(`
clouds:
  ac:
    auth: {auth_url: "${s.authUrl}", application_credential_id: ${AC_ID}, application_credential_secret: nope}
`);
    expect(classify(await caught(bad.vpnServices.list()))).toBe('auth');
  });

  it('a static token: no auth request; the catalog comes from GET /v3/auth/tokens, or the override is used', async () => {
    const s = await sim();
    const issuer = cloudFrom(byNames(s));
    const token = (await issuer.auth.token())!.value.reveal();
    s.resetCounts();
    const c = cloudFrom(`
clouds:
  tok:
    auth_type: token
    auth: {auth_url: "${s.authUrl}", token: "${token}"}
`);
    expect(await c.endpoint()).toBe(`${s.networkUrl}/v2.0`);
    await c.vpnServices.list();
    await c.vpnServices.list();
    expect(authPosts(s)).toBe(0);
    expect(s.countOf({ method: 'GET', route: '/v3/auth/tokens' })).toBe(1);

    const o = cloudFrom(`
clouds:
  tok:
    auth_type: token
    auth: {token: "${token}"}
    network_endpoint_override: ${s.networkUrl}
`);
    expect(await o.vpnServices.list()).toEqual([]);
    // A revoked static token cannot be renewed: 401 at once, no re-authentication.
    s.revokeTokens();
    s.resetCounts();
    const e = await caught(o.vpnServices.list());
    expect(classify(e)).toBe('auth');
    expect(s.countOf()).toBe(1);
  });

  it('region and interface select the catalog endpoint; a missing region is EndpointNotFound', async () => {
    const s = await sim({ region: 'RegionTwo', networkPrefix: '/network' });
    const good = cloudFrom(byNames(s).replace('RegionOne', 'RegionTwo') + '    interface: internalURL\n');
    expect(good.config.interface).toBe('internal');
    expect(await good.endpoint()).toBe(`${s.url}/network/v2.0`);
    expect(await good.vpnServices.list()).toEqual([]);
    const wrong = cloudFrom(byNames(s));
    const e = await caught(wrong.endpoint());
    expect(e.code).toBe('EndpointNotFound');
    expect(e.message).toContain('region RegionOne');
  });

  it('the endpoint override is used as given (with /v2.0 appended) and wins over the catalog', async () => {
    const s = await sim({ networkPrefix: '/net' });
    const c = cloudFrom(byNames(s, `    network_endpoint_override: ${s.url}/net/`));
    expect(await c.endpoint()).toBe(`${s.url}/net/v2.0`);
    expect(authPosts(s)).toBe(0);
    expect(await c.vpnServices.list()).toEqual([]);
    expect(authPosts(s)).toBe(1);
  });

  it('auth_type none with an endpoint: no token is sent (the simulator refuses it)', async () => {
    const s = await sim();
    const c = cloudFrom(`
clouds:
  noauth:
    auth_type: none
    network_endpoint_override: ${s.networkUrl}
`);
    const e = await caught(c.vpnServices.list());
    expect(e.status).toBe(401);
    expect(authPosts(s)).toBe(0);
  });

  it('renews the token shortly before it expires (short TTL)', async () => {
    const s = await sim({ tokenTtlSeconds: 2 });
    const c = cloudFrom(byNames(s));
    await c.vpnServices.list();
    const first = await c.auth.token();
    expect(first?.refreshAt).toBeDefined();
    // 10% of a 2 s lifetime: renewed 200 ms before expiry.
    expect(first!.expiresAt! - first!.refreshAt!).toBe(200);
    await c.vpnServices.list();
    expect(authPosts(s)).toBe(1);
    await sleep(first!.refreshAt! - Date.now() + 20);
    await c.vpnServices.list();
    expect(authPosts(s)).toBe(2);
    const second = await c.auth.token();
    expect(second?.value.equals(first?.value)).toBe(false);
    // No 401 was ever needed.
    expect(s.countOf({ status: 401 })).toBe(0);
  });

  it('concurrent callers share one auth request', async () => {
    const s = await sim();
    s.injectFault({ route: 'POST /v3/auth/tokens', kind: 'latency', latencyMs: 150 });
    const c = cloudFrom(byNames(s));
    await Promise.all(Array.from({ length: 10 }, () => c.vpnServices.list()));
    expect(authPosts(s)).toBe(1);
  });

  it('401 → one re-authentication, then success', async () => {
    const s = await sim();
    const c = cloudFrom(byNames(s));
    await c.vpnServices.list();
    s.revokeTokens();
    s.resetCounts();
    // Several requests hit the 401 at once; they share one re-authentication.
    await Promise.all(Array.from({ length: 5 }, () => c.vpnServices.list()));
    expect(authPosts(s)).toBe(1);
    expect(s.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices', status: 200 })).toBe(5);
  });

  it('a persistent 401 gives up after one re-authentication: auth', async () => {
    const s = await sim();
    const c = cloudFrom(byNames(s));
    await c.vpnServices.list();
    s.resetCounts();
    s.injectFault({
      route: 'GET /v2.0/vpn/vpnservices',
      status: 401,
      body: '{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}',
      contentType: 'application/json',
    });
    const e = await caught(c.vpnServices.list());
    expect(e.status).toBe(401);
    expect(e.code).toBe('Unauthorized');
    expect(classify(e)).toBe('auth');
    expect(authPosts(s)).toBe(1);
    expect(s.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' })).toBe(2);
  });

  it('a Keystone outage during renewal keeps using the current token while it is valid', async () => {
    const s = await sim();
    let offset = 0;
    const c = cloudFrom(byNames(s), { now: () => Date.now() + offset });
    const t = await c.auth.token();
    // One hour token, renewed 5 minutes before expiry: move the client's clock into that window.
    expect(t!.expiresAt! - t!.refreshAt!).toBe(300_000);
    offset = t!.refreshAt! - Date.now() + 1000;
    s.injectFault({ route: 'POST /v3/auth/tokens', status: 503 });
    expect(await c.vpnServices.list()).toEqual([]);
    expect(await c.auth.token()).toBe(t);
    // Past expiry the outage is the caller's problem (retryable).
    offset = t!.expiresAt! - Date.now() + 1000;
    const e = await caught(c.vpnServices.list());
    expect(e.status).toBe(503);
    expect(classify(e)).toBe('retryable');
    s.clearFaults();
    expect(await c.vpnServices.list()).toEqual([]);
    expect(await c.auth.token()).not.toBe(t);
  });
});

describe('VPN services', () => {
  it('create / get / update / delete', async () => {
    const r = { id: randomUUID(), gatewayV4: '172.24.4.20', gatewayV6: '2001:db8::20', subnets: [randomUUID()] };
    const s = await sim({ routers: [r], activeDelayMs: null });
    const c = cloudFrom(byNames(s));
    const created = await c.vpnServices.create({
      router_id: r.id,
      subnet_id: null,
      name: 'myservice',
      description: 'made by a test',
      admin_state_up: true,
    });
    expect(created).toMatchObject({
      router_id: r.id,
      subnet_id: null,
      name: 'myservice',
      description: 'made by a test',
      admin_state_up: true,
      status: 'PENDING_CREATE',
      external_v4_ip: '172.24.4.20',
      external_v6_ip: '2001:db8::20',
      tenant_id: PROJECT_ID,
    });
    expect(created).not.toHaveProperty('flavor_id');
    expect(s.service(created.id)).toBeDefined();

    // PUT while PENDING_CREATE: pendingState, not terminal.
    const pending = await caught(c.vpnServices.update(created.id, { description: 'x' }));
    expect(pending.status).toBe(400);
    expect(pending.code).toBe('VPNStateInvalidToUpdate');
    expect(classify(pending)).toBe('pendingState');

    s.setStatus(created.id, 'ACTIVE');
    expect((await c.vpnServices.get(created.id)).status).toBe('ACTIVE');
    const updated = await c.vpnServices.update(created.id, { name: 'renamed', description: 'changed' });
    expect(updated).toMatchObject({ id: created.id, name: 'renamed', description: 'changed', status: 'ACTIVE' });

    const conn = s.createSiteConnection(created.id);
    const inUse = await caught(c.vpnServices.delete(created.id));
    expect(inUse.status).toBe(409);
    expect(inUse.code).toBe('VPNServiceInUse');
    expect(classify(inUse)).toBe('conflict');
    s.deleteConnection(conn.id);

    await c.vpnServices.delete(created.id);
    expect(s.service(created.id)).toBeUndefined();
    const gone = await caught(c.vpnServices.get(created.id));
    expect(gone.status).toBe(404);
    expect(gone.code).toBe('VPNServiceNotFound');
    expect(classify(gone)).toBe('notFound');
    expect(classify(await caught(c.vpnServices.delete(created.id)))).toBe('notFound');
  });

  it('sends only the seed fields: tenant_id but never project_id', async () => {
    const r = router();
    const s = await sim({ routers: [r] });
    const c = cloudFrom(byNames(s));
    // The simulator with seed rules refuses project_id; a create with tenant_id succeeds.
    const created = await c.vpnServices.create({ router_id: r.id, name: 'n', tenant_id: PROJECT_ID });
    expect(created.tenant_id).toBe(PROJECT_ID);
    const sneaky = { router_id: randomUUID(), name: 'n', project_id: PROJECT_ID } as unknown as Parameters<
      typeof c.vpnServices.create
    >[0];
    const e = await caught(c.vpnServices.create(sneaky));
    // Not "Unrecognized attribute(s) 'project_id'": the field was dropped, the unknown router is what fails.
    expect(e.code).toBe('RouterNotFound');
  });

  it('list: filters, fields, and pagination across pages', async () => {
    const routers = Array.from({ length: 7 }, () => router());
    const s = await sim({ routers });
    const c = cloudFrom(byNames(s), { pageSize: 3 });
    const made = [];
    for (const [i, r] of routers.entries()) made.push(await c.vpnServices.create({ router_id: r.id, name: `svc-${i}` }));
    s.resetCounts();
    const all = await c.vpnServices.list();
    expect(all.map((x) => x.id).sort()).toEqual(made.map((x) => x.id).sort());
    // 7 services, 3 per page: 3 pages.
    expect(s.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' })).toBe(3);

    const exact = await c.vpnServices.list({ pageSize: 7 });
    expect(exact).toHaveLength(7);

    const one = await c.vpnServices.list({ routerId: routers[4]!.id });
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ router_id: routers[4]!.id, name: 'svc-4' });

    expect(await c.vpnServices.list({ name: 'svc-2' })).toHaveLength(1);
    expect(await c.vpnServices.list({ routerId: randomUUID() })).toEqual([]);

    const slim = await c.vpnServices.list({ fields: ['status', 'router_id'] });
    expect(slim).toHaveLength(7);
    for (const x of slim) expect(Object.keys(x).sort()).toEqual(['id', 'router_id', 'status']);
  });

  it('maps cloud errors: RouterNotFound, RouterIsNotExternal, router in use (409)', async () => {
    const noGateway = router(null);
    const taken = router();
    const s = await sim({ routers: [noGateway, taken] });
    const c = cloudFrom(byNames(s));

    const nf = await caught(c.vpnServices.create({ router_id: randomUUID() }));
    expect(nf).toMatchObject({ status: 404, code: 'RouterNotFound', method: 'POST', path: '/v2.0/vpn/vpnservices' });
    expect(nf.requestId).toMatch(/^req-/);
    expect(classify(nf)).toBe('notFound');

    const ext = await caught(c.vpnServices.create({ router_id: noGateway.id }));
    expect(ext).toMatchObject({ status: 400, code: 'RouterIsNotExternal' });
    expect(ext.cloudMessage).toContain(noGateway.id);
    expect(classify(ext)).toBe('terminal');

    const first = await c.vpnServices.create({ router_id: taken.id, name: 'first' });
    const dup = await caught(c.vpnServices.create({ router_id: taken.id, name: 'second' }));
    expect(dup.status).toBe(409);
    expect(dup.cloudMessage).toContain(first.id);
    expect(classify(dup)).toBe('conflict');
  });

  it('429 with Retry-After, 5xx, Huawei and HTML error bodies', async () => {
    const r = router();
    const s = await sim({ routers: [r] });
    const c = cloudFrom(byNames(s));
    const svc = await c.vpnServices.create({ router_id: r.id });

    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices/{id}', status: 429, retryAfterSeconds: 3, times: 1 });
    const limited = await caught(c.vpnServices.get(svc.id));
    expect(limited.status).toBe(429);
    expect(limited.retryAfterMs).toBe(3000);
    expect(classify(limited)).toBe('retryable');

    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices/{id}', status: 503, times: 1 });
    const unavailable = await caught(c.vpnServices.get(svc.id));
    expect(unavailable.status).toBe(503);
    expect(unavailable.code).toBe('HTTPServiceUnavailable');
    expect(classify(unavailable)).toBe('retryable');

    s.injectFault({
      route: 'PUT /v2.0/vpn/vpnservices/{id}',
      status: 400,
      body: '{"error_code":"VPC.0601","error_msg":"Only one VPN service can be created for each VPC.","request_id":"hw-req-1"}',
      contentType: 'application/json;charset=UTF-8',
      times: 1,
    });
    const huawei = await caught(c.vpnServices.update(svc.id, { name: 'x' }));
    expect(huawei).toMatchObject({ status: 400, code: 'VPC.0601', cloudMessage: 'Only one VPN service can be created for each VPC.' });
    expect(classify(huawei)).toBe('terminal');

    s.injectFault({
      route: 'GET /v2.0/vpn/vpnservices',
      status: 502,
      body: '<html><body><h1>502 Bad Gateway</h1>nginx</body></html>',
      contentType: 'text/html',
      times: 1,
    });
    const proxy = await caught(c.vpnServices.list());
    expect(proxy).toMatchObject({ status: 502, code: undefined, cloudMessage: '502 Bad Gateway nginx' });
    expect(classify(proxy)).toBe('retryable');

    // After the faults the client works as before (one token throughout).
    expect((await c.vpnServices.get(svc.id)).id).toBe(svc.id);
    expect(authPosts(s)).toBe(1);
  });

  it('connection reset and timeout: status 0, retryable', async () => {
    const r = router();
    const s = await sim({ routers: [r] });
    const c = cloudFrom(byNames(s), { timeoutMs: 300 });
    await c.vpnServices.list();

    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'reset', times: 1 });
    const reset = await caught(c.vpnServices.list());
    expect(reset.status).toBe(0);
    expect(reset.code).toMatch(/ECONNRESET|UND_ERR_SOCKET|EPIPE/);
    expect(classify(reset)).toBe('retryable');

    // The create is performed, its answer is lost: the caller must look before posting again (SPEC §3.3).
    s.injectFault({ route: 'POST /v2.0/vpn/vpnservices', kind: 'lostResponse', times: 1 });
    const lost = await caught(c.vpnServices.create({ router_id: r.id }));
    expect(lost.status).toBe(0);
    expect(classify(lost)).toBe('retryable');
    expect(await c.vpnServices.list({ routerId: r.id })).toHaveLength(1);

    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'latency', latencyMs: 1500, times: 1 });
    const slow = await caught(c.vpnServices.list());
    expect(slow).toMatchObject({ status: 0, code: 'Timeout', method: 'GET', path: '/v2.0/vpn/vpnservices' });
    expect(slow.message).toBe('GET /v2.0/vpn/vpnservices: no response within 300 ms');
    expect(classify(slow)).toBe('retryable');

    // Keystone unreachable (the simulator stopped): a connection error, retryable.
    const dead = cloudFrom(byNames(s));
    await s.stop();
    const refused = await caught(dead.vpnServices.list());
    expect(refused.status).toBe(0);
    expect(refused.code).toBe('ECONNREFUSED');
    expect(classify(refused)).toBe('retryable');
  });

  it('api_timeout from clouds.yaml sets the request timeout', async () => {
    const s = await sim();
    // 1 s: the smallest api_timeout the operator accepts (src/cloud/config.ts bounds it to 1-600 s).
    const c = cloudFrom(byNames(s, '    api_timeout: 1'), { timeoutMs: 10_000 });
    await c.vpnServices.list();
    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'latency', latencyMs: 2500, times: 1 });
    const e = await caught(c.vpnServices.list());
    expect(e.code).toBe('Timeout');
    expect(e.cloudMessage).toBe('no response within 1000 ms');
  });

  it('never logs or reports secrets', async () => {
    const r = router();
    const s = await sim({ routers: [r] });
    const lines: string[] = [];
    const log = (level: string) => (msg: string, meta?: Record<string, unknown>) => lines.push(`${level} ${msg} ${JSON.stringify(meta)}`);
    const events: RequestEvent[] = [];
    const c = cloudFrom(byNames(s), {
      logger: { debug: log('debug'), info: log('info'), warn: log('warn') },
      onRequest: (e) => events.push(e),
    });
    await c.vpnServices.create({ router_id: r.id });
    s.revokeTokens();
    await c.vpnServices.list();
    const token = (await c.auth.token())!.value.reveal();
    expect(lines.length).toBeGreaterThan(0);
    const everything = [...lines, JSON.stringify(events), JSON.stringify(c.config), JSON.stringify(await c.auth.token())].join('\n');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(token);
    expect(everything.toLowerCase()).not.toContain('x-auth-token');
    for (const e of events) expect(e.route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}/);
  });
});

describe('TLS', () => {
  let dir: string;
  let caPath: string;
  let proxy: tls.Server;
  let proxyPort: number;
  let s: Simulator;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cloud-tls-'));
    const run = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    };
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test CA');
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
    caPath = path.join(dir, 'ca.pem');
    s = await startSimulator();
    // TLS terminated in front of the simulator: bytes are piped to its plain HTTP port.
    proxy = tls.createServer(
      { key: readFileSync(path.join(dir, 'server.key')), cert: readFileSync(path.join(dir, 'server.pem')) },
      (socket) => {
        const upstream = net.connect(s.port, '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      },
    );
    proxy.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyPort = (proxy.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const tlsCloud = (extra: string): string => `
clouds:
  secure:
    auth:
      auth_url: https://127.0.0.1:${proxyPort}/v3
      username: demo
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    network_endpoint_override: https://127.0.0.1:${proxyPort}
${extra}`;

  it('verifies by default: an unknown CA fails', async () => {
    const c = cloudFrom(tlsCloud(''));
    const e = await caught(c.vpnServices.list());
    expect(e.status).toBe(0);
    expect(e.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    expect(e.path).toBe('/v3/auth/tokens');
  });

  it('works with cacert as a file path and as PEM text (from a Secret)', async () => {
    const c = cloudFrom(tlsCloud(`    cacert: ${caPath}\n`));
    expect(await c.vpnServices.list()).toEqual([]);
    const fromSecret = open(
      loadCloudConfigFromString(tlsCloud(''), 'secure', { source: 'secret ns/creds', cacert: readFileSync(caPath, 'utf8') }),
    );
    expect(await fromSecret.vpnServices.list()).toEqual([]);
  });

  it('works with verify: false, only when asked', async () => {
    const c = cloudFrom(tlsCloud('    verify: false\n'));
    expect(c.config.verify).toBe(false);
    expect(await c.vpnServices.list()).toEqual([]);
  });
});

describe('a connection the server closes before answering', () => {
  /** A network endpoint (auth_type none) that closes the first `drop` connections without a byte, then answers. */
  async function flaky(drop: number): Promise<{ url: string; seen: string[]; close: () => void }> {
    const seen: string[] = [];
    let n = 0;
    const server = net.createServer((sock) => {
      sock.once('data', (d) => {
        seen.push(d.toString('utf8').split(' ', 2).join(' ').split('?')[0]!);
        if (n++ < drop) return void sock.destroy();
        const body = JSON.stringify({ vpnservices: [] });
        sock.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    return { url: `http://127.0.0.1:${port}`, seen, close: () => server.close() };
  }
  const noAuth = (url: string) => `clouds:\n  flaky:\n    auth_type: none\n    network_endpoint_override: ${url}\n`;

  it('a GET is asked once more (a worker that died under it, a dropped keep-alive socket)', async () => {
    const f = await flaky(1);
    try {
      const c = cloudFrom(noAuth(f.url));
      expect(await c.vpnServices.list()).toEqual([]);
      expect(f.seen).toEqual(['GET /v2.0/vpn/vpnservices', 'GET /v2.0/vpn/vpnservices']);
    } finally {
      f.close();
    }
  });

  it('only once: a second close is the error', async () => {
    const f = await flaky(2);
    try {
      const e = await caught(cloudFrom(noAuth(f.url)).vpnServices.list());
      expect(e.status).toBe(0);
      expect(f.seen).toHaveLength(2);
    } finally {
      f.close();
    }
  });

  it('a POST is never repeated (it may have been done)', async () => {
    const f = await flaky(1);
    try {
      const e = await caught(cloudFrom(noAuth(f.url)).vpnServices.create({ router_id: randomUUID() }));
      expect(e.status).toBe(0);
      expect(f.seen).toEqual(['POST /v2.0/vpn/vpnservices']);
    } finally {
      f.close();
    }
  });
});
