// Per-cloud concurrency limit and fail-fast (src/cloud/gate.ts), over real HTTP against two simulators: one whose
// Neutron hangs (fault injection: the request is taken, no answer ever comes), one healthy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cloud, CreateCloudOptions } from '../../src/cloud/cloud.ts';
import { createCloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { classify, CloudError } from '../../src/cloud/errors.ts';
import type { RequestEvent } from '../../src/cloud/http.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { startSimulator } from '../../src/simulator/index.ts';

const simulators: Simulator[] = [];
const clouds: Cloud[] = [];

async function sim(): Promise<Simulator> {
  const s = await startSimulator();
  simulators.push(s);
  return s;
}

function cloudOf(s: Simulator, opts: CreateCloudOptions): Cloud {
  const c = createCloud(loadCloudConfigFromString(s.cloudsYaml('sim'), 'sim'), opts);
  clouds.push(c);
  return c;
}

type Settled = { ok: true } | { ok: false; err: CloudError };
function track(p: Promise<unknown>, done: Settled[]): Promise<Settled> {
  return p.then(
    () => {
      const r: Settled = { ok: true };
      done.push(r);
      return r;
    },
    (err: unknown) => {
      if (!(err instanceof CloudError)) throw err;
      const r: Settled = { ok: false, err };
      done.push(r);
      return r;
    },
  );
}

afterAll(async () => {
  await Promise.all(clouds.map((c) => c.close().catch(() => undefined)));
  await Promise.all(simulators.map((s) => s.stop()));
});

describe('a hanging cloud and a healthy one', () => {
  let hanging: Simulator;
  let healthy: Simulator;
  let hangCloud: Cloud;
  let okCloud: Cloud;
  let skew = 0;
  const events: RequestEvent[] = [];
  // Waiters may wait longer than a request: the queued ones are failed by the opened gate, not by their own wait.
  const gate = { maxInFlight: 4, failureThreshold: 3, coolDownMs: 60_000, queueTimeoutMs: 4_000 };

  beforeAll(async () => {
    [hanging, healthy] = await Promise.all([sim(), sim()]);
    const now = () => Date.now() + skew;
    hangCloud = cloudOf(hanging, { timeoutMs: 2_000, gate, now, onRequest: (e) => events.push(e) });
    okCloud = cloudOf(healthy, { timeoutMs: 2_000, gate, now });
    // Authenticated before the fault, so only Neutron hangs.
    await Promise.all([hangCloud.vpnServices.list(), okCloud.vpnServices.list()]);
  });

  it("holds at most maxInFlight requests on the hanging cloud, and the healthy cloud's requests are not delayed", async () => {
    hanging.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'hang' });
    const hangDone: Settled[] = [];
    const okDone: Settled[] = [];
    const hangs = Array.from({ length: 12 }, () => track(hangCloud.vpnServices.list(), hangDone));
    await new Promise((r) => setImmediate(r));
    expect(hangCloud.gateState()).toMatchObject({ inFlight: 4, queued: 8, state: 'closed' });

    const oks = await Promise.all(Array.from({ length: 20 }, () => track(okCloud.vpnServices.list(), okDone)));
    expect(oks.every((r) => r.ok)).toBe(true);
    // Every healthy request finished while the hanging cloud's first requests were still waiting for an answer.
    expect(hangDone).toHaveLength(0);
    expect(hangCloud.gateState()).toMatchObject({ inFlight: 4, queued: 8 });

    // The hanging requests time out; after 3 in a row the gate opens and the queued ones fail at once instead of
    // each waiting out its own 2 s.
    const results = await Promise.all(hangs);
    const codes = results.map((r) => (r.ok ? 'ok' : r.err.code));
    const timeouts = codes.filter((c) => c === 'Timeout').length;
    const fast = codes.filter((c) => c === 'CloudUnavailable').length;
    expect(codes.filter((c) => c !== 'Timeout' && c !== 'CloudUnavailable')).toEqual([]);
    expect(timeouts).toBeGreaterThanOrEqual(4);
    expect(timeouts).toBeLessThanOrEqual(4 + gate.failureThreshold - 1); // queued ones that got a slot before it opened
    for (const r of results) if (!r.ok) expect(classify(r.err)).toBe('retryable');
    const fastErr = results.find((r) => !r.ok && r.err.code === 'CloudUnavailable') as { err: CloudError };
    expect(fastErr.err.status).toBe(0);
    expect(fastErr.err.message).toMatch(/gave no answer \d+ times in a row \(timeouts or connection errors\): failing fast for another \d+ s \(cloud sim\)/);
    expect(hangCloud.gateState()).toMatchObject({ inFlight: 0, queued: 0, state: 'open' });
    // The fast failures were observed (metrics) without reaching the cloud.
    expect(events.filter((e) => e.error === 'CloudUnavailable')).toHaveLength(fast);
  });

  it('fails fast during the cool-down without touching the cloud, then one probe closes the gate', async () => {
    const before = hanging.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' });
    const e = await hangCloud.vpnServices.list().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(CloudError);
    expect((e as CloudError).code).toBe('CloudUnavailable');
    expect(hanging.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' })).toBe(before);
    expect((await okCloud.vpnServices.list()).length).toBe(0); // the healthy one is untouched

    // The cloud recovers; once the cool-down is over the next request is a probe and goes through.
    hanging.clearFaults();
    skew += gate.coolDownMs + 1_000;
    expect(hangCloud.gateState().state).toBe('half-open');
    expect(await hangCloud.vpnServices.list()).toEqual([]);
    expect(hangCloud.gateState()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a probe that gets no answer opens the gate again', async () => {
    hanging.injectFault({ route: 'GET /v2.0/vpn/vpnservices', kind: 'hang' });
    await Promise.allSettled([1, 2, 3].map(() => hangCloud.vpnServices.list()));
    expect(hangCloud.gateState().state).toBe('open');
    skew += gate.coolDownMs + 1_000;
    const probe = hangCloud.vpnServices.list().catch((err: unknown) => err as CloudError);
    await new Promise((r) => setImmediate(r));
    // While the probe is out, the others still fail fast.
    const other = await hangCloud.vpnServices.list().catch((err: unknown) => err as CloudError);
    expect((other as CloudError).message).toContain('while a probe request is in flight');
    expect(((await probe) as CloudError).code).toBe('Timeout');
    expect(hangCloud.gateState().state).toBe('open');
    hanging.clearFaults();
  });
});

describe('the bounded FIFO', () => {
  it('serves waiting requests in order, refuses beyond maxQueued at once, and an HTTP error answer counts as reachable', async () => {
    const s = await sim();
    const c = cloudOf(s, { timeoutMs: 5_000, gate: { maxInFlight: 1, maxQueued: 2, failureThreshold: 1 } });
    await c.vpnServices.list();
    const order: number[] = [];
    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices', latencyMs: 300 });
    const ps = [0, 1, 2].map((i) => c.vpnServices.list().then(() => order.push(i)));
    const refused = await c.vpnServices.list().catch((err: unknown) => err as CloudError);
    expect(refused).toBeInstanceOf(CloudError);
    expect((refused as CloudError).code).toBe('CloudBusy');
    expect(classify(refused)).toBe('retryable');
    await Promise.all(ps);
    expect(order).toEqual([0, 1, 2]);
    // 5xx answers are answers: with a threshold of 1 the gate still stays closed.
    s.clearFaults();
    s.injectFault({ route: 'GET /v2.0/vpn/vpnservices', status: 503, times: 2 });
    await Promise.allSettled([c.vpnServices.list(), c.vpnServices.list()]);
    expect(c.gateState().state).toBe('closed');
    expect(await c.vpnServices.list()).toEqual([]);
  });

  it('refuses bad options with a clear message', () => {
    const s = simulators[0] as Simulator;
    expect(() => cloudOf(s, { gate: { maxInFlight: 0 } })).toThrow('cloud gate: maxInFlight must be a number ≥ 1, got 0');
  });
});
