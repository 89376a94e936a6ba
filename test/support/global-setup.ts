// Runs once before all suites: makes sure kube-apiserver and etcd are built (or reused from the cache) so that
// suites only start processes. The paths reach the suites through the environment.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export default function setup(): void {
  const script = fileURLToPath(new URL('../controlplane/build.sh', import.meta.url));
  const dir = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  process.env.KUBE_APISERVER_BIN ??= path.join(dir, 'kube-apiserver');
  process.env.ETCD_BIN ??= path.join(dir, 'etcd');
}
