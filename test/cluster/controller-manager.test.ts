// The test control plane with the real kube-controller-manager (startControlPlane({ controllerManager: true })):
// a deleted namespace goes away with everything in it, owner references are garbage-collected, every namespace
// gets its `default` ServiceAccount, the aggregated roles are filled, and stop() leaves no process behind.
// Without kube-controller-manager none of this happens (a deleted namespace stays Terminating for ever).
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { CONTROLLERS, installCrds, readCrds, startControlPlane, type ControlPlane } from '../support/controlplane.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function statusCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' ? err.code : undefined;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Polls fn until it returns a value other than undefined; fails with `what` after timeoutMs. Returns the time. */
async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  for (;;) {
    const value = await fn();
    if (value !== undefined) return { value, ms: Math.round(performance.now() - t0) };
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Resolves true when the read fails with 404. */
async function gone(read: () => Promise<unknown>): Promise<true | undefined> {
  try {
    await read();
    return undefined;
  } catch (err) {
    if (statusCode(err) === 404) return true;
    throw err;
  }
}

describe('control plane with kube-controller-manager', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;

  beforeAll(async () => {
    cp = await startControlPlane({ controllerManager: true });
    core = cp.kubeConfig.makeApiClient(CoreV1Api);
    console.log(`control plane with kube-controller-manager (${CONTROLLERS.join(', ')}) started in ${cp.startupMs} ms`);
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('runs kube-controller-manager as its own process', () => {
    expect(cp.pids.kubeControllerManager).toBeDefined();
    expect(processExists(cp.pids.kubeControllerManager ?? 0)).toBe(true);
  });

  it('gives a new namespace its default ServiceAccount (serviceaccount controller)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'kcm-sa' } } });
    const { ms } = await waitFor('ServiceAccount kcm-sa/default', 30_000, () =>
      core.readNamespacedServiceAccount({ namespace: 'kcm-sa', name: 'default' }).then(
        (sa) => sa,
        (err: unknown) => (statusCode(err) === 404 ? undefined : Promise.reject(err)),
      ),
    );
    console.log(`default ServiceAccount created ${ms} ms after the namespace`);
  });

  it('fills the aggregated roles admin / edit / view (clusterrole-aggregation controller)', async () => {
    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    for (const name of ['admin', 'edit', 'view']) {
      const { value } = await waitFor(`rules in ClusterRole ${name}`, 30_000, async () => {
        const role = await rbac.readClusterRole({ name });
        return (role.rules?.length ?? 0) > 0 ? role : undefined;
      });
      expect(value.rules?.some((r) => r.resources?.includes('configmaps'))).toBe(true);
    }
  });

  it('collects an object whose owner was deleted (garbagecollector controller)', async () => {
    await core.createNamespace({ body: { metadata: { name: 'kcm-gc' } } });
    const owner = await core.createNamespacedConfigMap({ namespace: 'kcm-gc', body: { metadata: { name: 'owner' } } });
    await core.createNamespacedConfigMap({
      namespace: 'kcm-gc',
      body: {
        metadata: {
          name: 'dependent',
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata?.uid ?? '' }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace: 'kcm-gc', name: 'owner', propagationPolicy: 'Background' });
    const { ms } = await waitFor('the dependent ConfigMap to be collected', 30_000, () =>
      gone(() => core.readNamespacedConfigMap({ namespace: 'kcm-gc', name: 'dependent' })),
    );
    console.log(`dependent collected ${ms} ms after its owner was deleted`);
  });

  it('deletes a namespace with a Secret, a ConfigMap and a VpnService in it (namespace controller)', async () => {
    const names = await installCrds(cp.kubeConfig);
    expect(names).toEqual(readCrds().map((c) => c.metadata?.name));
    const ns = 'kcm-delete-me';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'creds' }, stringData: { 'clouds.yaml': 'clouds: {}\n' } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'settings' }, data: { a: 'b' } } });
    const objects = cp.kubeConfig.makeApiClient(CustomObjectsApi);
    await objects.createNamespacedCustomObject({
      group: 'vpnaas.dev',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'vpnservices',
      body: {
        apiVersion: 'vpnaas.dev/v1alpha1',
        kind: 'VpnService',
        metadata: { name: 'office' },
        spec: { routerId: '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa' },
      },
    });

    await core.deleteNamespace({ name: ns });
    const terminating = await core.readNamespace({ name: ns }).catch(() => undefined);
    // Either still Terminating (the usual case) or already gone: never Active again.
    if (terminating !== undefined) expect(terminating.status?.phase).toBe('Terminating');

    const { ms } = await waitFor(`namespace ${ns} to be gone`, 60_000, () => gone(() => core.readNamespace({ name: ns })));
    console.log(`namespace with a Secret, a ConfigMap and a VpnService gone ${ms} ms after its deletion`);
    // Its content went with it (a namespace of the same name created now would be empty).
    await core.createNamespace({ body: { metadata: { name: ns } } });
    expect((await core.listNamespacedSecret({ namespace: ns })).items.map((s) => s.metadata?.name)).not.toContain('creds');
    expect((await core.listNamespacedConfigMap({ namespace: ns })).items.map((c) => c.metadata?.name)).not.toContain('settings');
    const vpns = (await objects.listNamespacedCustomObject({ group: 'vpnaas.dev', version: 'v1alpha1', namespace: ns, plural: 'vpnservices' })) as {
      items: unknown[];
    };
    expect(vpns.items).toEqual([]);
  });

  it('stop() leaves no process and no folder', async () => {
    const { pids, dir } = cp;
    await cp.stop();
    for (const pid of [pids.etcd, pids.kubeApiserver, pids.kubeControllerManager ?? 0]) expect(processExists(pid)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
  });
});
