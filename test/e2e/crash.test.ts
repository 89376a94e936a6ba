// Crash safety and frugality, end to end: the operator killed right after the cloud accepted a POST (in the
// simulator's upstream mode, where nothing refuses a second service on the router, and in seed mode); the number of
// Kubernetes writes from apply to ACTIVE; zero writes in a steady state.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { VpnService } from '../../src/api/vpnservice.ts';
import { createInformer } from '../../src/controller/informer.ts';
import { CreationLog, auditCloud, describeAudit } from '../support/audit.ts';
import YAML from 'yaml';

const LEASE = ['--leader-elect', '--leader-election-namespace', 'default', '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 1000 })]);
  kube = new KubeClient(cp.kubeConfig);
  await installCrd(kube);
});
afterAll(async () => {
  await Promise.all([cp?.stop(), sim?.stop()]);
});

function operator(args: string[] = [], cloud: Simulator = sim): OperatorProcess {
  return new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: cloud.cloudsYaml('sim'), cloudName: 'sim', args }).start();
}

async function namespace(): Promise<string> {
  const ns = `crash-${randomUUID().slice(0, 8)}`;
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return ns;
}

async function apply(ns: string, name: string, routerId: string): Promise<void> {
  await kube.request('POST', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`, {
    apiVersion: 'vpnaas.dev/v1alpha1',
    kind: 'VpnService',
    metadata: { name },
    spec: { routerId },
  });
}

async function list(ns: string): Promise<VpnService[]> {
  const l = (await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`)) as { items: unknown[] };
  return l.items.map((i) => VpnService.parse(i));
}

const isActive = (o: VpnService) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.reason === 'Active');

/** Counts every change the API server records for the VpnServices of a namespace (each write is one version). */
function versionCounter(ns: string) {
  const writes = new Map<string, number>();
  const inf = createInformer<VpnService>({
    kubeConfig: cp.kubeConfig,
    path: `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices`,
    schema: VpnService,
    onAdd: (o) => writes.set(o.metadata.name, writes.get(o.metadata.name) ?? 0),
    onUpdate: (_old, o) => writes.set(o.metadata.name, (writes.get(o.metadata.name) ?? 0) + 1),
  });
  inf.start();
  return {
    writes,
    stop: () => inf.stop(),
    synced: () => inf.waitForSync(),
    /** True once the watch has delivered (at least) these versions of the objects. */
    hasSeen: (items: VpnService[]) =>
      items.every((o) => inf.get(`${o.metadata.namespace}/${o.metadata.name}`)?.metadata.resourceVersion === o.metadata.resourceVersion),
  };
}

for (const mode of ['upstream', 'seed'] as const) {
  describe(`crash safety, simulator in ${mode} mode`, () => {
    let cloud: Simulator;
    beforeAll(async () => {
      cloud = await startSimulator({ activeDelayMs: 1000, seedRules: mode === 'seed' });
    });
    afterAll(async () => {
      await cloud?.stop();
    });

    it('killed right after the cloud accepted the POST, then restarted: exactly one cloud service; deleted: none left', async () => {
      const ns = await namespace();
      const router = randomUUID();
      cloud.addRouter({ id: router, gatewayV4: '198.51.100.7' });
      const log = new CreationLog(cloud, [router]);
      const op = operator([], cloud);
      let killed = false;
      log.onEach(async () => {
        if (killed) return;
        killed = true;
        await op.kill(); // the operator dies before it sees the 201
      });
      try {
        await apply(ns, 'crashy', router);
        await eventually(() => killed, 'the operator killed after the POST');
        expect(cloud.services().filter((s) => s.router_id === router)).toHaveLength(1);
        const again = operator([], cloud);
        try {
          const o = await eventually(async () => (await list(ns)).find((x) => isActive(x)), 'ACTIVE after restart', 60_000);
          const svcs = cloud.services().filter((s) => s.router_id === router);
          const audit = auditCloud(svcs, [o.status!.id!]);
          console.log(`crash after POST [${mode}]: ${log.creations.length} creates; ${describeAudit(audit)}`);
          expect(log.doubles()).toEqual([]);
          expect(svcs).toHaveLength(1);
          expect(o.status?.id).toBe(svcs[0]!.id);
          await kube.request('DELETE', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/crashy`);
          await eventually(async () => (await list(ns)).length === 0, 'object gone', 60_000);
          expect(cloud.services().filter((s) => s.router_id === router)).toEqual([]);
        } finally {
          await again.dispose();
        }
      } finally {
        log.stop();
        await op.dispose();
      }
    });

    it('two replicas: the leader SIGTERMed while its POST is still on the way (it lands 3.5 s later, within the request timeout): one cloud service', async () => {
      // The Lease may go only after in-flight cloud writes ended or timed out; an intent younger than the request
      // timeout is resolved by look-up, never by a new POST (issue 8).
      const ns = await namespace();
      const router = randomUUID();
      cloud.addRouter({ id: router, gatewayV4: '198.51.100.8' });
      const log = new CreationLog(cloud, [router]);
      const doc = YAML.parse(cloud.cloudsYaml('sim')) as { clouds: { sim: Record<string, unknown> } };
      const cloudsYaml = YAML.stringify({ clouds: { sim: { ...doc.clouds.sim, api_timeout: 4 } } });
      const replica = (extra: string[] = []) =>
        new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'sim', args: [...LEASE, ...extra] }).start();
      const leads = (o: OperatorProcess) => o.records().some((r) => r.message === 'became leader; reconciling');
      const a = replica(['--shutdown-timeout', '1s']);
      await eventually(() => leads(a), 'first replica leads', 30_000);
      const b = replica();
      const unfault = cloud.injectFault({ route: 'POST /v2.0/vpn/vpnservices', latencyMs: 3_500, times: 1 });
      try {
        await apply(ns, 'late', router);
        await eventually(() => cloud.faults().length === 0, 'the POST on its way (the one-time latency fault hit)', 30_000, 20);
        await a.stop(); // SIGTERM while the POST is on its way
        const o = await eventually(async () => (await list(ns)).find((x) => x.status?.id), 'status.id written under the new leader', 45_000);
        await new Promise((r) => setTimeout(r, 4_000)); // a POST still on its way has landed by now
        const svcs = cloud.services().filter((s) => s.router_id === router);
        console.log(`SIGTERM with a POST in flight [${mode}]: ${log.creations.length} creates, ${log.doubles().length} on an occupied router; ${describeAudit(auditCloud(svcs, [o.status!.id!]))}; ${leads(b) ? 'the standby led' : 'the standby never led'}`);
        expect(log.doubles()).toEqual([]);
        expect(svcs.map((s) => s.id)).toEqual([o.status!.id]);
        await eventually(async () => (await list(ns)).find((x) => isActive(x)), 'ACTIVE under the new leader', 30_000).catch(async (err: unknown) => {
          const r = (await list(ns))[0]?.status?.conditions?.find((c) => c.type === 'Ready');
          throw new Error(`${(err as Error).message}: ${r?.reason}: ${r?.message}`);
        });
      } finally {
        unfault();
        log.stop();
        await Promise.all([a.dispose(), b.dispose()]);
      }
    });
  });
}

describe('frugal with the API server', () => {
  it('at most 3 writes per object from apply to ACTIVE, and zero writes over several resync periods once settled', async () => {
    const ns = await namespace();
    const counter = versionCounter(ns);
    await counter.synced();
    const op = operator(['--resync', '2s']);
    try {
      const n = 10;
      for (let i = 0; i < n; i++) {
        const router = randomUUID();
        sim.addRouter({ id: router, gatewayV4: `198.51.100.${i + 10}` });
        await apply(ns, `vpn-${i}`, router);
      }
      let settled: VpnService[] = [];
      await eventually(async () => {
        settled = await list(ns);
        return settled.length === n && settled.every(isActive);
      }, 'all ACTIVE', 60_000);
      // The counter's watch may trail the LIST that saw them ACTIVE: count once it has seen those versions.
      await eventually(() => counter.hasSeen(settled), 'the counter caught up', 10_000);
      const perObject = [...counter.writes.values()];
      console.log(`writes per object from apply to ACTIVE: ${perObject.join(' ')}`);
      expect(perObject).toHaveLength(n);
      for (const w of perObject) expect(w).toBeLessThanOrEqual(3);

      const before = new Map(counter.writes);
      const listsBefore = sim.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' });
      await new Promise((r) => setTimeout(r, 7_000)); // three resync periods
      const lists = sim.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' }) - listsBefore;
      console.log(`steady state over 7 s: ${lists} LIST calls to the cloud for ${n} objects`);
      expect(lists).toBeGreaterThan(0); // the resync did look at the cloud…
      expect(lists).toBeLessThanOrEqual(8); // …in bulk: at most two LIST rounds per period, not one per object
      expect(counter.writes).toEqual(before); // …and wrote nothing
    } finally {
      await op.dispose();
      await counter.stop();
    }
  });
});
