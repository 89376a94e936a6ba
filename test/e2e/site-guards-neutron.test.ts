// The deletion guards and the policy-in-use refusal of the site-to-site kinds on real Neutron + Keystone (where the
// simulator's faithfulness matters most: Neutron answers 409 VPNServiceInUse / IKEPolicyInUse / IPsecPolicyInUse and
// 400 EndpointGroupInUse). One site on the suite's own router (seeded router 11, index 10): everything the
// connection uses deleted while it exists shows DeleteBlocked naming it and no DELETE reaches Neutron (the
// operator's own request metrics); an IKE policy change is UpdateBlocked quoting Neutron's IKEPolicyInUse; the
// connection deleted, everything goes, never a DELETE answered 409 or 400, nothing left in Neutron.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Objects, readyOf, type Obj } from '../support/objects.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { ensureLocalOpenStack, type LocalOpenStack } from '../support/openstack.ts';

let cp: ControlPlane;
let os: LocalOpenStack;
let kube: KubeClient;
let op: OperatorProcess;
let neutron: Cloud;
let objs: Objects;
let ns: string;
let router: LocalOpenStack['seed']['routersWithGateway'][number];

beforeAll(async () => {
  [cp, os] = await Promise.all([startControlPlane(), ensureLocalOpenStack()]);
  kube = new KubeClient(cp.kubeConfig);
  objs = new Objects(kube);
  await installCrd(kube);
  const cloudsYaml = readFileSync(os.cloudsYamlPath, 'utf8');
  neutron = createCloud(loadCloudConfigFromString(cloudsYaml, 'local'));
  router = os.seed.routersWithGateway[10]!;
  // Real Neutron keeps what an earlier run left: the suite's router starts without VPN services.
  for (const v of await neutron.vpnServices.list({ routerId: router.id })) {
    for (const c of await neutron.siteConnections.list({ vpnservice_id: v.id })) await neutron.siteConnections.delete(c.id);
    await neutron.vpnServices.delete(v.id);
  }
  ns = `sgn-${Date.now().toString(36)}`;
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'local', args: ['--resync', '3s'] }).start();
}, 900_000);

afterAll(async () => {
  await op?.dispose();
  await cp?.stop();
  await neutron?.close();
});

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const port = await eventually(() => op.metricsPort(), 'metrics port');
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const api = 'vpnaas.dev/v1alpha1';
const names = { svc: 'g-svc', ike: 'g-ike', ipsec: 'g-ipsec', local: 'g-local', peer: 'g-peer', conn: 'g-conn' };
const targets = [
  { kind: 'VpnService', name: names.svc },
  { kind: 'IKEPolicy', name: names.ike },
  { kind: 'IPsecPolicy', name: names.ipsec },
  { kind: 'EndpointGroup', name: names.local },
  { kind: 'EndpointGroup', name: names.peer },
];

describe('site deletion guards and a policy in use, on real Neutron', () => {
  it('DeleteBlocked naming the connection with no DELETE sent; UpdateBlocked quoting IKEPolicyInUse; then everything goes with no 409/400', async () => {
    const m = (name: string): Obj['metadata'] => ({ name, namespace: ns });
    const list: Obj[] = [
      { apiVersion: 'v1', kind: 'Secret', metadata: m('g-psk'), stringData: { psk: 'guard-Key-0e6b1c55d2' } },
      { apiVersion: api, kind: 'VpnService', metadata: m(names.svc), spec: { routerId: router.id } },
      { apiVersion: api, kind: 'IKEPolicy', metadata: m(names.ike), spec: { ikeVersion: 'v2', encryptionAlgorithm: 'aes-256' } },
      { apiVersion: api, kind: 'IPsecPolicy', metadata: m(names.ipsec), spec: { encryptionAlgorithm: 'aes-256' } },
      { apiVersion: api, kind: 'EndpointGroup', metadata: m(names.local), spec: { type: 'subnet', endpoints: [router.subnetId] } },
      { apiVersion: api, kind: 'EndpointGroup', metadata: m(names.peer), spec: { type: 'cidr', endpoints: ['10.77.0.0/24'] } },
      {
        apiVersion: api,
        kind: 'IPsecSiteConnection',
        metadata: m(names.conn),
        spec: {
          vpnServiceRef: { name: names.svc },
          ikePolicyRef: { name: names.ike },
          ipsecPolicyRef: { name: names.ipsec },
          localEndpointGroupRef: { name: names.local },
          peerEndpointGroupRef: { name: names.peer },
          peerAddress: os.seed.routersWithGateway[11]!.gatewayIp,
          pskSecretRef: { name: 'g-psk', key: 'psk' },
        },
      },
    ];
    for (const o of list) await objs.create(o);
    // No agent here: the service and the connection stay PENDING_CREATE (Provisioning); the rest is Active.
    const conn = await objs.waitReason('IPsecSiteConnection', ns, names.conn, 'Provisioning', 120_000);
    const ids: Record<string, string> = { conn: conn.status!.id! };
    for (const t of targets) ids[t.name] = (await objs.get(t.kind, ns, t.name))!.status!.id!;

    // A policy in use: Neutron refuses the change (409 IKEPolicyInUse); the object says so and who uses it.
    await objs.patch('IKEPolicy', ns, names.ike, { spec: { encryptionAlgorithm: 'aes-128' } });
    const blocked = await objs.waitReason('IKEPolicy', ns, names.ike, 'UpdateBlocked', 60_000);
    expect(readyOf(blocked)!.message).toContain('IKEPolicyInUse');
    expect(readyOf(blocked)!.message).toContain(`IPsecSiteConnection ${ns}/${names.conn}`);
    expect((await neutron.ikePolicies.get(ids[names.ike]!)).encryption_algorithm).toBe('aes-256');
    await objs.patch('IKEPolicy', ns, names.ike, { spec: { encryptionAlgorithm: 'aes-256' } });

    // Everything the connection uses, deleted first: DeleteBlocked naming it, nothing sent.
    const deletesBefore = await metric('vpnaas_cloud_requests_total', { method: 'DELETE' });
    for (const t of targets) await objs.remove(t.kind, ns, t.name);
    for (const t of targets) {
      const o = await objs.waitReason(t.kind, ns, t.name, 'DeleteBlocked', 60_000);
      expect(readyOf(o)!.message, `${t.kind}/${t.name}`).toContain(`IPsecSiteConnection ${ns}/${names.conn}`);
    }
    await new Promise((r) => setTimeout(r, 4_000)); // over a resync period
    expect(await metric('vpnaas_cloud_requests_total', { method: 'DELETE' })).toBe(deletesBefore);
    expect((await neutron.vpnServices.get(ids[names.svc]!)).id).toBe(ids[names.svc]);
    expect((await neutron.ikePolicies.get(ids[names.ike]!)).id).toBe(ids[names.ike]);
    expect((await neutron.ipsecPolicies.get(ids[names.ipsec]!)).id).toBe(ids[names.ipsec]);
    expect((await neutron.endpointGroups.get(ids[names.local]!)).id).toBe(ids[names.local]);
    expect((await neutron.endpointGroups.get(ids[names.peer]!)).id).toBe(ids[names.peer]);

    // The connection goes: then everything, without a refusal.
    const t0 = Date.now();
    await objs.remove('IPsecSiteConnection', ns, names.conn);
    for (const t of [...targets, { kind: 'IPsecSiteConnection', name: names.conn }]) await objs.waitGone(t.kind, ns, t.name, 120_000);
    const deletes = (await metric('vpnaas_cloud_requests_total', { method: 'DELETE' })) - deletesBefore;
    const refused = (await metric('vpnaas_cloud_requests_total', { method: 'DELETE', status: '409' })) + (await metric('vpnaas_cloud_requests_total', { method: 'DELETE', status: '400' }));
    console.log(`[figures] guarded delete of a site on real Neutron: ${((Date.now() - t0) / 1000).toFixed(1)} s after the connection's delete, ${deletes} DELETE requests, ${refused} answered 409/400`);
    expect(refused).toBe(0);
    expect(deletes).toBeGreaterThanOrEqual(6);
    await expect(neutron.siteConnections.get(ids.conn!)).rejects.toMatchObject({ status: 404 });
    await expect(neutron.vpnServices.get(ids[names.svc]!)).rejects.toMatchObject({ status: 404 });
    await expect(neutron.ikePolicies.get(ids[names.ike]!)).rejects.toMatchObject({ status: 404 });
    await expect(neutron.ipsecPolicies.get(ids[names.ipsec]!)).rejects.toMatchObject({ status: 404 });
    await expect(neutron.endpointGroups.get(ids[names.local]!)).rejects.toMatchObject({ status: 404 });
    await expect(neutron.endpointGroups.get(ids[names.peer]!)).rejects.toMatchObject({ status: 404 });
  }, 400_000);
});
