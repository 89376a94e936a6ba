// End to end against a real OpenStack: Keystone + Neutron with neutron-vpnaas (Debian's packages, on loopback),
// the operator configured only by the generated clouds.yaml (password auth, endpoint from the catalog), and a real
// kube-apiserver. The VPN agent's status report is sent the way a real agent sends it (RPC over RabbitMQ), by the
// agent stand-in (scripts/cloud/agent.py): the tests need ACTIVE and DOWN at chosen moments; the real agent is in
// test/e2e/tunnel.test.ts.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { ensureLocalOpenStack, type LocalOpenStack } from '../support/openstack.ts';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';

let cp: ControlPlane;
let os: LocalOpenStack;
let kube: KubeClient;
let op: OperatorProcess;
let neutron: Cloud;
let cloudsYaml: string;
let routers: LocalOpenStack['seed']['routersWithGateway'];

beforeAll(async () => {
  [cp, os] = await Promise.all([startControlPlane(), ensureLocalOpenStack()]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
  cloudsYaml = readFileSync(os.cloudsYamlPath, 'utf8');
  neutron = createCloud(loadCloudConfigFromString(cloudsYaml, 'local'));
  // Routers 3–6 are this suite's (the smoke test uses 1–2, the contract suite 7–8; they may run at once).
  routers = os.seed.routersWithGateway.slice(2, 6);
  // start from routers without VPN services
  for (const r of routers) for (const v of await neutron.vpnServices.list({ routerId: r.id })) await neutron.vpnServices.delete(v.id);
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'local', args: ['--resync', '3s'] }).start();
}, 900_000);

afterAll(async () => {
  await op?.dispose();
  await cp?.stop();
  await neutron?.close();
});

let vpns: Vpns;
const namespace = () => vpns.namespace('neutron');
const apply = (ns: string, name: string, spec: Record<string, unknown>) => vpns.apply(ns, name, spec);
const get = (ns: string, name: string) => vpns.get(ns, name);
const waitReason = (ns: string, name: string, reason: string, timeoutMs = 60_000) => vpns.waitReason(ns, name, reason, timeoutMs);

describe('against real Neutron', () => {
  it('a VpnService gets a real VPN service: Provisioning while PENDING_CREATE, Ready once the agent reports ACTIVE, DOWN reflected, deleted from Neutron', async () => {
    const ns = await namespace();
    const r = routers[0]!;
    await apply(ns, 'site', { routerId: r.id, description: 'to the office' });
    const prov = await waitReason(ns, 'site', 'Provisioning');
    expect(prov.status).toMatchObject({ status: 'PENDING_CREATE', externalV4Ip: r.gatewayIp, routerId: r.id, tenantId: os.seed.projectId });
    const id = prov.status!.id!;
    const inNeutron = await neutron.vpnServices.get(id);
    expect(inNeutron).toMatchObject({ name: 'site', description: 'to the office', router_id: r.id, external_v4_ip: r.gatewayIp });

    await os.agentReport(id, 'ACTIVE');
    const active = await waitReason(ns, 'site', 'Active');
    expect(ready(active)?.status).toBe('True');
    expect(active.status?.status).toBe('ACTIVE');

    await os.agentReport(id, 'DOWN');
    const down = await waitReason(ns, 'site', 'Down', 30_000);
    expect(down.status?.status).toBe('DOWN');

    await kube.request('DELETE', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/site`);
    await eventually(async () => (await get(ns, 'site')) === undefined, 'object gone');
    expect(await neutron.vpnServices.list({ routerId: r.id })).toEqual([]);
  });

  it('a router without gateway → Stalled, quoting Neutron', async () => {
    const ns = await namespace();
    await apply(ns, 'nogw', { routerId: os.seed.routerWithoutGateway.id });
    const o = await waitReason(ns, 'nogw', 'InvalidSpec');
    expect(o.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
    expect(ready(o)?.message).toContain('RouterIsNotExternal');
    expect(ready(o)?.message).toContain(os.seed.routerWithoutGateway.id);
  });

  it('a router that does not exist (or that the credentials cannot see) → RouterNotFound, Stalled, no claim', async () => {
    const ns = await namespace();
    const missing = randomUUID();
    await apply(ns, 'missing', { routerId: missing });
    const o = await waitReason(ns, 'missing', 'RouterNotFound');
    expect(o.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
    expect(ready(o)?.message).toContain(`no router ${missing}`);
    // It is no claimant: no create intent is left on it.
    expect(o.metadata.annotations?.['vpnaas.dev/create-intent']).toBeUndefined();
  });

  it('two objects on one router → conflict, although Neutron alone would allow both', async () => {
    const [nsA, nsB] = [await namespace(), await namespace()];
    const r = routers[1]!;
    await apply(nsA, 'older', { routerId: r.id });
    await waitReason(nsA, 'older', 'Provisioning');
    await new Promise((res) => setTimeout(res, 1100));
    await apply(nsB, 'younger', { routerId: r.id });
    const b = await waitReason(nsB, 'younger', 'RouterConflict');
    expect(ready(b)?.message).toContain(`${nsA}/older`);
    expect(await neutron.vpnServices.list({ routerId: r.id })).toHaveLength(1);
    await kube.request('DELETE', `/apis/vpnaas.dev/v1alpha1/namespaces/${nsA}/vpnservices/older`);
    const after = await waitReason(nsB, 'younger', 'Provisioning');
    const left = await neutron.vpnServices.list({ routerId: r.id });
    expect(left.map((v) => v.id)).toEqual([after.status!.id]);
    await kube.request('DELETE', `/apis/vpnaas.dev/v1alpha1/namespaces/${nsB}/vpnservices/younger`);
    await eventually(async () => (await neutron.vpnServices.list({ routerId: r.id })).length === 0, 'cleaned up');
  });

  it('a wrong password → AuthFailed, and nothing else is disturbed', async () => {
    const ns = await namespace();
    const doc = YAML.parse(cloudsYaml) as { clouds: { local: { auth: { password: string } } } };
    const wrong = cloudsYaml.replace(doc.clouds.local.auth.password, 'wrong-password');
    await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'wrong' },
      stringData: { 'clouds.yaml': wrong },
    });
    const r = routers[2]!;
    await apply(ns, 'badauth', { routerId: r.id, cloudCredentialsRef: { secretName: 'wrong', cloudName: 'local' } });
    const o = await waitReason(ns, 'badauth', 'AuthFailed');
    expect(o.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
    expect(await neutron.vpnServices.list({ routerId: r.id })).toEqual([]);
    // the default cloud keeps working
    const r2 = routers[3]!;
    await apply(ns, 'fine', { routerId: r2.id });
    const fine = await waitReason(ns, 'fine', 'Provisioning');
    await os.agentReport(fine.status!.id!, 'ACTIVE');
    await waitReason(ns, 'fine', 'Active');
    expect(op.output()).not.toContain(doc.clouds.local.auth.password);
    await kube.request('DELETE', `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices/fine`);
    await eventually(async () => (await neutron.vpnServices.list({ routerId: r2.id })).length === 0, 'cleaned up');
  });
});
