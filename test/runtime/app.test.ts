// The operator process as users run it (`node src/main.ts run`), against a real kube-apiserver: flags, /healthz,
// /readyz and what it says when the VpnService CRD is missing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';

let cp: ControlPlane;
let kube: KubeClient;
const ops: OperatorProcess[] = [];

function operator(args: string[]): OperatorProcess {
  const op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, args });
  ops.push(op);
  return op.start();
}

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
});

afterAll(async () => {
  await Promise.all(ops.map((o) => o.dispose()));
  await cp?.stop();
});

describe('flags', () => {
  it('--metrics-port -1 (as --help says) runs the operator without the HTTP server', async () => {
    await installCrd(kube);
    const op = operator(['--metrics-port', '-1']);
    await eventually(() => op.records().some((r) => r.message === 'cache synced'), 'cache synced', 60_000);
    expect(op.records().some((r) => typeof r.message === 'string' && r.message.includes('the server is disabled (--metrics-port -1)'))).toBe(true);
    expect(op.metricsPort()).toBeUndefined();
    expect(op.output()).not.toContain('http server listening');
  });

  it('refuses a bad --metrics-port with a clear message', async () => {
    for (const v of ['-2', '65536', 'x']) {
      const op = operator(['--metrics-port', v]);
      await eventually(() => op.output().includes('--metrics-port:'), `refusal of ${v}`, 30_000);
      expect(op.output()).toContain('--metrics-port: a port number (0-65535), or -1 to disable the server');
      expect(await op.stop()).toBe(2);
    }
  });
});
