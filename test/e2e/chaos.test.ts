// Reliability under chaos (SPEC §6), in the simulator's upstream mode (several services per router allowed, so
// nothing in the cloud refuses a duplicate) and in seed mode: while objects are created and deleted (churn), the
// operator is killed with SIGKILL at random moments and restarted, the cloud answers 5xx and 429, loses responses
// after acting, hangs past the operator's request timeout, responds slowly, and the API server is restarted
// (cutting every watch). Afterwards: no duplicate cloud service ever (the simulator's create hook sees every
// create), no leaked one, no stuck finalizer, every object converged.
//
// Short by default (it runs in `make test`); `make chaos` runs the long one (CHAOS_OBJECTS=300, CHAOS_KILLS=20,
// upstream mode) and prints the figures. CHAOS_SEED replays the same actions and fault decisions.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { CreationLog, auditCloud, describeAudit } from '../support/audit.ts';
import { startSimulator } from '../../src/simulator/index.ts';

const OBJECTS = Number(process.env.CHAOS_OBJECTS ?? 40);
const KILLS = Number(process.env.CHAOS_KILLS ?? 5);
const MODES = (process.env.CHAOS_MODES ?? 'upstream,seed').split(',').map((m) => m.trim()) as Array<'upstream' | 'seed'>;
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 100_000);
/** Churn: one create every CREATE_EVERY_MS on average; the kills go on until KILLS are done. */
const CREATE_EVERY_MS = Number(process.env.CHAOS_CREATE_EVERY_MS ?? 150);

let cp: ControlPlane;
let kube: KubeClient;
let vpns: Vpns;

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
});
afterAll(async () => {
  await cp?.stop();
});

/** A small deterministic PRNG, so a failing run can be replayed with CHAOS_SEED. */
function prng(s: number): () => number {
  let state = s;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Kubernetes calls of the test itself survive the API server restart. */
async function retrying<T>(fn: () => Promise<T>, what: string): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const status = (err as { status?: number }).status;
      if ((status !== undefined && status < 500) || i > 60) throw new Error(`${what}: ${(err as Error).message}`);
      await sleep(500);
    }
  }
}

interface Obj {
  ns: string;
  name: string;
  routerId: string;
  orphan: boolean;
  deleted: boolean;
}

async function chaos(mode: 'upstream' | 'seed'): Promise<void> {
  const rnd = prng(seed + (mode === 'upstream' ? 0 : 1));
  const sim = await startSimulator({ seedRules: mode === 'seed', activeDelayMs: 400, faultSeed: seed });
  const doc = YAML.parse(sim.cloudsYaml('sim')) as { clouds: { sim: Record<string, unknown> } };
  // A short request timeout, so that a hanging cloud is a timeout after the cloud acted (SPEC §3.3).
  const cloudsYaml = YAML.stringify({ clouds: { sim: { ...doc.clouds.sim, api_timeout: 3 } } });
  console.log(`chaos [${mode}]: seed ${seed} (replay with CHAOS_SEED=${seed}), ${OBJECTS} objects, ≥${KILLS} kills`);

  const namespaces = [await vpns.namespace('chaos'), await vpns.namespace('chaos')];
  // Shared routers (claimed by several objects over the run, across namespaces) and one router per Orphan object
  // (its service stays in the cloud on purpose; no other object uses that router).
  const shared: string[] = Array.from({ length: Math.max(4, Math.round(OBJECTS * 0.6)) }, (_, i) => {
    const id: string = randomUUID();
    sim.addRouter({ id, gatewayV4: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}` });
    return id;
  });
  const allRouters = new Set(shared);
  const log = new CreationLog(sim);
  const objects: Obj[] = [];

  const faults = [
    sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', status: 503, rate: 0.15 }),
    sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', kind: 'lostResponse', rate: 0.15 }),
    sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', kind: 'hang', rate: 0.05 }),
    sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', status: 429, retryAfterSeconds: 1, rate: 0.1 }),
    sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', status: 500, rate: 0.05 }),
    sim.injectFault({ route: 'DELETE *', status: 500, rate: 0.2 }),
    sim.injectFault({ route: 'DELETE *', kind: 'lostResponse', rate: 0.1 }),
    sim.injectFault({ route: '*', latencyMs: 80, rate: 0.3 }),
  ];
  const start = () => new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'sim', args: ['--resync', '5s'] }).start();
  let op = start();
  let kills = 0;
  let churning = true;
  const t0 = Date.now();
  const killer = (async () => {
    while (churning || kills < KILLS) {
      await sleep(700 + rnd() * 2300);
      await op.kill();
      kills++;
      await op.dispose();
      op = start();
    }
  })();

  let apiRestarts = 0;
  try {
    // Churn: creations (some Orphan), deletions of random live objects, an API server restart half-way.
    let burstNext = false;
    for (let i = 0; i < OBJECTS; i++) {
      const orphan = rnd() < 0.1;
      const burst = burstNext;
      let routerId: string;
      if (orphan) {
        routerId = randomUUID();
        sim.addRouter({ id: routerId, gatewayV4: `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}` });
        allRouters.add(routerId);
      } else if (burst && objects.length > 0 && !objects.at(-1)!.orphan) {
        routerId = objects.at(-1)!.routerId; // a same-second claim race on the previous object's router
      } else {
        routerId = shared[Math.floor(rnd() * shared.length)]!;
      }
      const o: Obj = { ns: namespaces[i % 2]!, name: `vpn-${i}`, routerId, orphan, deleted: false };
      objects.push(o);
      await retrying(() => vpns.apply(o.ns, o.name, { routerId, ...(orphan ? { deletionPolicy: 'Orphan' } : {}) }), `create ${o.name}`);
      if (rnd() < 0.35) {
        const live = objects.filter((x) => !x.deleted);
        const victim = live[Math.floor(rnd() * live.length)]!;
        victim.deleted = true;
        await retrying(() => vpns.remove(victim.ns, victim.name), `delete ${victim.name}`);
      }
      if (i === Math.floor(OBJECTS / 2)) {
        await cp.restartApiServer(); // every watch is cut; the operator must resume
        apiRestarts++;
      }
      // the next object joins this one's router at once (a same-second claim, from the other namespace), or follows later
      burstNext = rnd() < 0.3;
      await sleep(burstNext ? 0 : rnd() * 2 * CREATE_EVERY_MS);
    }
    churning = false;
    await killer;
  } finally {
    churning = false;
  }
  const chaosMs = Date.now() - t0;
  const faultHits = sim.faults().reduce((n, f) => n + f.hits, 0);
  for (const f of faults) f();

  // Convergence, with the operator running undisturbed.
  const t1 = Date.now();
  const live = objects.filter((o) => !o.deleted);
  const deleted = objects.filter((o) => o.deleted);
  let stuck: string[] = [];
  let unconverged: string[] = [];
  try {
    await eventually(
      async () => {
        const present = new Set((await Promise.all(namespaces.map((ns) => vpns.list(ns)))).flat().map((x) => `${x.metadata.namespace}/${x.metadata.name}`));
        stuck = deleted.map((o) => `${o.ns}/${o.name}`).filter((k) => present.has(k));
        return stuck.length === 0;
      },
      'every deleted object gone (no stuck finalizer)',
      90_000,
      1000,
    ).catch(() => undefined);
    await eventually(
      async () => {
        unconverged = [];
        const now = new Map((await Promise.all(namespaces.map((ns) => vpns.list(ns)))).flat().map((x) => [`${x.metadata.namespace}/${x.metadata.name}`, x]));
        for (const o of live) {
          const r = ready(now.get(`${o.ns}/${o.name}`));
          if (r?.reason !== 'Active' && r?.reason !== 'RouterConflict') unconverged.push(`${o.ns}/${o.name}: ${r?.reason}: ${r?.message}`);
        }
        return unconverged.length === 0;
      },
      'every live object Active or RouterConflict',
      90_000,
      1000,
    ).catch(() => undefined);
  } finally {
    log.stop();
    await op.dispose();
  }
  const convergeMs = Date.now() - t1;
  const byReason = new Map<string, number>();
  for (const u of unconverged) byReason.set(u.split(':')[1]!.trim(), (byReason.get(u.split(':')[1]!.trim()) ?? 0) + 1);

  // The cloud matches the objects exactly.
  const services = sim.services().filter((s) => allRouters.has(s.router_id));
  const liveObjs = await Promise.all(live.map(async (o) => ({ o, x: (await vpns.get(o.ns, o.name))! })));
  const orphanNames = new Set(deleted.filter((o) => o.orphan).map((o) => `${o.routerId} ${o.name}`));
  const audit = auditCloud(
    services,
    liveObjs.map(({ x }) => x.status?.id ?? ''),
    (s) => orphanNames.has(`${s.router_id} ${s.name}`),
  );
  const doubles = log.doubles();
  console.log(
    `chaos [${mode}] figures: objects ${objects.length} (deleted ${deleted.length}, live ${live.length}), kills ${kills}, API server restarts ${apiRestarts}, ` +
      `cloud faults hit ${faultHits}, chaos ${chaosMs} ms; creates ${log.creations.length}, duplicates (creates on an occupied router) ${doubles.length}, routers with several at the end ${audit.routersWithSeveral.length}, ` +
      `leaks ${audit.leaked.length}, stuck ${stuck.length}, ` +
      (unconverged.length === 0 ? `converged ${convergeMs} ms after the chaos` : `NOT converged after ${convergeMs} ms: ${unconverged.length} objects ${JSON.stringify(Object.fromEntries(byReason))}`) +
      `; ${describeAudit(audit)}`,
  );
  expect(unconverged.slice(0, 10)).toEqual([]);
  expect(stuck).toEqual([]);
  expect(doubles).toEqual([]);
  expect(audit.routersWithSeveral).toEqual([]);
  expect(audit.namesWithSeveral).toEqual([]);
  expect(audit.leaked).toEqual([]);
  expect(kills).toBeGreaterThanOrEqual(KILLS);
  for (const { o, x } of liveObjs) {
    if (ready(x)?.reason === 'Active') {
      expect(services.find((s) => s.id === x.status?.id)?.router_id, `${o.ns}/${o.name}`).toBe(o.routerId);
    } else {
      // a RouterConflict's router is held by a live, Active owner
      expect(liveObjs.some(({ o: p, x: y }) => p !== o && p.routerId === o.routerId && ready(y)?.reason === 'Active'), `${o.ns}/${o.name} waits for a live owner`).toBe(true);
    }
  }
  // Every router with a live object has exactly its one service.
  for (const r of new Set(live.map((o) => o.routerId))) expect(services.filter((s) => s.router_id === r), r).toHaveLength(1);

  // Everything goes: nothing is left but the Orphans' services.
  await Promise.all(live.map((o) => vpns.remove(o.ns, o.name)));
  const cleaner = start();
  try {
    for (const o of live) await vpns.waitGone(o.ns, o.name, 60_000);
  } finally {
    await cleaner.dispose();
    await sim.stop();
  }
  const orphans = new Set(objects.filter((o) => o.orphan).map((o) => `${o.routerId} ${o.name}`));
  expect(sim.services().filter((s) => allRouters.has(s.router_id) && !orphans.has(`${s.router_id} ${s.name}`))).toEqual([]);
}

const timeout = 300_000 + OBJECTS * 2 * CREATE_EVERY_MS + KILLS * 5_000;
describe('chaos', () => {
  for (const mode of MODES) {
    it(`[${mode} mode] ${OBJECTS} objects with churn, ≥${KILLS} SIGKILLs, cloud faults, an API server restart: no duplicate, no leak, no stuck finalizer, all converge`, () => chaos(mode), timeout);
  }
});
