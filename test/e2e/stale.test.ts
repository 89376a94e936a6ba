// A cloud blip must not flap settled objects (SPEC §3.8, issue 8): while the drift check's LIST fails, Ready objects
// keep Ready=True with no status write and no Warning event; the staleness shows in the log. Once the cloud answers
// again nothing was written at all. (Before the core, every settled object turned CloudUnavailable, one write and
// one Warning each, and back.)
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';

let cp: ControlPlane;
let sim: Simulator;
let op: OperatorProcess;
let vpns: Vpns;

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 200, seedRules: false })]);
  const kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '2s'] }).start();
});
afterAll(async () => {
  await op?.dispose();
  await Promise.all([sim?.stop(), cp?.stop()]);
});

describe('a transient read failure of the cloud', () => {
  it('keeps settled objects Ready, with no write and no Warning, and logs the stale read', async () => {
    const ns = await vpns.namespace('stale');
    const names = ['a', 'b', 'c'];
    for (const n of names) {
      const id = randomUUID();
      sim.addRouter({ id, gatewayV4: `198.51.100.${names.indexOf(n) + 10}` });
      await vpns.apply(ns, n, { routerId: id });
    }
    const before = await Promise.all(names.map((n) => vpns.waitReason(ns, n, 'Active')));
    // Let the Active event and any trailing write settle, then take the versions.
    await new Promise((r) => setTimeout(r, 3_000));
    const settled = await Promise.all(names.map(async (n) => (await vpns.get(ns, n))!));
    expect(settled.map((o) => ready(o)?.status)).toEqual(['True', 'True', 'True']);

    const lists = () => sim.requestLog().filter((r) => r.method === 'GET' && r.route === '/v2.0/vpn/vpnservices').length;
    const l0 = lists();
    const drop = sim.injectFault({ route: 'GET /v2.0/vpn/vpnservices', status: 503 });
    // Several drift checks (resync 2 s) fail meanwhile.
    await eventually(() => lists() - l0 >= 3, 'three failed LIST rounds', 30_000, 200);
    await eventually(() => op.lines.some((l) => l.includes('keeping the last known state')), 'the stale read logged', 10_000);
    drop();
    await new Promise((r) => setTimeout(r, 3_000));

    const after = await Promise.all(names.map(async (n) => (await vpns.get(ns, n))!));
    expect(after.map((o) => o.metadata.resourceVersion)).toEqual(settled.map((o) => o.metadata.resourceVersion));
    expect(after.map((o) => ready(o)?.reason)).toEqual(['Active', 'Active', 'Active']);
    for (const n of names) {
      const warnings = (await vpns.events(ns, n)).filter((e) => e.type === 'Warning');
      expect(warnings.map((e) => e.reason)).toEqual([]);
    }
    expect(before).toHaveLength(3);
  });
});
