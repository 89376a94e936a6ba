// An object the API server accepts but the operator cannot read (here: written under a looser version of the CRD,
// with a description over the 255 characters the operator's schema allows) is not taken for deleted: it keeps its
// router (another object on it still gets RouterConflict) and its cloud service, and its status says what to do.
// Fixed, it is reconciled again. (Before: its claim was released and a second object created on its router.)
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { CRD_PATH, KubeClient } from '../support/kube.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';

let cp: ControlPlane;
let sim: Simulator;
let op: OperatorProcess;
let kube: KubeClient;
let vpns: Vpns;

type Crd = { spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, Record<string, unknown>> } } } } }> } };

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 200, seedRules: false })]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  // A looser CRD than the operator's: no length limit on spec.description.
  const crd = YAML.parse(readFileSync(CRD_PATH, 'utf8')) as Crd;
  delete crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties.description!.maxLength;
  await kube.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  await eventually(async () => {
    try {
      await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices');
      return true;
    } catch {
      return undefined;
    }
  }, 'the CRD served', 30_000);
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '3s'] }).start();
});
afterAll(async () => {
  await op?.dispose();
  await Promise.all([sim?.stop(), cp?.stop()]);
});

describe('an object the operator cannot read', () => {
  it('keeps its claim and its cloud service, says what to do, and is reconciled again once fixed', async () => {
    const ns = await vpns.namespace('unparsable');
    const router = randomUUID();
    sim.addRouter({ id: router, gatewayV4: '198.51.100.77' });
    await vpns.apply(ns, 'a', { routerId: router, description: 'fine' });
    const a = await vpns.waitReason(ns, 'a', 'Active');
    const id = a.status!.id!;

    await kube.request('PATCH', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/a`, { spec: { description: 'x'.repeat(300) } }, MERGE_PATCH);
    // Read raw: the object does not parse with the operator's schema (nor with the test helpers').
    type Raw = { status?: { id?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }> } };
    const shown = await eventually(async () => {
      const o = (await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/a`)) as Raw;
      return o.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'InvalidSpec' ? o : undefined;
    }, 'a shows InvalidSpec', 30_000);
    const cond = shown.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(cond.message).toContain('cannot read this object');
    expect(cond.message).toContain('spec.description');
    expect(shown.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
    expect(shown.status?.id).toBe(id);

    // Its router stays claimed: a younger object on it conflicts and creates nothing.
    await new Promise((r) => setTimeout(r, 1_100));
    await vpns.apply(ns, 'b', { routerId: router });
    const b = await vpns.waitReason(ns, 'b', 'RouterConflict', 30_000);
    expect(ready(b)?.message).toContain(`${ns}/a`);
    expect(sim.services().filter((s) => s.router_id === router).map((s) => s.id)).toEqual([id]);

    // Fixed: reconciled again, still the one service.
    await kube.request('PATCH', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/a`, { spec: { description: 'fixed' } }, MERGE_PATCH);
    await vpns.waitReason(ns, 'a', 'Active', 30_000);
    await eventually(() => sim.service(id)?.description === 'fixed', 'the fixed description in the cloud', 30_000);
    expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(1);
  });
});
