// Crash safety against real Neutron, which (unlike the seed cloud) accepts any number of VPN services on one router,
// so nothing in the cloud hides a second POST. A proxy of ours (test/support/proxy.ts) sits between the operator and
// neutron-server: requests reach Neutron for real, and after Neutron created the service the test decides what the
// operator gets: nothing because it was SIGKILLed right then, a dropped connection (lost response), no answer
// until its request timeout, or a leader SIGKILLed with a standby taking over. In every case: exactly one VPN
// service in Neutron for the object, the object Ready once the agent stand-in reports ACTIVE, and nothing left in
// Neutron after the object is deleted.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { fetch } from 'undici';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd } from '../support/kube.ts';
import { Vpns } from '../support/vpns.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { ensureLocalOpenStack, type LocalOpenStack } from '../support/openstack.ts';
import { startProxy, type Proxy, type ProxyVerdict } from '../support/proxy.ts';
import { auditCloud, describeAudit } from '../support/audit.ts';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';

const LEASE = ['--leader-elect', '--leader-election-namespace', 'default', '--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '500ms'];
const API_TIMEOUT_S = 4;
const HELD_MS = 3_500;

let cp: ControlPlane;
let os: LocalOpenStack;
let kube: KubeClient;
let vpns: Vpns;
let neutron: Cloud;
let proxy: Proxy;
let proxiedYaml: string;
const routers: string[] = [];

async function neutronAs(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${os.networkUrl}/v2.0/${p}`, {
    method,
    headers: { 'x-auth-token': await os.token('local'), accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** A router of this suite's own, with a gateway on the seeded external network. */
async function newRouter(): Promise<string> {
  const r = await neutronAs('POST', 'routers', { router: { name: `crash-${randomUUID().slice(0, 8)}`, external_gateway_info: { network_id: os.seed.extNet.id } } });
  if (r.status !== 201) throw new Error(`router create: ${r.status} ${JSON.stringify(r.json)}`);
  const id = (r.json as { router: { id: string } }).router.id;
  routers.push(id);
  return id;
}

beforeAll(async () => {
  [cp, os] = await Promise.all([startControlPlane(), ensureLocalOpenStack()]);
  kube = new KubeClient(cp.kubeConfig);
  vpns = new Vpns(kube);
  await installCrd(kube);
  const cloudsYaml = readFileSync(os.cloudsYamlPath, 'utf8');
  neutron = createCloud(loadCloudConfigFromString(cloudsYaml, 'local'));
  proxy = await startProxy(os.networkUrl);
  const doc = YAML.parse(cloudsYaml) as { clouds: Record<string, Record<string, unknown>> };
  proxiedYaml = YAML.stringify({ clouds: { local: { ...doc.clouds.local, network_endpoint_override: proxy.url, api_timeout: API_TIMEOUT_S } } });
}, 900_000);

afterAll(async () => {
  for (const r of routers) {
    for (const v of await neutron.vpnServices.list({ routerId: r }).catch(() => [])) await neutron.vpnServices.delete(v.id).catch(() => undefined);
    await neutronAs('DELETE', `routers/${r}`).catch(() => undefined);
  }
  await proxy?.stop();
  await neutron?.close();
  await cp?.stop();
});

function operator(args: string[] = []): OperatorProcess {
  return new OperatorProcess({ kubeconfigPath: cp.kubeconfigPath, cloudsYaml: proxiedYaml, cloudName: 'local', args: ['--resync', '3s', ...args] }).start();
}

const isCreateOf = (routerId: string, x: { method: string; url: string; status: number; body: string }) =>
  x.method === 'POST' && x.url.startsWith('/v2.0/vpn/vpnservices') && x.status === 201 && x.body.includes(routerId);

/**
 * Applies one object on a new router; `onCreated` runs when Neutron answered the create (before the operator
 * learns it) and says what the operator gets. Then: one service in Neutron, the object Provisioning with its id,
 * ACTIVE after the agent reports, Ready; deleted: nothing left.
 */
async function scenario(name: string, onCreated: () => Promise<ProxyVerdict>, restart?: () => OperatorProcess): Promise<void> {
  const ns = await vpns.namespace('nx');
  const routerId = await newRouter();
  let fired = false;
  proxy.setHook(async (x) => {
    if (fired || !isCreateOf(routerId, x)) return 'forward';
    fired = true;
    return onCreated();
  });
  try {
    await vpns.apply(ns, name, { routerId });
    await eventually(() => fired, 'Neutron created the service', 60_000);
    expect(await neutron.vpnServices.list({ routerId })).toHaveLength(1);
    restart?.();
    const prov = await eventually(async () => {
      const o = await vpns.get(ns, name);
      return o?.status?.id ? o : undefined;
    }, 'status.id written', 90_000, 250);
    const inNeutron = await neutron.vpnServices.list({ routerId });
    const audit = auditCloud(inNeutron.map((s) => ({ id: s.id, router_id: s.router_id, name: s.name })), [prov.status!.id!]);
    console.log(`real Neutron, ${name}: ${describeAudit(audit)}; POSTs through the proxy for this router: ${proxy.log.filter((x) => x.method === 'POST' && x.body.includes(routerId)).length}`);
    expect(inNeutron.map((s) => s.id)).toEqual([prov.status!.id]);
    await os.agentReport(prov.status!.id!, 'ACTIVE');
    await vpns.waitReason(ns, name, 'Active', 60_000);
    expect(await neutron.vpnServices.list({ routerId })).toHaveLength(1);
    await vpns.remove(ns, name);
    await vpns.waitGone(ns, name, 60_000);
    expect(await neutron.vpnServices.list({ routerId })).toEqual([]);
  } finally {
    proxy.setHook(null);
  }
}

describe('crash safety against real Neutron (no seed rule to refuse a second POST)', () => {
  it('the operator SIGKILLed after Neutron created the service, before the response; restarted: one service, Ready', async () => {
    let op = operator();
    try {
      await scenario(
        'killed',
        async () => {
          await op.kill();
          return 'drop';
        },
        () => (op = operator()),
      );
    } finally {
      await op.dispose();
    }
  });

  it('the create response is lost (connection dropped after Neutron created it): one service, Ready', async () => {
    const op = operator();
    try {
      await scenario('lost', async () => 'drop');
    } finally {
      await op.dispose();
    }
  });

  it(`the create times out (no answer within api_timeout ${API_TIMEOUT_S} s after Neutron created it): one service, Ready`, async () => {
    const op = operator();
    try {
      await scenario('timedout', async () => 'hang');
    } finally {
      await op.dispose();
    }
  });

  it('two replicas: the leader SIGKILLed after Neutron created the service; the standby takes over: one service, Ready', async () => {
    const a = operator(LEASE);
    const leads = (o: OperatorProcess) => o.records().some((r) => r.message === 'became leader; reconciling');
    await eventually(() => leads(a), 'first replica leads', 30_000);
    const b = operator(LEASE);
    try {
      await scenario('handover', async () => {
        await a.kill();
        return 'drop';
      });
      expect(leads(b)).toBe(true);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  it(`two replicas: the leader SIGTERMed while its POST is still on the way (it lands ${HELD_MS} ms later, within api_timeout): one service, Ready`, async () => {
    // SPEC §3.3 / issue 8: the Lease may be released only after in-flight cloud writes ended or timed out, and an
    // intent younger than the request timeout is resolved by look-up, never by a new POST.
    const a = operator([...LEASE, '--shutdown-timeout', '1s']);
    const leads = (o: OperatorProcess) => o.records().some((r) => r.message === 'became leader; reconciling');
    await eventually(() => leads(a), 'first replica leads', 30_000);
    const b = operator(LEASE);
    const ns = await vpns.namespace('nx');
    const routerId = await newRouter();
    let held = false;
    let stopped: Promise<number | null> | undefined;
    proxy.setHold(async (x) => {
      if (held || x.method !== 'POST' || !x.url.startsWith('/v2.0/vpn/vpnservices') || !x.body.includes(routerId)) return;
      held = true;
      stopped = a.stop(); // SIGTERM while the POST is on its way
      await new Promise((r) => setTimeout(r, HELD_MS));
    });
    try {
      await vpns.apply(ns, 'late', { routerId });
      await eventually(() => held && stopped !== undefined, 'the leader stopping with its POST in flight', 60_000);
      await stopped;
      const o = await eventually(async () => {
        const x = await vpns.get(ns, 'late');
        return x?.status?.id ? x : undefined;
      }, 'status.id written by the new leader', 90_000, 250);
      await new Promise((r) => setTimeout(r, API_TIMEOUT_S * 1000)); // any POST still on its way has landed by now
      const inNeutron = await neutron.vpnServices.list({ routerId });
      console.log(`real Neutron, SIGTERM with a POST in flight: ${describeAudit(auditCloud(inNeutron.map((s) => ({ id: s.id, router_id: s.router_id, name: s.name })), [o.status!.id!]))}; POSTs for this router: ${proxy.log.filter((x) => x.method === 'POST' && x.body.includes(routerId)).length}`);
      expect(inNeutron.map((s) => s.id)).toEqual([o.status!.id]);
      await os.agentReport(o.status!.id!, 'ACTIVE');
      await vpns.waitReason(ns, 'late', 'Active', 60_000);
      await vpns.remove(ns, 'late');
      await vpns.waitGone(ns, 'late', 60_000);
      expect(await neutron.vpnServices.list({ routerId })).toEqual([]);
    } finally {
      proxy.setHold(null);
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });
});
