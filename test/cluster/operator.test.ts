// The operator installed as a cluster admin installs it, on a real node (scripts/cluster/up.sh: kubelet,
// containerd, kube-proxy, scheduler, controller-manager in a network namespace):
// - the image built from the Dockerfile (scripts/cluster/image.sh) and imported into the node's containerd;
// - `kubectl apply -k` of an overlay of deploy/ that only sets the image and adds the default-cloud Secret;
// - 2/2 Ready under Pod Security `restricted`, one Lease holder, VpnServices Ready against the cloud simulator
//   (upstream mode: the cloud would accept a duplicate, so a second POST would show) running in the namespace;
// - /metrics through the Service's ClusterIP; the leader pod deleted → the Lease moves and work continues;
//   a rolling update POSTs nothing twice; the pods' uid, capabilities, seccomp, no_new_privs and read-only root
//   as the node's kernel sees them; `kubectl delete -k` leaves nothing stuck;
// - cluster-down leaves nothing on the host (network namespaces, links, iptables rules, CNI cache, log links).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostFootprint, repoRoot, run, startCluster, type Cluster } from '../support/cluster.ts';

const NS = 'vpnaas-system';
const APP_NS = 'cluster-e2e';
const IMAGE = 'localhost/vpnaas-operator:e2e';
const ROUTERS = Array.from({ length: 8 }, () => randomUUID());
const MAIN = path.join(repoRoot, 'src/main.ts');
const FORWARD = path.join(repoRoot, 'test/support/tcp-forward.ts');
const SIM_PORT = 18774; // inside the cluster's own network namespace: nothing else listens there

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: Cluster;
let stateDir: string;
let overlay: string;
let before: Awaited<ReturnType<typeof hostFootprint>>;
const children: ChildProcess[] = [];

/** Starts a process inside the cluster's network namespace (killed with this process: setpriv --pdeathsig). */
function spawnInNamespace(args: string[], log: string): ChildProcess {
  const fd = fs.openSync(log, 'w');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'nsenter', `--net=/run/netns/${cluster.state.netns}`, process.execPath, ...args], {
    stdio: ['ignore', 'pipe', fd],
  });
  fs.closeSync(fd);
  children.push(child);
  return child;
}

async function firstLine(child: ChildProcess, what: string): Promise<string> {
  if (!child.stdout) throw new Error(`${what}: no stdout`);
  const rl = createInterface({ input: child.stdout });
  const line = await Promise.race([
    new Promise<string>((resolve) => rl.once('line', resolve)),
    new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it listened`)))),
    sleep(60_000).then(() => Promise.reject(new Error(`${what} did not start within 60 s`))),
  ]);
  rl.close();
  return line;
}

/** GET of the simulator's admin API (it listens on 127.0.0.1 inside the namespace). */
async function simAdmin<T>(p: string): Promise<T> {
  const code = `fetch(${JSON.stringify(`http://127.0.0.1:${SIM_PORT}/_sim${p}`)}).then(r=>r.text()).then(t=>process.stdout.write(t))`;
  return JSON.parse(await cluster.inNamespace([process.execPath, '-e', code])) as T;
}

interface SimService {
  id: string;
  routerId?: string;
  router_id?: string;
}
const routerOf = (s: SimService): string => (s.routerId ?? s.router_id ?? '').toLowerCase();

async function kubectlJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await cluster.kubectl([...args, '-o', 'json'])) as T;
}

interface Pod {
  metadata: { name: string; creationTimestamp: string; deletionTimestamp?: string };
  status: {
    phase?: string;
    conditions?: Array<{ type: string; status: string; lastTransitionTime: string }>;
    containerStatuses?: Array<{ name: string; ready: boolean; restartCount: number; containerID?: string }>;
  };
}

async function operatorPods(): Promise<Pod[]> {
  const list = await kubectlJson<{ items: Pod[] }>(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=vpnaas-operator,app.kubernetes.io/component=operator']);
  return list.items.filter((p) => p.metadata.deletionTimestamp === undefined);
}

async function leaseHolder(): Promise<string> {
  const lease = await kubectlJson<{ spec: { holderIdentity?: string } }>(['-n', NS, 'get', 'lease', 'vpnaas-operator']);
  return lease.spec.holderIdentity ?? '';
}

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(250);
  }
}

function vpnYaml(name: string, router: string): string {
  return YAML.stringify({ apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', metadata: { name, namespace: APP_NS }, spec: { routerId: router } });
}

async function createVpnAndWaitReady(name: string, router: string): Promise<number> {
  const t0 = performance.now();
  await cluster.kubectl(['apply', '-f', '-'], { input: vpnYaml(name, router) });
  await cluster.kubectl(['-n', APP_NS, 'wait', '--for=condition=Ready', `vpnservice/${name}`, '--timeout=90s']);
  return Math.round(performance.now() - t0);
}

beforeAll(async () => {
  before = await hostFootprint();
  stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'vpnaas-cluster-e2e-'));
  const imageEnv = { ...process.env, VPNAAS_STATE: stateDir, IMAGE };
  // The image builds while the cluster starts; then it is imported into the node's containerd.
  const [c, imageOut] = await Promise.all([
    startCluster({ stateDir }),
    run('bash', [path.join(repoRoot, 'scripts/cluster/image.sh')], { env: imageEnv, timeoutMs: 900_000 }),
  ]);
  cluster = c;
  const archive = imageOut.trim().split('\n').at(-1) ?? '';
  await run('ctr', ['--address', cluster.state.containerd ?? '', '-n', 'k8s.io', 'images', 'import', archive]);
  console.log(`cluster up in ${cluster.state.startup_s} s; image: ${fs.readFileSync(path.join(stateDir, 'image/figures'), 'utf8').trim()}`);

  // The cloud: the simulator in upstream mode inside the namespace, reachable by the pods at the node's address.
  const simCloudsYaml = path.join(stateDir, 'sim-clouds.yaml');
  const sim = spawnInNamespace(
    [MAIN, 'simulator', '--no-seed-rules', '--active-delay-ms', '300', '--port', String(SIM_PORT), '--clouds-yaml', simCloudsYaml,
      ...ROUTERS.flatMap((r) => ['--router', r])],
    path.join(stateDir, 'simulator.log'),
  );
  await firstLine(sim, 'simulator');
  const fwd = spawnInNamespace([FORWARD, cluster.state.node_ip ?? '', String(SIM_PORT), '127.0.0.1', String(SIM_PORT)], path.join(stateDir, 'forward.log'));
  await firstLine(fwd, 'forwarder');
  const clouds = YAML.parse(fs.readFileSync(simCloudsYaml, 'utf8')) as { clouds: { simulator: { auth: { auth_url: string } } & Record<string, unknown> } };
  const nodeUrl = `http://${cluster.state.node_ip}:${SIM_PORT}`;
  clouds.clouds.simulator.auth.auth_url = `${nodeUrl}/v3`;
  clouds.clouds.simulator.network_endpoint_override = nodeUrl;

  // The overlay a cluster admin writes: deploy/ as it is, the image, and the default cloud's Secret.
  overlay = path.join(stateDir, 'overlay');
  await fsp.mkdir(overlay);
  await fsp.writeFile(path.join(overlay, 'clouds.yaml'), YAML.stringify(clouds), { mode: 0o600 });
  await fsp.writeFile(
    path.join(overlay, 'kustomization.yaml'),
    YAML.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [path.relative(overlay, path.join(repoRoot, 'deploy'))],
      images: [{ name: 'ghcr.io/vpnaas/vpnaas-operator', newName: IMAGE.split(':')[0], newTag: IMAGE.split(':')[1] }],
      secretGenerator: [{ name: 'vpnaas-cloud', namespace: NS, files: ['clouds.yaml'] }],
      generatorOptions: { disableNameSuffixHash: true },
    }),
  );
  const t0 = performance.now();
  await cluster.kubectl(['apply', '-k', overlay]);
  await cluster.kubectl(['-n', NS, 'rollout', 'status', 'deployment/vpnaas-operator', '--timeout=180s']);
  console.log(`kubectl apply -k to rollout complete: ${Math.round(performance.now() - t0)} ms`);
  await cluster.kubectl(['create', 'namespace', APP_NS]);
}, 1_200_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (cluster !== undefined) await cluster.stop().catch((err: unknown) => console.error(String(err)));
  if (stateDir !== undefined) await fsp.rm(stateDir, { recursive: true, force: true });
});

describe('the operator on a one-node cluster', () => {
  it('runs 2/2 Ready under Pod Security restricted, with the image set by kustomize', async () => {
    const ns = await kubectlJson<{ metadata: { labels: Record<string, string> } }>(['get', 'namespace', NS]);
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pods = await operatorPods();
    expect(pods).toHaveLength(2);
    for (const p of pods) {
      expect(p.status.containerStatuses?.[0]?.ready).toBe(true);
      expect(p.status.containerStatuses?.[0]?.restartCount).toBe(0);
      const ready = p.status.conditions?.find((c) => c.type === 'Ready');
      const ms = Date.parse(ready?.lastTransitionTime ?? '') - Date.parse(p.metadata.creationTimestamp);
      console.log(`pod ${p.metadata.name}: created to Ready in ${ms} ms`);
    }
    const dep = await kubectlJson<{ spec: { template: { spec: { containers: Array<{ image: string }> } } } }>(['-n', NS, 'get', 'deployment', 'vpnaas-operator']);
    expect(dep.spec.template.spec.containers[0]?.image).toBe(IMAGE);
  });

  it('has one leader holding the Lease', async () => {
    const holder = await eventually('a Lease holder', 30_000, async () => (await leaseHolder()) || undefined);
    const names = (await operatorPods()).map((p) => p.metadata.name);
    expect(names).toContain(holder.split('_')[0]);
  });

  it('makes a VpnService Ready against the cloud in the namespace, with one POST', async () => {
    const ms = await createVpnAndWaitReady('first', ROUTERS[0] ?? '');
    console.log(`VpnService apply to Ready: ${ms} ms`);
    const { services } = await simAdmin<{ services: SimService[] }>('/services');
    expect(services.filter((s) => routerOf(s) === ROUTERS[0])).toHaveLength(1);
  });

  it('serves /metrics through the Service', async () => {
    const svc = await kubectlJson<{ spec: { clusterIP: string } }>(['-n', NS, 'get', 'service', 'vpnaas-operator-metrics']);
    const code = `fetch("http://${svc.spec.clusterIP}:8080/metrics").then(r=>r.text()).then(t=>process.stdout.write(t))`;
    const text = await cluster.inNamespace([process.execPath, '-e', code]);
    expect(text).toMatch(/^vpnaas_leader /m);
    expect(text).toMatch(/^vpnaas_reconcile_total/m);
  });

  it('the pods run as uid 65532 with no capabilities, seccomp, no_new_privs and a read-only root (seen from the node)', async () => {
    const tasks = (await run('ctr', ['--address', cluster.state.containerd ?? '', '-n', 'k8s.io', 'tasks', 'ls'])).split('\n').slice(1);
    const pidOf = new Map(tasks.map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 2).map((f) => [f[0] ?? '', f[1] ?? '']));
    for (const p of await operatorPods()) {
      const id = (p.status.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, '');
      const pid = pidOf.get(id);
      expect(pid, `task of ${p.metadata.name}`).toBeDefined();
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const field = (k: string): string => status.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
      expect(field('Uid').split(/\s+/)).toEqual(['65532', '65532', '65532', '65532']);
      expect(field('Gid').split(/\s+/)[0]).toBe('65532');
      expect(field('CapEff')).toBe('0000000000000000');
      expect(field('CapPrm')).toBe('0000000000000000');
      expect(field('CapBnd')).toBe('0000000000000000');
      expect(field('NoNewPrivs')).toBe('1');
      expect(field('Seccomp')).toBe('2');
      const root = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').find((l) => l.split(' ')[4] === '/');
      expect(root?.split(' ')[5]?.split(',')).toContain('ro');
      expect(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain('/app/dist/main.js');
    }
  });

  it('moves the Lease when the leader pod is deleted, and keeps reconciling', async () => {
    const holder = await leaseHolder();
    const leaderPod = holder.split('_')[0] ?? '';
    const t0 = performance.now();
    await cluster.kubectl(['-n', NS, 'delete', 'pod', leaderPod, '--wait=false']);
    const next = await eventually('a new Lease holder', 60_000, async () => {
      const h = await leaseHolder();
      return h && h.split('_')[0] !== leaderPod ? h : undefined;
    });
    console.log(`leader pod deleted: Lease moved to ${next} in ${Math.round(performance.now() - t0)} ms`);
    const ms = await createVpnAndWaitReady('after-failover', ROUTERS[1] ?? '');
    console.log(`VpnService after the failover Ready in ${ms} ms`);
    await cluster.kubectl(['-n', NS, 'rollout', 'status', 'deployment/vpnaas-operator', '--timeout=120s']);
  });

  it('a rolling update of the Deployment loses nothing and POSTs nothing twice', async () => {
    // Objects applied just before the update, so that creates are in flight while pods are replaced.
    const names = ROUTERS.slice(2).map((r, i) => ({ name: `rolling-${i}`, router: r }));
    await cluster.kubectl(['apply', '-f', '-'], { input: names.map((n) => vpnYaml(n.name, n.router)).join('---\n') });
    await cluster.kubectl(['-n', NS, 'rollout', 'restart', 'deployment/vpnaas-operator']);
    await cluster.kubectl(['-n', NS, 'rollout', 'status', 'deployment/vpnaas-operator', '--timeout=180s']);
    for (const n of names) await cluster.kubectl(['-n', APP_NS, 'wait', '--for=condition=Ready', `vpnservice/${n.name}`, '--timeout=90s']);
    const { services } = await simAdmin<{ services: SimService[] }>('/services');
    for (const r of ROUTERS) expect(services.filter((s) => routerOf(s) === r), `services on router ${r}`).toHaveLength(1);
    expect(services).toHaveLength(ROUTERS.length);
    expect(await operatorPods()).toHaveLength(2);
  });

  it('kubectl delete -k leaves nothing stuck (after the VpnServices are deleted)', async () => {
    await cluster.kubectl(['-n', APP_NS, 'delete', 'vpnservices', '--all', '--timeout=90s']);
    const { services } = await simAdmin<{ services: SimService[] }>('/services');
    expect(services).toEqual([]);
    await cluster.kubectl(['delete', '-k', overlay, '--timeout=120s']);
    await eventually(`namespace ${NS} gone`, 120_000, async () => {
      const out = await cluster.kubectl(['get', 'namespace', NS, '--ignore-not-found', '-o', 'name']);
      return out.trim() === '' ? true : undefined;
    });
    const crds = await cluster.kubectl(['get', 'crd', '-o', 'name']);
    expect(crds).not.toContain('vpnaas.dev');
    const terminating = await kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(['get', 'namespaces', '--field-selector', 'status.phase=Terminating']);
    expect(terminating.items).toEqual([]);
  });

  it('cluster-down leaves nothing behind on the host', async () => {
    for (const c of children) c.kill('SIGKILL');
    const out = await cluster.stop();
    expect(out).toContain('nothing left');
    // Compared where only a cluster could have made something (other work on the machine may add links or rules).
    const after = await hostFootprint();
    const added = (k: 'netns' | 'links' | 'cniResults' | 'logLinks'): string[] => after[k].filter((x) => !before[k].includes(x));
    expect(added('netns')).toEqual([]);
    expect(added('links').filter((l) => /^vk|^cni|^veth|^node0/.test(l))).toEqual([]);
    expect(added('cniResults')).toEqual([]);
    expect(added('logLinks')).toEqual([]);
    const ours = (rules: string): string[] => rules.split('\n').filter((l) => /KUBE-|VPNAAS|CNI-/.test(l));
    expect(ours(after.iptables)).toEqual(ours(before.iptables));
    expect(fs.existsSync(path.join(stateDir, 'cluster'))).toBe(false);
  });
});
