// The operator process as users run it (`node src/main.ts run`), against a real kube-apiserver: flags, /healthz,
// /readyz and what it says when the VpnService CRD is missing; and the liveness check over HTTP on a real informer.
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInformer, HEALTH_GRACE_MS, type Informer } from '../../src/controller/informer.ts';
import { VpnService } from '../../src/api/vpnservice.ts';
import { combineChecks, CRD_MISSING_HINT, informerLiveness, informerNotReadyReason } from '../../src/runtime/health.ts';
import { startHttpServer, type HttpServerHandle } from '../../src/runtime/http.ts';
import { createMetrics } from '../../src/runtime/metrics.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';

let cp: ControlPlane;
let kube: KubeClient;
const ops: OperatorProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

function operator(args: string[] = []): OperatorProcess {
  const op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, args });
  ops.push(op);
  return op.start();
}

const PATH = '/apis/vpnaas.dev/v1alpha1/vpnservices';

/** The same credentials, talking to `server`. */
function kubeConfigFor(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.getClusters().map((c) => ({ ...c, server })),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return out;
}

/** An informer and an HTTP server whose /healthz and /readyz come from it, as app.ts wires them. */
async function served(informer: Informer<unknown>, now: () => number): Promise<{ base: string; server: HttpServerHandle }> {
  const server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    metrics: createMetrics({ defaultMetrics: false }),
    healthy: combineChecks([['informer', informerLiveness(informer, now)]]),
    ready: () => informer.hasSynced(),
    notReadyReason: () => informerNotReadyReason(informer),
  });
  cleanups.push(() => server.close(), () => informer.stop());
  return { base: `http://127.0.0.1:${server.port}`, server };
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await Promise.all(ops.map((o) => o.dispose()));
  await cp?.stop();
});

describe('without the CRDs', () => {
  it('logs one clear hint per missing kind, keeps retrying with backoff, /readyz says why, /healthz stays 200; the CRDs appearing are picked up', async () => {
    const op = operator();
    const port = await eventually(() => op.metricsPort(), 'metrics port logged', 60_000);
    // The VpnService informer's own failures (the five kinds' informers back off independently).
    const listFailures = () => op.records().filter((r) => r.message === 'informer: list failed, retrying' && String(r.path ?? '').startsWith(PATH));
    // Three failed LISTs (1 s, 2 s, 4 s of backoff, with jitter).
    await eventually(() => listFailures().length >= 3, 'three failed LISTs', 60_000);
    const hints = op.records().filter((r) => r.message === CRD_MISSING_HINT);
    // One per kind (five CRDs), each naming the path that is not served.
    await eventually(() => op.records().filter((r) => r.message === CRD_MISSING_HINT).length === 5, 'a hint per kind', 30_000);
    expect(new Set(op.records().filter((r) => r.message === CRD_MISSING_HINT).map((r) => r.path)).size).toBe(5);
    expect(hints.find((h) => h.path === PATH) ?? op.records().find((r) => r.message === CRD_MISSING_HINT && r.path === PATH)).toMatchObject({ level: 'error', status: 404, path: PATH });
    const delays = listFailures().map((r) => r.retryInMs as number);
    expect(delays[1]).toBeGreaterThan(delays[0] as number); // backing off, not hammering

    const ready = await get(`http://127.0.0.1:${port}/readyz`);
    expect(ready).toEqual({ status: 503, text: `VpnService: ${CRD_MISSING_HINT}\n` });
    expect(await get(`http://127.0.0.1:${port}/healthz`)).toEqual({ status: 200, text: 'ok\n' });

    await installCrd(kube);
    await eventually(async () => (await get(`http://127.0.0.1:${port}/readyz`)).status === 200, '/readyz 200 once the CRD exists', 60_000);
    expect(op.records().filter((r) => r.message === CRD_MISSING_HINT)).toHaveLength(5);
    expect(op.records().some((r) => r.message === 'cache synced')).toBe(true);
  });
});

describe('/healthz reflects the informer loop (over HTTP, real informer)', () => {
  it('200 while watching; 503 with the reason once the phase is past its own bound', async () => {
    let skew = 0;
    const informer = createInformer({ kubeConfig: cp.kubeConfig, path: PATH, schema: VpnService, minWatchTimeoutSeconds: 60 });
    const { base } = await served(informer as Informer<unknown>, () => Date.now() + skew);
    informer.start();
    await eventually(async () => (await get(`${base}/readyz`)).status === 200, 'synced', 30_000);
    await eventually(() => informer.health().phase === 'watching', 'watching', 30_000);
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    const h = informer.health();
    expect(h.deadline).not.toBeNull();
    // A quiet watch (no event, no bookmark) is fine until its watchdog bound plus the grace…
    skew = (h.deadline as number) - Date.now() - 1_000;
    expect((await get(`${base}/healthz`)).status).toBe(200);
    // …after that, the loop is wedged (the watchdog would have aborted the watch): restart me.
    skew = (h.deadline as number) - Date.now() + 5_000;
    const bad = await get(`${base}/healthz`);
    expect(bad.status).toBe(503);
    expect(bad.text).toMatch(/^unhealthy: informer: watching for \d+ s with no progress for \d+ s past its bound\n$/);
  });

  it('200 while it retries an unreachable API server on schedule; /readyz names the error', async () => {
    // A port that refuses connections: every LIST fails at once, the informer backs off and retries.
    const closed = await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    let skew = 0;
    const informer = createInformer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, `https://127.0.0.1:${closed}`),
      path: PATH,
      schema: VpnService,
      backoffBaseMs: 200,
      backoffMaxMs: 400,
    });
    const { base } = await served(informer as Informer<unknown>, () => Date.now() + skew);
    informer.start();
    await eventually(() => informer.health().consecutiveErrors >= 3, 'three failures', 30_000);
    expect(informer.health().phase).toMatch(/^(backoff|listing)$/);
    expect(await get(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/^cache not synced: list \/apis\/vpnaas\.dev\/v1alpha1\/vpnservices: .*; retrying\n$/);
    // Retrying is bounded: a backoff (or LIST) that overran its deadline by more than the grace is a wedge.
    skew = 400 + 60_000 + HEALTH_GRACE_MS + 1_000;
    expect((await get(`${base}/healthz`)).text).toMatch(/^unhealthy: informer: (backoff|listing) /);
  });

  it('503 when the loop ended without being stopped (here: its logger threw)', async () => {
    const informer = createInformer({
      kubeConfig: kubeConfigFor(cp.kubeConfig, 'https://127.0.0.1:1'),
      path: PATH,
      schema: VpnService,
      logger: {
        warn: (m: string) => {
          if (m.startsWith('informer: list failed')) throw new Error('logger broke');
        },
      },
    });
    const { base } = await served(informer as Informer<unknown>, Date.now);
    expect((await get(`${base}/healthz`)).status).toBe(200); // not started yet: nothing is due
    informer.start();
    await eventually(() => informer.health().phase === 'ended', 'loop ended', 30_000);
    expect(await get(`${base}/healthz`)).toEqual({ status: 503, text: 'unhealthy: informer: the list/watch loop ended\n' });
    await informer.stop();
    expect(informer.health().phase).toBe('stopped');
  });
});

describe('flags', () => {
  it('--metrics-port -1 (as --help says) runs the operator without the HTTP server', async () => {
    await installCrd(kube);
    const op = operator(['--metrics-port', '-1']);
    await eventually(() => op.records().some((r) => r.message === 'cache synced'), 'cache synced', 60_000);
    expect(op.records().some((r) => typeof r.message === 'string' && r.message.includes('the server is disabled (--metrics-port -1)'))).toBe(true);
    expect(op.metricsPort()).toBeUndefined();
    expect(op.output()).not.toContain('http server listening');
  });

  it('refuses a bad --metrics-port with a clear message', async () => {
    for (const v of ['-2', '65536', 'x']) {
      const op = operator(['--metrics-port', v]);
      await eventually(() => op.output().includes('--metrics-port:'), `refusal of ${v}`, 30_000);
      expect(op.output()).toContain('--metrics-port: a port number (0-65535), or -1 to disable the server');
      expect(await op.exited()).toBe(2);
    }
  });

  it('refuses a bad --tenant-cloud-hosts entry, naming it, and logs the hosts it allows', async () => {
    for (const [v, says] of [['keystone.example.com,*cloud.example.com', '"*cloud.example.com": a * only as a whole first label'], ['https://iam.example.com', 'a host, not a URL']] as const) {
      const op = operator(['--tenant-cloud-hosts', v]);
      await eventually(() => op.output().includes('--tenant-cloud-hosts:'), `refusal of ${v}`, 30_000);
      expect(op.output()).toContain(says);
      expect(await op.exited()).toBe(2);
    }
    const op = operator(['--tenant-cloud-hosts', 'iam.example.com, *.cloud.example.com']);
    await eventually(() => op.records().find((r) => r.message === 'hosts allowed for clouds from tenant Secrets'), 'the hosts logged', 30_000);
    expect(op.records().find((r) => r.message === 'hosts allowed for clouds from tenant Secrets')?.tenantCloudHosts).toBe('iam.example.com, *.cloud.example.com');
  });
});
