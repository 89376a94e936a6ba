// Benchmark: N VpnServices applied at once against a real kube-apiserver and the cloud simulator.
// Prints apply-to-all-Ready time, cloud requests and Kubernetes writes per object, the operator's peak RSS, and
// the same figures for a minimal script that makes the same API writes and cloud calls at the same concurrency
// (finalizer + intent, a GET of the router's services, POST, status, a Created event; then LIST rounds every 250 ms,
// a status write and an Active event per object).
//
//   node bench/run.ts [--objects 100] [--workers 8] [--active-delay-ms 2000] [--no-baseline]
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/support/controlplane.ts';
import { installCrd } from '../test/support/kube.ts';
import { OperatorProcess } from '../test/support/operator.ts';
import { simToken } from '../test/support/vpns.ts';
import { addRouter, memOf, pool } from './common.ts';
import { KubeClient, MERGE_PATCH } from '../src/kube/client.ts';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { VpnService, FINALIZER } from '../src/api/vpnservice.ts';
import { createInformer } from '../src/controller/informer.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '100' },
    workers: { type: 'string', default: '8' },
    'active-delay-ms': { type: 'string', default: '2000' },
    'no-baseline': { type: 'boolean', default: false },
  },
});
const N = Number(values.objects);
const W = Number(values.workers);
const DELAY = Number(values['active-delay-ms']);

const isReady = (o: VpnService) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

function cloudCounts(sim: Simulator) {
  const c = { post: 0, list: 0, get: 0, put: 0, del: 0, auth: 0, other: 0 };
  for (const r of sim.requestLog()) {
    if (r.route.endsWith('/auth/tokens')) c.auth++;
    else if (r.method === 'POST') c.post++;
    else if (r.method === 'GET' && r.route.endsWith('/vpnservices')) c.list++;
    else if (r.method === 'GET') c.get++;
    else if (r.method === 'PUT') c.put++;
    else if (r.method === 'DELETE') c.del++;
    else c.other++;
  }
  return c;
}

async function main(): Promise<void> {
  const cp = await startControlPlane();
  const kube = new KubeClient(cp.kubeConfig);
  await installCrd(kube);
  const results: Record<string, unknown>[] = [];
  try {
    // --- the operator
    {
      const sim = await startSimulator({ activeDelayMs: DELAY, requestLogLimit: 10 * N + 10_000 });
      const ns = 'bench-operator';
      await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const routers = Array.from({ length: N }, (_, i) => addRouter(sim, i));
      const writes = new Map<string, number>();
      let ready = 0;
      let allReady: () => void = () => {};
      const done = new Promise<void>((r) => (allReady = r));
      const seen = new Set<string>();
      const inf = createInformer<VpnService>({
        kubeConfig: cp.kubeConfig,
        path: `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`,
        schema: VpnService,
        onAdd: (o) => writes.set(o.metadata.name, 0),
        onUpdate: (_a, o) => {
          writes.set(o.metadata.name, (writes.get(o.metadata.name) ?? 0) + 1);
          if (isReady(o) && !seen.has(o.metadata.name)) {
            seen.add(o.metadata.name);
            if (++ready === N) allReady();
          }
        },
      });
      inf.start();
      await inf.waitForSync();
      const op = new OperatorProcess({
        kubeconfigPath: cp.kubeconfigPath,
        cloudsYaml: sim.cloudsYaml('bench'),
        cloudName: 'bench',
        args: ['--workers', String(W)],
      }).start();
      await new Promise((r) => setTimeout(r, 1500));
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, memOf(op.pid).rss)), 200);
      const t0 = performance.now();
      await pool(routers.map((r, i) => [r, i] as const), W, async ([routerId, i]) => {
        await kube.request('POST', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`, {
          apiVersion: 'vpnaas.dev/v1alpha1',
          kind: 'VpnService',
          metadata: { name: `vpn-${i}` },
          spec: { routerId },
        });
      });
      await done;
      const seconds = (performance.now() - t0) / 1000;
      clearInterval(sampler);
      const c = cloudCounts(sim);
      const w = [...writes.values()];
      results.push({
        who: 'operator',
        objects: N,
        seconds: +seconds.toFixed(2),
        cloudPostsPerObject: +(c.post / N).toFixed(2),
        cloudListCalls: c.list,
        cloudGetCalls: c.get,
        cloudAuthCalls: c.auth,
        cloudRequestsPerObject: +((c.post + c.list + c.get + c.put + c.del + c.auth) / N).toFixed(2),
        kubeWritesPerObjectMax: Math.max(...w),
        kubeWritesPerObjectMean: +(w.reduce((a, b) => a + b, 0) / N).toFixed(2),
        peakRssMb: +peak.toFixed(0),
      });
      const text = await (await fetch(`http://127.0.0.1:${op.metricsPort()}/metrics`)).text();
      const sum = (name: string) =>
        text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' ')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      console.log(
        `operator: ${sum('vpnaas_reconcile_total')} reconciles, ${sum('vpnaas_reconcile_duration_seconds_sum').toFixed(1)} s in reconciles; ` +
          `${sum('vpnaas_kube_requests_total')} kube requests (${sum('vpnaas_kube_request_duration_seconds_sum').toFixed(1)} s); ` +
          `${sum('vpnaas_cloud_requests_total')} cloud requests (${sum('vpnaas_cloud_request_duration_seconds_sum').toFixed(1)} s)`,
      );
      await op.dispose();
      await inf.stop();
      await sim.stop();
    }
    // --- the bare minimum, at the same concurrency
    if (!values['no-baseline']) {
      const sim = await startSimulator({ activeDelayMs: DELAY, requestLogLimit: 10 * N + 10_000 });
      const ns = 'bench-minimal';
      await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const routers = Array.from({ length: N }, (_, i) => addRouter(sim, i));
      const token = await simToken(sim);
      const net = `${sim.networkUrl}/v2.0/vpn/vpnservices`;
      const base = `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`;
      // the operator's events (Created, Active), as plain POSTs
      const event = (name: string, reason: string) =>
        kube.request('POST', `/api/v1/namespaces/${ns}/events`, {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${name}.${randomUUID().slice(0, 8)}`, namespace: ns },
          involvedObject: { apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', name, namespace: ns },
          reason,
          message: reason,
          type: 'Normal',
          count: 1,
          firstTimestamp: new Date().toISOString(),
          lastTimestamp: new Date().toISOString(),
        });
      const t0 = performance.now();
      const pending = new Map<string, string>(); // cloud id -> object name
      await pool(routers.map((r, i) => [r, i] as const), W, async ([routerId, i]) => {
        const name = `vpn-${i}`;
        await kube.request('POST', base, { apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', metadata: { name }, spec: { routerId } });
        await kube.request('PATCH', `${base}/${name}`, { metadata: { finalizers: [FINALIZER], annotations: { 'vpnaas.dev/create-intent': new Date().toISOString() } } }, MERGE_PATCH);
        // the look at the router before the POST that crash safety needs (SPEC §3.3)
        await (await fetch(`${net}?router_id=${routerId}`, { headers: { 'X-Auth-Token': token } })).arrayBuffer();
        const res = await fetch(net, {
          method: 'POST',
          headers: { 'X-Auth-Token': token, 'Content-Type': 'application/json' },
          body: JSON.stringify({ vpnservice: { router_id: routerId, name, admin_state_up: true } }),
        });
        const { vpnservice } = (await res.json()) as { vpnservice: { id: string; status: string } };
        await kube.request('PATCH', `${base}/${name}/status`, { status: { id: vpnservice.id, status: vpnservice.status } }, MERGE_PATCH);
        await event(name, 'Created');
        pending.set(vpnservice.id, name);
      });
      while (pending.size) {
        const res = await fetch(`${net}?fields=id&fields=status`, { headers: { 'X-Auth-Token': token } });
        const { vpnservices } = (await res.json()) as { vpnservices: Array<{ id: string; status: string }> };
        const active = vpnservices.filter((v) => v.status === 'ACTIVE' && pending.has(v.id));
        await pool(active, W, async (v) => {
          await kube.request('PATCH', `${base}/${pending.get(v.id)}/status`, {
            status: { status: 'ACTIVE', conditions: [{ type: 'Ready', status: 'True', reason: 'Active', message: '', lastTransitionTime: new Date().toISOString() }] },
          }, MERGE_PATCH);
          await event(pending.get(v.id)!, 'Active');
          pending.delete(v.id);
        });
        if (pending.size) await new Promise((r) => setTimeout(r, 250));
      }
      const seconds = (performance.now() - t0) / 1000;
      const c = cloudCounts(sim);
      results.push({
        who: 'minimal script',
        objects: N,
        seconds: +seconds.toFixed(2),
        cloudPostsPerObject: +(c.post / N).toFixed(2),
        cloudListCalls: c.list,
        cloudRequestsPerObject: +((c.post + c.list + c.get + c.put + c.del + c.auth) / N).toFixed(2),
        kubeWritesPerObjectMax: 3,
      });
      await sim.stop();
    }
  } finally {
    await cp.stop();
  }
  console.table(results);
  if (results.length === 2) {
    const ratio = (results[0]!.seconds as number) / (results[1]!.seconds as number);
    console.log(`apply-to-all-Ready: operator / minimal = ${ratio.toFixed(2)}x (target ≤ 1.5x)`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
