// Benchmark: a whole site-to-site VPN deployment at scale against a real kube-apiserver and the cloud simulator.
// --services VpnServices (one router each, with one subnet), 1 IKEPolicy, 1 IPsecPolicy, one local EndpointGroup
// (type subnet) per VpnService, one peer EndpointGroup (type cidr: the remote site's network) per connection, and
// --connections IPsecSiteConnections spread evenly over the services, all with one PSK Secret; everything applied at
// once (like `kubectl apply -f dir/`: policies, services, groups, connections), then deleted in one go in the same
// order (like `kubectl delete -f dir/`: what is used goes first, the worst case for 409s). Prints:
//   - apply to all Ready: seconds; Kubernetes writes per object (updates seen by a watch, as bench/run.ts counts them);
//   - the cloud requests of that phase by method, route and status, per connection; POSTs per object of each kind;
//   - the steady state over --steady-seconds (resync --resync, connection follow 30 s, Secret polls 15 s):
//     Kubernetes writes (must be 0) and cloud requests by route;
//   - the delete: seconds until every object is gone, DELETEs by route, 409s and other refusals, what is left;
//   - the operator's RSS: peak (sampled every 200 ms, and VmHWM) and settled (end of the steady state).
//
//   node bench/site.ts [--services 10] [--connections 1000] [--workers 8] [--apply-concurrency 16]
//     [--active-delay-ms 2000] [--resync 20s] [--steady-seconds 65] [--v8-defaults]
// The operator runs with deploy/deployment.yaml's NODE_OPTIONS and MALLOC_ARENA_MAX (--v8-defaults: without them).
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { startControlPlane } from '../test/support/controlplane.ts';
import { installCrd } from '../test/support/kube.ts';
import { OperatorProcess, eventually } from '../test/support/operator.ts';
import { objPath, PLURALS, type Obj } from '../test/support/objects.ts';
import { memOf, pool } from './common.ts';
import { KubeClient, KubeApiError } from '../src/kube/client.ts';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { createInformer, type Informer } from '../src/controller/informer.ts';
import type { RequestLogEntry } from '../src/simulator/counters.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '8' },
    'apply-concurrency': { type: 'string', default: '16' },
    'active-delay-ms': { type: 'string', default: '2000' },
    resync: { type: 'string', default: '20s' },
    'steady-seconds': { type: 'string', default: '65' },
    /** Run the operator with V8's and glibc's defaults instead of the Deployment's NODE_OPTIONS and MALLOC_ARENA_MAX. */
    'v8-defaults': { type: 'boolean', default: false },
  },
});
const S = Number(values.services);
const N = Number(values.connections);
const W = Number(values.workers);
const AC = Number(values['apply-concurrency']);
const DELAY = Number(values['active-delay-ms']);
const STEADY_MS = Number(values['steady-seconds']) * 1000;
const NS = 'bench-site';
const PSK = 'bench-Psk-7f3a9c1e5b2d4068a1c3';
for (const [k, v] of Object.entries({ services: S, connections: N, workers: W, 'apply-concurrency': AC, 'active-delay-ms': DELAY, 'steady-seconds': STEADY_MS }))
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${k} must be a whole number ≥ 0, not ${JSON.stringify(values[k as keyof typeof values])}`);
if (S < 1 || N < S || N > 65_000) throw new Error('need 1 ≤ --services ≤ --connections ≤ 65000');

/** The memory settings of deploy/deployment.yaml. */
const DEPLOYMENT_ENV = { NODE_OPTIONS: '--max-semi-space-size=1 --max-old-space-size=128', MALLOC_ARENA_MAX: '2' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyOf = (o: { kind: string; metadata: { name: string } }) => `${o.kind}/${o.metadata.name}`;
/** What the watches keep of an object: enough to tell Ready. */
const Slim = z.object({
  metadata: z.object({
    name: z.string(),
    finalizers: z.array(z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  }),
  status: z
    .object({
      id: z.string().optional(),
      status: z.string().optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string(), reason: z.string().optional() })).optional(),
    })
    .optional(),
});
type Slim = z.infer<typeof Slim>;
/** One write as a short line: what an object looks like after it (for the writes of the first connection). */
const shape = (o: Slim) =>
  `finalizers=${o.metadata.finalizers?.length ?? 0} annotations=[${Object.keys(o.metadata.annotations ?? {}).join(',')}] id=${o.status?.id ? 'set' : '-'} ` +
  `status=${o.status?.status ?? '-'} ${(o.status?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason ?? ''}`).join(' ')}`;
const isReady = (o: Slim) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** The deployment: what `kubectl apply -f` of its folder would send, in file order. */
function deployment(routers: Array<{ id: string; subnet: string }>): Obj[] {
  const v = 'vpnaas.dev/v1alpha1';
  const meta = (name: string) => ({ name, namespace: NS });
  const out: Obj[] = [
    { apiVersion: v, kind: 'IKEPolicy', metadata: meta('ike'), spec: { ikeVersion: 'v2', authAlgorithm: 'sha256', encryptionAlgorithm: 'aes-256', pfs: 'group14' } },
    { apiVersion: v, kind: 'IPsecPolicy', metadata: meta('ipsec'), spec: { authAlgorithm: 'sha256', encryptionAlgorithm: 'aes-256', pfs: 'group14' } },
  ];
  routers.forEach((r, s) => out.push({ apiVersion: v, kind: 'VpnService', metadata: meta(`vpc-${s}`), spec: { routerId: r.id } }));
  routers.forEach((r, s) => out.push({ apiVersion: v, kind: 'EndpointGroup', metadata: meta(`vpc-${s}-local`), spec: { type: 'subnet', endpoints: [r.subnet] } }));
  for (let i = 0; i < N; i++)
    out.push({ apiVersion: v, kind: 'EndpointGroup', metadata: meta(`site-${i}-cidrs`), spec: { type: 'cidr', endpoints: [`10.${100 + (i >> 8)}.${i & 255}.0/24`] } });
  for (let i = 0; i < N; i++) {
    const s = i % S;
    out.push({
      apiVersion: v,
      kind: 'IPsecSiteConnection',
      metadata: meta(`vpc-${s}-to-site-${i}`),
      spec: {
        vpnServiceRef: { name: `vpc-${s}` },
        ikePolicyRef: { name: 'ike' },
        ipsecPolicyRef: { name: 'ipsec' },
        localEndpointGroupRef: { name: `vpc-${s}-local` },
        peerEndpointGroupRef: { name: `site-${i}-cidrs` },
        peerAddress: `198.18.${i >> 8}.${i & 255}`,
        pskSecretRef: { name: 'vpn-psk', key: 'psk' },
      },
    });
  }
  return out;
}

/** Cloud requests of a window, by "METHOD route status". */
function byRoute(log: RequestLogEntry[], from: number, to = Infinity): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of log) {
    if (r.at < from || r.at >= to) continue;
    const q = r.path.indexOf('?');
    const params = !r.route.includes('{') && q >= 0 ? [...new Set([...new URLSearchParams(r.path.slice(q + 1)).keys()])].sort().join(',') : '';
    const k = `${r.method} ${r.route}${params ? `?${params}` : ''} ${r.status}`;
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return new Map([...m].sort((a, b) => b[1] - a[1]));
}

function printRoutes(title: string, m: Map<string, number>): void {
  const total = [...m.values()].reduce((a, b) => a + b, 0);
  console.log(`${title}: ${total} cloud requests (${(total / N).toFixed(2)} per connection)`);
  console.table([...m].map(([k, n]) => ({ request: k, count: n, perConnection: +(n / N).toFixed(3) })));
}

const count = (m: Map<string, number>, re: RegExp) => [...m].filter(([k]) => re.test(k)).reduce((a, [, n]) => a + n, 0);

/** The operator's counters that tell where its work went: reconciles, Kubernetes requests by method, events. */
async function scrape(port: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out: Record<string, number> = { reconciles: 0, kubeWrites: 0, kubeReads: 0, events: 0 };
  for (const l of text.split('\n')) {
    const n = Number(l.slice(l.lastIndexOf(' ') + 1));
    if (l.startsWith('vpnaas_reconcile_total')) out.reconciles! += n;
    else if (l.startsWith('vpnaas_kube_requests_total{')) {
      if (l.includes('/events"')) out.events! += n;
      else if (l.includes('method="GET"')) out.kubeReads! += n;
      else out.kubeWrites! += n;
    }
  }
  return out;
}

async function main(): Promise<void> {
  const cp = await startControlPlane();
  const kube = new KubeClient(cp.kubeConfig);
  let sim: Simulator | undefined;
  let op: OperatorProcess | undefined;
  const informers: Informer<Slim>[] = [];
  try {
    await installCrd(kube);
    sim = await startSimulator({ activeDelayMs: DELAY, requestLogLimit: 1_000_000 });
    const routers = Array.from({ length: S }, (_, s) => {
      const r = { id: randomUUID(), subnet: randomUUID() };
      sim!.addRouter({ id: r.id, name: `vpc-${s}`, gatewayV4: `203.0.113.${10 + s}`, subnets: [r.subnet] });
      return r;
    });
    await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await kube.request('POST', `/api/v1/namespaces/${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vpn-psk' }, stringData: { psk: PSK } });
    const objs = deployment(routers);
    const kinds = Object.keys(PLURALS);
    const perKind = Object.fromEntries(kinds.map((k) => [k, objs.filter((o) => o.kind === k).length]));
    console.log(`deployment: ${objs.length} objects (${kinds.map((k) => `${perKind[k]} ${k}`).join(', ')}), ${S} routers`);

    // Our own watches: writes per object (every update after the add), Ready, deletes.
    const writes = new Map<string, number>();
    const steadyWrites = new Map<string, number>();
    const readySet = new Set<string>();
    let phase: 'apply' | 'steady' | 'delete' = 'apply';
    const deleteWrites = new Map<string, number>();
    const firstConn = `IPsecSiteConnection/vpc-0-to-site-0`;
    const trace: string[] = [];
    let gone = 0;
    let allReady: () => void = () => {};
    const readyDone = new Promise<void>((r) => (allReady = r));
    let allGone: () => void = () => {};
    const goneDone = new Promise<void>((r) => (allGone = r));
    for (const kind of kinds) {
      const seen = (o: Slim) => {
        const k = `${kind}/${o.metadata.name}`;
        if (isReady(o) && !readySet.has(k)) {
          readySet.add(k);
          if (readySet.size === objs.length) allReady();
        }
      };
      const inf = createInformer<Slim>({
        kubeConfig: cp.kubeConfig,
        path: `/apis/vpnaas.dev/v1alpha1/namespaces/${NS}/${PLURALS[kind]}`,
        schema: Slim,
        onAdd: (o) => {
          writes.set(`${kind}/${o.metadata.name}`, 0);
          seen(o);
        },
        onUpdate: (_a, o) => {
          const k = `${kind}/${o.metadata.name}`;
          const m = phase === 'apply' ? writes : phase === 'steady' ? steadyWrites : deleteWrites;
          m.set(k, (m.get(k) ?? 0) + 1);
          if (phase === 'apply' && (k === firstConn || k === 'VpnService/vpc-0')) trace.push(`${k} write ${m.get(k)}: ${shape(o)}`);
          if (phase === 'delete' && k === 'VpnService/vpc-0' && (m.get(k) ?? 0) <= 4) trace.push(`${k} delete-phase write ${m.get(k)}: ${shape(o)}`);
          seen(o);
        },
        onDelete: () => {
          if (++gone === objs.length) allGone();
        },
      });
      inf.start();
      await inf.waitForSync();
      informers.push(inf);
    }

    op = new OperatorProcess({
      kubeconfigPath: cp.kubeconfigPath,
      cloudsYaml: sim.cloudsYaml('bench'),
      cloudName: 'bench',
      args: ['--workers', String(W), '--resync', values.resync],
      ...(values['v8-defaults'] ? {} : { env: DEPLOYMENT_ENV }),
    }).start();
    await sleep(1500);
    const port = await eventually(() => op!.metricsPort(), 'the operator\'s metrics port');
    const m0 = await scrape(port);
    const rssBefore = memOf(op.pid).rss;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, memOf(op!.pid).rss)), 200);

    // --- apply everything at once
    const t0 = performance.now();
    const a0 = Date.now();
    await pool(objs, AC, async (o) => {
      await kube.request('POST', objPath(o.kind, NS), o);
    });
    const applySeconds = (performance.now() - t0) / 1000;
    console.log(`applied ${objs.length} objects in ${applySeconds.toFixed(1)} s`);
    const timeout = setTimeout(() => {
      const notReady = objs.filter((o) => !readySet.has(keyOf(o))).slice(0, 5).map(keyOf);
      console.error(`not all Ready after 20 minutes (${readySet.size}/${objs.length}); e.g. ${notReady.join(', ')}`);
      process.exit(1);
    }, 20 * 60_000);
    await readyDone;
    clearTimeout(timeout);
    const readySeconds = (performance.now() - t0) / 1000;
    const a1 = Date.now();
    const peakApply = peak;
    console.log(`all ${objs.length} objects Ready ${readySeconds.toFixed(1)} s after the first apply`);

    // --- steady state
    const m1 = await scrape(port);
    phase = 'steady';
    const writesApply = new Map(writes);
    await sleep(STEADY_MS);
    const a2 = Date.now();
    const rssSettled = memOf(op.pid);
    const m2 = await scrape(port);
    // The events so far, by kind and reason, and those first posted in the steady state (a settled object should post
    // none). An Event object's count and lastTimestamp grow when the same event repeats.
    const evs = ((await kube.request('GET', `/api/v1/namespaces/${NS}/events`)) as {
      items: Array<{ metadata: { creationTimestamp: string }; involvedObject: { kind: string }; reason: string; message: string; count?: number; lastTimestamp?: string }>;
    }).items;
    const evRows = new Map<string, { kind: string; reason: string; eventObjects: number; countSum: number; createdInSteady: number; repeatedInSteady: number; example: string }>();
    for (const e of evs) {
      const k = `${e.involvedObject.kind} ${e.reason}`;
      const row = evRows.get(k) ?? { kind: e.involvedObject.kind, reason: e.reason, eventObjects: 0, countSum: 0, createdInSteady: 0, repeatedInSteady: 0, example: e.message.slice(0, 90) };
      row.eventObjects++;
      row.countSum += e.count ?? 1;
      const created = Date.parse(e.metadata.creationTimestamp);
      if (created >= a1) row.createdInSteady++;
      else if (e.lastTimestamp && Date.parse(e.lastTimestamp) >= a1) row.repeatedInSteady++;
      evRows.set(k, row);
    }
    console.log(`events in ${NS} at the end of the steady state, by kind and reason:`);
    console.table([...evRows.values()]);
    phase = 'delete';

    // --- delete everything in one go, in file order
    const d0 = performance.now();
    await pool(objs, AC, async (o) => {
      try {
        await kube.request('DELETE', objPath(o.kind, NS, o.metadata.name));
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    });
    const dTimeout = setTimeout(() => {
      console.error(`not all deleted after 20 minutes (${gone}/${objs.length} gone)`);
      process.exit(1);
    }, 20 * 60_000);
    await goneDone;
    clearTimeout(dTimeout);
    const deleteSeconds = (performance.now() - d0) / 1000;
    clearInterval(sampler);
    const hwm = memOf(op.pid).hwm;
    const m3 = await scrape(port);
    const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k]! - (a[k] ?? 0)]));
    console.log('the operator\'s own counters per phase (reconciles, Kubernetes writes and GETs it made, events it posted):');
    console.table({ 'apply → all Ready': diff(m0, m1), steady: diff(m1, m2), 'delete → all gone': diff(m2, m3) });
    const log = sim.requestLog();

    // --- figures
    const apply = byRoute(log, a0, a1);
    const steady = byRoute(log, a1, a2);
    const del = byRoute(log, a2);
    printRoutes('apply → all Ready', apply);
    printRoutes(`steady state (${STEADY_MS / 1000} s)`, steady);
    printRoutes('delete → all gone', del);

    const writeRows = kinds.map((kind) => {
      const w = objs.filter((o) => o.kind === kind).map((o) => writesApply.get(keyOf(o)) ?? 0);
      const sw = objs.filter((o) => o.kind === kind).map((o) => steadyWrites.get(keyOf(o)) ?? 0);
      const dw = objs.filter((o) => o.kind === kind).map((o) => deleteWrites.get(keyOf(o)) ?? 0);
      const posts = count(apply, new RegExp(`^POST /v2\\.0/vpn/${{ VpnService: 'vpnservices', IKEPolicy: 'ikepolicies', IPsecPolicy: 'ipsecpolicies', EndpointGroup: 'endpoint-groups', IPsecSiteConnection: 'ipsec-site-connections' }[kind]} `));
      return {
        kind,
        objects: w.length,
        kubeWritesMax: Math.max(...w),
        kubeWritesMean: +(w.reduce((a, b) => a + b, 0) / w.length).toFixed(2),
        steadyWrites: sw.reduce((a, b) => a + b, 0),
        deleteWritesMax: Math.max(...dw),
        deleteWritesMean: +(dw.reduce((a, b) => a + b, 0) / dw.length).toFixed(2),
        cloudPostsPerObject: +(posts / w.length).toFixed(2),
      };
    });
    console.table(writeRows);
    console.log(`the writes of ${firstConn} and VpnService/vpc-0 from apply to Ready, and the first of VpnService/vpc-0 in the delete (object after each write):`);
    for (const t of trace) console.log(`  ${t}`);
    const connGets = count(apply, /^GET \/v2\.0\/vpn\/ipsec-site-connections\/\{id\} /) + count(steady, /^GET \/v2\.0\/vpn\/ipsec-site-connections\/\{id\} /);
    const connLists = count(apply, /^GET \/v2\.0\/vpn\/ipsec-site-connections /) + count(steady, /^GET \/v2\.0\/vpn\/ipsec-site-connections /);
    const left = { services: sim.services().length, connections: sim.connections().length };
    const figures = {
      date: new Date().toISOString().slice(0, 10),
      objects: objs.length,
      connections: N,
      services: S,
      workers: W,
      activeDelayMs: DELAY,
      memorySettings: values['v8-defaults'] ? 'V8 defaults' : 'the Deployment\'s',
      applySeconds: +applySeconds.toFixed(1),
      allReadySeconds: +readySeconds.toFixed(1),
      kubeWritesPerObjectMax: Math.max(...writeRows.map((r) => r.kubeWritesMax)),
      kubeWritesPerObjectMean: +([...writesApply.values()].reduce((a, b) => a + b, 0) / objs.length).toFixed(2),
      steadyKubeWrites: [...steadyWrites.values()].reduce((a, b) => a + b, 0),
      steadySeconds: STEADY_MS / 1000,
      cloudRequestsPerConnectionApply: +([...apply.values()].reduce((a, b) => a + b, 0) / N).toFixed(2),
      cloudRequestsSteady: [...steady.values()].reduce((a, b) => a + b, 0),
      connectionGetsById: connGets,
      connectionLists: connLists,
      cloudPostsPerObjectMax: Math.max(...writeRows.map((r) => r.cloudPostsPerObject)),
      deleteSeconds: +deleteSeconds.toFixed(1),
      cloudDeletes: count(del, /^DELETE /),
      cloud409s: count(del, / 409$/) + count(apply, / 409$/) + count(steady, / 409$/),
      cloudDeleteRefusals: count(del, /^DELETE .* 4\d\d$/),
      leftInCloud: `${left.services} services, ${left.connections} connections`,
      rssBeforeMb: rssBefore,
      rssPeakApplyMb: +peakApply.toFixed(0),
      rssSettledMb: rssSettled.rss,
      vmHwmMb: hwm,
    };
    console.log(JSON.stringify(figures));
    const text = await (await fetch(`http://127.0.0.1:${op.metricsPort()}/metrics`)).text();
    const sum = (name: string) =>
      text.split('\n').filter((l) => l.startsWith(name + '{') || l.startsWith(name + ' ')).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    const kubeRoutes = text
      .split('\n')
      .filter((l) => l.startsWith('vpnaas_kube_requests_total{'))
      .map((l) => ({ request: l.slice(l.indexOf('{') + 1, l.lastIndexOf('}')), count: Number(l.slice(l.lastIndexOf(' ') + 1)) }))
      .sort((a, b) => b.count - a.count)
      .slice(0, 12);
    console.log('the operator\'s Kubernetes requests (whole run, top 12):');
    console.table(kubeRoutes);
    console.log(
      `operator: ${sum('vpnaas_reconcile_total')} reconciles, ${sum('vpnaas_reconcile_duration_seconds_sum').toFixed(1)} s in reconciles; ` +
        `${sum('vpnaas_kube_requests_total')} kube requests; ${sum('vpnaas_cloud_requests_total')} cloud requests`,
    );
  } finally {
    await op?.dispose();
    for (const inf of informers) await inf.stop();
    await sim?.stop();
    await cp.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
