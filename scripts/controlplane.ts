// A real kube-apiserver + etcd for people: node scripts/controlplane.ts up [--controller-manager]|down|status
//
//   up      starts one in the background (or reuses the running one) and installs (or updates) the CRDs of crds/;
//           the last line of stdout is the admin kubeconfig path, e.g.
//           `export KUBECONFIG=$(node scripts/controlplane.ts up | tail -n1)`. --controller-manager (or
//           VPNAAS_CONTROLLER_MANAGER=1) also runs kube-controller-manager (namespace deletion, garbage collection,
//           ServiceAccounts; built on first use)
//   down    stops the processes `up` started (PIDs from the state folder, verified in /proc) and removes the state
//   status  says whether it runs; exit code 0 if it runs and answers /readyz, 3 if not
//
// State (certificates, etcd data, logs, kubeconfig, state.json) lives in $VPNAAS_STATE/controlplane, by default
// .state/controlplane in the repository. Binaries: KUBE_APISERVER_BIN / ETCD_BIN, else test/controlplane/build.sh.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { fileURLToPath } from 'node:url';
import {
  controlPlaneStatus,
  installCrds,
  readControlPlaneState,
  startControlPlane,
  stopControlPlaneAt,
} from '../test/support/controlplane.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const stateRoot = path.resolve(process.env.VPNAAS_STATE || path.join(repoRoot, '.state'));
const dir = path.join(stateRoot, 'controlplane');
const lockFile = path.join(stateRoot, 'controlplane.lock');

const say = (msg: string): void => {
  process.stderr.write(`controlplane: ${msg}\n`);
};

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One up/down at a time per state folder; a lock left by a dead CLI is taken over. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(stateRoot, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(fs.readFileSync(lockFile, 'utf8'), 10);
      if (!Number.isInteger(holder) || !pidAlive(holder)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lockFile} held by pid ${holder} for too long`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

async function crds(kubeconfigPath: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const names = await installCrds(kc);
  say(`CRDs installed from crds/: ${names.join(', ')}`);
}

async function up(args: string[]): Promise<number> {
  const env = process.env.VPNAAS_CONTROLLER_MANAGER ?? '';
  const controllerManager = args.includes('--controller-manager') || ['1', 'true', 'yes'].includes(env.toLowerCase());
  const unknown = args.filter((a) => a !== '--controller-manager');
  if (unknown.length > 0) throw new UsageError(`unknown argument ${unknown[0]}`);
  return withLock(async () => {
    const status = await controlPlaneStatus(dir);
    const hasKcm = status.state?.kubeControllerManager !== undefined;
    if (status.running && status.state !== undefined && (hasKcm || !controllerManager)) {
      const s = status.state;
      say(`already running at ${s.server} (${pidList(s)})`);
      await crds(s.kubeconfigPath);
      process.stdout.write(`${s.kubeconfigPath}\n`);
      return 0;
    }
    if (status.state !== undefined || fs.existsSync(dir)) {
      say(`cleaning up a previous control plane (${status.running ? 'restarting it with kube-controller-manager' : status.detail})`);
      await stopControlPlaneAt(dir);
    }
    const cp = await startControlPlane({ dir, keepDir: true, detached: true, controllerManager });
    const state = readControlPlaneState(dir);
    say(`up in ${(cp.startupMs / 1000).toFixed(1)} s at ${cp.server} (${state ? pidList(state) : ''}; logs in ${dir})`);
    await crds(cp.kubeconfigPath);
    process.stdout.write(`${cp.kubeconfigPath}\n`);
    return 0;
  });
}

function pidList(s: NonNullable<ReturnType<typeof readControlPlaneState>>): string {
  const kcm = s.kubeControllerManager ? `, kube-controller-manager pid ${s.kubeControllerManager.pid}` : '';
  return `etcd pid ${s.etcd.pid}, kube-apiserver pid ${s.kubeApiserver.pid}${kcm}`;
}

class UsageError extends Error {}

async function down(): Promise<number> {
  return withLock(async () => {
    const state = readControlPlaneState(dir);
    const stopped = await stopControlPlaneAt(dir);
    if (stopped.length > 0) say(`stopped pid ${stopped.join(', ')}; removed ${dir}`);
    else say(state === undefined ? 'not running' : `not running (stale state removed from ${dir})`);
    return 0;
  });
}

async function status(): Promise<number> {
  const st = await controlPlaneStatus(dir);
  if (st.running && st.state !== undefined) {
    const s = st.state;
    process.stdout.write(`running: ${s.server} ${pidList(s).replaceAll(',', '')}\nkubeconfig: ${s.kubeconfigPath}\n`);
    return 0;
  }
  process.stdout.write(`not running: ${st.detail}\n`);
  return 3;
}

const usage = 'usage: node scripts/controlplane.ts up [--controller-manager] | down | status\n';
const commands: Record<string, (args: string[]) => Promise<number>> = {
  up,
  down: async (args) => (args.length > 0 ? Promise.reject(new UsageError('down takes no arguments')) : down()),
  status: async (args) => (args.length > 0 ? Promise.reject(new UsageError('status takes no arguments')) : status()),
};
const command = commands[process.argv[2] ?? ''];
if (command === undefined) {
  process.stderr.write(usage);
  process.exitCode = 2;
} else {
  try {
    process.exitCode = await command(process.argv.slice(3));
  } catch (err) {
    process.stderr.write(`controlplane: ${err instanceof Error ? err.message : String(err)}\n`);
    if (err instanceof UsageError) process.stderr.write(usage);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
