// The whole site-to-site VPN against real Neutron + Keystone: examples/site-to-site/ (two VPCs connected both ways)
// applied in one go, dependents first. Tunnel states come from the agent stand-in (scripts/cloud/agent.py sends the
// ipsec_driver update_status RPC with ipsec_site_connections, as the VPN agent does; the real agent is issue 11).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Objects, exampleObjects, readyOf, siteToSiteVars } from '../support/objects.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { agentReport, ensureLocalOpenStack, type LocalOpenStack } from '../support/openstack.ts';

let cp: ControlPlane;
let os: LocalOpenStack;
let kube: KubeClient;
let op: OperatorProcess;
let neutron: Cloud;
let objs: Objects;
let ns: string;
let vars: Record<string, string>;
const PSK1 = 'first-Key-3c9e1f27b6a04d58';
const PSK2 = 'second-Key-8a1d44e0c7f2';

beforeAll(async () => {
  [cp, os] = await Promise.all([startControlPlane(), ensureLocalOpenStack()]);
  kube = new KubeClient(cp.kubeConfig);
  objs = new Objects(kube);
  await installCrd(kube);
  const cloudsYaml = readFileSync(os.cloudsYamlPath, 'utf8');
  neutron = createCloud(loadCloudConfigFromString(cloudsYaml, 'local'));
  // Routers 9 and 10 (indexes 8, 9) are this suite's.
  const [a, b] = [os.seed.routersWithGateway[8]!, os.seed.routersWithGateway[9]!];
  await cleanRouters([a.id, b.id]);
  vars = siteToSiteVars(a, b, PSK1);
  ns = `s2s-${Date.now().toString(36)}`;
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml, cloudName: 'local', args: ['--resync', '20s'] }).start();
}, 900_000);

afterAll(async () => {
  await op?.dispose();
  await cp?.stop();
  await neutron?.close();
});

/** Leaves the suite's routers without VPN services and site connections (real Neutron keeps them across runs). */
async function cleanRouters(routerIds: string[]): Promise<void> {
  for (const r of routerIds) {
    for (const v of await neutron.vpnServices.list({ routerId: r })) {
      for (const c of await neutron.siteConnections.list({ vpnservice_id: v.id })) await neutron.siteConnections.delete(c.id);
      await neutron.vpnServices.delete(v.id);
    }
  }
}

const example = () => exampleObjects('site-to-site', vars, ns);
const conns = ['vpc-a-to-b', 'vpc-b-to-a'];

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

describe('site to site on real Neutron', () => {
  const ids: Record<string, string> = {};

  it('the example applied dependents first: connections wait naming what they wait for, then everything exists; Ready follows the tunnel', async () => {
    const all = example();
    // Worst order: the connections first, their VPN services last.
    for (const o of [...all].reverse()) await objs.create(o);
    const waiting = await objs.waitReason('IPsecSiteConnection', ns, 'vpc-a-to-b', (r) => r !== undefined, 30_000);
    // It may already be past Waiting when the others were quick; when it waited, it said what for.
    const first = readyOf(waiting)!;
    if (first.reason === 'Waiting') expect(first.message).toMatch(/VpnService vpc-a|IKEPolicy ike|IPsecPolicy ipsec|EndpointGroup vpc-a/);

    for (const o of all.filter((x) => x.kind !== 'Secret')) {
      const want = o.kind === 'VpnService' || o.kind === 'IPsecSiteConnection' ? 'Provisioning' : 'Active';
      const got = await objs.waitReason(o.kind, ns, o.metadata.name, want, 90_000);
      ids[`${o.kind}/${o.metadata.name}`] = got.status!.id!;
    }
    const a = await neutron.siteConnections.get(ids['IPsecSiteConnection/vpc-a-to-b']!);
    expect(a).toMatchObject({
      vpnservice_id: ids['VpnService/vpc-a'],
      ikepolicy_id: ids['IKEPolicy/ike'],
      ipsecpolicy_id: ids['IPsecPolicy/ipsec'],
      local_ep_group_id: ids['EndpointGroup/vpc-a-local'],
      peer_ep_group_id: ids['EndpointGroup/vpc-a-peer'],
      peer_address: vars.GATEWAY_B,
      peer_id: vars.GATEWAY_B,
      status: 'PENDING_CREATE',
      dpd: { action: 'restart', interval: 15, timeout: 60 },
      psk: PSK1,
    });
    expect(await neutron.ikePolicies.get(ids['IKEPolicy/ike']!)).toMatchObject({ ike_version: 'v2', encryption_algorithm: 'aes-256', auth_algorithm: 'sha256', pfs: 'group14', lifetime: { units: 'seconds', value: 28800 } });
    expect(await neutron.endpointGroups.get(ids['EndpointGroup/vpc-a-peer']!)).toMatchObject({ type: 'cidr', endpoints: [vars.CIDR_B] });

    // The agent brings both tunnels up: the connections and the services become Ready.
    for (const [svc, conn] of [['vpc-a', 'vpc-a-to-b'], ['vpc-b', 'vpc-b-to-a']] as const) {
      await agentReport(os.info.neutronConf, [ids[`VpnService/${svc}`]!], 'ACTIVE', { connections: { [ids[`IPsecSiteConnection/${conn}`]!]: 'ACTIVE' } });
    }
    for (const c of conns) {
      const o = await objs.waitReason('IPsecSiteConnection', ns, c, 'Active', 60_000);
      expect(o.status).toMatchObject({ status: 'ACTIVE', vpnServiceId: expect.any(String), pskSecretVersion: expect.any(String) });
    }
    await objs.waitReason('VpnService', ns, 'vpc-a', 'Active', 60_000);

    // The tunnel of A goes down: its condition says so (followed every 30 s in bulk).
    await agentReport(os.info.neutronConf, [ids['VpnService/vpc-a']!], 'ACTIVE', { connections: { [ids['IPsecSiteConnection/vpc-a-to-b']!]: 'DOWN' } });
    const down = await objs.waitReason('IPsecSiteConnection', ns, 'vpc-a-to-b', 'Down', 60_000);
    expect(readyOf(down)!.message).toContain('pre-shared key');
    expect(down.status?.status).toBe('DOWN');
  });

  it('a new PSK in the Secret is applied to both connections with a PUT, and the key is never shown', async () => {
    await objs.patch('Secret', ns, 'vpn-psk', { stringData: { psk: PSK2 } });
    for (const c of conns) {
      await eventually(async () => (await neutron.siteConnections.get(ids[`IPsecSiteConnection/${c}`]!)).psk === PSK2, `${c} has the new PSK`, 60_000, 500);
    }
    // Neither key appears in a status, an event or a log line.
    const shown = JSON.stringify(await Promise.all(conns.map((c) => objs.get('IPsecSiteConnection', ns, c))));
    const events = JSON.stringify(await kube.request('GET', `/api/v1/namespaces/${ns}/events`));
    for (const k of [PSK1, PSK2]) {
      expect(shown).not.toContain(k);
      expect(events).not.toContain(k);
      expect(op.output()).not.toContain(k);
    }
    // A key that breaks the rules is not sent: InvalidSpec names the rule, the cloud keeps the last good key.
    await objs.patch('Secret', ns, 'vpn-psk', { stringData: { psk: 'has space?' } });
    const bad = await objs.waitReason('IPsecSiteConnection', ns, 'vpc-b-to-a', 'InvalidSpec', 60_000);
    expect(readyOf(bad)!.message).toMatch(/6 to 128 characters.*no spaces/);
    expect(readyOf(bad)!.message).not.toContain('has space');
    expect((await neutron.siteConnections.get(ids['IPsecSiteConnection/vpc-b-to-a']!)).psk).toBe(PSK2);
    await objs.patch('Secret', ns, 'vpn-psk', { stringData: { psk: PSK2 } });
    await objs.waitReason('IPsecSiteConnection', ns, 'vpc-b-to-a', 'Active', 60_000);
  });

  it("an endpoint group's CIDRs edited while a connection uses it: a new group, the connection moved to it, the old one deleted", async () => {
    const oldId = ids['EndpointGroup/vpc-a-peer']!;
    const t0 = Date.now();
    await objs.patch('EndpointGroup', ns, 'vpc-a-peer', { spec: { endpoints: [vars.CIDR_B!, '192.168.77.0/24'] } });
    const moved = await eventually(async () => {
      const g = await objs.get('EndpointGroup', ns, 'vpc-a-peer');
      const c = await objs.get('IPsecSiteConnection', ns, 'vpc-a-to-b');
      const newId = g?.status?.id;
      return newId && newId !== oldId && !g.status?.retiredIds?.length && c?.status?.peerEndpointGroupId === newId && readyOf(g)?.reason === 'Active' ? newId : undefined;
    }, 'the group replaced and the connection moved', 90_000, 250);
    const seconds = (Date.now() - t0) / 1000;
    expect((await neutron.siteConnections.get(ids['IPsecSiteConnection/vpc-a-to-b']!)).peer_ep_group_id).toBe(moved);
    expect((await neutron.endpointGroups.get(moved)).endpoints.sort()).toEqual([vars.CIDR_B!, '192.168.77.0/24'].sort());
    await expect(neutron.endpointGroups.get(oldId)).rejects.toMatchObject({ status: 404 });
    ids['EndpointGroup/vpc-a-peer'] = moved;
    console.log(`[figures] endpoint group CIDR change with a connection using it: replaced in ${seconds.toFixed(1)} s`);
  });

  it('everything deleted in one command (services first): converges in dependency order, no 409, nothing left in Neutron', async () => {
    const before = await metric('vpnaas_cloud_requests_total', { method: 'DELETE', status: '409' });
    const requestsBefore = await metric('vpnaas_cloud_requests_total', { method: 'DELETE' });
    const t0 = Date.now();
    const all = example().filter((o) => o.kind !== 'Secret');
    await Promise.all(all.map((o) => objs.remove(o.kind, ns, o.metadata.name)));
    // While its connection exists, a VPN service says who still uses it.
    const blocked = await objs.get('VpnService', ns, 'vpc-a');
    if (blocked) expect(['DeleteBlocked', 'Active', 'Deleting']).toContain(readyOf(blocked)?.reason);
    for (const o of all) await objs.waitGone(o.kind, ns, o.metadata.name, 120_000);
    const seconds = (Date.now() - t0) / 1000;
    expect(await metric('vpnaas_cloud_requests_total', { method: 'DELETE', status: '409' })).toBe(before);
    const deletes = (await metric('vpnaas_cloud_requests_total', { method: 'DELETE' })) - requestsBefore;
    for (const [key, id] of Object.entries(ids)) {
      const kind = key.split('/')[0]!;
      const api = { VpnService: neutron.vpnServices, IKEPolicy: neutron.ikePolicies, IPsecPolicy: neutron.ipsecPolicies, EndpointGroup: neutron.endpointGroups, IPsecSiteConnection: neutron.siteConnections }[kind]!;
      await expect(api.get(id)).rejects.toMatchObject({ status: 404 });
    }
    console.log(`[figures] ordered delete of ${all.length} objects: ${seconds.toFixed(1)} s, ${deletes} DELETE requests, 0 answered 409`);
  });
});


