// The operator's metrics and health endpoints, scraped over real HTTP on 127.0.0.1. The metrics are fed the way
// the operator feeds them: the real work queue's workers, the real cloud HTTP transport and Kubernetes client
// talking to small local servers.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpTransport } from '../../src/cloud/http.ts';
import { WorkQueue, runWorkers } from '../../src/controller/queue.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { startHttpServer, type HttpServerHandle } from '../../src/runtime/http.ts';
import { createMetrics, type ObjectSample } from '../../src/runtime/metrics.ts';

const HOST = '127.0.0.1';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition into samples (comments skipped). */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and exactly these labels, or undefined. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  const hits = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === want);
  if (hits.length > 1) throw new Error(`duplicate sample ${name} ${want}`);
  return hits[0]?.value;
}

function seriesOf(samples: Sample[], name: string): Array<Record<string, string>> {
  return samples.filter((s) => s.name === name).map((s) => s.labels);
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(opts: Partial<Parameters<typeof startHttpServer>[0]> = {}) {
  const metrics = opts.metrics ?? createMetrics();
  const srv = await startHttpServer({ port: 0, host: HOST, metrics, healthy: () => true, ready: () => true, ...opts });
  cleanups.push(() => srv.close());
  const base = `http://${HOST}:${srv.port}`;
  const scrape = async (): Promise<Sample[]> => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    return parse(await res.text());
  };
  return { metrics, srv, base, scrape };
}

/** A local HTTP server answering every request with `status` and a JSON body; returns its base URL. */
async function localServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<string> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://${HOST}:${(server.address() as AddressInfo).port}`;
}

describe('metrics endpoint', () => {
  it('serves the text exposition with its content type, and only vpnaas_ metrics', async () => {
    const { base } = await start();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    const samples = parse(text);
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) expect(s.name.startsWith('vpnaas_')).toBe(true);
    // default process metrics, prefixed
    expect(value(samples, 'vpnaas_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE vpnaas_reconcile_duration_seconds histogram');
    expect(text).toContain('# TYPE vpnaas_cloud_request_duration_seconds histogram');
    // series that exist from the start
    for (const result of ['success', 'retry', 'error']) {
      expect(value(samples, 'vpnaas_reconcile_total', { result })).toBe(0);
    }
    expect(value(samples, 'vpnaas_workqueue_retries_total')).toBe(0);
    expect(value(samples, 'vpnaas_leader')).toBe(0);
    expect(value(samples, 'vpnaas_informer_synced')).toBe(0);
  });

  it('keeps registries apart: two instances do not share counts', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.workerHooks().onRetry?.('ns/x', 1, 1000);
    const pa = parse(await a.registry.metrics());
    const pb = parse(await b.registry.metrics());
    expect(value(pa, 'vpnaas_workqueue_retries_total')).toBe(1);
    expect(value(pb, 'vpnaas_workqueue_retries_total')).toBe(0);
  });

  it('counts reconciles, retries and queue depth through the real workers', async () => {
    const { metrics, scrape } = await start();
    const queue = new WorkQueue({ baseDelayMs: 60_000 });
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const workers = runWorkers(
      queue,
      1,
      async (key) => {
        seen.push(key);
        if (key === 'ns/slow') await gate;
        if (key.startsWith('ns/err')) throw Object.assign(new Error('boom'), { retryAfterMs: 30_000 });
        if (key.startsWith('ns/requeue')) return { requeueAfterMs: 60_000 };
        if (key.startsWith('ns/retry')) return { requeueAfterMs: 5_000, retry: true };
        return undefined;
      },
      metrics.workerHooks(),
    );
    try {
      // One worker held on ns/slow; three keys wait behind it.
      queue.add('ns/slow');
      await waitFor(() => seen.includes('ns/slow'));
      for (const k of ['ns/ok', 'ns/err1', 'ns/requeue1', 'ns/retry1']) queue.add(k);
      // Depth is reported after each get: still 0 here (ns/slow was taken from an empty queue).
      expect(value(await scrape(), 'vpnaas_workqueue_depth')).toBe(0);
      release();
      await waitFor(() => seen.length === 5);
      await waitFor(async () => value(await scrape(), 'vpnaas_reconcile_duration_seconds_count') === 5);
      const s = await scrape();
      // A pass that did its work and scheduled a poll (ns/requeue1) is a success, not a failure-like 'requeue'.
      expect(value(s, 'vpnaas_reconcile_total', { result: 'success' })).toBe(3);
      expect(value(s, 'vpnaas_reconcile_total', { result: 'retry' })).toBe(1);
      expect(value(s, 'vpnaas_reconcile_total', { result: 'error' })).toBe(1);
      expect(value(s, 'vpnaas_reconcile_total', { result: 'requeue' })).toBeUndefined();
      expect(value(s, 'vpnaas_workqueue_requeues_total')).toBe(2);
      expect(value(s, 'vpnaas_workqueue_retries_total')).toBe(1);
      expect(value(s, 'vpnaas_workqueue_depth')).toBe(0);
      expect(value(s, 'vpnaas_reconcile_duration_seconds_count')).toBe(5);
      expect(value(s, 'vpnaas_reconcile_duration_seconds_bucket', { le: '+Inf' })).toBe(5);
      expect(value(s, 'vpnaas_reconcile_duration_seconds_sum')).toBeGreaterThan(0);
    } finally {
      await workers.stop();
    }
  });

  it('reports the queue depth it is given', async () => {
    const { metrics, scrape } = await start();
    metrics.workerHooks().onDepth?.(17);
    expect(value(await scrape(), 'vpnaas_workqueue_depth')).toBe(17);
    metrics.workerHooks().onDepth?.(3);
    expect(value(await scrape(), 'vpnaas_workqueue_depth')).toBe(3);
  });

  it('counts cloud requests by method, route and status from the real transport', async () => {
    const { metrics, scrape } = await start();
    const cloud = await localServer((req, res) => {
      const status = req.url?.includes('missing') ? 404 : 200;
      res.writeHead(status, { 'content-type': 'application/json', 'x-openstack-request-id': 'req-1' });
      res.end(status === 404 ? '{"NeutronError":{"type":"NotFound","message":"no","detail":""}}' : '{}');
    });
    const transport = new HttpTransport({
      cloudName: 'test',
      tls: { rejectUnauthorized: true },
      timeoutMs: 5_000,
      onRequest: metrics.cloudObserver,
    });
    cleanups.push(() => transport.close());
    const route = '/v2.0/vpn/vpnservices/{id}';
    await transport.send({ method: 'GET', url: `${cloud}/v2.0/vpn/vpnservices/a`, route });
    await transport.send({ method: 'GET', url: `${cloud}/v2.0/vpn/vpnservices/b`, route });
    await expect(transport.send({ method: 'GET', url: `${cloud}/v2.0/vpn/vpnservices/missing`, route })).rejects.toThrow();
    await transport.send({ method: 'POST', url: `${cloud}/v2.0/vpn/vpnservices`, route: '/v2.0/vpn/vpnservices', body: {} });
    // No response at all: status 0.
    metrics.cloudObserver({ cloud: 'test', method: 'PUT', route, status: 0, durationMs: 5000, requestId: undefined, error: 'Timeout' });

    const s = await scrape();
    expect(value(s, 'vpnaas_cloud_requests_total', { method: 'GET', route, status: '200' })).toBe(2);
    expect(value(s, 'vpnaas_cloud_requests_total', { method: 'GET', route, status: '404' })).toBe(1);
    expect(value(s, 'vpnaas_cloud_requests_total', { method: 'POST', route: '/v2.0/vpn/vpnservices', status: '200' })).toBe(1);
    expect(value(s, 'vpnaas_cloud_requests_total', { method: 'PUT', route, status: '0' })).toBe(1);
    expect(value(s, 'vpnaas_cloud_request_duration_seconds_count', { method: 'GET', route })).toBe(3);
    expect(value(s, 'vpnaas_cloud_request_duration_seconds_count', { method: 'PUT', route })).toBe(1);
    expect(value(s, 'vpnaas_cloud_request_duration_seconds_bucket', { method: 'PUT', route, le: '2.5' })).toBe(0);
    expect(value(s, 'vpnaas_cloud_request_duration_seconds_bucket', { method: 'PUT', route, le: '5' })).toBe(1);
    // Routes are templates: no object id ever becomes a label.
    for (const l of seriesOf(s, 'vpnaas_cloud_requests_total')) expect(l.route).not.toMatch(/\/(a|b|missing)$/);
  });

  it('counts Kubernetes requests by method, route and status from the real client', async () => {
    const { metrics, scrape } = await start();
    const api = await localServer((req, res) => {
      const status = req.url?.includes('/gone') ? 404 : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status === 404 ? '{"kind":"Status","reason":"NotFound","code":404}' : '{"kind":"VpnService"}');
    });
    const kc = new KubeConfig();
    // client-node allows plain HTTP (loopback here) only with skipTLSVerify.
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: api, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const kube = new KubeClient(kc, { timeoutMs: 5_000 });
    kube.onRequest = metrics.kubeObserver;
    await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/namespaces/a/vpnservices/one');
    await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/namespaces/b/vpnservices/two');
    await expect(kube.request('GET', '/apis/vpnaas.dev/v1alpha1/namespaces/a/vpnservices/gone')).rejects.toThrow();
    await kube.request('PATCH', '/apis/vpnaas.dev/v1alpha1/namespaces/a/vpnservices/one/status', {}, 'application/merge-patch+json');

    const s = await scrape();
    const one = '/apis/vpnaas.dev/v1alpha1/namespaces/{ns}/vpnservices/{name}';
    expect(value(s, 'vpnaas_kube_requests_total', { method: 'GET', route: one, status: '200' })).toBe(2);
    expect(value(s, 'vpnaas_kube_requests_total', { method: 'GET', route: one, status: '404' })).toBe(1);
    expect(value(s, 'vpnaas_kube_requests_total', { method: 'PATCH', route: `${one}/status`, status: '200' })).toBe(1);
    expect(value(s, 'vpnaas_kube_request_duration_seconds_count', { method: 'GET', route: one })).toBe(3);
  });

  it('computes object gauges from the objects callback at scrape time', async () => {
    let objects: ObjectSample[] = [
      { cloudStatus: 'ACTIVE', readyReason: 'Active' },
      { cloudStatus: 'ACTIVE', readyReason: 'Active' },
      { cloudStatus: 'PENDING_CREATE', readyReason: 'Provisioning' },
      { readyReason: 'RouterConflict' },
      {},
    ];
    let calls = 0;
    const metrics = createMetrics({
      objects: () => {
        calls++;
        return objects;
      },
    });
    const { scrape } = await start({ metrics });
    expect(calls).toBe(0); // nothing computed before a scrape

    let s = await scrape();
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'ACTIVE' })).toBe(2);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'PENDING_CREATE' })).toBe(1);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'none' })).toBe(2);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'ERROR' })).toBe(0);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'Active' })).toBe(2);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'Provisioning' })).toBe(1);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'RouterConflict' })).toBe(1);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'none' })).toBe(1);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'DeleteBlocked' })).toBe(0);
    for (const l of seriesOf(s, 'vpnaas_objects')) expect(Object.keys(l).sort()).toEqual(['cloud_status', 'kind']);
    for (const l of seriesOf(s, 'vpnaas_objects_ready')) expect(Object.keys(l).sort()).toEqual(['kind', 'reason']);

    // The world changes: the next scrape shows it, and vanished label values drop to zero or disappear.
    objects = [{ cloudStatus: 'ACTIVE', readyReason: 'Active' }, { cloudStatus: 'SOMETHING_NEW', readyReason: 'Active' }];
    s = await scrape();
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'ACTIVE' })).toBe(1);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'SOMETHING_NEW' })).toBe(1);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'PENDING_CREATE' })).toBe(0);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'none' })).toBeUndefined();
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'Active' })).toBe(2);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'RouterConflict' })).toBe(0);

    // A replaced source takes over; a throwing one does not break the scrape.
    metrics.setObjectsSource(function* () {
      yield { cloudStatus: 'DOWN', readyReason: 'Down' };
    });
    s = await scrape();
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'DOWN' })).toBe(1);
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'ACTIVE' })).toBe(0);
    expect(value(s, 'vpnaas_objects_ready', { kind: 'VpnService', reason: 'Down' })).toBe(1);
    metrics.setObjectsSource(() => {
      throw new Error('cache gone');
    });
    s = await scrape();
    expect(value(s, 'vpnaas_objects', { kind: 'VpnService', cloud_status: 'DOWN' })).toBe(0);
  });

  it('sets the leader and synced gauges', async () => {
    const { metrics, scrape } = await start();
    metrics.setLeader(true);
    metrics.setSynced(true);
    let s = await scrape();
    expect(value(s, 'vpnaas_leader')).toBe(1);
    expect(value(s, 'vpnaas_informer_synced')).toBe(1);
    metrics.setLeader(false);
    s = await scrape();
    expect(value(s, 'vpnaas_leader')).toBe(0);
    expect(value(s, 'vpnaas_informer_synced')).toBe(1);
  });
});

describe('health endpoints', () => {
  it('/readyz answers 503 with a reason until ready, then 200', async () => {
    let ready = false;
    const { base } = await start({ ready: () => ready, notReadyReason: () => 'caches not synced' });
    let res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect((await res.text()).trim()).toBe('caches not synced');
    ready = true;
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect((await res.text()).trim()).toBe('ok');
  });

  it('/readyz has a default reason', async () => {
    const { base } = await start({ ready: () => false });
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect((await res.text()).trim()).toBe('not ready');
  });

  it('/healthz answers 200 ok while healthy, else 503 (also when the check throws)', async () => {
    let healthy: boolean | 'throw' = true;
    const { base } = await start({
      healthy: () => {
        if (healthy === 'throw') throw new Error('broken');
        return healthy;
      },
      ready: () => false,
    });
    let res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('ok\n');
    healthy = false;
    res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    await res.text();
    healthy = 'throw';
    res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(503);
    await res.text();
  });

  it('ignores the query string, answers HEAD, refuses other methods and unknown paths', async () => {
    const { base } = await start();
    let res = await fetch(`${base}/healthz?verbose=1`);
    expect(res.status).toBe(200);
    await res.text();
    res = await fetch(`${base}/metrics`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    res = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    await res.text();
    for (const p of ['/', '/nope', '/metrics/extra', '/healthz/']) {
      res = await fetch(`${base}${p}`);
      expect(res.status, p).toBe(404);
      await res.text();
    }
  });
});

describe('server lifecycle', () => {
  it('picks a free port for 0 and frees it on close, even with a keep-alive connection open', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const srv: HttpServerHandle = await startHttpServer({ port: 0, host: HOST, metrics, healthy: () => true, ready: () => true });
    expect(srv.port).toBeGreaterThan(0);
    // A keep-alive connection that stays open.
    const agent = new http.Agent({ keepAlive: true });
    const status = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: HOST, port: srv.port, path: '/healthz', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject);
    });
    expect(status).toBe(200);
    await srv.close();
    await srv.close(); // idempotent
    agent.destroy();
    // Nothing answers on the port any more, and it can be bound again.
    await expect(fetch(`http://${HOST}:${srv.port}/healthz`)).rejects.toThrow();
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(srv.port, HOST, () => resolve());
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
  });

  it('rejects when the port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, HOST, () => resolve()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(
        startHttpServer({ port, host: HOST, metrics: createMetrics({ defaultMetrics: false }), healthy: () => true, ready: () => true }),
      ).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

/** Polls `cond` until it holds (each poll yields to the event loop). */
async function waitFor(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition not reached');
}
