// Two operator replicas with leader election on a Lease: only the leader reconciles; a killed leader is replaced
// within the lease time; a leader stopped with SIGTERM hands over at once; no duplicate cloud call across it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { VpnService } from '../../src/api/vpnservice.ts';

const LEASE = ['--leader-elect', '--leader-election-namespace', 'default', '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 300 })]);
  kube = new KubeClient(cp.kubeConfig);
  await installCrd(kube);
});
afterAll(async () => {
  await Promise.all([cp?.stop(), sim?.stop()]);
});

function replica(): OperatorProcess {
  return new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: LEASE }).start();
}

const leads = (op: OperatorProcess) => op.records().find((r) => r.message === 'became leader; reconciling');

async function createAll(ns: string, names: string[]): Promise<void> {
  for (const name of names) {
    const routerId = randomUUID();
    sim.addRouter({ id: routerId, gatewayV4: '192.0.2.9' });
    await kube.request('POST', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`, {
      apiVersion: 'vpnaas.dev/v1alpha1',
      kind: 'VpnService',
      metadata: { name },
      spec: { routerId },
    });
  }
}

async function allActive(ns: string, n: number): Promise<boolean> {
  const l = (await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`)) as { items: unknown[] };
  const objs = l.items.map((i) => VpnService.parse(i));
  return objs.length === n && objs.every((o) => o.status?.conditions?.some((c) => c.reason === 'Active'));
}

const posts = () => sim.requestLog().filter((r) => r.method === 'POST' && r.route.endsWith('/vpn/vpnservices')).length;

describe('high availability', () => {
  it('one leader reconciles; SIGKILL → the standby takes over within the lease time; SIGTERM → hands over at once; never a duplicate POST', async () => {
    const ns = `ha-${randomUUID().slice(0, 6)}`;
    await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const a = replica();
    await eventually(() => leads(a), 'first replica leads', 20_000);
    const b = replica();
    const c = replica();
    try {
      // only the leader reconciles
      const p0 = posts();
      await createAll(ns, ['one', 'two', 'three']);
      await eventually(() => allActive(ns, 3), 'three ACTIVE', 30_000);
      expect(posts() - p0).toBe(3);
      expect(leads(b)).toBeUndefined();
      expect(leads(c)).toBeUndefined();
      expect(b.records().some((r) => r.message === 'status')).toBe(false);

      // the leader dies without releasing the Lease: a standby takes over within the lease time (+ one retry)
      const killedAt = Date.now();
      await a.kill();
      await createAll(ns, ['four', 'five']);
      const next = await eventually(() => [b, c].find((x) => leads(x)), 'a standby leads', 20_000);
      const took = Date.parse(String(leads(next)!.timestamp)) - killedAt;
      console.log(`failover after SIGKILL: ${took} ms (lease 3 s, retry 0.5 s)`);
      expect(took).toBeLessThan(3_000 + 2_000);
      await eventually(() => allActive(ns, 5), 'five ACTIVE', 30_000);
      expect(posts() - p0).toBe(5);

      // SIGTERM: the leader finishes, releases the Lease, and the last replica takes over at once
      const last = next === b ? c : b;
      const termAt = Date.now();
      expect(await next.stop()).toBe(0);
      await eventually(() => leads(last), 'the last replica leads', 10_000);
      const handover = Date.parse(String(leads(last)!.timestamp)) - termAt;
      console.log(`handover after SIGTERM: ${handover} ms`);
      expect(handover).toBeLessThan(3_000);
      await createAll(ns, ['six']);
      await eventually(() => allActive(ns, 6), 'six ACTIVE', 30_000);
      expect(posts() - p0).toBe(6);
      expect(sim.services().length).toBeGreaterThanOrEqual(6);
    } finally {
      await Promise.all([a.dispose(), b.dispose(), c.dispose()]);
    }
  });
});
