// A tenant's cloud endpoints are untrusted input (issue 17, item 8), against a real kube-apiserver and the
// simulator: the operator runs as an admin would run it, with `--tenant-cloud-hosts 127.0.0.1` (the clouds it trusts
// are on 127.0.0.1); 127.0.0.2 is another host, where nothing may be reached.
// - A tenant Secret whose auth_url names 127.0.0.2: CredentialsNotFound naming the host and the admin's flag, and not
//   one connection reaches a server listening there.
// - A tenant Keystone on an allowed host whose catalog names 127.0.0.2 (a simulator on 127.0.0.2 behind a proxy on
//   127.0.0.1): the same, and its Neutron never gets a request.
// - A tenant Neutron whose listing never ends: the object shows CloudUnavailable saying the listing stopped at the
//   page budget, within seconds, instead of the operator reading (up to) 100,000 pages.
// - Without the flag (the default): a tenant Secret naming loopback is refused, the operator's own cloud (also on
//   loopback) is not checked.
import { randomUUID } from 'node:crypto';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { Vpns, ready } from '../support/vpns.ts';
import { startHostileNeutron, startTripwire } from '../support/hostile-cloud.ts';
import { startProxy } from '../support/proxy.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { DEFAULT_LIMITS } from '../../src/cloud/limits.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';

let cp: ControlPlane;
let sim: Simulator;
let op: OperatorProcess;
let kube: KubeClient;
let vpns: Vpns;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ seedRules: false, activeDelayMs: 200 })]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', tenantCloudHosts: '127.0.0.1', args: ['--resync', '3s'] }).start();
});
afterAll(async () => {
  await op?.dispose();
  await Promise.all([sim?.stop(), cp?.stop()]);
});

/** The simulator's clouds.yaml entry `sim`, with changes. */
function cloudsYaml(s: Simulator, change: (c: { auth: Record<string, unknown> } & Record<string, unknown>) => void): string {
  const doc = YAML.parse(s.cloudsYaml('sim')) as { clouds: { sim: { auth: Record<string, unknown> } & Record<string, unknown> } };
  change(doc.clouds.sim);
  return YAML.stringify(doc);
}

function newRouter(): string {
  const id = randomUUID();
  sim.addRouter({ id, gatewayV4: '203.0.113.60' });
  return id;
}

/** The object's Ready condition once it is past Creating. */
async function settled(ns: string, name: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const c = ready(await vpns.get(ns, name));
    return c && c.reason !== 'Creating' ? c : undefined;
  }, `${ns}/${name} settles`, timeoutMs, 200);
}

describe('--tenant-cloud-hosts 127.0.0.1', () => {
  it('auth_url on 127.0.0.2: CredentialsNotFound naming the host and the flag; nothing reaches 127.0.0.2', async () => {
    const trip = await startTripwire('127.0.0.2');
    try {
      const ns = await vpns.namespace('elsewhere');
      await vpns.secret(ns, 'creds', { 'clouds.yaml': cloudsYaml(sim, (c) => (c.auth.auth_url = `${trip.url}/v3`)) });
      const router = newRouter();
      await vpns.apply(ns, 'vpn', { routerId: router, cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } });
      const cond = await settled(ns, 'vpn');
      expect(cond.reason).toBe('CredentialsNotFound');
      expect(cond.message).toContain('auth.auth_url names host 127.0.0.2');
      expect(cond.message).toContain('the cluster admin sets the allowed hosts (operator flag --tenant-cloud-hosts)');
      expect(ready(await vpns.get(ns, 'vpn'))?.status).toBe('False');
      await sleep(3_000); // a retry (the Secret is looked at again every 15 s at most) would land by now
      expect(trip.hits()).toBe(0);
      // Counted, as a request that got no answer.
      const metrics = await (await fetch(`http://127.0.0.1:${op.metricsPort()}/metrics`)).text();
      expect(metrics).toMatch(/^vpnaas_cloud_request_errors_total\{method="POST",route="\/v3\/auth\/tokens",error="HostNotAllowed"\} [1-9]/m);
      expect(sim.services().filter((s) => s.router_id === router)).toEqual([]);
      // Nothing in the cloud: the object can be deleted.
      await vpns.remove(ns, 'vpn');
      await vpns.waitGone(ns, 'vpn', 30_000);
      expect(trip.hits()).toBe(0);
    } finally {
      await trip.stop();
    }
  });

  it("a Keystone on 127.0.0.1 whose catalog names 127.0.0.2: CredentialsNotFound; its Neutron never gets a request", async () => {
    const far = await startSimulator({ host: '127.0.0.2', seedRules: false });
    const keystone = await startProxy(far.url); // the tenant's Keystone as the operator reaches it: 127.0.0.1
    try {
      const router = randomUUID();
      far.addRouter({ id: router, gatewayV4: '203.0.113.61' });
      const ns = await vpns.namespace('catalog');
      await vpns.secret(ns, 'creds', { 'clouds.yaml': cloudsYaml(far, (c) => (c.auth.auth_url = `${keystone.url}/v3`)) });
      await vpns.apply(ns, 'vpn', { routerId: router, cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } });
      const cond = await settled(ns, 'vpn');
      expect(cond.reason).toBe('CredentialsNotFound');
      expect(cond.message).toContain(`The cloud sim of Secret ${ns}/creds: the service catalog's network endpoint (chosen by the cloud's Keystone) names host 127.0.0.2`);
      expect(cond.message).toContain('--tenant-cloud-hosts');
      await sleep(3_000);
      // Only Keystone was asked (through the allowed host); the catalog's Neutron on 127.0.0.2 never.
      const log = far.requestLog().map((r) => `${r.method} ${r.route}`);
      expect(log.length).toBeGreaterThan(0);
      expect(log.every((r) => r === 'POST /v3/auth/tokens')).toBe(true);
      expect(far.services()).toEqual([]);
      await vpns.remove(ns, 'vpn');
      await vpns.waitGone(ns, 'vpn', 30_000);
    } finally {
      await keystone.stop();
      await far.stop();
    }
  });

  it(`a listing that never ends: CloudUnavailable naming the page budget (${DEFAULT_LIMITS.maxListPages}) within seconds, not a hang`, async () => {
    const hostile = await startHostileNeutron();
    try {
      const ns = await vpns.namespace('endless');
      // The tenant's own credentials on the simulator's Keystone (allowed), its own Neutron (allowed: 127.0.0.1).
      await vpns.secret(ns, 'creds', { 'clouds.yaml': cloudsYaml(sim, (c) => (c.network_endpoint_override = hostile.url)) });
      const t0 = Date.now();
      await vpns.apply(ns, 'vpn', { routerId: newRouter(), cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } });
      const cond = await eventually(async () => {
        const c = ready(await vpns.get(ns, 'vpn'));
        return c?.reason === 'CloudUnavailable' ? c : undefined;
      }, 'CloudUnavailable', 60_000, 200);
      console.log(`endless listing refused after ${Date.now() - t0} ms, ${hostile.requests.length} requests to the hostile Neutron`);
      expect(cond.message).toContain(`listing stopped: the cloud still had a next page after ${DEFAULT_LIMITS.maxListPages} pages`);
      // Each listing read at most the budget's pages: no more requests than the listings the operator says it stopped.
      const stopped = op.records().filter((r) => r.code === 'ListingTooLarge').length;
      expect(stopped).toBeGreaterThan(0);
      expect(hostile.requests.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxListPages * (stopped + 1));
      expect(hostile.requests.every((r) => r.method === 'GET' && r.path === '/v2.0/vpn/vpnservices')).toBe(true);
      // Deleting it needs a cloud that answers (a create intent is resolved by looking, never assumed): the tenant
      // fixes its Secret, and the object goes.
      await vpns.remove(ns, 'vpn');
      await kube.request('PATCH', `/api/v1/namespaces/${ns}/secrets/creds`, { stringData: { 'clouds.yaml': sim.cloudsYaml('sim') } }, MERGE_PATCH);
      await vpns.waitGone(ns, 'vpn', 60_000);
    } finally {
      await hostile.stop();
    }
  });
});

describe('the default (no --tenant-cloud-hosts)', () => {
  it("refuses a tenant Secret naming loopback; the operator's own cloud on loopback works", async () => {
    await op.stop();
    op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim', tenantCloudHosts: null, args: ['--resync', '3s'] }).start();
    const ns = await vpns.namespace('default-policy');
    await vpns.secret(ns, 'creds', { 'clouds.yaml': sim.cloudsYaml('sim') });
    const before = sim.countOf({ method: 'POST', route: '/v3/auth/tokens' });
    await vpns.apply(ns, 'tenant', { routerId: newRouter(), cloudCredentialsRef: { secretName: 'creds', cloudName: 'sim' } });
    await vpns.apply(ns, 'own', { routerId: newRouter() });
    const cond = await settled(ns, 'tenant', 60_000);
    expect(cond.reason).toBe('CredentialsNotFound');
    expect(cond.message).toContain('auth.auth_url names host 127.0.0.1');
    await vpns.waitReason(ns, 'own', 'Active', 60_000);
    // One authentication: the operator's own cloud's (the tenant's was never sent).
    expect(sim.countOf({ method: 'POST', route: '/v3/auth/tokens' }) - before).toBe(1);
    expect(op.records().some((r) => r.message === 'hosts allowed for clouds from tenant Secrets' && String(r.tenantCloudHosts).startsWith('default: any host except'))).toBe(true);
  });
});
