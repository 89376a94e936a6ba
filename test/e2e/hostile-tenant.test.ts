// The hostile-tenant suite (issue 17): each attack a tenant can make on another through the operator, made for real
// against a real kube-apiserver and the simulator in upstream mode (which does not itself refuse anything the
// operator should). Each test says what it attacks; each was run against the code before its fix and failed there.
//
// - A Secret of another namespace, named by a path in a reference: refused at admission (test/admission), and for an
//   object stored before the CRD's name rules existed (here: a CRD without them), the operator neither reads nor
//   guards the other namespace's Secret and says what to fix.
// - A tenant's clouds.yaml with an out-of-range api_timeout: a condition naming api_timeout, and the object can still
//   be deleted.
// - Another team's VPN service deleted through a copied finalizer and create intent, or through its id as importId;
//   two namespaces with identical manifests sharing (and fighting over) one cloud IKE policy.
// - Squatting with a refused object: an object whose create the cloud refused (400) holds no claim on the router.
// - Double-create by timing: objects on one router that are all older than the claim grace without a create intent
//   (applied while the operator was down; waiters woken together by the owner's deletion) get one service per router.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { CRD_PATH, KubeClient, crdFiles, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready, vpnPath } from '../support/vpns.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { Objects, readyOf } from '../support/objects.ts';
import { newSite, siteObjects } from '../support/sites.ts';
import { CREATE_INTENT_ANNOTATION, FINALIZER } from '../../src/api/vpnservice.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';

let cp: ControlPlane;
let sim: Simulator;
let op: OperatorProcess;
let kube: KubeClient;
let vpns: Vpns;

type Schema = { properties?: Record<string, Schema>; 'x-kubernetes-validations'?: unknown[] };
type Crd = { spec: { versions: Array<{ schema: { openAPIV3Schema: Schema } }> } };
type Raw = {
  metadata: { finalizers?: string[]; annotations?: Record<string, string> };
  status?: { id?: string; conditions?: Array<{ type: string; status: string; reason: string; message: string }> };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  [cp, sim] = await Promise.all([
    startControlPlane(),
    startSimulator({
      seedRules: false,
      activeDelayMs: 200,
      projects: [{ name: 'demo' }, { name: 'team-b' }],
      users: [
        { name: 'demo', password: 'secret', projects: ['demo'] },
        { name: 'b', password: 'b-password', projects: ['team-b'] },
      ],
    }),
  ]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  // The VpnService CRD as an older version of it was: no rule on cloudCredentialsRef.secretName. Objects stored then
  // are still there after an upgrade; only the operator's own schema stands between them and a request path.
  const crd = YAML.parse(readFileSync(CRD_PATH, 'utf8')) as Crd;
  const spec = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!.spec!;
  delete spec.properties!.cloudCredentialsRef!.properties!.secretName!['x-kubernetes-validations'];
  const dir = mkdtempSync(path.join(tmpdir(), 'vpnaas-hostile-'));
  const loose = path.join(dir, path.basename(CRD_PATH));
  writeFileSync(loose, YAML.stringify(crd));
  await installCrd(kube, [loose, ...crdFiles().filter((f) => path.basename(f) !== path.basename(CRD_PATH))]);
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '3s'] }).start();
});
afterAll(async () => {
  await op?.dispose();
  await Promise.all([sim?.stop(), cp?.stop()]);
});

/** clouds.yaml for another user and project of the same simulator. */
function cloudsYamlAs(user: { name: string; password: string; project: string }, extra: Record<string, unknown> = {}): string {
  const doc = YAML.parse(sim.cloudsYaml('sim')) as { clouds: { sim: { auth: Record<string, unknown> } } };
  const c = doc.clouds.sim;
  return YAML.stringify({ clouds: { sim: { ...c, ...extra, auth: { ...c.auth, username: user.name, password: user.password, project_name: user.project } } } });
}

async function raw(ns: string, name: string): Promise<Raw> {
  return (await kube.request('GET', vpnPath(ns, name))) as Raw;
}

async function secretFinalizers(ns: string, name: string): Promise<string[]> {
  const s = (await kube.request('GET', `/api/v1/namespaces/${ns}/secrets/${name}`)) as { metadata: { finalizers?: string[] } };
  return s.metadata.finalizers ?? [];
}

describe("another namespace's Secret, named by a path", () => {
  it.each(['../../NS_B/secrets/creds', '%2e%2e/%2e%2e/NS_B/secrets/creds', '..', 'CREDS'])(
    'cloudCredentialsRef.secretName %j: never read, never guarded, nothing created with it; the object says what to fix',
    async (pattern) => {
      const [nsA, nsB] = [await vpns.namespace('attacker'), await vpns.namespace('victim')];
      // Team B's credentials: the only ones that could create anything in project team-b.
      await vpns.secret(nsB, 'creds', { 'clouds.yaml': cloudsYamlAs({ name: 'b', password: 'b-password', project: 'team-b' }) });
      const router = randomUUID();
      sim.addRouter({ id: router, gatewayV4: '203.0.113.40', project: 'team-b' });
      const secretName = pattern.replace('NS_B', nsB);
      await kube.request('POST', vpnPath(nsA), {
        apiVersion: 'vpnaas.dev/v1alpha1',
        kind: 'VpnService',
        metadata: { name: 'steal', namespace: nsA },
        spec: { routerId: router, cloudCredentialsRef: { secretName, cloudName: 'sim' } },
      });
      const shown = await eventually(async () => {
        const o = await raw(nsA, 'steal');
        return o.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'InvalidSpec' ? o : undefined;
      }, 'the attacker object shows InvalidSpec', 30_000);
      const cond = shown.status!.conditions!.find((c) => c.type === 'Ready')!;
      expect(cond.message).toContain('cloudCredentialsRef.secretName');
      expect(cond.message).toContain('DNS-1123');
      await sleep(2_000); // a late read or guard would land by now
      expect(await secretFinalizers(nsB, 'creds')).toEqual([]);
      expect(sim.services().filter((s) => s.router_id === router)).toEqual([]);
      // And the attacker can still delete its object.
      await vpns.remove(nsA, 'steal');
      await vpns.waitGone(nsA, 'steal', 30_000);
    },
  );
});

describe("a tenant's clouds.yaml with an api_timeout out of range", () => {
  it.each([['0.0004', 'at least 1 second'], ['3000000', 'at most 600 seconds']])('api_timeout %s: a condition naming it, and the object can be deleted', async (t, says) => {
    const ns = await vpns.namespace('timeout');
    await vpns.secret(ns, 'creds', { 'clouds.yaml': cloudsYamlAs({ name: 'demo', password: 'secret', project: 'demo' }, { api_timeout: Number(t) }) });
    const router = randomUUID();
    sim.addRouter({ id: router, gatewayV4: '203.0.113.41' });
    await vpns.apply(ns, 'vpn', { routerId: router, cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } });
    const cond = await eventually(async () => {
      const c = (await raw(ns, 'vpn')).status?.conditions?.find((x) => x.type === 'Ready');
      return c && c.reason !== 'Creating' ? c : undefined;
    }, 'the object settles', 30_000);
    expect(cond.reason).toBe('CredentialsNotFound');
    expect(cond.message).toContain('api_timeout');
    expect(cond.message).toContain(says);
    expect(sim.services().filter((s) => s.router_id === router)).toEqual([]);
    await vpns.remove(ns, 'vpn');
    await vpns.waitGone(ns, 'vpn', 30_000);
    expect(await secretFinalizers(ns, 'creds')).toEqual([]);
  });
});

describe('double-create by timing (claims past the grace)', () => {
  const services = (router: string) => sim.services().filter((x) => x.router_id === router);

  it('pairs applied while the operator is down for longer than the claim grace: one service per router', async () => {
    await op.stop();
    const ns = [await vpns.namespace('late-a'), await vpns.namespace('late-b')];
    const routers = Array.from({ length: 4 }, () => {
      const id = randomUUID();
      sim.addRouter({ id, gatewayV4: '203.0.113.42' });
      return id;
    });
    // Same router in two namespaces, with the same object name (the same cloud name), and a spelling in upper case.
    for (const [i, r] of routers.entries()) {
      await vpns.apply(ns[0]!, `vpn-${i}`, { routerId: r });
      await vpns.apply(ns[1]!, `vpn-${i}`, { routerId: i % 2 ? r.toUpperCase() : r });
    }
    await sleep(31_000); // every object is past the 30 s claim grace, none has an intent
    op.start();
    await eventually(async () => {
      const all = await Promise.all(ns.flatMap((n) => routers.map((_, i) => raw(n, `vpn-${i}`))));
      const reasons = all.map((o) => o.status?.conditions?.find((c) => c.type === 'Ready')?.reason);
      return reasons.filter((x) => x === 'Active').length === 4 && reasons.filter((x) => x === 'RouterConflict').length === 4 ? reasons : undefined;
    }, 'one Active and one RouterConflict per router', 60_000, 500);
    await sleep(2_000); // a late second POST would land by now
    for (const r of routers) expect(services(r)).toHaveLength(1);
  });

  it("old waiters woken together by their owner's deletion: one new service per router", async () => {
    const ns = await vpns.namespace('waiters');
    const routers = Array.from({ length: 4 }, (_, i) => {
      const id = randomUUID();
      sim.addRouter({ id, gatewayV4: `203.0.113.${50 + i}` });
      return id;
    });
    for (const [i, r] of routers.entries()) await vpns.apply(ns, `owner-${i}`, { routerId: r });
    for (const i of routers.keys()) await vpns.waitReason(ns, `owner-${i}`, 'Active');
    await sleep(1_100);
    for (const [i, r] of routers.entries()) {
      await vpns.apply(ns, `w1-${i}`, { routerId: r });
      await vpns.apply(ns, `w2-${i}`, { routerId: r });
    }
    for (const i of routers.keys()) {
      await vpns.waitReason(ns, `w1-${i}`, 'RouterConflict');
      await vpns.waitReason(ns, `w2-${i}`, 'RouterConflict');
    }
    await sleep(30_000); // every waiter past the claim grace
    await Promise.all(routers.map((_, i) => vpns.remove(ns, `owner-${i}`)));
    for (const i of routers.keys()) await vpns.waitGone(ns, `owner-${i}`, 30_000);
    await eventually(async () => {
      const rs = await Promise.all(routers.flatMap((_, i) => [`w1-${i}`, `w2-${i}`].map(async (n) => (await raw(ns, n)).status?.conditions?.find((c) => c.type === 'Ready')?.reason)));
      return rs.filter((x) => x === 'Active').length >= routers.length ? rs : undefined;
    }, 'a waiter Active on every router', 60_000, 250);
    await sleep(3_000); // a second POST would land by now
    for (const r of routers) expect(services(r)).toHaveLength(1);
  });

});

describe("another team's cloud resources", () => {
  it("a copied finalizer and create intent: the copy never takes, shows or deletes the owner's service", async () => {
    const [nsA, nsB] = [await vpns.namespace('owner'), await vpns.namespace('copier')];
    const router = randomUUID();
    sim.addRouter({ id: router, gatewayV4: '203.0.113.44' });
    await vpns.apply(nsA, 'vpn', { routerId: router });
    const a = await vpns.waitReason(nsA, 'vpn', 'Active');
    const id = a.status!.id!;
    await sleep(1_100);
    await vpns.apply(nsB, 'vpn', { routerId: router }); // same name: the same cloud name
    await vpns.waitReason(nsB, 'vpn', 'RouterConflict');
    const intent = (await raw(nsA, 'vpn')).metadata.annotations?.[CREATE_INTENT_ANNOTATION];
    expect(intent).toBeDefined();
    await kube.request('PATCH', vpnPath(nsB, 'vpn'), { metadata: { finalizers: [FINALIZER], annotations: { [CREATE_INTENT_ANNOTATION]: intent } } }, MERGE_PATCH);
    await sleep(4_000); // a few passes of the copier
    expect((await raw(nsB, 'vpn')).status?.id).not.toBe(id);
    await vpns.remove(nsB, 'vpn');
    await vpns.waitGone(nsB, 'vpn', 30_000);
    await sleep(2_000);
    expect(sim.service(id)?.status).toBe('ACTIVE');
    expect((await vpns.get(nsA, 'vpn'))?.status?.id).toBe(id);
    expect(sim.services().filter((x) => x.router_id === router)).toHaveLength(1);
  });

  it("another object's service id as importId: never adopted, never deleted", async () => {
    const [nsA, nsB] = [await vpns.namespace('owner'), await vpns.namespace('importer')];
    const router = randomUUID();
    sim.addRouter({ id: router, gatewayV4: '203.0.113.45' });
    await vpns.apply(nsA, 'vpn', { routerId: router });
    const id = (await vpns.waitReason(nsA, 'vpn', 'Active')).status!.id!;
    await vpns.apply(nsB, 'steal', { routerId: router, importId: id });
    const shown = await eventually(async () => {
      const o = await raw(nsB, 'steal');
      const r = o.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
      return r && r !== 'Creating' ? o : undefined;
    }, 'the importer settles', 30_000);
    expect(shown.status?.id).not.toBe(id);
    expect(['RouterConflict', 'InvalidSpec']).toContain(shown.status?.conditions?.find((c) => c.type === 'Ready')?.reason);
    // The operator's finalizer, forged: deleting now makes the operator decide what the object may delete.
    await kube.request('PATCH', vpnPath(nsB, 'steal'), { metadata: { finalizers: [FINALIZER] } }, MERGE_PATCH);
    await vpns.remove(nsB, 'steal');
    await vpns.waitGone(nsB, 'steal', 30_000);
    await sleep(2_000);
    expect(sim.service(id)?.status).toBe('ACTIVE');
    expect(ready(await vpns.get(nsA, 'vpn'))?.reason).toBe('Active');
  });

  it('identical IKE policies in two namespaces get a cloud policy each; deleting one leaves the other', async () => {
    const ns = [await vpns.namespace('site-1'), await vpns.namespace('site-2')];
    const path = (n: string, name = '') => `/apis/vpnaas.dev/v1alpha1/namespaces/${n}/ikepolicies${name ? `/${name}` : ''}`;
    const posts = () => sim.countOf({ method: 'POST', route: '/v2.0/vpn/ikepolicies' });
    const before = posts();
    const apply = (n: string) => kube.request('POST', path(n), { apiVersion: 'vpnaas.dev/v1alpha1', kind: 'IKEPolicy', metadata: { name: 'ike', namespace: n }, spec: {} });
    // The second namespace applies once the first one's policy exists in the cloud (its name is the same).
    await apply(ns[0]!);
    await eventually(async () => ((await kube.request('GET', path(ns[0]!, 'ike'))) as Raw).status?.id, "site-1's policy created", 30_000);
    await apply(ns[1]!);
    const ids = await eventually(async () => {
      const got = await Promise.all(ns.map(async (n) => (await kube.request('GET', path(n, 'ike'))) as Raw));
      const rs = got.map((o) => o.status?.conditions?.find((c) => c.type === 'Ready')?.reason);
      return rs.every((r) => r === 'Active') ? got.map((o) => o.status!.id!) : undefined;
    }, 'both policies Active', 30_000, 250);
    expect(ids[0]).not.toBe(ids[1]);
    expect(posts() - before).toBe(2);
    await kube.request('DELETE', path(ns[0]!, 'ike'));
    await eventually(async () => {
      try {
        await kube.request('GET', path(ns[0]!, 'ike'));
        return undefined;
      } catch {
        return true;
      }
    }, "site-1's policy gone", 30_000);
    await sleep(2_000);
    const other = (await kube.request('GET', path(ns[1]!, 'ike'))) as Raw;
    expect(other.status?.id).toBe(ids[1]);
    expect(other.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('Active');
    expect(sim.countOf({ method: 'DELETE', route: '/v2.0/vpn/ikepolicies/{id}' })).toBe(1);
  });
});

describe('squatting with a refused object', () => {
  it('an older object whose create the cloud refused (400, InvalidSpec) blocks nobody', async () => {
    const ns = [await vpns.namespace('squatter'), await vpns.namespace('victim')];
    const router = randomUUID();
    sim.addRouter({ id: router, gatewayV4: '203.0.113.46' });
    const remove = sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', status: 400, message: 'Invalid input for operation: refused for this test.', times: 1 });
    try {
      await vpns.apply(ns[0]!, 'squat', { routerId: router });
      await vpns.waitReason(ns[0]!, 'squat', 'InvalidSpec');
    } finally {
      remove();
    }
    expect((await raw(ns[0]!, 'squat')).metadata.annotations?.[CREATE_INTENT_ANNOTATION]).toBeUndefined();
    await sleep(1_100); // the victim is younger
    await vpns.apply(ns[1]!, 'vpn', { routerId: router });
    const v = await vpns.waitReason(ns[1]!, 'vpn', 'Active', 30_000);
    expect(sim.services().filter((x) => x.router_id === router).map((x) => x.id)).toEqual([v.status!.id]);
  });
});

describe('a connection the cloud refused, then fixed in its Secret', () => {
  it('is retried within seconds of the Secret change, not after the 5-minute refusal hold', async () => {
    const objs = new Objects(kube);
    const ns = await vpns.namespace('psk-retry');
    const site = newSite(sim, ns, 'pskr');
    const remove = sim.injectFault({ route: 'POST /v2.0/vpn/ipsec-site-connections', status: 400, message: 'Invalid input for psk: refused for this test.', times: 1 });
    try {
      for (const o of siteObjects(site)) await objs.create(o);
      await objs.waitReason('IPsecSiteConnection', ns, site.names.conn, (r) => r === 'InvalidSpec', 30_000);
    } finally {
      remove();
    }
    const fixedAt = Date.now();
    await kube.request('PATCH', `/api/v1/namespaces/${ns}/secrets/${site.pskSecret}`, { stringData: { psk: 'a-new-Key-9f2c41d7' } }, MERGE_PATCH);
    const o = await objs.waitReason('IPsecSiteConnection', ns, site.names.conn, (r) => r === 'Provisioning' || r === 'Active', 40_000);
    console.log(`refused connection, Secret fixed: ${readyOf(o)?.reason} after ${Date.now() - fixedAt} ms`);
    expect(Date.now() - fixedAt).toBeLessThan(40_000);
  });
});
