// What the operator must not take on trust (SPEC §3.2, §3.6), in both simulator modes:
// - a forged status: `status.id` is written through /status by anyone with status write access; deleting the object
//   must never delete another object's cloud service (the cloud and the create intent decide, not status);
// - squatting: an object that cannot use a router (refused credentials, missing Secret, a token that cannot see the
//   router) blocks nobody, and a RouterConflict message never names objects to a namespace whose credentials cannot
//   see the router. Two projects and users on one simulator: `demo` owns the router, `other` cannot see it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready, vpnPath } from '../support/vpns.ts';
import { auditCloud, describeAudit } from '../support/audit.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';

let cp: ControlPlane;
let kube: KubeClient;
let vpns: Vpns;

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
});
afterAll(async () => {
  await cp?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** clouds.yaml for another user of the same simulator (same endpoint, so the same claim key). */
function cloudsYamlAs(sim: Simulator, user: { name: string; password: string; project: string }): string {
  const doc = YAML.parse(sim.cloudsYaml('sim')) as { clouds: { sim: { auth: Record<string, unknown> } } };
  const c = doc.clouds.sim;
  return YAML.stringify({ clouds: { sim: { ...c, auth: { ...c.auth, username: user.name, password: user.password, project_name: user.project } } } });
}

for (const mode of ['upstream', 'seed'] as const) {
  describe(`simulator in ${mode} mode`, () => {
    let sim: Simulator;
    let op: OperatorProcess;
    const newRouter = (): string => {
      const id: string = randomUUID();
      sim.addRouter({ id, gatewayV4: `203.0.113.${Math.floor(Math.random() * 250) + 2}` });
      return id;
    };

    beforeAll(async () => {
      sim = await startSimulator({
        seedRules: mode === 'seed',
        activeDelayMs: 300,
        projects: [{ name: 'demo' }, { name: 'other' }],
        users: [
          { name: 'demo', password: 'secret', projects: ['demo'] },
          { name: 'other', password: 'other-secret', projects: ['other'] },
        ],
      });
      op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', args: ['--resync', '3s'] }).start();
    });
    afterAll(async () => {
      await op?.dispose();
      await sim?.stop();
    });

    describe('a forged status.id', () => {
      it("deleting B whose status.id names A's service deletes B's own service, never A's", async () => {
        const ns = await vpns.namespace('forge');
        const [ra, rb] = [newRouter(), newRouter()];
        await vpns.apply(ns, 'a', { routerId: ra });
        await vpns.apply(ns, 'b', { routerId: rb });
        const a = await vpns.waitReason(ns, 'a', 'Active');
        const b = await vpns.waitReason(ns, 'b', 'Active');
        const [idA, idB] = [a.status!.id!, b.status!.id!];
        await kube.request('PATCH', `${vpnPath(ns, 'b')}/status`, { status: { id: idA } }, MERGE_PATCH);
        await vpns.remove(ns, 'b');
        await vpns.waitGone(ns, 'b', 60_000);
        await sleep(2_000); // a late DELETE would land by now
        const services = sim.services().filter((s) => s.router_id === ra || s.router_id === rb);
        console.log(`forged status [${mode}], B created: ${describeAudit(auditCloud(services, [idA]))}; A's service ${sim.service(idA) ? 'kept' : 'DELETED'}, B's ${sim.service(idB) ? 'LEAKED' : 'deleted'}`);
        expect(sim.service(idA)?.status).toBe('ACTIVE');
        expect(sim.service(idB)).toBeUndefined();
        expect(ready(await vpns.get(ns, 'a'))?.reason).toBe('Active');
        await vpns.remove(ns, 'a');
        await vpns.waitGone(ns, 'a');
        expect(sim.service(idA)).toBeUndefined();
      });

      it("a RouterConflict loser (never created) with A's status.id forged: deleting it leaves A's service alone", async () => {
        const ns = await vpns.namespace('forge');
        const r = newRouter();
        await vpns.apply(ns, 'owner', { routerId: r });
        const a = await vpns.waitReason(ns, 'owner', 'Active');
        await sleep(1100); // creationTimestamp has one-second resolution
        await vpns.apply(ns, 'waiter', { routerId: r });
        await vpns.waitReason(ns, 'waiter', 'RouterConflict');
        // Same router, so a check of the router alone would not tell them apart.
        await kube.request('PATCH', `${vpnPath(ns, 'waiter')}/status`, { status: { id: a.status!.id } }, MERGE_PATCH);
        await vpns.remove(ns, 'waiter');
        await vpns.waitGone(ns, 'waiter', 60_000);
        await sleep(2_000);
        const services = sim.services().filter((s) => s.router_id === r);
        console.log(`forged status [${mode}], B never created: ${describeAudit(auditCloud(services, [a.status!.id!]))}; A's service ${sim.service(a.status!.id!) ? 'kept' : 'DELETED'}`);
        expect(services.map((s) => s.id)).toEqual([a.status!.id]);
        expect(ready(await vpns.get(ns, 'owner'))?.reason).toBe('Active');
        await vpns.remove(ns, 'owner');
        await vpns.waitGone(ns, 'owner');
        expect(sim.services().filter((s) => s.router_id === r)).toEqual([]);
      });
    });

    describe('squatting', () => {
      it('objects with refused credentials, a missing Secret or a token that cannot see the router, older, block nobody and learn nothing', async () => {
        const router = newRouter(); // project demo's
        const [nsBad, nsMissing, nsOther, nsVictim] = [
          await vpns.namespace('squat-badpw'),
          await vpns.namespace('squat-nosecret'),
          await vpns.namespace('squat-other'),
          await vpns.namespace('victim'),
        ];
        await vpns.secret(nsBad, 'creds', { 'clouds.yaml': cloudsYamlAs(sim, { name: 'demo', password: 'wrong-password', project: 'demo' }) });
        await vpns.secret(nsOther, 'creds', { 'clouds.yaml': cloudsYamlAs(sim, { name: 'other', password: 'other-secret', project: 'other' }) });
        const ref = { cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } };
        await vpns.apply(nsBad, 'squat', { routerId: router, ...ref });
        await vpns.apply(nsMissing, 'squat', { routerId: router, ...ref });
        await vpns.apply(nsOther, 'squat', { routerId: router, ...ref });
        // Each shows its own trouble (and none of them holds the router).
        const reasons = await eventually(async () => {
          const rs = await Promise.all([nsBad, nsMissing, nsOther].map(async (ns) => ready(await vpns.get(ns, 'squat'))?.reason));
          return rs.every((x) => x !== undefined && x !== 'Creating' && x !== 'CloudUnavailable') ? rs : undefined;
        }, 'the squatters settled', 60_000, 250);
        console.log(`squatting [${mode}]: refused credentials → ${reasons[0]}, missing Secret → ${reasons[1]}, router not visible → ${reasons[2]}`);
        expect(reasons[0]).toBe('AuthFailed');
        expect(reasons[1]).toBe('CredentialsNotFound');

        await sleep(1100); // the victim is younger than every squatter
        await vpns.apply(nsVictim, 'vpn', { routerId: router });
        const v = await vpns.waitReason(nsVictim, 'vpn', 'Active', 30_000).catch(async (err: unknown) => {
          const x = await vpns.get(nsVictim, 'vpn');
          throw new Error(`${(err as Error).message}: the victim shows ${ready(x)?.reason}: ${ready(x)?.message}`);
        });
        expect(sim.services().filter((s) => s.router_id === router).map((s) => s.id)).toEqual([v.status!.id]);

        // An object created after the owner, whose credentials cannot see the router, learns nothing of it.
        await vpns.apply(nsOther, 'late', { routerId: router, ...ref });
        await eventually(async () => {
          const r = ready(await vpns.get(nsOther, 'late'))?.reason;
          return r !== undefined && r !== 'Creating' && r !== 'CloudUnavailable';
        }, 'the late object settled', 30_000, 250);
        await sleep(2_000);
        for (const [ns, name] of [[nsBad, 'squat'], [nsMissing, 'squat'], [nsOther, 'squat'], [nsOther, 'late']] as const) {
          const o = await vpns.get(ns, name);
          const text = JSON.stringify(o?.status ?? {});
          expect(text, `${ns}/${name}'s status names the victim`).not.toContain(nsVictim);
          expect(ready(o)?.reason, `${ns}/${name}`).not.toBe('RouterConflict');
          const ev = await vpns.events(ns, name);
          expect(JSON.stringify(ev), `${ns}/${name}'s events name the victim`).not.toContain(nsVictim);
        }
        expect(ready(await vpns.get(nsVictim, 'vpn'))?.reason).toBe('Active');
        expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(1);

        await vpns.remove(nsVictim, 'vpn');
        await vpns.waitGone(nsVictim, 'vpn');
        expect(sim.services().filter((s) => s.router_id === router)).toEqual([]);
        // The squatters go too (none of them holds a cloud service).
        for (const ns of [nsBad, nsMissing, nsOther]) for (const o of await vpns.list(ns)) await vpns.remove(ns, o.metadata.name);
        for (const ns of [nsBad, nsMissing, nsOther]) await eventually(async () => (await vpns.list(ns)).length === 0, `${ns} emptied`, 60_000);
      });
    });
  });
}
