// Memory benchmark (SPEC §6: RSS ≤ 200 MB with 10,000 objects). Prints:
//   - the RSS of `node <main> --help` (every module of the operator loaded, nothing running);
//   - the RSS of the operator (`node <main> run`) with an empty cache, synced;
//   - its peak RSS while N VpnServices are created, and its RSS once every one of them has a status.
// The operator runs against a real kube-apiserver. With --cloud none (the default) it has no cloud:
// OS_CLIENT_CONFIG_FILE names a file that does not exist, so every object ends Ready=False/CredentialsNotFound (one
// status write and one event per object). With --cloud simulator every object gets a VPN service in the cloud
// simulator (run in this process) and ends Ready=True/Active: the steady state of a production cluster.
//
//   npx tsc -p tsconfig.build.json && node bench/memory.ts [--objects 10000] [--concurrency 32] [--main dist/main.js]
//     [--log-level info] [--settle-seconds 20] [--heap] [--node-arg=--max-semi-space-size=4 ...]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/support/controlplane.ts';
import { installCrd } from '../test/support/kube.ts';
import { KubeClient } from '../src/kube/client.ts';
import { loadKubeAccess } from '../src/kube/config.ts';
import { createInformer } from '../src/controller/informer.ts';
import { readyCondition } from '../src/core/conditions.ts';
import { GROUP, PLURAL, VERSION, VpnService } from '../src/api/vpnservice.ts';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { addRouter, memOf, pool } from './common.ts';

const { values } = parseArgs({
  options: {
    objects: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    main: { type: 'string', default: 'dist/main.js' },
    'log-level': { type: 'string', default: 'info' },
    'settle-seconds': { type: 'string', default: '20' },
    /**
     * Also report the operator's own process.memoryUsage() after a full GC (live heap, external), logged every 5 s
     * by an --import hook (runs the operator with --expose-gc; the GCs lower its RSS a little).
     */
    heap: { type: 'boolean', default: false },
    /** Extra options for the operator's node, e.g. --node-arg=--max-semi-space-size=4 (repeatable). */
    'node-arg': { type: 'string', multiple: true, default: [] },
    cloud: { type: 'string', default: 'none' },
  },
});
const N = Number(values.objects);
const C = Number(values.concurrency);
const SETTLE_MS = Number(values['settle-seconds']) * 1000;
const MAIN = path.resolve(values.main);
const NS = 'bench-memory';
const WITH_CLOUD = values.cloud === 'simulator';
const REASON = WITH_CLOUD ? 'Active' : 'CredentialsNotFound';

if (!existsSync(MAIN)) {
  console.error(`${MAIN} is missing: build first (npx tsc -p tsconfig.build.json), or pass --main`);
  process.exit(2);
}

/** RSS of `node main --help`, taken in the process at exit (median of 3). */
function helpRss(): number {
  const hook = 'data:text/javascript,process.on("exit",()=>process.stderr.write("RSS="+process.memoryUsage().rss+"\\n"))';
  const runs = [0, 1, 2].map(() => {
    const r = spawnSync(process.execPath, ['--import', hook, MAIN, '--help'], { encoding: 'utf8' });
    const m = /RSS=(\d+)/.exec(r.stderr);
    if (!m) throw new Error(`no RSS from ${MAIN} --help: ${r.stderr}`);
    return Number(m[1]) / 1024 / 1024;
  });
  return Math.round(runs.sort((a, b) => a - b)[1]! * 10) / 10;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs: number, op: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (op.exitCode !== null || op.signalCode !== null) throw new Error(`the operator exited (${op.exitCode ?? op.signalCode}) while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const figures: Record<string, number | string> = { main: path.relative(process.cwd(), MAIN) || MAIN, objects: N };
  if (values['node-arg'].length > 0) figures.nodeArgs = values['node-arg'].join(' ');
  if (process.env.MALLOC_ARENA_MAX) figures.MALLOC_ARENA_MAX = process.env.MALLOC_ARENA_MAX;
  figures.helpRssMb = helpRss();
  console.log(`node ${figures.main} --help: ${figures.helpRssMb} MB RSS`);

  const cp = await startControlPlane();
  const sim: Simulator | undefined = WITH_CLOUD ? await startSimulator({ activeDelayMs: 0, requestLogLimit: 1000 }) : undefined;
  let op: ChildProcess | undefined;
  const access = await loadKubeAccess({ kubeconfig: cp.kubeconfigPath });
  const kube = new KubeClient(access);
  try {
    await installCrd(kube);
    await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });

    // Our own view of the objects: how many show the final reason.
    let done = 0;
    const settled = new Set<string>();
    const track = (o: VpnService): void => {
      if (readyCondition(o.status?.conditions)?.reason === REASON && !settled.has(o.metadata.name)) {
        settled.add(o.metadata.name);
        done++;
      }
    };
    const inf = createInformer<VpnService>({
      access,
      path: `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`,
      schema: VpnService,
      onAdd: track,
      onUpdate: (_old, o) => track(o),
    });
    inf.start();
    await inf.waitForSync();

    const cloudsFile = path.join(cp.dir, WITH_CLOUD ? 'clouds.yaml' : 'no-such-clouds.yaml');
    if (sim) writeFileSync(cloudsFile, sim.cloudsYaml('bench'), { mode: 0o600 });
    const env: Record<string, string> = { ...(process.env as Record<string, string>), OS_CLIENT_CONFIG_FILE: cloudsFile };
    delete env.OS_CLOUD;
    delete env.KUBECONFIG;
    const heapHook = 'data:text/javascript,setInterval(()=>{globalThis.gc();process.stderr.write("MEM "+JSON.stringify(process.memoryUsage())+"\\n")},5000).unref()';
    op = spawn(process.execPath, [...values['node-arg'], ...(values.heap ? ['--expose-gc', '--import', heapHook] : []), MAIN, 'run', '--kubeconfig', cp.kubeconfigPath, '--metrics-port=-1', '--log-level', values['log-level']], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: cp.dir, // no ./clouds.yaml there
    });
    let synced = false;
    let logLines = 0;
    let tail = '';
    let heap = '';
    const onData = (d: Buffer): void => {
      const s = d.toString('utf8');
      const mem = s.lastIndexOf('MEM {');
      if (mem >= 0) heap = s.slice(mem + 4, s.indexOf('\n', mem));
      if (!synced && s.includes('"cache synced"')) synced = true;
      for (const c of s) if (c === '\n') logLines++;
      logLines -= s.split('MEM {').length - 1;
      tail = (tail + s).slice(-4000);
    };
    op.stdout!.on('data', onData);
    op.stderr!.on('data', onData);
    const pid = op.pid!;
    // "cache synced" is an info line; below info, give it a few seconds.
    if (!['info', 'debug'].includes(values['log-level'])) setTimeout(() => (synced = true), 5_000);
    try {
      await waitFor(() => synced, 'the operator to sync its cache', 60_000, op);
    } catch (err) {
      console.error(tail);
      throw err;
    }
    await sleep(3_000);
    figures.idleRssMb = memOf(pid).rss;
    console.log(`operator, empty cache, synced: ${figures.idleRssMb} MB RSS`);

    const router = (i: number): string => (sim ? addRouter(sim, i) : randomUUID());
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, memOf(pid).rss);
      } catch {
        // exited; waitFor reports it
      }
    }, 250);
    const t0 = performance.now();
    await pool(Array.from({ length: N }, (_, i) => i), C, async (i) => {
      await kube.request('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`, {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'VpnService',
        metadata: { name: `vpn-${i}` },
        spec: { routerId: router(i) },
      });
    });
    figures.createSeconds = +((performance.now() - t0) / 1000).toFixed(1);
    console.log(`created ${N} VpnServices in ${figures.createSeconds} s`);
    await waitFor(() => done >= N, `all ${N} objects to show ${REASON}`, 60 * 60_000, op);
    figures.allStatusSeconds = +((performance.now() - t0) / 1000).toFixed(1);
    console.log(`every object has a status (${REASON}) after ${figures.allStatusSeconds} s`);
    figures.rssAllStatusMb = memOf(pid).rss;

    // Settle over at least one requeue round (CredentialsNotFound is looked at again every 15 s).
    const samples: number[] = [];
    for (let t = 0; t < SETTLE_MS; t += 1_000) {
      await sleep(1_000);
      samples.push(memOf(pid).rss);
    }
    clearInterval(sampler);
    const m = memOf(pid);
    peak = Math.max(peak, ...samples);
    figures.rssSettledMb = m.rss;
    figures.rssSettledMaxMb = Math.max(...samples, m.rss);
    figures.peakRssSampledMb = peak;
    figures.vmHwmMb = m.hwm;
    figures.operatorLogLines = logLines;
    if (values.heap && heap) {
      const u = JSON.parse(heap) as Record<string, number>;
      for (const k of ['heapTotal', 'heapUsed', 'external', 'arrayBuffers']) figures[`${k}AfterGcMb`] = Math.round((u[k] ?? 0) / 104857.6) / 10;
    }
    figures.settleSeriesMb = samples.filter((_, i) => i % 5 === 4).join(' ');
    await inf.stop();
  } finally {
    if (op && op.exitCode === null && op.signalCode === null) {
      const exited = new Promise((r) => op!.once('exit', r));
      op.kill('SIGTERM');
      const t = setTimeout(() => op!.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
    await kube.close();
    await access.close();
    await cp.stop();
    await sim?.stop();
  }
  console.log(`operator holding ${N} objects: ${figures.rssSettledMb} MB RSS (max ${figures.rssSettledMaxMb} MB over ${SETTLE_MS / 1000} s; ` +
    `peak ${figures.peakRssSampledMb} MB sampled, VmHWM ${figures.vmHwmMb} MB)`);
  console.log(JSON.stringify(figures));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
