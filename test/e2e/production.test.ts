// Production concerns end to end: metrics and readiness, per-namespace credentials from Secrets (and the claim key
// using the resolved cloud endpoint), and secrets never reaching logs, events or status.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { Vpns } from '../support/vpns.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';

const CANARY_DEFAULT = `canary-default-${randomUUID()}`;
const CANARY_SECRET = `canary-secret-${randomUUID()}`;
const CANARY_WRONG = `canary-wrong-${randomUUID()}`;

let cp: ControlPlane;
let simA: Simulator; // the operator's default cloud
let simB: Simulator; // a team's own cloud, reached through a Secret
let kube: KubeClient;
let op: OperatorProcess;

let vpns: Vpns;
const namespace = () => vpns.namespace('prod');
const apply = (ns: string, name: string, spec: Record<string, unknown>) => vpns.apply(ns, name, spec);
const waitReason = (ns: string, name: string, reason: string, timeoutMs?: number) => vpns.waitReason(ns, name, reason, timeoutMs);
const secret = (ns: string, name: string, cloudsYaml: string) => vpns.secret(ns, name, { 'clouds.yaml': cloudsYaml });

async function scrape(): Promise<string> {
  const port = op.metricsPort();
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

beforeAll(async () => {
  [cp, simA, simB] = await Promise.all([
    startControlPlane(),
    startSimulator({ activeDelayMs: 500, users: [{ name: 'ops', password: CANARY_DEFAULT }], projects: [{ name: 'ops' }] }),
    startSimulator({ activeDelayMs: 500, users: [{ name: 'team', password: CANARY_SECRET }], projects: [{ name: 'team' }] }),
  ]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  // The operator starts before the CRD exists: it cannot sync, and must say so on /readyz.
  op = new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: simA.cloudsYaml('default'), cloudName: 'default' }).start();
});

afterAll(async () => {
  await op?.dispose();
  await Promise.all([cp?.stop(), simA?.stop(), simB?.stop()]);
});

describe('health and metrics', () => {
  it('/readyz is 503 until the cache has synced, /healthz is 200 throughout', async () => {
    const port = await eventually(() => op.metricsPort(), 'metrics port logged');
    const notReady = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(notReady.status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await installCrd(kube);
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, '/readyz 200 after the CRD appears', 60_000);
  });

  it('after a run, /metrics shows what happened', async () => {
    const ns = await namespace();
    const router = randomUUID();
    simA.addRouter({ id: router, gatewayV4: '192.0.2.50' });
    await apply(ns, 'measured', { routerId: router });
    await waitReason(ns, 'measured', 'Active');
    const text = await scrape();
    expect(metric(text, 'vpnaas_cloud_requests_total', { method: 'POST', status: '201' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'vpnaas_reconcile_total')).toBeGreaterThanOrEqual(2);
    expect(metric(text, 'vpnaas_objects_ready', { reason: 'Active' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'vpnaas_objects', { cloud_status: 'ACTIVE' })).toBeGreaterThanOrEqual(1);
    expect(metric(text, 'vpnaas_leader')).toBe(1);
    expect(metric(text, 'vpnaas_informer_synced')).toBe(1);
    expect(metric(text, 'vpnaas_kube_requests_total', { method: 'PATCH' })).toBeGreaterThanOrEqual(2);
    expect(text).toContain('vpnaas_process_resident_memory_bytes');
  });
});

describe('per-namespace credentials (spec.cloudCredentialsRef)', () => {
  it('a missing Secret → CredentialsNotFound; once created it is picked up and the service lands in that cloud', async () => {
    const ns = await namespace();
    const router = randomUUID();
    simB.addRouter({ id: router, gatewayV4: '192.0.2.60' });
    await apply(ns, 'team-vpn', { routerId: router, cloudCredentialsRef: { secretName: 'team-cloud', cloudName: 'team' } });
    const missing = await waitReason(ns, 'team-vpn', 'CredentialsNotFound');
    expect(missing.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain(`Secret ${ns}/team-cloud`);
    await secret(ns, 'team-cloud', simB.cloudsYaml('team'));
    const o = await waitReason(ns, 'team-vpn', 'Active', 60_000);
    expect(simB.services().map((s) => s.id)).toContain(o.status?.id);
    expect(simA.services().some((s) => s.router_id === router)).toBe(false);
  });

  it('a wrong password in the Secret → AuthFailed, the others are not disturbed, and the fixed Secret is picked up by itself', async () => {
    const ns = await namespace();
    const router = randomUUID();
    simB.addRouter({ id: router, gatewayV4: '192.0.2.61' });
    const wrong = simB.cloudsYaml('team').replace(CANARY_SECRET, CANARY_WRONG);
    await secret(ns, 'bad-cloud', wrong);
    await apply(ns, 'bad', { routerId: router, cloudCredentialsRef: { secretName: 'bad-cloud', cloudName: 'team' } });
    const o = await waitReason(ns, 'bad', 'AuthFailed');
    expect(o.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
    // another object on the default cloud still works
    const ok = randomUUID();
    simA.addRouter({ id: ok, gatewayV4: '192.0.2.62' });
    await apply(ns, 'fine', { routerId: ok });
    await waitReason(ns, 'fine', 'Active');

    // While the Secret is unchanged the bad password is not sent again (Keystone may lock an account after repeated
    // failures), although the operator keeps looking at the Secret: over 20 s, no new refused authentication.
    const refusedAuths = () => simB.countOf({ method: 'POST', route: '/v3/auth/tokens', status: 401 });
    const before = refusedAuths();
    expect(before).toBeGreaterThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 20_000));
    expect(refusedAuths()).toBe(before);
    // Fixing the Secret is picked up by itself (no change to the VpnService) and the service lands in that cloud.
    await kube.request('PATCH', `/api/v1/namespaces/${ns}/secrets/bad-cloud`, { stringData: { 'clouds.yaml': simB.cloudsYaml('team') } }, MERGE_PATCH);
    const fixed = await waitReason(ns, 'bad', 'Active', 60_000);
    expect(simB.services().map((v) => v.id)).toContain(fixed.status?.id);
    expect(refusedAuths()).toBe(before);
  }, 150_000);

  it('the one-per-VPC claim key includes the cloud endpoint: the same router id in two clouds does not conflict', async () => {
    const ns = await namespace();
    const router = randomUUID();
    simA.addRouter({ id: router, gatewayV4: '192.0.2.70' });
    simB.addRouter({ id: router, gatewayV4: '192.0.2.71' });
    await secret(ns, 'team-cloud', simB.cloudsYaml('team'));
    await apply(ns, 'in-a', { routerId: router });
    await waitReason(ns, 'in-a', 'Active');
    await apply(ns, 'in-b', { routerId: router, cloudCredentialsRef: { secretName: 'team-cloud', cloudName: 'team' } });
    await waitReason(ns, 'in-b', 'Active');
  });
});

describe('secrets stay secret', () => {
  it('no password from clouds.yaml or a Secret appears in logs, events or status, after failures too', async () => {
    // failures on the way: a 5xx and a lost response on the default cloud
    const ns = await namespace();
    const router = randomUUID();
    simA.addRouter({ id: router, gatewayV4: '192.0.2.80' });
    simA.injectFault({ route: 'POST /v2.0/vpn/vpnservices', status: 500, times: 1 });
    simA.revokeTokens();
    await apply(ns, 'after-faults', { routerId: router });
    await waitReason(ns, 'after-faults', 'Active', 60_000);

    const output = op.output();
    const events = JSON.stringify(await kube.request('GET', '/api/v1/events'));
    const objects = JSON.stringify(await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices'));
    for (const canary of [CANARY_DEFAULT, CANARY_SECRET, CANARY_WRONG]) {
      expect(output).not.toContain(canary);
      expect(events).not.toContain(canary);
      expect(objects).not.toContain(canary);
    }
    // the run did include failures and re-authentication
    expect(output).toMatch(/AuthFailed|cloud request failed|reconcile failed|retrying/);
    expect(YAML.parse(simA.cloudsYaml('default')).clouds.default.auth.password).toBe(CANARY_DEFAULT);
  });
});
