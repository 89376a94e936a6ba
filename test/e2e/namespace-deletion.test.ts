// Deletion always ends (SPEC §3.6), with the real namespace controller (kube-controller-manager in the test control
// plane): a namespace holding a Secret (the cloudCredentialsRef of its VpnServices) and Ready VpnServices is deleted.
// The namespace controller deletes the Secret and the objects at the same time, so the operator may find the
// Secret gone while it still has to delete the cloud services. Asserted: the namespace is gone within a bound
// (the time is printed), the cloud services of Delete-policy objects are gone, the Orphan's stays; in both simulator
// modes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { z } from 'zod';
import { KubeApiError } from '../../src/kube/client.ts';
import { auditCloud, describeAudit } from '../support/audit.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';

const BOUND_MS = 60_000;

let cp: ControlPlane;
let kube: KubeClient;
let vpns: Vpns;

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: true });
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
});
afterAll(async () => {
  await cp?.stop();
});

async function namespaceGone(ns: string): Promise<boolean> {
  try {
    await kube.request('GET', `/api/v1/namespaces/${ns}`);
    return false;
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return true;
    throw err;
  }
}

for (const mode of ['upstream', 'seed'] as const) {
  describe(`namespace deletion, simulator in ${mode} mode`, () => {
    let sim: Simulator;
    let op: OperatorProcess;
    beforeAll(async () => {
      sim = await startSimulator({ seedRules: mode === 'seed', activeDelayMs: 300 });
      op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '5s'] }).start();
    });
    afterAll(async () => {
      await op?.dispose();
      await sim?.stop();
    });

    const scenario = async (secretFirst: boolean) => {
      const ns = await vpns.namespace('nsdel');
      await vpns.secret(ns, 'creds', { 'clouds.yaml': sim.cloudsYaml('team') });
      const routers: string[] = Array.from({ length: 4 }, (_, i) => {
        const id: string = randomUUID();
        sim.addRouter({ id, gatewayV4: `192.0.2.${i + 10}` });
        return id;
      });
      const ref = { cloudCredentialsRef: { secretName: 'creds', cloudName: 'team' } };
      await vpns.apply(ns, 'own-1', { routerId: routers[0], ...ref });
      await vpns.apply(ns, 'own-2', { routerId: routers[1], ...ref });
      await vpns.apply(ns, 'default-cloud', { routerId: routers[2] });
      await vpns.apply(ns, 'kept', { routerId: routers[3], deletionPolicy: 'Orphan', ...ref });
      const objs = await Promise.all(['own-1', 'own-2', 'default-cloud', 'kept'].map((n) => vpns.waitReason(ns, n, 'Active')));
      const keptId = objs[3]!.status!.id!;
      expect(sim.services().filter((s) => routers.includes(s.router_id))).toHaveLength(4);

      if (secretFirst) {
        // The namespace controller deletes what a namespace holds in no fixed order: force the order in which the
        // Secret is deleted first. Each object that used it guards it with a finalizer of its own, so it stays
        // (Terminating, still readable) until their cloud cleanup is done; the objects keep working meanwhile.
        await kube.request('DELETE', `/api/v1/namespaces/${ns}/secrets/creds`);
        const secret = z
          .object({ metadata: z.object({ deletionTimestamp: z.string().optional(), finalizers: z.array(z.string()).optional() }) })
          .parse(await kube.request('GET', `/api/v1/namespaces/${ns}/secrets/creds`));
        expect(secret.metadata.deletionTimestamp).toBeDefined();
        const guards = (secret.metadata.finalizers ?? []).filter((f) => f.startsWith('vpnaas.dev/in-use-'));
        expect(guards.sort()).toEqual([objs[0]!, objs[1]!, objs[3]!].map((o) => `vpnaas.dev/in-use-${o.metadata.uid}`).sort());
        await new Promise((r) => setTimeout(r, 2_000));
        expect(ready(await vpns.get(ns, 'own-1'))?.reason).toBe('Active');
      }
      const t0 = Date.now();
      await kube.request('DELETE', `/api/v1/namespaces/${ns}`);
      let goneMs: number | undefined;
      try {
        await eventually(() => namespaceGone(ns), `namespace ${ns} gone`, BOUND_MS, 200);
        goneMs = Date.now() - t0;
      } finally {
        const left = sim.services().filter((s) => routers.includes(s.router_id));
        const remaining = await vpns.list(ns).catch(() => []);
        console.log(
          `namespace deletion [${mode}${secretFirst ? ', Secret gone first' : ''}]: ${goneMs === undefined ? `NOT gone after ${BOUND_MS} ms` : `gone ${goneMs} ms after the DELETE`}; ` +
            `objects left ${remaining.map((o) => `${o.metadata.name}:${o.status?.conditions?.find((c) => c.type === 'Ready')?.reason}`).join(' ') || 'none'}; ` +
            `${describeAudit(auditCloud(left, [keptId]))}`,
        );
      }
      const left = sim.services().filter((s) => routers.includes(s.router_id));
      expect(left.map((s) => s.id)).toEqual([keptId]);
    };

    it('a namespace with a Secret and Ready VpnServices using it (and one on the default cloud) is gone within a bound; the cloud services are gone', () => scenario(false), 120_000);
    it('the same when the Secret is deleted first: it stays, guarded, until the objects that used it are cleaned up', () => scenario(true), 180_000);
  });
}
