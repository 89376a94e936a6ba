// A one-node cluster for test suites: scripts/cluster/up.sh with a state folder of the suite's own, torn down by
// scripts/cluster/down.sh in stop(), and by up.sh's watchdog if this process dies without calling it.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';

const execFileP = promisify(execFile);
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const script = (name: string): string => path.join(repoRoot, 'scripts/cluster', name);

export interface Cluster {
  /** The VPNAAS_STATE folder the scripts were given (the cluster itself is in `${stateDir}/cluster`). */
  stateDir: string;
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** What up.sh recorded: netns, host_link, api, node_ip, bin, containerd, startup_s. */
  state: Record<string, string>;
  /** Runs the cluster's kubectl (built from the same Kubernetes release) with its kubeconfig; rejects on exit ≠ 0. */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** Runs a command inside the cluster's network namespace. */
  inNamespace(cmd: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** scripts/cluster/down.sh; rejects with its output if it reports anything left behind. */
  stop(): Promise<string>;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs ?? 600_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${err.trim()}\n${out.trim()}`.trim()));
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a program that exits without reading its input: its exit code tells
      child.stdin.end(opts.input);
    }
  });
}

function parseState(text: string): Record<string, string> {
  const state: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) state[line.slice(0, i)] = line.slice(i + 1);
  }
  return state;
}

export async function startCluster(opts: { stateDir?: string } = {}): Promise<Cluster> {
  const stateDir = opts.stateDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'vpnaas-cluster-')));
  const env = { ...process.env, VPNAAS_STATE: stateDir, VPNAAS_CLUSTER_OWNER_PID: String(process.pid) };
  const out = await run('bash', [script('up.sh')], { env });
  const kubeconfigPath = out.trim().split('\n').at(-1) ?? '';
  const state = parseState(fs.readFileSync(path.join(stateDir, 'cluster/state'), 'utf8'));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const kubectlBin = path.join(state.bin ?? '', 'kubectl');
  let stopped: Promise<string> | undefined;
  return {
    stateDir,
    kubeconfigPath,
    kubeConfig,
    state,
    kubectl: (args, o = {}) => run(kubectlBin, ['--kubeconfig', kubeconfigPath, ...args], o),
    inNamespace: (cmd, o = {}) => run('nsenter', [`--net=/run/netns/${state.netns ?? ''}`, ...cmd], o),
    stop() {
      stopped ??= (async () => {
        const res = await run('bash', [script('down.sh')], { env: { ...process.env, VPNAAS_STATE: stateDir } });
        if (opts.stateDir === undefined) await fsp.rm(stateDir, { recursive: true, force: true });
        return res;
      })();
      return stopped;
    },
  };
}

/** What a cluster could leave on the host: for a before/after comparison around up and down. */
export async function hostFootprint(): Promise<{ netns: string[]; links: string[]; iptables: string; cniResults: string[]; logLinks: string[] }> {
  const ls = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir).sort();
    } catch {
      return [];
    }
  };
  const links = (await run('ip', ['-o', 'link', 'show'])).split('\n').map((l) => l.split(':')[1]?.trim() ?? '').filter(Boolean).sort();
  // Rules only (counters and comments with dates removed).
  const iptables = (await run('iptables-save', []).catch(() => ''))
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
    .join('\n');
  return { netns: ls('/run/netns'), links, iptables, cniResults: ls('/var/lib/cni/results'), logLinks: ls('/var/log/containers') };
}
