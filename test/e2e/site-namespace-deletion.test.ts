// Deleting a namespace that holds whole site-to-site VPNs (SPEC §3.6, §3.13), with the real namespace controller
// (kube-controller-manager): it deletes the connections, the VpnServices, policies, endpoint groups and the PSK
// Secret all at once, in no order of ours. Asserted, in the simulator's upstream mode: the namespace goes within a
// bound (printed), the cloud never answers a DELETE with 409 (in use) or 400 EndpointGroupInUse (the operator
// deletes what is used only once its users are gone, not by trying), nothing of the sites is left, and the Orphan
// site's resources stay.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { KubeApiError } from '../../src/kube/client.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Objects } from '../support/objects.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { inventory, newSite, requests, siteManaged, siteObjects } from '../support/sites.ts';
import { Vpns } from '../support/vpns.ts';

const BOUND_MS = 90_000;

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;
let objs: Objects;
let vpns: Vpns;
let neutron: Cloud;
let op: OperatorProcess;

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane({ controllerManager: true }), startSimulator({ seedRules: false, activeDelayMs: 300 })]);
  kube = new KubeClient(cp.kubeConfig);
  objs = new Objects(kube);
  vpns = new Vpns(kube);
  await installCrd(kube);
  neutron = createCloud(loadCloudConfigFromString(sim.cloudsYaml('sim'), 'sim'));
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '5s'] }).start();
});
afterAll(async () => {
  await op?.dispose();
  await neutron?.close();
  await Promise.all([cp?.stop(), sim?.stop()]);
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

describe('namespace deletion of whole sites, simulator in upstream mode', () => {
  it('three Ready sites (one all Orphan) in a namespace: the namespace goes, no DELETE answered 409/400, nothing left but the Orphan site', async () => {
    const ns = await vpns.namespace('sg-nsdel');
    const sites = [newSite(sim, ns, 'na'), newSite(sim, ns, 'nb'), newSite(sim, ns, 'nk')];
    const [a, b, kept] = sites as [typeof sites[0], typeof sites[0], typeof sites[0]];
    for (const o of [...siteObjects(a), ...siteObjects(b), ...siteObjects(kept, { deletionPolicy: 'Orphan' })]) await objs.create(o);
    for (const s of sites) for (const m of siteManaged(s)) await objs.waitReason(m.kind, ns, m.name, 'Active', 60_000);
    const keptIds = new Set<string>();
    for (const m of siteManaged(kept)) keptIds.add((await objs.get(m.kind, ns, m.name))!.status!.id!);
    const mine = async () => (await inventory(neutron)).filter((i) => sites.some((s) => i.name.startsWith(`${s.prefix}-`)));
    expect(await mine()).toHaveLength(18);

    const from = Date.now();
    await kube.request('DELETE', `/api/v1/namespaces/${ns}`);
    let goneMs: number | undefined;
    try {
      await eventually(() => namespaceGone(ns), `namespace ${ns} gone`, BOUND_MS, 250);
      goneMs = Date.now() - from;
    } finally {
      const deletes = requests(sim, 'DELETE', '/v2.0/vpn/', from);
      const refused = deletes.filter((e) => e.status === 409 || e.status === 400);
      const left = await mine();
      console.log(
        `[figures] namespace deletion of 3 sites (18 objects, 6 Orphan): ${goneMs === undefined ? `NOT gone after ${BOUND_MS} ms` : `gone ${goneMs} ms after the DELETE`}; ` +
          `${deletes.length} DELETE requests to the cloud, ${refused.length} answered 409/400; left in the cloud ${left.length} (${left.filter((i) => keptIds.has(i.id)).length} of the Orphan site)`,
      );
    }
    const deletes = requests(sim, 'DELETE', '/v2.0/vpn/', from);
    expect(deletes.filter((e) => e.status === 409 || e.status === 400).map((e) => `${e.path} ${e.status}`)).toEqual([]);
    const left = await mine();
    expect(left.map((i) => i.id).sort()).toEqual([...keptIds].sort());
    // The Orphan site's resources, cleaned up by hand (dependents first).
    const byKind = (k: string) => left.filter((i) => i.kind === k).map((i) => i.id);
    for (const id of byKind('IPsecSiteConnection')) await neutron.siteConnections.delete(id);
    for (const id of byKind('VpnService')) await neutron.vpnServices.delete(id);
    for (const id of byKind('IKEPolicy')) await neutron.ikePolicies.delete(id);
    for (const id of byKind('IPsecPolicy')) await neutron.ipsecPolicies.delete(id);
    for (const id of byKind('EndpointGroup')) await neutron.endpointGroups.delete(id);
  }, 240_000);
});
