import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { request } from 'undici';
import { http, issueToken, neutron, passwordAuth, ROUTER_A, ROUTER_B, sleep } from './helpers.ts';

const CREATE = 'POST /v2.0/vpn/vpnservices';

describe('simulator: fault injection', () => {
  let sim: Simulator;
  let n: ReturnType<typeof neutron>;
  beforeAll(async () => {
    sim = await startSimulator({ routers: [{ id: ROUTER_A }, { id: ROUTER_B }], faultSeed: 42 });
    n = neutron(sim, await issueToken(sim));
  });
  afterEach(() => {
    sim.clearFaults();
    sim.onCreate(null);
    for (const s of sim.services()) sim.deleteService(s.id);
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('answers the next N matching calls with a fixed status, then removes itself', async () => {
    sim.injectFault({ route: CREATE, status: 500, times: 2 });
    const first = await n.create({ router_id: ROUTER_A });
    expect(first.status).toBe(500);
    expect(first.body.NeutronError.type).toBe('HTTPInternalServerError');
    expect(first.headers['x-openstack-request-id']).toMatch(/^req-/);
    expect((await n.create({ router_id: ROUTER_A })).status).toBe(500);
    // Other routes are not affected.
    expect((await n.list()).status).toBe(200);
    expect(sim.services()).toHaveLength(0);
    expect((await n.create({ router_id: ROUTER_A })).status).toBe(201);
    expect(sim.faults()).toEqual([]);
  });

  it('hits a share of the calls at a given rate (seeded, so reproducible)', async () => {
    const remove = sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', status: 503, rate: 0.5 });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const r = await n.list();
      if (r.status === 503) {
        failed++;
        expect(r.body.NeutronError.type).toBe('HTTPServiceUnavailable');
      } else expect(r.status).toBe(200);
    }
    expect(failed).toBeGreaterThan(60);
    expect(failed).toBeLessThan(140);
    expect(sim.faults()[0]?.hits).toBe(failed);
    remove();
    expect(sim.faults()).toEqual([]);
  });

  it('answers 429 with Retry-After', async () => {
    sim.injectFault({ route: 'GET *', status: 429, retryAfterSeconds: 7, times: 1 });
    const r = await n.list();
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('7');
    expect(r.body.NeutronError).toBeDefined();
    expect((await n.list()).status).toBe(200);
    sim.injectFault({ route: 'GET *', status: 429, times: 1 });
    expect((await n.list()).headers['retry-after']).toBe('1');
  });

  it("answers Keystone routes in Keystone's error shape, and can return a raw proxy page", async () => {
    sim.injectFault({ route: 'POST /v3/auth/tokens', status: 503, times: 1 });
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
    expect(r.status).toBe(503);
    expect(r.body.error).toMatchObject({ code: 503, title: 'Service Unavailable' });
    sim.injectFault({ route: '/v2.0/vpn/vpnservices/{id}', status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html', times: 1 });
    const g = await n.get('00000000-0000-4000-8000-000000000000');
    expect(g.status).toBe(502);
    expect(g.text).toBe('<html>Bad Gateway</html>');
    expect(g.headers['content-type']).toBe('text/html');
  });

  it('matches concrete paths and prefixes', async () => {
    const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
    sim.injectFault({ route: `DELETE /v2.0/vpn/vpnservices/${s.id}`, status: 503 });
    sim.injectFault({ route: '/v2.0/routers*', status: 500 });
    expect((await n.delete(s.id)).status).toBe(503);
    expect((await n.delete('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await n.router(ROUTER_A)).status).toBe(500);
    expect((await n.get(s.id)).status).toBe(200);
  });

  it('resets the connection without performing the request', async () => {
    sim.injectFault({ route: CREATE, kind: 'reset', times: 1 });
    await expect(n.create({ router_id: ROUTER_A })).rejects.toThrow();
    expect(sim.services()).toHaveLength(0);
    expect((await n.create({ router_id: ROUTER_A })).status).toBe(201);
  });

  it('loses the response of a create that was performed', async () => {
    sim.resetCounts();
    sim.injectFault({ route: CREATE, kind: 'lostResponse', times: 1 });
    await expect(n.create({ router_id: ROUTER_A, name: 'lost' })).rejects.toThrow();
    const created = sim.services();
    expect(created).toHaveLength(1);
    expect(created[0]?.name).toBe('lost');
    // A retry finds the router taken: the caller has to look it up instead.
    const retry = await n.create({ router_id: ROUTER_A, name: 'lost' });
    expect(retry.status).toBe(409);
    expect((await n.list(`router_id=${ROUTER_A}`)).body.vpnservices).toHaveLength(1);
    expect(sim.counts()[`${CREATE} lost`]).toBe(1);
    expect(sim.counts()[`${CREATE} 409`]).toBe(1);
  });

  it('hangs after performing a create: the client times out, the service exists', async () => {
    sim.injectFault({ route: CREATE, kind: 'hang', times: 1 });
    const token = await issueToken(sim);
    await expect(
      request(`${sim.networkUrl}/v2.0/vpn/vpnservices`, {
        method: 'POST',
        headers: { 'x-auth-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({ vpnservice: { router_id: ROUTER_A, name: 'slow' } }),
        headersTimeout: 300,
      }),
    ).rejects.toThrow(/timeout/i);
    expect(sim.services().map((s) => s.name)).toEqual(['slow']);
    expect(sim.countOf({ status: 'hang' })).toBe(1);
  });

  it('adds latency', async () => {
    sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', latencyMs: 200, times: 1 });
    const t0 = performance.now();
    expect((await n.list()).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(sim.faults()).toEqual([]);
  });

  it('runs the onCreate hook after the commit and before the response is written', async () => {
    const events: string[] = [];
    sim.onCreate(async (svc) => {
      events.push(`hook ${svc.status} committed=${sim.service(svc.id) !== undefined}`);
      await sleep(100);
      events.push('hook done');
    });
    const r = await n.create({ router_id: ROUTER_A }).then((res) => {
      events.push('response');
      return res;
    });
    expect(r.status).toBe(201);
    expect(events).toEqual(['hook PENDING_CREATE committed=true', 'hook done', 'response']);
  });

  it('runs the onCreate hook before a lost response drops the connection', async () => {
    const events: string[] = [];
    sim.onCreate((svc) => {
      events.push(`hook ${svc.router_id}`);
    });
    sim.injectFault({ route: CREATE, kind: 'lostResponse', times: 1 });
    await expect(
      n.create({ router_id: ROUTER_B }).finally(() => {
        events.push('client error');
      }),
    ).rejects.toThrow();
    expect(events).toEqual([`hook ${ROUTER_B}`, 'client error']);
    // The hook does not run for refused creates.
    events.length = 0;
    await n.create({ router_id: '11111111-2222-4333-8444-555555555555' });
    expect(events).toEqual([]);
  });
});

describe('simulator: counters and request log', () => {
  it('counts requests by method, route template and status', async () => {
    const sim = await startSimulator({ routers: [{ id: ROUTER_A }] });
    try {
      const n = neutron(sim, await issueToken(sim));
      const s = (await n.create({ router_id: ROUTER_A })).body.vpnservice;
      await n.create({ router_id: ROUTER_A });
      await n.get(s.id);
      await n.get(s.id);
      await n.list();
      sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'reset', times: 1 });
      await expect(n.list()).rejects.toThrow();
      expect(sim.counts()).toEqual({
        'POST /v3/auth/tokens 201': 1,
        [`${CREATE} 201`]: 1,
        [`${CREATE} 409`]: 1,
        'GET /v2.0/vpn/vpnservices/{id} 200': 2,
        'GET /v2.0/vpn/vpnservices 200': 1,
        'GET /v2.0/vpn/vpnservices reset': 1,
      });
      expect(sim.countOf({ method: 'POST', route: '/v2.0/vpn/vpnservices' })).toBe(2);
      expect(sim.countOf({ status: 200 })).toBe(3);
      expect(sim.countOf()).toBe(7);
      const log = sim.requestLog();
      expect(log).toHaveLength(7);
      expect(log[1]).toMatchObject({ method: 'POST', path: '/v2.0/vpn/vpnservices', route: '/v2.0/vpn/vpnservices', status: 201 });
      expect(log[3]?.path).toBe(`/v2.0/vpn/vpnservices/${s.id}`);
      expect(log[3]?.requestId).toMatch(/^req-/);
      expect(typeof log[0]?.at).toBe('number');
      sim.resetCounts();
      expect(sim.counts()).toEqual({});
      expect(sim.requestLog()).toEqual([]);
    } finally {
      await sim.stop();
    }
  });

  it('keeps a bounded request log', async () => {
    const sim = await startSimulator({ requestLogLimit: 3 });
    try {
      for (let i = 0; i < 5; i++) await http('GET', `${sim.url}/v3`);
      expect(sim.requestLog()).toHaveLength(3);
      expect(sim.countOf({ route: '/v3' })).toBe(5);
    } finally {
      await sim.stop();
    }
  });
});
