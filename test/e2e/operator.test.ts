// End to end: a real kube-apiserver, the cloud simulator, and the operator running as a separate process exactly as
// users run it. Each test uses its own namespace and routers. Everything runs twice: with the simulator in upstream
// mode (several services per router allowed, as on any OpenStack: nothing in the cloud refuses a duplicate) and
// with the seed cloud's rules; each round ends with an audit of the whole cloud (no duplicate, no leak).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Vpns, condition, ready } from '../support/vpns.ts';
import { createCloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { FINALIZER } from '../../src/api/vpnservice.ts';
import { auditCloud, describeAudit } from '../support/audit.ts';

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;
let op: OperatorProcess;

const RESYNC = '4s';
/** Cloud services a test made on purpose without an owning object (out of band, Orphan policy). */
const allowed = new Set<string>();

function newRouter(opts: { gateway?: boolean; v6?: boolean } = {}): string {
  const id = randomUUID();
  const n = Math.floor(Math.random() * 250) + 2;
  sim.addRouter({
    id,
    gatewayV4: opts.gateway === false ? null : `203.0.113.${n}`,
    gatewayV6: opts.v6 ? `2001:db8::${n.toString(16)}` : null,
  });
  return id;
}

let vpns: Vpns;
const namespace = () => vpns.namespace('e2e');
const apply = (ns: string, name: string, spec: Record<string, unknown>) => vpns.apply(ns, name, spec);
const get = (ns: string, name: string) => vpns.get(ns, name);
const patchSpec = (ns: string, name: string, spec: Record<string, unknown>) => vpns.patchSpec(ns, name, spec);
const remove = (ns: string, name: string) => vpns.remove(ns, name);
const waitReason = (ns: string, name: string, reason: string, timeoutMs?: number) => vpns.waitReason(ns, name, reason, timeoutMs);
const events = (ns: string, name: string) => vpns.events(ns, name);
const cond = condition;

/** A VPN service created in the cloud by someone else (not through a VpnService). */
async function outOfBand(routerId: string, name: string): Promise<{ id: string }> {
  const cloud = createCloud(loadCloudConfigFromString(sim.cloudsYaml('sim'), 'sim'));
  try {
    const svc = await cloud.vpnServices.create({ router_id: routerId, name, admin_state_up: true });
    allowed.add(svc.id);
    return svc;
  } finally {
    await cloud.close();
  }
}

/** POSTs of VPN services the cloud received so far (tests in this file run one at a time). */
function posts(): number {
  return sim.requestLog().filter((r) => r.method === 'POST' && r.route.endsWith('/vpn/vpnservices')).length;
}

for (const mode of ['upstream', 'seed'] as const) {
  describe(`simulator in ${mode} mode`, () => {
    beforeAll(async () => {
      allowed.clear();
      [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 1500, seedRules: mode === 'seed' })]);
      kube = new KubeClient(cp.kubeConfig);
      vpns = new Vpns(kube);
      await installCrd(kube);
      op = new OperatorProcess({
        kubeconfigPath: cp.kubeconfigPath,
        cloudsYaml: sim.cloudsYaml('sim'),
        cloudName: 'sim',
        args: ['--resync', RESYNC, '--log-level', 'debug'],
      }).start();
    });

    afterAll(async () => {
      await op?.dispose();
      await Promise.all([cp?.stop(), sim?.stop()]);
    });

    describe('create', () => {
      it('goes to ACTIVE with the cloud id and external IPs in status, Ready=True, and events', async () => {
        const ns = await namespace();
        const router = newRouter({ v6: true });
        const p0 = posts();
        await apply(ns, 'vpn', { routerId: router, description: 'site A' });
        const provisioning = await waitReason(ns, 'vpn', 'Provisioning');
        expect(provisioning.status?.status).toBe('PENDING_CREATE');
        expect(provisioning.metadata.finalizers).toContain(FINALIZER);
        const o = await waitReason(ns, 'vpn', 'Active');
        const svc = sim.services().find((s) => s.router_id === router)!;
        expect(o.status).toMatchObject({
          id: svc.id,
          status: 'ACTIVE',
          routerId: router,
          externalV4Ip: svc.external_v4_ip,
          externalV6Ip: svc.external_v6_ip,
          observedGeneration: o.metadata.generation,
        });
        expect(svc.name).toBe('vpn');
        expect(svc.description).toBe('site A');
        expect(ready(o)?.status).toBe('True');
        expect(cond(o, 'Reconciling')).toBeUndefined();
        expect(cond(o, 'Stalled')).toBeUndefined();
        expect(posts() - p0).toBe(1);
        const ev = await eventually(async () => {
          const e = await events(ns, 'vpn');
          return e.some((x) => x.reason === 'Active') ? e : undefined;
        }, 'Active event');
        expect(ev.map((e) => e.reason)).toEqual(expect.arrayContaining(['Created', 'Active']));
      });
    });

    describe('one VPN service per VPC', () => {
      it('the younger object waits with RouterConflict naming the older, makes no cloud call, and proceeds when the older goes', async () => {
        const [nsA, nsB] = [await namespace(), await namespace()];
        const router = newRouter();
        await apply(nsA, 'first', { routerId: router });
        await waitReason(nsA, 'first', 'Active');
        await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has one-second resolution
        const p0 = posts();
        await apply(nsB, 'second', { routerId: router, name: 'second-vpn' });
        const b = await waitReason(nsB, 'second', 'RouterConflict');
        expect(ready(b)?.message).toContain(`${nsA}/first`);
        expect(cond(b, 'Stalled')?.status).toBe('True');
        expect(posts() - p0).toBe(0);
        await vpns.waitEvent(nsB, 'second', (e) => e.reason === 'RouterConflict' && e.type === 'Warning', 'Warning RouterConflict');

        await remove(nsA, 'first');
        const after = await waitReason(nsB, 'second', 'Active', 30_000);
        const svcs = sim.services().filter((s) => s.router_id === router);
        expect(svcs).toHaveLength(1);
        expect(svcs[0]!.id).toBe(after.status?.id);
        expect(svcs[0]!.name).toBe('second-vpn');
      });
    });

    describe('update', () => {
      it('name and description changes are PUT, and wait while the cloud is pending', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'upd', { routerId: router });
        const o = await waitReason(ns, 'upd', 'Active');
        const id = o.status!.id!;
        sim.setStatus(id, 'PENDING_UPDATE');
        await patchSpec(ns, 'upd', { name: 'renamed', description: 'now with words' });
        const waiting = await waitReason(ns, 'upd', 'Updating');
        expect(ready(waiting)?.message).toContain('PENDING_UPDATE');
        expect(sim.service(id)!.name).toBe('upd');
        sim.setStatus(id, 'ACTIVE');
        await eventually(() => sim.service(id)?.name === 'renamed', 'PUT applied', 30_000);
        expect(sim.service(id)!.description).toBe('now with words');
        const done = await waitReason(ns, 'upd', 'Active');
        expect(done.status?.name).toBe('renamed');
        expect(done.status?.observedGeneration).toBe(done.metadata.generation);
        await vpns.waitEvent(ns, 'upd', (e) => e.reason === 'Updated', 'Updated');
      });
    });

    describe('delete', () => {
      it('Delete policy: DELETE in the cloud, then the finalizer goes', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'del', { routerId: router });
        const o = await waitReason(ns, 'del', 'Active');
        await remove(ns, 'del');
        await eventually(async () => (await get(ns, 'del')) === undefined, 'object gone');
        expect(sim.service(o.status!.id!)).toBeUndefined();
      });

      it('Orphan policy leaves the cloud service', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'orph', { routerId: router, deletionPolicy: 'Orphan' });
        const o = await waitReason(ns, 'orph', 'Active');
        allowed.add(o.status!.id!);
        await remove(ns, 'orph');
        await eventually(async () => (await get(ns, 'orph')) === undefined, 'object gone');
        expect(sim.service(o.status!.id!)?.status).toBe('ACTIVE');
      });

      it('409 in use → DeleteBlocked, then deleted once free', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'busy', { routerId: router });
        const o = await waitReason(ns, 'busy', 'Active');
        const id = o.status!.id!;
        const conn = sim.createSiteConnection(id);
        await remove(ns, 'busy');
        const blocked = await waitReason(ns, 'busy', 'DeleteBlocked');
        expect(ready(blocked)?.message).toContain('IPsec site connections');
        expect(blocked.metadata.finalizers).toContain(FINALIZER);
        await vpns.waitEvent(ns, 'busy', (e) => e.reason === 'DeleteBlocked' && e.type === 'Warning', 'Warning DeleteBlocked');
        sim.deleteConnection(conn.id);
        await eventually(async () => (await get(ns, 'busy')) === undefined, 'object gone after the service is free', 60_000);
        expect(sim.service(id)).toBeUndefined();
      });

      it('a cloud that deletes asynchronously: Deleting until it confirms, one DELETE, then the finalizer goes', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'slow', { routerId: router });
        const o = await waitReason(ns, 'slow', 'Active');
        const id = o.status!.id!;
        // The cloud accepts the DELETE (204) but only marks the service PENDING_DELETE.
        const deletes = () => sim.requestLog().filter((r) => r.method === 'DELETE' && r.path.endsWith(id)).length;
        sim.injectFault({ route: `DELETE /v2.0/vpn/vpnservices/${id}`, status: 204, times: 1 });
        sim.setStatus(id, 'PENDING_DELETE');
        await remove(ns, 'slow');
        const deleting = await waitReason(ns, 'slow', 'Deleting');
        expect(deleting.status?.status).toBe('PENDING_DELETE');
        await new Promise((r) => setTimeout(r, 1500));
        expect(await get(ns, 'slow')).toBeDefined();
        sim.deleteService(id); // the cloud finishes
        await eventually(async () => (await get(ns, 'slow')) === undefined, 'object gone once the cloud confirms', 30_000);
        expect(deletes()).toBe(1);
      });

      it('404 on delete counts as gone', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'gone', { routerId: router });
        const o = await waitReason(ns, 'gone', 'Active');
        sim.deleteService(o.status!.id!);
        await remove(ns, 'gone');
        await eventually(async () => (await get(ns, 'gone')) === undefined, 'object gone');
        expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(0);
      });
    });

    describe('cloud refusals and faults', () => {
      it('a 4xx refusal → InvalidSpec, Stalled, the cloud message quoted, and no retry storm', async () => {
        const ns = await namespace();
        const router = newRouter({ gateway: false });
        const p0 = posts();
        await apply(ns, 'nogw', { routerId: router });
        const o = await waitReason(ns, 'nogw', 'InvalidSpec');
        expect(cond(o, 'Stalled')?.status).toBe('True');
        expect(ready(o)?.message).toContain('RouterIsNotExternal');
        // several resync periods pass: the refusal is not tried again for the same generation within minutes
        await new Promise((r) => setTimeout(r, 10_000));
        expect(posts() - p0).toBe(1);
        // a spec change is tried at once
        await patchSpec(ns, 'nogw', { description: 'try again' });
        await eventually(() => posts() - p0 === 2, 'second POST after the spec change');
      });

      it('5xx and 429 on create are retried and converge to one service', async () => {
        const ns = await namespace();
        const router = newRouter();
        sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', status: 503, times: 2 });
        sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', status: 429, retryAfterSeconds: 1, times: 1 });
        await apply(ns, 'flaky', { routerId: router });
        await waitReason(ns, 'flaky', 'Active', 60_000);
        expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(1);
      });

      it('a lost create response yields exactly one service', async () => {
        const ns = await namespace();
        const router = newRouter();
        sim.injectFault({ route: 'POST /v2.0/vpn/vpnservices', kind: 'lostResponse', times: 1 });
        await apply(ns, 'lost', { routerId: router });
        const o = await waitReason(ns, 'lost', 'Active', 60_000);
        const svcs = sim.services().filter((s) => s.router_id === router);
        expect(svcs).toHaveLength(1);
        expect(o.status?.id).toBe(svcs[0]!.id);
      });
    });

    describe('adoption and drift', () => {
      it('importId adopts an existing cloud service', async () => {
        const ns = await namespace();
        const router = newRouter();
        const vpnservice = await outOfBand(router, 'legacy');
        const postsBefore = posts();
        await apply(ns, 'adopt', { routerId: router, importId: vpnservice.id, name: 'legacy' });
        const o = await waitReason(ns, 'adopt', 'Active');
        expect(o.status?.id).toBe(vpnservice.id);
        expect(posts()).toBe(postsBefore);
        await vpns.waitEvent(ns, 'adopt', (e) => e.reason === 'Adopted', 'Adopted');
      });

      it('a foreign service on the router → RouterInUse with its id and how to import it', async () => {
        const ns = await namespace();
        const router = newRouter();
        const vpnservice = await outOfBand(router, 'someone-else');
        await apply(ns, 'inuse', { routerId: router });
        const o = await waitReason(ns, 'inuse', 'RouterInUse');
        expect(ready(o)?.message).toContain(vpnservice.id);
        expect(ready(o)?.message).toContain('importId');
        expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(1);
      });

      it('a service deleted out of band is recreated, with a Warning event', async () => {
        const ns = await namespace();
        const router = newRouter();
        await apply(ns, 'drift', { routerId: router });
        const o = await waitReason(ns, 'drift', 'Active');
        sim.deleteService(o.status!.id!);
        const again = await eventually(async () => {
          const x = await get(ns, 'drift');
          return x?.status?.id && x.status.id !== o.status!.id && ready(x)?.reason === 'Active' ? x : undefined;
        }, 'recreated and ACTIVE', 60_000);
        expect(sim.services().filter((s) => s.router_id === router).map((s) => s.id)).toEqual([again.status!.id]);
        await vpns.waitEvent(ns, 'drift', (e) => e.reason === 'Recreated' && e.type === 'Warning', 'Warning Recreated');
      });
    });

    describe('the cloud at the end', () => {
      it('no duplicate and no leak: every service belongs to a live object (or is an Orphan or out-of-band one of a test)', async () => {
        const all = ((await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices')) as { items: Array<{ status?: { id?: string } }> }).items;
        const audit = auditCloud(sim.services(), all.map((o) => o.status?.id ?? ''), (s) => allowed.has(s.id));
        console.log(`operator e2e [${mode}]: ${describeAudit(audit)}`);
        expect(audit.routersWithSeveral).toEqual([]);
        expect(audit.namesWithSeveral).toEqual([]);
        expect(audit.leaked).toEqual([]);
      });
    });
  });
}
