// The test control plane itself: a real kube-apiserver v1.36.3 + etcd, RBAC on, ServiceAccount tokens through the
// TokenRequest API, and nothing left behind by stop().
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, VersionApi } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from './support/controlplane.ts';

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

describe('test control plane', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane();
    console.log(`control plane started in ${cp.startupMs} ms at ${cp.server}`);
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('serves on loopback with an admin kubeconfig on disk', () => {
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(fs.existsSync(cp.kubeconfigPath)).toBe(true);
    expect(cp.kubeConfig.getCurrentCluster()?.server).toBe(cp.server);
    expect(processExists(cp.pids.etcd)).toBe(true);
    expect(processExists(cp.pids.kubeApiserver)).toBe(true);
  });

  it('reports Kubernetes v1.36.3 on /version', async () => {
    const version = await cp.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.36.3');
    expect(version.major).toBe('1');
    expect(version.minor).toBe('36');
  });

  it('lets the admin create a namespace', async () => {
    const core = cp.kubeConfig.makeApiClient(CoreV1Api);
    const created = await core.createNamespace({ body: { metadata: { name: 'cp-admin-test' } } });
    expect(created.metadata?.uid).toBeTruthy();
    const read = await core.readNamespace({ name: 'cp-admin-test' });
    expect(read.status?.phase).toBe('Active');
  });

  it('enforces RBAC for a ServiceAccount token from the TokenRequest API', async () => {
    const saPath = await cp.serviceAccountKubeconfig('cp-rbac-test', 'reader');
    const saConfig = new KubeConfig();
    saConfig.loadFromFile(saPath);
    const saCore = saConfig.makeApiClient(CoreV1Api);

    // Authenticated (the token is valid) but not authorized.
    const denied = await saCore.listNamespace().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(statusCode(denied)).toBe(403);
    expect(String(denied)).toContain('system:serviceaccount:cp-rbac-test:reader');

    const rbac = cp.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({
      body: {
        metadata: { name: 'cp-test-namespace-reader' },
        rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list'] }],
      },
    });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'cp-test-namespace-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cp-test-namespace-reader' },
        subjects: [{ kind: 'ServiceAccount', namespace: 'cp-rbac-test', name: 'reader' }],
      },
    });

    // The authorizer sees the binding through its informers: allow a moment.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const list = await saCore.listNamespace();
        expect(list.items.map((ns) => ns.metadata?.name)).toContain('cp-rbac-test');
        break;
      } catch (err) {
        if (statusCode(err) !== 403 || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    // Still nothing beyond the role.
    const stillDenied = await saCore.listNamespacedSecret({ namespace: 'cp-rbac-test' }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(statusCode(stillDenied)).toBe(403);
  });

  it('stop() leaves no process and no folder', async () => {
    const { pids, dir } = cp;
    const t0 = performance.now();
    await cp.stop();
    console.log(`control plane stopped in ${Math.round(performance.now() - t0)} ms`);
    expect(processExists(pids.etcd)).toBe(false);
    expect(processExists(pids.kubeApiserver)).toBe(false);
    expect(fs.existsSync(dir)).toBe(false);
    await cp.stop(); // idempotent
  });
});
