// Same-second claim races (SPEC §3.2): 20 pairs of VpnServices, each pair on one router, created in the same second
// (one `kubectl apply -f` of a folder, one Argo CD sync), with 300 ms latency on the cloud's VPN service LIST (the
// router look-up before a POST). Whatever the arrival order, restarts and leader changes:
// - the cloud never holds two services on one router (counted by the simulator's create hook, so a duplicate that
//   is cleaned up later still counts), in seed mode and in upstream mode (several services per router allowed);
// - the winner is the documented one: oldest creationTimestamp, then namespace/name (same second: the lexically
//   first key); it is Ready with the one service; the other shows RouterConflict naming the winner;
// - deleting the winners lets the losers proceed within seconds, again with one service per router;
// - deleting everything leaves no service behind.
// Variants, each in both modes: pair by pair (the later key ~10 ms before the earlier: the scenario), one side
// then the other 150 ms later with the POST slow too, the earlier key first, the operator SIGKILLed right after the
// 7th create landed (restarted), and two replicas with leader election whose leader is SIGKILLed there.
// RACE_PAIRS (default 20) and RACE_GAP_MS (default 150) change the size and the gap.
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { CreationLog, auditCloud, describeAudit } from '../support/audit.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import type { VpnService } from '../../src/api/vpnservice.ts';

const PAIRS = Number(process.env.RACE_PAIRS ?? 20);
const LOOKUP_LATENCY_MS = 300;
const GAP_MS = Number(process.env.RACE_GAP_MS ?? 150);
const LEASE = ['--leader-elect', '--leader-election-namespace', 'default', '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];

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

type Order = 'later key first' | 'earlier key first';
type Disturbance = 'none' | 'SIGKILL and restart' | 'two replicas, leader SIGKILLed';

interface Obj {
  ns: string;
  name: string;
  key: string;
  routerId: string;
}

const key = (o: VpnService) => `${o.metadata.namespace}/${o.metadata.name}`;

/** The documented owner of a router among same-router objects: oldest creationTimestamp, then namespace/name. */
function documentedWinner(objs: VpnService[]): VpnService {
  return [...objs].sort((a, b) => {
    const t = Date.parse(a.metadata.creationTimestamp!) - Date.parse(b.metadata.creationTimestamp!);
    return t !== 0 ? t : key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  })[0]!;
}

async function untilNextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
}

type Arrangement = 'pair by pair' | 'one side, then the other, the POST slow too';

async function race(mode: 'seed' | 'upstream', order: Order, disturbance: Disturbance, arrangement: Arrangement = 'pair by pair'): Promise<void> {
  const sim: Simulator = await startSimulator({ seedRules: mode === 'seed', activeDelayMs: 500 });
  // A 5 s request timeout (api_timeout): after a kill, an intent whose POST may still land is resolved by look-up
  // once that POST could have ended, which the timeout bounds; the default 30 s would only make the suite slower.
  const doc = YAML.parse(sim.cloudsYaml('sim')) as { clouds: { sim: Record<string, unknown> } };
  const cloudsYaml = YAML.stringify({ clouds: { sim: { ...doc.clouds.sim, api_timeout: 5 } } });
  const ops: OperatorProcess[] = [];
  const dead = new Set<OperatorProcess>();
  const start = (args: string[] = []) => {
    const op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'sim', args: ['--resync', '5s', ...args] }).start();
    ops.push(op);
    return op;
  };
  const tag = randomUUID().slice(0, 6);
  // Two namespaces whose names sort: every pair is (a/pair-NN, b/pair-NN), a/… the lexically first key.
  const nsA = `race-${tag}-a`;
  const nsB = `race-${tag}-b`;
  for (const ns of [nsA, nsB]) await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const routers: string[] = Array.from({ length: PAIRS }, (_, i) => {
    const id: string = randomUUID();
    sim.addRouter({ id, gatewayV4: `198.18.${Math.floor(i / 200)}.${(i % 200) + 1}` });
    return id;
  });
  const log = new CreationLog(sim, routers);
  const unfaults = [sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', latencyMs: LOOKUP_LATENCY_MS })];
  // A slow POST keeps the first side's creates in flight while the second side looks the router up: the window in
  // which a claim decided on a stale view becomes a second service is then certain to be hit, not hoped for.
  if (arrangement !== 'pair by pair') unfaults.push(sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', latencyMs: LOOKUP_LATENCY_MS }));
  const pairs: Array<[Obj, Obj]> = routers.map((routerId, i) => {
    const name = `pair-${String(i).padStart(2, '0')}`;
    return [
      { ns: nsA, name, key: `${nsA}/${name}`, routerId },
      { ns: nsB, name, key: `${nsB}/${name}`, routerId },
    ];
  });

  try {
    const leaderOf = async (): Promise<OperatorProcess> =>
      eventually(() => ops.find((o) => !dead.has(o) && o.records().some((r) => r.message === 'became leader; reconciling')), 'a leader', 20_000);
    let kills = 0;
    if (disturbance === 'two replicas, leader SIGKILLed') {
      start(LEASE);
      await leaderOf();
      start(LEASE);
    } else {
      start();
    }
    await eventually(() => ops[0]!.metricsPort(), 'the operator serving', 20_000);

    if (disturbance !== 'none') {
      // In the middle of the race: right after the cloud committed the 7th create, before the operator sees its
      // response, the (leading) operator is killed; a new one is started (or the standby takes over).
      log.onEach(async (_c, l) => {
        if (l.creations.length !== Math.min(7, PAIRS)) return;
        const victim = disturbance === 'SIGKILL and restart' ? ops.at(-1)! : await leaderOf();
        await victim.kill();
        dead.add(victim);
        kills++;
        if (disturbance === 'SIGKILL and restart') start();
      });
    }

    // Applied one object after the other as `kubectl apply -f folder/` does, all within one second: either pair by
    // pair (the second key ~10 ms after the first), or the first key of every pair, then, RACE_GAP_MS later, the
    // second key of every pair (the files of one side sort first): then the operator is in the middle of
    // reconciling the first side when the second arrives.
    await untilNextSecond();
    const t0 = Date.now();
    const [firstSide, secondSide] = order === 'later key first' ? [1, 0] : [0, 1];
    if (arrangement === 'pair by pair') {
      for (const p of pairs) {
        await vpns.apply(p[firstSide]!.ns, p[firstSide]!.name, { routerId: p[firstSide]!.routerId });
        await vpns.apply(p[secondSide]!.ns, p[secondSide]!.name, { routerId: p[secondSide]!.routerId });
      }
    } else {
      for (const p of pairs) await vpns.apply(p[firstSide]!.ns, p[firstSide]!.name, { routerId: p[firstSide]!.routerId });
      await new Promise((r) => setTimeout(r, GAP_MS));
      for (const p of pairs) await vpns.apply(p[secondSide]!.ns, p[secondSide]!.name, { routerId: p[secondSide]!.routerId });
    }
    const applyMs = Date.now() - t0;

    // Converge: per pair one winner with the service, one RouterConflict.
    const settled = async () => {
      const all = [...(await vpns.list(nsA)), ...(await vpns.list(nsB))];
      const reasons = all.map((o) => ready(o)?.reason);
      const ok = all.length === 2 * PAIRS && reasons.filter((r) => r === 'Active').length === PAIRS && reasons.filter((r) => r === 'RouterConflict').length === PAIRS;
      return ok ? all : undefined;
    };
    let objs: VpnService[];
    try {
      // After a kill, an intent whose POST may still be in flight is resolved by look-up only once that POST could
      // have ended (intent age > the cloud timeout + margins, ~40 s), never by a second POST: allow for it.
      objs = await eventually(settled, `${PAIRS} Active + ${PAIRS} RouterConflict`, disturbance !== 'none' ? 90_000 : 45_000, 500);
    } catch (err) {
      const all = [...(await vpns.list(nsA)), ...(await vpns.list(nsB))];
      const hist = new Map<string, number>();
      for (const o of all) hist.set(String(ready(o)?.reason), (hist.get(String(ready(o)?.reason)) ?? 0) + 1);
      throw new Error(`${(err as Error).message}; reasons: ${JSON.stringify(Object.fromEntries(hist))}; ${describeAudit(auditCloud(sim.services().filter((s) => routers.includes(s.router_id)), all.map((o) => o.status?.id ?? '')))}; creations per router: ${JSON.stringify([...log.perRouter().values()])}`);
    }
    const convergeMs = Date.now() - t0;

    const sameSecond = pairs.filter(([a, b]) => {
      const [x, y] = [a, b].map((p) => objs.find((o) => key(o) === p.key)!);
      return x!.metadata.creationTimestamp === y!.metadata.creationTimestamp;
    }).length;
    const services = sim.services().filter((s) => routers.includes(s.router_id));
    const audit = auditCloud(
      services,
      objs.map((o) => o.status?.id ?? ''),
    );
    // Per pair, what the contract says; collected so that one run reports every pair that broke it.
    const problems: string[] = [];
    let wrongWinner = 0;
    for (const [a, b] of pairs) {
      const pair = objs.filter((o) => key(o) === a.key || key(o) === b.key);
      const winner = documentedWinner(pair);
      const loser = pair.find((o) => o !== winner)!;
      const onRouter = services.filter((s) => s.router_id === a.routerId).map((s) => s.id);
      if (ready(winner)?.reason !== 'Active') {
        wrongWinner++;
        problems.push(`${key(winner)} (the documented owner) is ${ready(winner)?.reason}, ${key(loser)} is ${ready(loser)?.reason}`);
      }
      if (onRouter.length !== 1 || onRouter[0] !== winner.status?.id) problems.push(`router of ${a.name}: services ${JSON.stringify(onRouter)}, owner's status.id ${winner.status?.id}`);
      if (ready(loser)?.reason === 'RouterConflict' && !ready(loser)?.message?.includes(key(winner))) problems.push(`${key(loser)}'s RouterConflict does not name ${key(winner)}: ${ready(loser)?.message}`);
      if (loser.status?.id) problems.push(`${key(loser)} (the loser) has status.id ${loser.status.id}`);
    }
    console.log(
      `race [${mode}, ${order}, ${arrangement}, ${disturbance}]: ${PAIRS} pairs (${sameSecond} in the same second) applied in ${applyMs} ms, ` +
        `settled in ${convergeMs} ms; ${log.creations.length} creates, ${log.doubles().length} on an occupied router; ` +
        `${describeAudit(audit)}; wrong winners ${wrongWinner}; kills ${kills}`,
    );
    expect(problems).toEqual([]);
    expect(log.doubles()).toEqual([]);
    expect(audit.routersWithSeveral).toEqual([]);
    expect(audit.leaked).toEqual([]);
    expect(log.creations).toHaveLength(PAIRS);
    if (disturbance !== 'none') expect(kills).toBe(1);

    // The winners go: every loser proceeds by itself within seconds, still one service per router.
    const t1 = Date.now();
    const winners = pairs.map(([a, b]) => documentedWinner(objs.filter((o) => key(o) === a.key || key(o) === b.key)));
    await Promise.all(winners.map((w) => vpns.remove(w.metadata.namespace!, w.metadata.name)));
    const losers = objs.filter((o) => !winners.includes(o));
    await eventually(async () => {
      for (const l of losers) if (ready(await vpns.get(l.metadata.namespace!, l.metadata.name))?.reason !== 'Active') return false;
      return true;
    }, 'every loser Active after its winner was deleted', 60_000, 250);
    const handoverMs = Date.now() - t1;
    for (const w of winners) await vpns.waitGone(w.metadata.namespace!, w.metadata.name, 30_000);
    const after = sim.services().filter((s) => routers.includes(s.router_id));
    const afterObjs = [...(await vpns.list(nsA)), ...(await vpns.list(nsB))];
    const audit2 = auditCloud(after, afterObjs.map((o) => o.status?.id ?? ''));
    console.log(`race [${mode}, ${order}, ${arrangement}, ${disturbance}]: losers all Active ${handoverMs} ms after their winners were deleted; ${describeAudit(audit2)}`);
    expect(log.doubles()).toEqual([]);
    expect(audit2.routersWithSeveral).toEqual([]);
    expect(audit2.leaked).toEqual([]);
    expect(after).toHaveLength(PAIRS);
    expect(handoverMs).toBeLessThan(30_000);

    // Everything goes: nothing is left in the cloud.
    await Promise.all(afterObjs.map((o) => vpns.remove(o.metadata.namespace!, o.metadata.name)));
    for (const o of afterObjs) await vpns.waitGone(o.metadata.namespace!, o.metadata.name, 60_000);
    expect(sim.services().filter((s) => routers.includes(s.router_id))).toEqual([]);
  } finally {
    for (const f of unfaults) f();
    log.stop();
    await Promise.all(ops.map((o) => o.dispose()));
    await sim.stop();
  }
}

for (const mode of ['upstream', 'seed'] as const) {
  describe(`same-second claim races, simulator in ${mode} mode`, () => {
    it(`${PAIRS} pairs, the lexically later key applied first, pair by pair`, () => race(mode, 'later key first', 'none'), 240_000);
    it(`${PAIRS} pairs, the later keys first, the earlier ${GAP_MS} ms later, the POST slow too`, () =>
      race(mode, 'later key first', 'none', 'one side, then the other, the POST slow too'), 240_000);
    it(`${PAIRS} pairs, the lexically earlier key applied first, pair by pair`, () => race(mode, 'earlier key first', 'none'), 240_000);
    it(`${PAIRS} pairs, the operator SIGKILLed mid-race (right after a POST landed) and restarted`, () => race(mode, 'later key first', 'SIGKILL and restart'), 240_000);
    it(`${PAIRS} pairs, two replicas with leader election, the leader SIGKILLed mid-race`, () => race(mode, 'later key first', 'two replicas, leader SIGKILLed'), 240_000);
    it('a routerId in upper case is the same claim: the younger object waits with RouterConflict and makes no POST', async () => {
      const sim = await startSimulator({ seedRules: mode === 'seed', activeDelayMs: 300 });
      const op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim' }).start();
      try {
        const routerId: string = randomUUID();
        sim.addRouter({ id: routerId, gatewayV4: '198.18.99.1' });
        const [nsA, nsB] = [await vpns.namespace('case-a'), await vpns.namespace('case-b')];
        await vpns.apply(nsA, 'lower', { routerId });
        await vpns.waitReason(nsA, 'lower', 'Active');
        await new Promise((r) => setTimeout(r, 1100));
        const posts = () => sim.countOf({ method: 'POST', route: '/v2.0/vpn/vpnservices' });
        const p0 = posts();
        await vpns.apply(nsB, 'upper', { routerId: routerId.toUpperCase() });
        const b = await eventually(async () => {
          const x = await vpns.get(nsB, 'upper');
          const r = ready(x)?.reason;
          return r !== undefined && r !== 'Creating' ? x : undefined;
        }, 'the upper-case object settled', 30_000, 200);
        console.log(`upper-case routerId [${mode}]: ${ready(b)?.reason}: ${ready(b)?.message}; POSTs ${posts() - p0}`);
        expect(ready(b)?.reason).toBe('RouterConflict');
        expect(posts() - p0).toBe(0);
        for (const [ns, n] of [[nsB, 'upper'], [nsA, 'lower']] as const) {
          await vpns.remove(ns, n);
          await vpns.waitGone(ns, n, 30_000).catch(() => undefined);
        }
      } finally {
        await op.dispose();
        await sim.stop();
      }
    }, 120_000);
  });
}
