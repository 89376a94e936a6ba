// make demo: a local kube-apiserver, the cloud simulator and the operator, with examples/ applied. Shows the
// objects progress (PENDING_CREATE → ACTIVE), the one-per-VPC conflict and a refused request, then tells how to
// look around. Ctrl-C shuts everything down. DEMO_EXIT=1 exits by itself once everything has settled (for CI).
import { readdirSync, readFileSync, mkdirSync, writeFileSync, createWriteStream } from 'node:fs';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { startControlPlane } from '../test/support/controlplane.ts';
import { installCrd } from '../test/support/kube.ts';
import { KubeClient, KubeApiError } from '../src/kube/client.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { VpnService } from '../src/api/vpnservice.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const stateDir = path.join(process.env.VPNAAS_STATE ?? path.join(root, '.state'), 'demo');
const exitWhenSettled = process.env.DEMO_EXIT === '1';
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);

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
  say(`   cloud:       ${sim.authUrl} (Keystone + Neutron VPNaaS simulator; VPN services turn ACTIVE after 6 s)`);

  const kube = new KubeClient(cp.kubeConfig);
  say(bold('2. Installing the VpnService CRD...'));
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
      const o = doc.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
      if (!o) continue;
      const p = o.kind === 'Namespace' ? '/api/v1/namespaces' : `/apis/vpnaas.dev/v1alpha1/namespaces/${o.metadata.namespace}/vpnservices`;
      try {
        await kube.request('POST', p, o);
        say(`   ${o.kind.toLowerCase()}/${o.metadata.name} created${o.metadata.namespace ? ` in ${o.metadata.namespace}` : ''}`);
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
      // apply the second object on the shared router a second later, so that the older one clearly wins
      if (f.startsWith('10-')) await new Promise((r) => setTimeout(r, 1100));
    }
  }

  say(bold('5. Watching (kubectl get vpns -A):'));
  let last = '';
  const started = Date.now();
  for (;;) {
    const list = (await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices')) as { items: unknown[] };
    const objs = list.items.map((i) => VpnService.parse(i));
    const table = render(objs);
    if (table !== last) {
      say(`   --- ${((Date.now() - started) / 1000).toFixed(0)} s`);
      say(table);
      last = table;
    }
    const settled = objs.every((o) => {
      const r = o.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
      return r && !['Creating', 'Provisioning', 'Updating', 'CloudUnavailable'].includes(r);
    });
    if (settled && objs.length > 0) break;
    if (Date.now() - started > 120_000) throw new Error('the examples did not settle within 2 minutes; see .state/demo/operator.log');
    await new Promise((r) => setTimeout(r, 1000));
  }

  say();
  say(bold('What happened:'));
  const list = (await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices')) as { items: unknown[] };
  for (const o of list.items.map((i) => VpnService.parse(i))) {
    const r = o.status?.conditions?.find((c) => c.type === 'Ready');
    say(`   ${o.metadata.namespace}/${o.metadata.name}: ${r?.reason} — ${r?.message}`);
  }
  say();
  say(bold('Look around (another terminal):'));
  say(`   export KUBECONFIG=${cp.kubeconfigPath}`);
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
    const l = (await kube.request('GET', '/apis/vpnaas.dev/v1alpha1/vpnservices').catch(() => undefined)) as { items: unknown[] } | undefined;
    if (!l) continue;
    const table = render(l.items.map((i) => VpnService.parse(i)));
    if (table !== last) {
      say(table);
      last = table;
    }
  }
}

function render(objs: VpnService[]): string {
  const rows = [['NAMESPACE', 'NAME', 'STATUS', 'ROUTER', 'EXTERNAL-IP', 'READY', 'REASON']];
  for (const o of objs) {
    const r = o.status?.conditions?.find((c) => c.type === 'Ready');
    rows.push([
      o.metadata.namespace,
      o.metadata.name,
      o.status?.status ?? '',
      o.spec.routerId.slice(0, 8) + '…',
      o.status?.externalV4Ip ?? '',
      r?.status ?? '',
      r?.reason ?? '',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => '   ' + r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
