// The guarantees of the four site-to-site kinds (IKEPolicy, IPsecPolicy, EndpointGroup, IPsecSiteConnection, with
// their VpnService), end to end against the simulator in upstream mode (no seed rules: nothing in the cloud refuses
// a duplicate name, a second service on a router or a bad PSK, so every check below rests on the operator alone):
// 1. crashes: sites created while the operator is SIGKILLed exactly between "the cloud created it" and "the operator
//    learnt it" (for each kind, through our proxy) and at random moments, with lost responses, hangs past the request
//    timeout and 5xx from the cloud: every object ends with exactly one cloud resource of its name, the cloud
//    performed exactly one create per object, and after deleting everything nothing is left;
// 2. drift: a connection, a VPN service, an endpoint group deleted out of band are recreated and the connections
//    follow; policies changed out of band are put back;
// 3. deletion guards (DeleteBlocked naming the connection, no DELETE sent while it exists), Orphan and importId on
//    every kind (an imported connection whose references differ is refused, never replaced);
// 4. the PSK: a missing Secret is Waiting (named), a key breaking the rule is InvalidSpec with nothing sent, and the
//    key never reaches a log line, event, status or metric, also when the cloud's error echoes it;
// 5. a policy in use: UpdateBlocked naming the users (the simulator refuses as Neutron does, 409 IKEPolicyInUse).
// Namespace deletion of whole sites, with the real namespace controller: site-namespace-deletion.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Objects, readyOf, type Obj } from '../support/objects.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startProxy, type Proxy } from '../support/proxy.ts';
import { Vpns } from '../support/vpns.ts';
import { COLLECTION, SITE_KINDS, countByName, createsPerKind, inventory, newSite, requests, siteManaged, siteObjects, type Site, type SiteKind } from '../support/sites.ts';

const SITES = Number(process.env.SITE_CRASH_SITES ?? 6);
const RANDOM_KILLS = Number(process.env.SITE_CRASH_KILLS ?? 6);

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;
let objs: Objects;
let vpns: Vpns;
let neutron: Cloud;

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ seedRules: false, activeDelayMs: 300 })]);
  kube = new KubeClient(cp.kubeConfig);
  objs = new Objects(kube);
  vpns = new Vpns(kube);
  await installCrd(kube);
  neutron = createCloud(loadCloudConfigFromString(sim.cloudsYaml('sim'), 'sim'));
});
afterAll(async () => {
  await neutron?.close();
  await Promise.all([cp?.stop(), sim?.stop()]);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** clouds.yaml of the simulator with a short request timeout and, optionally, the network endpoint behind a proxy. */
function cloudsYaml(opts: { proxy?: Proxy; timeoutS?: number } = {}): string {
  const doc = YAML.parse(sim.cloudsYaml('sim')) as { clouds: { sim: Record<string, unknown> } };
  return YAML.stringify({
    clouds: { sim: { ...doc.clouds.sim, api_timeout: opts.timeoutS ?? 3, ...(opts.proxy ? { network_endpoint_override: opts.proxy.url } : {}) } },
  });
}

function operator(yaml = cloudsYaml(), args: string[] = []): OperatorProcess {
  return new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: yaml, cloudName: 'sim', args: ['--resync', '2s', ...args] }).start();
}

async function createAll(list: Obj[]): Promise<void> {
  for (const o of list) await objs.create(o);
}

/** Every object of a site Ready (the connection's tunnel ACTIVE). */
async function waitSiteReady(s: Site, timeoutMs = 60_000): Promise<Record<string, Obj>> {
  const out: Record<string, Obj> = {};
  for (const m of siteManaged(s)) out[m.name] = await objs.waitReason(m.kind, s.ns, m.name, 'Active', timeoutMs);
  return out;
}

async function removeSite(s: Site): Promise<void> {
  await Promise.all(siteManaged(s).map((m) => objs.remove(m.kind, s.ns, m.name)));
  for (const m of siteManaged(s)) await objs.waitGone(m.kind, s.ns, m.name, 60_000);
}

async function events(ns: string, name: string): Promise<Array<{ reason: string; type: string; message: string }>> {
  return vpns.events(ns, name);
}

/** The cloud resources whose names start with the site's prefix. */
async function cloudOf(s: Site) {
  return (await inventory(neutron)).filter((i) => i.name.startsWith(`${s.prefix}-`));
}

describe('1. crashes, lost responses, timeouts: at most one create per object, no duplicate, no leak', () => {
  it(`${SITES} sites (${SITES * 6} objects) under SIGKILLs right after each kind's create and at random, lost responses, hangs and 5xx`, async () => {
    const ns = await vpns.namespace('sg-crash');
    const proxy = await startProxy(sim.networkUrl);
    const yaml = cloudsYaml({ proxy, timeoutS: 3 });
    const sites = Array.from({ length: SITES }, (_, i) => newSite(sim, ns, `cr${i}`));
    const from = Date.now();

    // One operator at a time; a crash kills it and starts the next one.
    let op = operator(yaml);
    let chain: Promise<void> = Promise.resolve();
    let kills = 0;
    const crash = () =>
      (chain = chain.then(async () => {
        await op.kill();
        kills++;
        await op.dispose();
        op = operator(yaml);
      }));
    // Killed exactly after the cloud created the first resource of each kind, before the operator learns the id.
    const targeted = new Set<SiteKind>();
    proxy.setHook(async (x) => {
      const kind = SITE_KINDS.find((k) => x.method === 'POST' && x.url.split('?')[0] === COLLECTION[k]);
      if (!kind || x.status !== 201 || targeted.has(kind)) return 'forward';
      targeted.add(kind);
      await crash();
      return 'drop';
    });
    const faults = [
      sim.injectFault({ route: 'POST /v2.0/vpn/*', kind: 'lostResponse', rate: 0.15 }),
      sim.injectFault({ route: 'POST /v2.0/vpn/*', kind: 'hang', rate: 0.05 }),
      sim.injectFault({ route: 'POST /v2.0/vpn/*', status: 503, rate: 0.1 }),
      sim.injectFault({ route: 'GET /v2.0/vpn/*', status: 500, rate: 0.05 }),
      sim.injectFault({ route: 'DELETE /v2.0/vpn/*', status: 500, rate: 0.15 }),
      sim.injectFault({ route: 'DELETE /v2.0/vpn/*', kind: 'lostResponse', rate: 0.1 }),
      sim.injectFault({ route: '*', latencyMs: 60, rate: 0.3 }),
    ];
    let killing = true;
    let randomKills = 0;
    const killer = (async () => {
      while (killing || randomKills < RANDOM_KILLS) {
        await sleep(1_200 + Math.random() * 2_000);
        await crash();
        randomKills++;
      }
    })();
    const t0 = Date.now();
    try {
      // Dependents first (the worst order), sites interleaved.
      const all = sites.map((s) => siteObjects(s));
      for (let i = 0; i < all[0]!.length; i++) for (const l of all) await objs.create(l[l.length - 1 - i]!);
      killing = false;
      await killer;
      // The random kills are over; the targeted ones go on until each kind had its create cut off (the VPN services
      // and the connections come last: dependents wait for what they reference).
      await eventually(() => targeted.size === SITE_KINDS.length, `a kill right after a create of each kind (had ${[...targeted].join(', ')})`, 120_000, 200);
      await chain;
      proxy.setHook(null);
      const faultHits = sim.faults().reduce((n, f) => n + f.hits, 0);
      for (const f of faults) f();
      const chaosMs = Date.now() - t0;
      // Converges with the operator undisturbed.
      let notReady: string[] = [];
      await eventually(
        async () => {
          notReady = [];
          for (const s of sites) {
            for (const m of siteManaged(s)) {
              const r = readyOf(await objs.get(m.kind, ns, m.name));
              if (r?.reason !== 'Active') notReady.push(`${m.kind}/${m.name}: ${r?.reason}: ${r?.message}`);
            }
          }
          return notReady.length === 0;
        },
        'every object of every site Active',
        120_000,
        1_000,
      ).catch((err: unknown) => {
        throw new Error(`${(err as Error).message}\n${notReady.slice(0, 10).join('\n')}`);
      });
      const convergeMs = Date.now() - t0 - chaosMs;
      const managed = sites.flatMap(siteManaged);
      const counts = countByName(await inventory(neutron), managed);
      const creates = createsPerKind(sim, from);
      const want: Record<SiteKind, number> = { VpnService: SITES, IKEPolicy: SITES, IPsecPolicy: SITES, EndpointGroup: 2 * SITES, IPsecSiteConnection: SITES };
      console.log(
        `[figures] site crash: ${SITES} sites, ${managed.length} objects, ${kills} SIGKILLs (${targeted.size} right after a create of ${[...targeted].join(', ')}, ${randomKills} at random); ` +
          `POSTs per kind (landed/sent): ${SITE_KINDS.map((k) => `${k} ${creates[k].landed}/${creates[k].posts}`).join(', ')}; ` +
          `chaos ${chaosMs} ms, converged ${convergeMs} ms later; names with ≠1 resource: ${[...counts].filter(([, n]) => n !== 1).length}; cloud faults hit ${faultHits}`,
      );
      const seen = new Map<string, number>();
      for (const x of proxy.log) if (x.method === 'POST') seen.set(`${x.url} ${x.status} ${x.verdict}`, (seen.get(`${x.url} ${x.status} ${x.verdict}`) ?? 0) + 1);
      const postCounts = Object.entries(sim.counts()).filter(([k]) => k.startsWith('POST /v2.0/vpn/'));
      console.log(`POSTs through the proxy: ${JSON.stringify(Object.fromEntries(seen))}; the cloud's counters: ${JSON.stringify(Object.fromEntries(postCounts))}`);
      expect([...counts].filter(([, n]) => n !== 1)).toEqual([]);
      for (const k of SITE_KINDS) expect(creates[k].landed, `creates the cloud performed for ${k}`).toBe(want[k]);
      expect(targeted.size).toBe(SITE_KINDS.length);
      // Each object names its one resource.
      const inv = await inventory(neutron);
      for (const m of managed) {
        const o = await objs.get(m.kind, ns, m.name);
        expect(inv.find((i) => i.kind === m.kind && i.name === m.name)?.id, `${m.kind}/${m.name}`).toBe(o?.status?.id);
      }

      // Everything deleted in one go, with kills and DELETE faults again: nothing left.
      const delFaults = [
        sim.injectFault({ route: 'DELETE /v2.0/vpn/*', status: 500, rate: 0.15 }),
        sim.injectFault({ route: 'DELETE /v2.0/vpn/*', kind: 'lostResponse', rate: 0.15 }),
      ];
      await Promise.all(managed.map((m) => objs.remove(m.kind, ns, m.name)));
      for (let i = 0; i < 2; i++) {
        await sleep(1_500);
        await crash();
      }
      await chain;
      for (const f of delFaults) f();
      for (const m of managed) await objs.waitGone(m.kind, ns, m.name, 120_000);
      const left = (await inventory(neutron)).filter((i) => sites.some((s) => i.name.startsWith(`${s.prefix}-`)));
      console.log(`[figures] site crash: deleted ${managed.length} objects with 2 more SIGKILLs; left in the cloud: ${left.length}`);
      expect(left).toEqual([]);
    } finally {
      killing = false;
      for (const f of faults) f();
      proxy.setHook(null);
      await chain.catch(() => undefined);
      await op.dispose();
      await proxy.stop();
    }
  }, 420_000);
});

describe('2-5. one operator, one site at a time', () => {
  let op: OperatorProcess;
  beforeAll(() => {
    op = operator();
  });
  afterAll(async () => {
    await op?.dispose();
  });

  describe('2. drift', () => {
    it('a site connection deleted out of band is recreated (Warning Recreated), exactly one of its name', async () => {
      const ns = await vpns.namespace('sg-drift');
      const s = newSite(sim, ns, 'dc');
      await createAll(siteObjects(s));
      const ready = await waitSiteReady(s);
      const oldId = ready[s.names.conn]!.status!.id!;
      sim.deleteConnection(oldId);
      const again = await eventually(async () => {
        const o = await objs.get('IPsecSiteConnection', ns, s.names.conn);
        return o?.status?.id && o.status.id !== oldId && readyOf(o)?.reason === 'Active' ? o : undefined;
      }, 'the connection recreated', 60_000, 200);
      expect(sim.connections().filter((c) => c.name === s.names.conn).map((c) => c.id)).toEqual([again.status!.id]);
      await vpns.waitEvent(ns, s.names.conn, (e) => e.type === 'Warning' && e.reason === 'Recreated', 'Warning Recreated');
      await removeSite(s);
      expect(await cloudOf(s)).toEqual([]);
    }, 120_000);

    it('a VPN service deleted out of band (its connection with it) is recreated, and the connection follows onto the new service', async () => {
      const ns = await vpns.namespace('sg-drift');
      const s = newSite(sim, ns, 'ds');
      await createAll(siteObjects(s));
      const ready = await waitSiteReady(s);
      const oldSvc = ready[s.names.svc]!.status!.id!;
      sim.deleteService(oldSvc); // as the cloud console does: its site connections go with it
      const svc = await eventually(async () => {
        const o = await objs.get('VpnService', ns, s.names.svc);
        return o?.status?.id && o.status.id !== oldSvc ? o : undefined;
      }, 'the VPN service recreated', 60_000, 200);
      const conn = await eventually(async () => {
        const o = await objs.get('IPsecSiteConnection', ns, s.names.conn);
        return o?.status?.vpnServiceId === svc.status!.id && readyOf(o)?.reason === 'Active' ? o : undefined;
      }, 'the connection on the new service', 60_000, 200);
      const inCloud = sim.connections().filter((c) => c.name === s.names.conn);
      expect(inCloud.map((c) => [c.id, c.vpnservice_id])).toEqual([[conn.status!.id, svc.status!.id]]);
      expect(sim.services().filter((x) => x.router_id === s.routerId).map((x) => x.id)).toEqual([svc.status!.id]);
      await removeSite(s);
      expect(await cloudOf(s)).toEqual([]);
    }, 120_000);

    it('an IKE and an IPsec policy changed out of band are put back (Normal Updated)', async () => {
      const ns = await vpns.namespace('sg-drift');
      const api = 'vpnaas.dev/v1alpha1';
      await objs.create({ apiVersion: api, kind: 'IKEPolicy', metadata: { name: 'dp-ike', namespace: ns }, spec: { ikeVersion: 'v2', encryptionAlgorithm: 'aes-256', lifetime: { units: 'seconds', value: 7200 } } });
      await objs.create({ apiVersion: api, kind: 'IPsecPolicy', metadata: { name: 'dp-ipsec', namespace: ns }, spec: { encryptionAlgorithm: 'aes-192', pfs: 'group14' } });
      const ike = (await objs.waitReason('IKEPolicy', ns, 'dp-ike', 'Active')).status!.id!;
      const ipsec = (await objs.waitReason('IPsecPolicy', ns, 'dp-ipsec', 'Active')).status!.id!;
      await neutron.ikePolicies.update(ike, { encryption_algorithm: '3des', ike_version: 'v1', lifetime: { units: 'seconds', value: 600 } });
      await neutron.ipsecPolicies.update(ipsec, { encryption_algorithm: 'aes-128', pfs: 'group5' });
      await eventually(async () => {
        const p = await neutron.ikePolicies.get(ike);
        return p.encryption_algorithm === 'aes-256' && p.ike_version === 'v2' && p.lifetime.value === 7200;
      }, 'the IKE policy put back', 60_000, 200);
      await eventually(async () => {
        const p = await neutron.ipsecPolicies.get(ipsec);
        return p.encryption_algorithm === 'aes-192' && p.pfs === 'group14';
      }, 'the IPsec policy put back', 60_000, 200);
      // Events are posted after the status, a few in flight at a time: the Updated event may follow the PUT later.
      await vpns.waitEvent(ns, 'dp-ike', (e) => e.reason === 'Updated', 'Normal Updated');
      expect((await objs.get('IKEPolicy', ns, 'dp-ike'))?.status?.id).toBe(ike);
      await objs.remove('IKEPolicy', ns, 'dp-ike');
      await objs.remove('IPsecPolicy', ns, 'dp-ipsec');
      await objs.waitGone('IKEPolicy', ns, 'dp-ike');
      await objs.waitGone('IPsecPolicy', ns, 'dp-ipsec');
    }, 120_000);
  });

  describe('3. deletion order, Orphan, importId', () => {
    it('a VpnService, both policies and both groups deleted while their connection exists: DeleteBlocked naming it, no DELETE sent; then all go with no refusal', async () => {
      const ns = await vpns.namespace('sg-guard');
      const s = newSite(sim, ns, 'gd');
      await createAll(siteObjects(s));
      const ready = await waitSiteReady(s);
      const targets = siteManaged(s).filter((m) => m.kind !== 'IPsecSiteConnection');
      const from = Date.now();
      for (const t of targets) await objs.remove(t.kind, ns, t.name);
      for (const t of targets) {
        const o = await objs.waitReason(t.kind, ns, t.name, 'DeleteBlocked', 30_000);
        expect(readyOf(o)!.message, `${t.kind}/${t.name}`).toContain(`IPsecSiteConnection ${ns}/${s.names.conn}`);
      }
      await sleep(3_000); // several resyncs
      const deletes = requests(sim, 'DELETE', '/v2.0/vpn/', from).filter((e) => targets.some((t) => e.path.endsWith(`/${ready[t.name]!.status!.id}`)));
      expect(deletes.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([]);
      expect((await cloudOf(s)).length).toBe(6);
      await objs.remove('IPsecSiteConnection', ns, s.names.conn);
      for (const m of siteManaged(s)) await objs.waitGone(m.kind, ns, m.name, 60_000);
      const refused = requests(sim, 'DELETE', '/v2.0/vpn/', from, (st) => typeof st === 'number' && st >= 400);
      console.log(`[figures] guarded delete of a site: ${requests(sim, 'DELETE', '/v2.0/vpn/', from).length} DELETE requests, ${refused.length} refused`);
      expect(refused.map((e) => `${e.path} ${e.status}`)).toEqual([]);
      expect(await cloudOf(s)).toEqual([]);
    }, 120_000);

    it('deletionPolicy Orphan on every kind: the objects go, every cloud resource stays', async () => {
      const ns = await vpns.namespace('sg-orphan');
      const s = newSite(sim, ns, 'or');
      await createAll(siteObjects(s, { deletionPolicy: 'Orphan' }));
      const ready = await waitSiteReady(s);
      const from = Date.now();
      await removeSite(s);
      const left = await cloudOf(s);
      expect(left.map((i) => i.id).sort()).toEqual(siteManaged(s).map((m) => ready[m.name]!.status!.id!).sort());
      expect(requests(sim, 'DELETE', '/v2.0/vpn/', from)).toEqual([]);
      // Cleaned up by hand, dependents first.
      const id = (n: string) => ready[n]!.status!.id!;
      await neutron.siteConnections.delete(id(s.names.conn));
      await neutron.vpnServices.delete(id(s.names.svc));
      await neutron.ikePolicies.delete(id(s.names.ike));
      await neutron.ipsecPolicies.delete(id(s.names.ipsec));
      await neutron.endpointGroups.delete(id(s.names.local));
      await neutron.endpointGroups.delete(id(s.names.peer));
    }, 120_000);

    it('importId on every kind adopts the existing resources (no POST); an imported connection whose references differ is refused, never replaced', async () => {
      const ns = await vpns.namespace('sg-import');
      const s = newSite(sim, ns, 'im');
      // The resources exist in the cloud first, made by someone else (with the names the objects give them: a policy in
      // use cannot even be renamed, Neutron refuses every change of it).
      const svc = await neutron.vpnServices.create({ router_id: s.routerId, name: s.names.svc });
      const ike = await neutron.ikePolicies.create({ name: s.names.ike, ike_version: 'v2', encryption_algorithm: 'aes-256' });
      const ipsec = await neutron.ipsecPolicies.create({ name: s.names.ipsec, encryption_algorithm: 'aes-256' });
      const local = await neutron.endpointGroups.create({ name: s.names.local, type: 'subnet', endpoints: [s.subnetId] });
      const peer = await neutron.endpointGroups.create({ name: s.names.peer, type: 'cidr', endpoints: ['10.77.0.0/24'] });
      const conn = await neutron.siteConnections.create({
        name: s.names.conn,
        vpnservice_id: svc.id,
        ikepolicy_id: ike.id,
        ipsecpolicy_id: ipsec.id,
        local_ep_group_id: local.id,
        peer_ep_group_id: peer.id,
        peer_address: s.peerAddress,
        peer_id: s.peerAddress,
        psk: `psk-${s.prefix}-Zx81qv`,
      });
      const importIds = { svc: svc.id, ike: ike.id, ipsec: ipsec.id, local: local.id, peer: peer.id, conn: conn.id };
      const from = Date.now();
      await createAll(siteObjects(s, { importIds }));
      const ready = await waitSiteReady(s);
      for (const [role, id] of Object.entries(importIds)) expect(ready[s.names[role as keyof Site['names']]]!.status!.id, role).toBe(id);
      expect(requests(sim, 'POST', '/v2.0/vpn/', from)).toEqual([]);
      for (const m of siteManaged(s)) await vpns.waitEvent(ns, m.name, (e) => e.reason === 'Adopted', `${m.kind}/${m.name} Adopted`);

      // A second connection imported with a VPN service reference that does not match what the cloud has.
      const other = newSite(sim, ns, 'im2');
      const otherSvc = await objs.create({ apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', metadata: { name: other.names.svc, namespace: ns }, spec: { routerId: other.routerId } });
      await objs.waitReason('VpnService', ns, otherSvc.metadata.name, 'Active');
      const conn2 = await neutron.siteConnections.create({
        name: 'im-wrong',
        vpnservice_id: svc.id,
        ikepolicy_id: ike.id,
        ipsecpolicy_id: ipsec.id,
        local_ep_group_id: local.id,
        peer_ep_group_id: peer.id,
        peer_address: '203.0.113.250',
        peer_id: '203.0.113.250',
        psk: 'another-Key-5511aa',
      });
      const wrong = siteObjects(s).find((o) => o.kind === 'IPsecSiteConnection')!;
      wrong.metadata.name = 'im-wrong';
      wrong.spec = { ...wrong.spec, vpnServiceRef: { name: other.names.svc }, peerAddress: '203.0.113.250', importId: conn2.id };
      const from2 = Date.now();
      await objs.create(wrong);
      const refused = await objs.waitReason('IPsecSiteConnection', ns, 'im-wrong', 'InvalidSpec', 30_000);
      expect(readyOf(refused)!.message).toMatch(/not replaced/);
      await sleep(3_000);
      expect(sim.connection(conn2.id)?.vpnservice_id).toBe(svc.id);
      expect(requests(sim, 'DELETE', `/v2.0/vpn/ipsec-site-connections/${conn2.id}`, from2)).toEqual([]);
      expect(requests(sim, 'POST', '/v2.0/vpn/ipsec-site-connections', from2)).toEqual([]);
      // Deleting the refused import leaves the connection it never managed? It was imported: Delete policy deletes it.
      await objs.remove('IPsecSiteConnection', ns, 'im-wrong');
      await objs.waitGone('IPsecSiteConnection', ns, 'im-wrong');
      await neutron.siteConnections.delete(conn2.id).catch(() => undefined);
      await removeSite(s);
      await objs.remove('VpnService', ns, other.names.svc);
      await objs.waitGone('VpnService', ns, other.names.svc);
      const left = (await inventory(neutron)).filter((i) => Object.values(importIds).includes(i.id));
      expect(left).toEqual([]);
    }, 180_000);
  });

  describe('4. the pre-shared key', () => {
    it('a missing Secret: Waiting naming it; created: the connection proceeds', async () => {
      const ns = await vpns.namespace('sg-psk');
      const s = newSite(sim, ns, 'pm');
      const list = siteObjects(s);
      const secret = list.find((o) => o.kind === 'Secret')!;
      await createAll(list.filter((o) => o.kind !== 'Secret'));
      const w = await objs.waitReason('IPsecSiteConnection', ns, s.names.conn, (r) => r === 'Waiting' && true, 30_000);
      await eventually(async () => readyOf(await objs.get('IPsecSiteConnection', ns, s.names.conn))?.message.includes(`Secret ${s.pskSecret}`), 'Waiting names the Secret', 30_000, 200).catch(() => {
        throw new Error(`Waiting does not name Secret ${s.pskSecret}: ${readyOf(w)?.message}`);
      });
      expect(sim.connections().filter((c) => c.name === s.names.conn)).toEqual([]);
      await objs.create(secret);
      await objs.waitReason('IPsecSiteConnection', ns, s.names.conn, 'Active', 60_000);
      await removeSite(s);
    }, 120_000);

    for (const [what, bad] of [
      ['5 characters', 'Zq7#x'],
      ['a space', 'has Space-9f3e1'],
      ["a '?'", 'what?-7c1e0b'],
    ] as const) {
      it(`a key with ${what}: InvalidSpec, no connection POSTed, the key shown nowhere`, async () => {
        const ns = await vpns.namespace('sg-psk');
        const s = newSite(sim, ns, `pb${bad.length}`);
        const from = Date.now();
        await createAll(siteObjects(s, { psk: bad }));
        const o = await objs.waitReason('IPsecSiteConnection', ns, s.names.conn, 'InvalidSpec', 60_000);
        expect(readyOf(o)!.message).toMatch(/6 to 128 characters.*no spaces.*'\?'/);
        await sleep(2_000);
        expect(requests(sim, 'POST', '/v2.0/vpn/ipsec-site-connections', from)).toEqual([]);
        await expectHidden(ns, bad);
        await removeSite(s);
      }, 120_000);
    }

    it('the cloud refuses the create with a 400 whose body echoes the request, key included: InvalidSpec quoting the cloud without the key; the key shown nowhere', async () => {
      const ns = await vpns.namespace('sg-psk');
      const s = newSite(sim, ns, 'pe');
      const psk = 'echoed-Key-41c7d2e9aa';
      const echo = JSON.stringify({ ipsec_site_connection: { name: s.names.conn, psk, peer_address: s.peerAddress } });
      const unfault = sim.injectFault({
        route: 'POST /v2.0/vpn/ipsec-site-connections',
        status: 400,
        body: JSON.stringify({ NeutronError: { type: 'HTTPBadRequest', message: `Invalid input for operation: request ${echo} was refused (psk=${psk}).`, detail: psk } }),
        contentType: 'application/json',
      });
      try {
        await createAll(siteObjects(s, { psk }));
        const o = await objs.waitReason('IPsecSiteConnection', ns, s.names.conn, 'InvalidSpec', 60_000);
        expect(readyOf(o)!.message).toContain('Invalid input for operation');
        await sleep(1_000);
        await expectHidden(ns, psk);
      } finally {
        unfault();
      }
      // The fault gone and the spec changed (a 4xx is terminal for a generation): it is created.
      await objs.patch('IPsecSiteConnection', ns, s.names.conn, { spec: { description: 'retry' } });
      await objs.waitReason('IPsecSiteConnection', ns, s.names.conn, 'Active', 60_000);
      await expectHidden(ns, psk);
      await removeSite(s);
    }, 120_000);

    /** The key is in no status, event, log line or metric. */
    async function expectHidden(ns: string, key: string): Promise<void> {
      const all = await Promise.all(SITE_KINDS.map((k) => objs.list(k, ns)));
      expect(JSON.stringify(all.flat().map((o) => o.status ?? {}))).not.toContain(key);
      expect(JSON.stringify(await kube.request('GET', `/api/v1/namespaces/${ns}/events`))).not.toContain(key);
      expect(op.output()).not.toContain(key);
      const port = await eventually(() => op.metricsPort(), 'metrics port');
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).not.toContain(key);
    }
  });

  describe('5. a policy in use', () => {
    it('an IKEPolicy changed while a connection uses it: UpdateBlocked naming the connection (the cloud refuses 409 IKEPolicyInUse, as Neutron does); unchanged in the cloud', async () => {
      const ns = await vpns.namespace('sg-inuse');
      const s = newSite(sim, ns, 'iu');
      await createAll(siteObjects(s));
      const ready = await waitSiteReady(s);
      const ikeId = ready[s.names.ike]!.status!.id!;
      // The simulator itself, asked directly.
      await expect(neutron.ikePolicies.update(ikeId, { encryption_algorithm: 'aes-128' })).rejects.toMatchObject({ status: 409, code: 'IKEPolicyInUse' });
      await objs.patch('IKEPolicy', ns, s.names.ike, { spec: { encryptionAlgorithm: 'aes-128' } });
      const o = await objs.waitReason('IKEPolicy', ns, s.names.ike, 'UpdateBlocked', 30_000);
      expect(readyOf(o)!.message).toContain(`IPsecSiteConnection ${ns}/${s.names.conn}`);
      expect(readyOf(o)!.message).toContain('IKEPolicyInUse');
      expect((await neutron.ikePolicies.get(ikeId)).encryption_algorithm).toBe('aes-256');
      await vpns.waitEvent(ns, s.names.ike, (e) => e.type === 'Warning' && e.reason === 'UpdateBlocked', 'Warning UpdateBlocked');
      // The connection gone, the change goes through.
      await objs.remove('IPsecSiteConnection', ns, s.names.conn);
      await objs.waitGone('IPsecSiteConnection', ns, s.names.conn);
      await eventually(async () => (await neutron.ikePolicies.get(ikeId)).encryption_algorithm === 'aes-128', 'the change applied once unused', 60_000, 500);
      await removeSite(s);
    }, 180_000);
  });
});

describe('2b. drift of an endpoint group in use (an operator of its own, stopped at the end)', () => {
  it('an endpoint group deleted out of band (its connection moved off it first, as Neutron requires) is recreated and the connection is pointed at the new one in place', async () => {
    const ns = await vpns.namespace('sg-drift');
    const op = operator();
    let slow = () => {};
    try {
      const s = newSite(sim, ns, 'dg');
      await createAll(siteObjects(s));
      const ready = await waitSiteReady(s);
      const connId = ready[s.names.conn]!.status!.id!;
      const oldGroup = ready[s.names.peer]!.status!.id!;
      const stray = await neutron.endpointGroups.create({ name: 'stray-dg', type: 'cidr', endpoints: ['10.99.0.0/24'] });
      // Forced order: the group's re-create is slow (its POST held 4 s), so the connection's next look (every 2 s)
      // comes while its group's object still names the deleted group: the operator must wait for the new group, not
      // take the cloud's 404 (EndpointGroupNotFound) for its own connection being gone.
      slow = sim.injectFault({ route: 'POST /v2.0/vpn/endpoint-groups', latencyMs: 4_000, times: 1 });
      // Out of band: the connection moved to another group, then the group deleted (retried if the operator moved it
      // back in between).
      await eventually(async () => {
        await neutron.siteConnections.update(connId, { peer_ep_group_id: stray.id });
        await neutron.endpointGroups.delete(oldGroup);
        return true;
      }, 'the out-of-band change done', 20_000, 50);
      const group = await eventually(async () => {
        const o = await objs.get('EndpointGroup', ns, s.names.peer);
        return o?.status?.id && o.status.id !== oldGroup && readyOf(o)?.reason === 'Active' ? o : undefined;
      }, 'the group recreated', 60_000, 200);
      await eventually(async () => (await neutron.siteConnections.get(connId)).peer_ep_group_id === group.status!.id, 'the connection on the new group', 60_000, 200).catch(async (err: unknown) => {
        const c = await objs.get('IPsecSiteConnection', ns, s.names.conn);
        const lines = op.lines.filter((l) => l.includes(s.names.conn) || l.includes(s.names.peer)).slice(-15);
        const puts = requests(sim, 'PUT', `/v2.0/vpn/ipsec-site-connections/${connId}`).map((e) => e.status);
        throw new Error(`${(err as Error).message}; groups old ${oldGroup} stray ${stray.id} new ${group.status!.id}; PUTs of the connection: ${puts.length} (${[...new Set(puts)].join(',')}); cloud: ${JSON.stringify(await neutron.siteConnections.get(connId))}; object: ${JSON.stringify(c?.status)}; log:\n${lines.join('\n')}`);
      });
      const conn = await objs.get('IPsecSiteConnection', ns, s.names.conn);
      expect(conn?.status?.id).toBe(connId); // a PUT, not a replacement
      await eventually(async () => (await objs.get('IPsecSiteConnection', ns, s.names.conn))?.status?.peerEndpointGroupId === group.status!.id, 'the status shows the new group', 30_000, 200);
      expect((await neutron.endpointGroups.list({})).filter((g) => g.name === s.names.peer).map((g) => g.id)).toEqual([group.status!.id]);
      await neutron.endpointGroups.delete(stray.id);
      await removeSite(s);
      expect(await cloudOf(s)).toEqual([]);
    } finally {
      slow();
      await op.dispose(); // also when it fails: a stuck reconcile must not disturb the other tests
    }
  }, 120_000);

});
