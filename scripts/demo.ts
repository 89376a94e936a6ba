// make demo: a local kube-apiserver, the cloud simulator and the operator, with examples/ applied and the site-to-site
// VPN of examples/site-to-site/ (two VPCs connected both ways; the two routers with gateways and subnets are made in
// the simulator through its admin API, the ${VARS} filled in as envsubst would). Shows the objects of all five kinds
// progress (PENDING_CREATE → ACTIVE, connections waiting for their references, then for the tunnel), the one-per-VPC
// conflict and a refused request, then tells how to look around. Ctrl-C shuts everything down. DEMO_EXIT=1 exits by
// itself once everything has settled (for CI).
import { readdirSync, readFileSync, mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { startControlPlane } from '../test/support/controlplane.ts';
import { installCrd } from '../test/support/kube.ts';
import { KubeClient, KubeApiError } from '../src/kube/client.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { exampleObjects, objPath, PLURALS, type Obj } from '../test/support/objects.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const stateDir = path.join(process.env.VPNAAS_STATE ?? path.join(root, '.state'), 'demo');
const exitWhenSettled = process.env.DEMO_EXIT === '1';
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);
const SITE_NS = 'site-to-site';
/** The two VPCs of examples/site-to-site/: made in the simulator through its admin API (POST /_sim/routers). */
const VPCS = {
  A: { id: '3d0c6a52-1b7e-4f2a-9c85-6e4d2b1a0f3c', name: 'vpc-a', gatewayV4: '203.0.113.30', subnet: 'a1f5e2c4-7d3b-4e6a-8f09-1c2b3d4e5f60', cidr: '10.1.0.0/24' },
  B: { id: '7e9f1a3b-5c2d-4b8e-a6f7-0d1e2f3a4b5c', name: 'vpc-b', gatewayV4: '203.0.113.40', subnet: 'b2e6f3d5-8e4c-4f7b-9a1a-2d3c4e5f6a71', cidr: '10.2.0.0/24' },
};
/** Ready reasons that are on the way somewhere (the table is refreshed until no object shows one). */
const TRANSIENT = new Set(['Creating', 'Provisioning', 'Updating', 'Replacing', 'Waiting', 'CloudUnavailable', 'Deleting']);
const readyOf = (o: Obj) => o.status?.conditions?.find((c) => c.type === 'Ready');

async function main(): Promise<void> {
  mkdirSync(stateDir, { recursive: true });
  say(bold('1. Starting a local Kubernetes API server (kube-apiserver + etcd) and the cloud simulator...'));
  const [cp, sim] = await Promise.all([
    startControlPlane({ dir: path.join(stateDir, 'controlplane') }),
    startSimulator({
      activeDelayMs: 6000,
      routers: [
        { id: '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa', name: 'team-a-vpc', gatewayV4: '203.0.113.10', gatewayV6: '2001:db8::10' },
        { id: '0f4b2d61-3c7a-4e58-9a1b-2c3d4e5f6a7b', name: 'team-b-vpc', gatewayV4: '203.0.113.20' },
        { id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', name: 'lab-vpc', gatewayV4: null },
      ],
    }),
  ]);
  const cloudsYaml = path.join(stateDir, 'clouds.yaml');
  writeFileSync(cloudsYaml, sim.cloudsYaml('demo'), { mode: 0o600 });
  say(`   kubeconfig:  ${cp.kubeconfigPath}`);
  say(`   cloud:       ${sim.authUrl} (Keystone + Neutron VPNaaS simulator; VPN services and tunnels turn ACTIVE after 6 s)`);
  for (const v of Object.values(VPCS)) {
    const res = await fetch(`${sim.url}/_sim/routers`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: v.id, name: v.name, gatewayV4: v.gatewayV4, subnets: [v.subnet] }),
    });
    if (res.status !== 201) throw new Error(`the simulator refused router ${v.name}: ${res.status} ${await res.text()}`);
  }
  say(`   routers:     ${VPCS.A.name} (gateway ${VPCS.A.gatewayV4}, subnet ${VPCS.A.cidr}) and ${VPCS.B.name} (gateway ${VPCS.B.gatewayV4}, subnet ${VPCS.B.cidr}), made with POST ${sim.url}/_sim/routers`);

  const kube = new KubeClient(cp.kubeConfig);
  say(bold('2. Installing the CRDs of crds/ (VpnService, IKEPolicy, IPsecPolicy, EndpointGroup, IPsecSiteConnection)...'));
  await installCrd(kube);

  say(bold('3. Starting the operator (logs: .state/demo/operator.log)...'));
  const logFile = createWriteStream(path.join(stateDir, 'operator.log'));
  const op = spawn(process.execPath, [path.join(root, 'src/main.ts'), 'run', '--kubeconfig', cp.kubeconfigPath, '--cloud', 'demo', '--resync', '1m', '--metrics-port', '0', '--metrics-bind-address', '127.0.0.1'], {
    env: { ...process.env, OS_CLIENT_CONFIG_FILE: cloudsYaml },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  op.stdout.pipe(logFile);
  op.stderr.pipe(logFile);

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say();
    say(bold('Shutting down: operator, cloud simulator, API server...'));
    op.kill('SIGTERM');
    await new Promise((r) => (op.exitCode !== null ? r(null) : op.once('exit', r)));
    await Promise.all([sim.stop(), cp.stop()]);
    say('Done.');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  say(bold('4. Applying examples/ (like kubectl apply -f examples/)...'));
  const files = readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.yaml')).sort();
  for (const f of files) {
    for (const doc of YAML.parseAllDocuments(readFileSync(path.join(root, 'examples', f), 'utf8'))) {
      const o = doc.toJS() as Obj | null;
      if (!o) continue;
      await create(kube, o);
      // apply the second object on the shared router a second later, so that the older one clearly wins
      if (f.startsWith('10-')) await new Promise((r) => setTimeout(r, 1100));
    }
  }
  // examples/site-to-site/ as `envsubst < f | kubectl apply -f -` would apply it, with a fresh random PSK
  const vars = {
    PSK: randomBytes(36).toString('base64url'),
    ROUTER_A: VPCS.A.id, ROUTER_B: VPCS.B.id, SUBNET_A: VPCS.A.subnet, SUBNET_B: VPCS.B.subnet,
    CIDR_A: VPCS.A.cidr, CIDR_B: VPCS.B.cidr, GATEWAY_A: VPCS.A.gatewayV4, GATEWAY_B: VPCS.B.gatewayV4,
  };
  say(bold(`5. Applying examples/site-to-site/ (two VPCs connected both ways; ROUTER_A=${VPCS.A.name}, ROUTER_B=${VPCS.B.name}, a random PSK)...`));
  await create(kube, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SITE_NS } });
  for (const o of exampleObjects('site-to-site', vars, SITE_NS)) await create(kube, o);

  say(bold('6. Watching (like kubectl get vpnaas -A):'));
  let last = '';
  const started = Date.now();
  for (;;) {
    const objs = await listAll(kube);
    const table = render(objs);
    if (table !== last) {
      say(`   --- ${((Date.now() - started) / 1000).toFixed(0)} s`);
      say(table);
      last = table;
    }
    const site = objs.filter((o) => o.metadata.namespace === SITE_NS);
    const settled = objs.every((o) => {
      const r = readyOf(o)?.reason;
      return r !== undefined && !TRANSIENT.has(r);
    });
    if (settled && site.length > 0 && site.every((o) => readyOf(o)?.status === 'True')) break;
    if (Date.now() - started > 120_000) throw new Error('the examples did not settle within 2 minutes; see .state/demo/operator.log');
    await new Promise((r) => setTimeout(r, 1000));
  }
  say(`   every object settled after ${((Date.now() - started) / 1000).toFixed(0)} s; the site-to-site VPN is up (both tunnels ACTIVE)`);

  say();
  say(bold('What happened:'));
  for (const o of await listAll(kube)) {
    const r = readyOf(o);
    say(`   ${o.kind} ${o.metadata.namespace}/${o.metadata.name}: ${r?.reason} — ${r?.message}`);
  }
  say();
  say(bold('Look around (another terminal, in this folder):'));
  say('   export PATH=$(bash test/controlplane/build.sh kubectl | tail -n1):$PATH   # a kubectl v1.36 (cached; or any kubectl)');
  say(`   export KUBECONFIG=${cp.kubeconfigPath}`);
  say('   kubectl get vpnaas -A                            # all five kinds: STATUS, READY, REASON, ...');
  say(`   kubectl wait --for=condition=Ready ipsecsiteconnection --all -n ${SITE_NS}   # waits for the tunnels`);
  say('   kubectl explain ipsecsiteconnection.spec.pskSecretRef                  # the PSK comes from a Secret only');
  say(`   kubectl describe ipsecsiteconnection -n ${SITE_NS} vpc-a-to-b      # conditions and events`);
  say('   kubectl get vpns -A                              # STATUS, ROUTER, EXTERNAL-IP, READY, REASON');
  say('   kubectl describe vpns -n team-b branch-link      # conditions and events');
  say('   kubectl delete vpns -n team-a office-link        # team-b/branch-link takes the router by itself');
  say('   kubectl wait --for=condition=Ready vpns -n team-b branch-link --timeout=60s');
  say(`   tail -f ${path.relative(process.cwd(), path.join(stateDir, 'operator.log'))}   # the operator's JSON logs`);
  say(`   curl -s ${sim.url}/_sim/services | head   # what the cloud holds`);
  say();
  if (exitWhenSettled) return shutdown(0);
  say(bold('Press Ctrl-C to stop everything.'));
  // keep running; re-render when something changes
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    if (stopping) return;
    const l = await listAll(kube).catch(() => undefined);
    if (!l) continue;
    const table = render(l);
    if (table !== last) {
      say(table);
      last = table;
    }
  }
}

/** Creates an object; one that exists already is left as it is (the demo ran before in the same state folder). */
async function create(kube: KubeClient, o: Obj): Promise<void> {
  try {
    await kube.request('POST', o.kind === 'Namespace' ? '/api/v1/namespaces' : objPath(o.kind, o.metadata.namespace!), o);
    say(`   ${o.kind.toLowerCase()}/${o.metadata.name} created${o.metadata.namespace ? ` in ${o.metadata.namespace}` : ''}`);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
}

/** Every object of the five kinds, in every namespace, in the order of `kubectl get vpnaas -A`. */
async function listAll(kube: KubeClient): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const [kind, plural] of Object.entries(PLURALS)) {
    const list = (await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/${plural}`)) as { items: Obj[] };
    out.push(...list.items.map((i) => ({ ...i, kind })));
  }
  return out;
}

function render(objs: Obj[]): string {
  const rows = [['KIND', 'NAMESPACE', 'NAME', 'STATUS', 'READY', 'REASON']];
  for (const o of objs) {
    const r = readyOf(o);
    rows.push([o.kind, o.metadata.namespace ?? '', o.metadata.name, o.status?.status ?? '', r?.status ?? '', r?.reason ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '   ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
