// A real Kubernetes control plane (etcd + kube-apiserver, built by test/controlplane/build.sh) on loopback, for
// test suites (startControlPlane) and for people (scripts/controlplane.ts, which runs it detached and finds it
// again through the state file in its folder). With `controllerManager: true` the real kube-controller-manager
// runs against it too (namespace deletion, garbage collection, ServiceAccounts and their tokens, aggregated roles).
//
// Per start: fresh certificates (openssl CLI), free loopback ports, etcd data in the folder. Processes started
// for a test are tied to the test process three ways: they stay in its process group, they are started through
// `setpriv --pdeathsig KILL` (the kernel kills them when the parent dies, even by SIGKILL), and an exit hook
// SIGKILLs whatever is left. Detached ones (the CLI) get their own session and outlive the starter.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApiextensionsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import YAML from 'yaml';
import { z } from 'zod';

const execFileP = promisify(execFile);

export interface ControlPlane {
  server: string; // https://127.0.0.1:PORT
  kubeconfigPath: string; // admin kubeconfig (client cert with O=system:masters), file on disk
  kubeConfig: KubeConfig; // loaded from kubeconfigPath
  dir: string; // holds certs, etcd data, logs, state.json
  /** PIDs of the processes (kubeControllerManager only with the controllerManager option). */
  pids: { etcd: number; kubeApiserver: number; kubeControllerManager?: number };
  /** Wall time of startControlPlane, from call to ready (ms). */
  startupMs: number;
  /**
   * kubeconfig (path) for a ServiceAccount, with a token obtained through the TokenRequest API. The namespace and
   * the ServiceAccount are created if missing (without kube-controller-manager nothing else creates them).
   */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /** Stops kube-apiserver (SIGTERM) and starts it again on the same port against the same etcd: cuts every watch. */
  restartApiServer(): Promise<void>;
  /** Kills both processes (SIGTERM, SIGKILL after a grace), waits for their exit, removes dir (unless keepDir). */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Folder to use (created; etcd data in it is wiped). Default: a new temp folder. */
  dir?: string;
  /** Leave dir in place on stop(). Default false. */
  keepDir?: boolean;
  /** Start the processes in their own session, not tied to this process (for the CLI). Default false. */
  detached?: boolean;
  /** How long to wait for /readyz (and kube-controller-manager's /healthz). Default 90 s (two shared cores). */
  readyTimeoutMs?: number;
  /**
   * Also run the real kube-controller-manager (built by test/controlplane/build.sh on first use, cached) with the
   * controllers in CONTROLLERS, each under its own ServiceAccount as in a kubeadm cluster. Default false.
   */
  controllerManager?: boolean;
}

/**
 * The kube-controller-manager controllers the controllerManager option runs: namespace deletion (with everything
 * in the namespace), owner-reference garbage collection, the `default` ServiceAccount of every namespace and
 * legacy token Secrets, and the aggregated `admin` / `edit` / `view` roles. Not the ones that need nodes.
 */
export const CONTROLLERS = ['namespace', 'garbagecollector', 'serviceaccount', 'serviceaccount-token', 'clusterrole-aggregation'] as const;

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 4;

// ---------------------------------------------------------------------------------------------------------------
// Binaries

export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
  kubeControllerManager?: string;
}

/**
 * The binaries: KUBE_APISERVER_BIN / ETCD_BIN / KUBE_CONTROLLER_MANAGER_BIN, else what test/controlplane/build.sh
 * builds or finds in its cache. kube-controller-manager only when asked for.
 */
export function controlPlaneBinaries(opts: { controllerManager?: boolean } = {}): ControlPlaneBinaries {
  let kubeApiserver = process.env.KUBE_APISERVER_BIN || undefined;
  let etcd = process.env.ETCD_BIN || undefined;
  let kubeControllerManager = opts.controllerManager ? process.env.KUBE_CONTROLLER_MANAGER_BIN || undefined : undefined;
  const needKcm = opts.controllerManager === true && kubeControllerManager === undefined;
  if (kubeApiserver === undefined || etcd === undefined || needKcm) {
    // build.sh builds (or finds in its cache) what the environment does not name, and prints the folder.
    const script = path.join(repoRoot, 'test/controlplane/build.sh');
    const args = needKcm ? [script, 'kube-controller-manager'] : [script];
    const out = execFileSync('bash', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const dir = out.trim().split('\n').at(-1) ?? '';
    kubeApiserver ??= path.join(dir, 'kube-apiserver');
    etcd ??= path.join(dir, 'etcd');
    if (needKcm) kubeControllerManager = path.join(dir, 'kube-controller-manager');
  }
  for (const bin of [kubeApiserver, etcd, kubeControllerManager]) {
    if (bin === undefined) continue;
    try {
      fs.accessSync(bin, fs.constants.X_OK);
    } catch {
      throw new Error(`control plane binary ${bin} is missing or not executable (see test/controlplane/build.sh)`);
    }
  }
  return kubeControllerManager === undefined ? { kubeApiserver, etcd } : { kubeApiserver, etcd, kubeControllerManager };
}

// ---------------------------------------------------------------------------------------------------------------
// State file: what a later process (the CLI's status/down) needs to find and verify the processes.

const procStateSchema = z.object({ pid: z.number().int().positive(), bin: z.string() });
const stateSchema = z.object({
  version: z.literal(1),
  dir: z.string(),
  server: z.string(),
  kubeconfigPath: z.string(),
  etcd: procStateSchema.extend({ clientUrl: z.string() }),
  kubeApiserver: procStateSchema,
  kubeControllerManager: procStateSchema.optional(),
  detached: z.boolean(),
  startedAt: z.string(),
  startupMs: z.number().optional(),
});
export type ControlPlaneState = z.infer<typeof stateSchema>;

const stateFile = (dir: string): string => path.join(dir, 'state.json');

export function readControlPlaneState(dir: string): ControlPlaneState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(stateFile(dir), 'utf8');
  } catch {
    return undefined;
  }
  const parsed = stateSchema.safeParse(safeJson(text));
  return parsed.success ? parsed.data : undefined;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function writeState(state: ControlPlaneState): void {
  const file = stateFile(state.dir);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

interface Proc {
  readonly name: string;
  readonly pid: number;
  running(): boolean;
  /** Resolves true once the process is gone, false if still there after ms. */
  waitExit(ms: number): Promise<boolean>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A process this one spawned: exit known from the ChildProcess (which also reaps it). */
class ChildProc implements Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly #exited: Promise<void>;

  constructor(name: string, child: ChildProcess, pid: number) {
    this.name = name;
    this.child = child;
    this.pid = pid;
    this.#exited = new Promise((resolve) => {
      if (!this.running()) resolve();
      else child.once('exit', () => resolve());
    });
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  exitDescription(): string {
    return this.child.signalCode !== null ? `signal ${this.child.signalCode}` : `code ${this.child.exitCode}`;
  }

  async waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.#exited.then(() => true as const), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A process known only by PID (started by another process, e.g. an earlier CLI run): verified via /proc. */
class PidProc implements Proc {
  readonly name: string;
  readonly pid: number;
  readonly #bin: string;
  readonly #dir: string;

  constructor(name: string, pid: number, bin: string, dir: string) {
    this.name = name;
    this.pid = pid;
    this.#bin = bin;
    this.#dir = dir;
  }

  /** Alive, not a zombie, and still the program we started (guards against PID reuse). */
  running(): boolean {
    let cmdline: string;
    let stat: string;
    try {
      cmdline = fs.readFileSync(`/proc/${this.pid}/cmdline`, 'utf8');
      stat = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    } catch {
      return false;
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const argv = cmdline.split('\0');
    return argv[0] === this.#bin && argv.some((a) => a.includes(this.#dir));
  }

  async waitExit(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (!this.running()) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }
}

function signal(p: Proc, sig: NodeJS.Signals): void {
  if (!p.running()) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** SIGTERM, then SIGKILL after the grace; waits until the process is gone. */
async function terminate(p: Proc, graceMs = STOP_GRACE_MS): Promise<void> {
  signal(p, 'SIGTERM');
  if (await p.waitExit(graceMs)) return;
  signal(p, 'SIGKILL');
  if (!(await p.waitExit(10_000))) throw new Error(`${p.name} (pid ${p.pid}) did not exit after SIGKILL`);
}

async function killNow(procs: Proc[]): Promise<void> {
  for (const p of procs) signal(p, 'SIGKILL');
  await Promise.all(procs.map((p) => p.waitExit(10_000)));
}

// Children tied to this process: SIGKILLed on exit if still running.
const attached = new Set<ChildProcess>();
let exitHookInstalled = false;
function tieToThisProcess(child: ChildProcess): void {
  attached.add(child);
  child.once('exit', () => attached.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of attached) {
      try {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const candidate = path.join(dir, 'setpriv');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      setprivPath = candidate;
      break;
    } catch {
      // try the next
    }
  }
  return setprivPath;
}

async function spawnProc(name: string, bin: string, args: string[], logPath: string, detached: boolean): Promise<ChildProc> {
  const fd = fs.openSync(logPath, 'w');
  let child: ChildProcess;
  try {
    const wrapper = detached ? null : setpriv();
    child = wrapper
      ? spawn(wrapper, ['--pdeathsig', 'KILL', '--', bin, ...args], { stdio: ['ignore', fd, fd] })
      : spawn(bin, args, { stdio: ['ignore', fd, fd], detached });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`cannot start ${name} (${bin}): ${err.message}`);
  }
  if (detached) child.unref();
  else tieToThisProcess(child);
  return new ChildProc(name, child, child.pid);
}

// ---------------------------------------------------------------------------------------------------------------
// Certificates

interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  kcmCert: string;
  kcmKey: string;
  saKey: string;
  saPub: string;
}

const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileP('openssl', args, { encoding: 'utf8' });
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(err)}`);
  }
}

/**
 * CA, serving cert (127.0.0.1/localhost), admin client cert (CN=admin, O=system:masters), kube-controller-manager's
 * client cert, RSA service account key.
 */
async function generatePki(dir: string): Promise<Pki> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const f = (name: string): string => path.join(dir, name);
  const pki: Pki = {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    adminCert: f('admin.crt'),
    adminKey: f('admin.key'),
    kcmCert: f('kube-controller-manager.crt'),
    kcmKey: f('kube-controller-manager.key'),
    saKey: f('sa.key'),
    saPub: f('sa.pub'),
  };
  const cnf = f('openssl.cnf');
  await fsp.writeFile(cnf, OPENSSL_CNF);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const saKeyDone = openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', pki.saKey]).then(
    () => openssl(['pkey', '-in', pki.saKey, '-pubout', '-out', pki.saPub]),
  );
  const caKey = f('ca.key');
  await openssl(['req', '-x509', '-config', cnf, ...ec, '-keyout', caKey, '-out', pki.caCert, '-days', '3650',
    '-subj', '/CN=vpnaas-test-ca', '-extensions', 'ca_ext']);
  const leaf = (subj: string, ext: string, key: string, cert: string): Promise<void> =>
    openssl(['req', '-x509', '-config', cnf, ...ec, '-keyout', key, '-out', cert, '-days', '3650', '-subj', subj,
      '-CA', pki.caCert, '-CAkey', caKey, '-extensions', ext]);
  await Promise.all([
    leaf('/CN=kube-apiserver', 'server_ext', pki.serverKey, pki.serverCert),
    leaf('/O=system:masters/CN=admin', 'client_ext', pki.adminKey, pki.adminCert),
    // The identity kubeadm gives it: the bootstrap RBAC binds system:kube-controller-manager to what it needs to
    // create each controller's ServiceAccount and token (--use-service-account-credentials).
    leaf('/CN=system:kube-controller-manager', 'client_ext', pki.kcmKey, pki.kcmCert),
    saKeyDone,
  ]);
  return pki;
}

// ---------------------------------------------------------------------------------------------------------------
// Ports, HTTP

/** n distinct free loopback ports (all held at once while picking, so they differ; a race remains, see retry). */
async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => {
      const addr = s.address();
      if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
      return addr.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

interface TlsClient {
  ca: string;
  cert: string;
  key: string;
}

function loadTlsClient(pki: Pick<Pki, 'caCert' | 'adminCert' | 'adminKey'>): TlsClient {
  return {
    ca: fs.readFileSync(pki.caCert, 'utf8'),
    cert: fs.readFileSync(pki.adminCert, 'utf8'),
    key: fs.readFileSync(pki.adminKey, 'utf8'),
  };
}

function httpsGet(server: string, urlPath: string, tls: TlsClient, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(new URL(urlPath, server), { ...tls, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function logTail(file: string, lines = 25): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '    (no log)';
  }
  return text
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `    ${l}`)
    .join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Kubeconfig

type KubeconfigUser = { 'client-certificate-data': string; 'client-key-data': string } | { token: string };

function kubeconfigText(server: string, caPem: string, userName: string, user: KubeconfigUser): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'vpnaas-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: 'vpnaas-test', context: { cluster: 'vpnaas-test', user: userName } }],
    'current-context': 'vpnaas-test',
  });
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function apiStatusCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number') return err.code;
  return undefined;
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (apiStatusCode(err) !== 409) throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Start

class StartFailure extends Error {
  addressInUse: boolean;
  constructor(message: string, addressInUse: boolean) {
    super(message);
    this.addressInUse = addressInUse;
  }
}

function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--initial-cluster-state=new',
    // Throwaway data: no fsync (kube-apiserver's bootstrap writes hundreds of objects at start).
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

function apiserverArgs(pki: Pki, etcdClientPort: number, port: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdClientPort}`,
    `--secure-port=${port}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--cert-dir=${pki.dir}`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--disable-admission-plugins=ServiceAccount',
    '--service-account-issuer=https://127.0.0.1',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    // Faster start, and nothing here needs them: no API priority and fairness objects to bootstrap; no lease
    // endpoint reconciler (it would write a loopback IP into the `kubernetes` Endpoints, which validation refuses).
    '--enable-priority-and-fairness=false',
    '--endpoint-reconciler-type=none',
    '--profiling=false',
  ];
}

function controllerManagerArgs(dir: string, pki: Pki, kubeconfigPath: string, port: number): string[] {
  return [
    `--kubeconfig=${kubeconfigPath}`,
    `--authentication-kubeconfig=${kubeconfigPath}`,
    `--authorization-kubeconfig=${kubeconfigPath}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    // Serves /healthz with the API server's certificate (SAN 127.0.0.1), so the readiness check verifies TLS.
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--cert-dir=${path.join(dir, 'kube-controller-manager')}`,
    `--client-ca-file=${pki.caCert}`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--controllers=${CONTROLLERS.join(',')}`,
    '--profiling=false',
  ];
}

/**
 * Starts kube-controller-manager against a ready API server and waits for its /healthz. Picks its port again when
 * another process took it between picking and binding.
 */
async function startControllerManager(
  dir: string,
  pki: Pki,
  bin: string,
  server: string,
  tls: TlsClient,
  detached: boolean,
  readyTimeoutMs: number,
): Promise<ChildProc> {
  const kubeconfigPath = path.join(dir, 'kube-controller-manager.kubeconfig');
  const cert = fs.readFileSync(pki.kcmCert, 'utf8');
  const key = fs.readFileSync(pki.kcmKey, 'utf8');
  await fsp.writeFile(
    kubeconfigPath,
    kubeconfigText(server, tls.ca, 'kube-controller-manager', { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) }),
    { mode: 0o600 },
  );
  const logPath = path.join(dir, 'kube-controller-manager.log');
  for (let attempt = 1; ; attempt++) {
    const [port] = (await freePorts(1)) as [number];
    const kcm = await spawnProc('kube-controller-manager', bin, controllerManagerArgs(dir, pki, kubeconfigPath, port), logPath, detached);
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (!kcm.running()) {
        const log = fs.readFileSync(logPath, 'utf8');
        if (/address already in use/i.test(log) && attempt < START_ATTEMPTS) break;
        throw new Error(
          `kube-controller-manager exited during start-up (${kcm.exitDescription()})\n  log (${logPath}):\n${logTail(logPath)}`,
        );
      }
      const res = await httpsGet(`https://127.0.0.1:${port}`, '/healthz', tls).catch(() => undefined);
      if (res?.status === 200) return kcm;
      if (Date.now() > deadline) {
        await killNow([kcm]);
        const last = res === undefined ? 'no answer' : `HTTP ${res.status} ${res.body.slice(0, 300)}`;
        throw new Error(
          `kube-controller-manager not healthy after ${readyTimeoutMs} ms (GET /healthz: ${last})\n  log (${logPath}):\n${logTail(logPath)}`,
        );
      }
      await sleep(100);
    }
  }
}

interface Running {
  etcd: ChildProc;
  apiserver: ChildProc;
  /** With the controllerManager option. */
  kcm?: ChildProc;
  server: string;
  etcdClientUrl: string;
  /** Starts kube-apiserver again with the same flags and port (after it was stopped). */
  respawnApiserver: () => Promise<ChildProc>;
}

async function startOnce(
  dir: string,
  pki: Pki,
  bins: ControlPlaneBinaries,
  tls: TlsClient,
  detached: boolean,
  readyTimeoutMs: number,
): Promise<Running> {
  const [etcdClientPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
  const dataDir = path.join(dir, 'etcd');
  await fsp.rm(dataDir, { recursive: true, force: true });
  await fsp.mkdir(dataDir, { mode: 0o700 });
  const etcdLog = path.join(dir, 'etcd.log');
  const apiLog = path.join(dir, 'kube-apiserver.log');
  const server = `https://127.0.0.1:${apiPort}`;
  const etcdClientUrl = `http://127.0.0.1:${etcdClientPort}`;

  // Both at once: kube-apiserver retries etcd until it answers, and its own initialisation takes longer.
  const etcd = await spawnProc('etcd', bins.etcd, etcdArgs(dataDir, etcdClientPort, etcdPeerPort), etcdLog, detached);
  let apiserver: ChildProc;
  try {
    apiserver = await spawnProc('kube-apiserver', bins.kubeApiserver, apiserverArgs(pki, etcdClientPort, apiPort), apiLog, detached);
  } catch (err) {
    await killNow([etcd]);
    throw err;
  }
  const procs = [etcd, apiserver];
  writeState({
    version: 1,
    dir,
    server,
    kubeconfigPath: path.join(dir, 'kubeconfig'),
    etcd: { pid: etcd.pid, bin: bins.etcd, clientUrl: etcdClientUrl },
    kubeApiserver: { pid: apiserver.pid, bin: bins.kubeApiserver },
    detached,
    startedAt: new Date().toISOString(),
  });

  const tails = (): string =>
    `\n  kube-apiserver log (${apiLog}):\n${logTail(apiLog)}\n  etcd log (${etcdLog}):\n${logTail(etcdLog)}`;
  const deadline = Date.now() + readyTimeoutMs;
  try {
    // Ready: /readyz (all post-start hooks, RBAC bootstrap roles included) and the `default` namespace exists.
    for (const check of ['/readyz', '/api/v1/namespaces/default']) {
      for (;;) {
        const dead = procs.find((p) => !p.running());
        if (dead !== undefined) {
          const logs = `${fs.readFileSync(etcdLog, 'utf8')}\n${fs.readFileSync(apiLog, 'utf8')}`;
          throw new StartFailure(
            `${dead.name} exited during start-up (${dead.exitDescription()})${tails()}`,
            /address already in use/i.test(logs),
          );
        }
        const res = await httpsGet(server, check, tls).catch(() => undefined);
        if (res?.status === 200) break;
        if (Date.now() > deadline) {
          const failing = res?.body.split('\n').filter((l) => l.startsWith('[-]')).map((l) => l.replace(/ failed: reason withheld$/, ''));
          const last =
            res === undefined ? 'no answer' : `HTTP ${res.status} ${failing?.length ? `failing: ${failing.join(' ')}` : res.body.slice(0, 500)}`;
          throw new StartFailure(`control plane not ready after ${readyTimeoutMs} ms (GET ${check}: ${last})${tails()}`, false);
        }
        await sleep(50);
      }
    }
  } catch (err) {
    await killNow(procs);
    throw err;
  }
  const respawnApiserver = () => spawnProc('kube-apiserver', bins.kubeApiserver, apiserverArgs(pki, etcdClientPort, apiPort), apiLog, detached);
  return { etcd, apiserver, server, etcdClientUrl, respawnApiserver };
}

export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const t0 = performance.now();
  const bins = controlPlaneBinaries({ controllerManager: opts.controllerManager ?? false });
  const detached = opts.detached ?? false;
  const keepDir = opts.keepDir ?? false;
  const dir = opts.dir !== undefined ? path.resolve(opts.dir) : await fsp.mkdtemp(path.join(os.tmpdir(), 'vpnaas-cp-'));
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const previous = readControlPlaneState(dir);
  const live = previous === undefined ? [] : procsFromState(previous).filter((p) => p.running());
  if (live.length > 0) {
    throw new Error(
      `a control plane still runs in ${dir} (${live.map((p) => `${p.name} pid ${p.pid}`).join(', ')}); stop it first`,
    );
  }
  await fsp.rm(stateFile(dir), { force: true });

  let running: Running | undefined;
  try {
    const pki = await generatePki(path.join(dir, 'pki'));
    const tls = loadTlsClient(pki);
    for (let attempt = 1; running === undefined; attempt++) {
      try {
        running = await startOnce(dir, pki, bins, tls, detached, opts.readyTimeoutMs ?? 90_000);
      } catch (err) {
        // Another process took one of the picked ports between picking and binding: pick again.
        if (!(err instanceof StartFailure && err.addressInUse && attempt < START_ATTEMPTS)) throw err;
      }
    }

    const kubeconfigPath = path.join(dir, 'kubeconfig');
    await fsp.writeFile(
      kubeconfigPath,
      kubeconfigText(running.server, tls.ca, 'admin', { 'client-certificate-data': b64(tls.cert), 'client-key-data': b64(tls.key) }),
      { mode: 0o600 },
    );
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(kubeconfigPath);
    if (bins.kubeControllerManager !== undefined) {
      const bin = bins.kubeControllerManager;
      try {
        running.kcm = await startControllerManager(dir, pki, bin, running.server, tls, detached, opts.readyTimeoutMs ?? 90_000);
      } catch (err) {
        await killNow([running.apiserver, running.etcd]);
        throw err;
      }
      const st = readControlPlaneState(dir);
      if (st !== undefined) writeState({ ...st, kubeControllerManager: { pid: running.kcm.pid, bin } });
    }
    const startupMs = Math.round(performance.now() - t0);
    const state = readControlPlaneState(dir);
    if (state !== undefined) writeState({ ...state, startupMs });
    return makeControlPlane(running, dir, keepDir, kubeconfigPath, kubeConfig, tls, startupMs);
  } catch (err) {
    if (!keepDir) await fsp.rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function makeControlPlane(
  running: Running,
  dir: string,
  keepDir: boolean,
  kubeconfigPath: string,
  kubeConfig: KubeConfig,
  tls: TlsClient,
  startupMs: number,
): ControlPlane {
  const caPem = tls.ca;
  let stopping: Promise<void> | undefined;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    server: running.server,
    kubeconfigPath,
    kubeConfig,
    dir,
    pids: {
      etcd: running.etcd.pid,
      kubeApiserver: running.apiserver.pid,
      ...(running.kcm === undefined ? {} : { kubeControllerManager: running.kcm.pid }),
    },
    startupMs,

    async serviceAccountKubeconfig(namespace: string, name: string): Promise<string> {
      await ignoreConflict(core.createNamespace({ body: { metadata: { name: namespace } } }));
      await ignoreConflict(core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }));
      const tr = await core.createNamespacedServiceAccountToken({
        namespace,
        name,
        body: { spec: { audiences: [], expirationSeconds: 24 * 3600 } },
      });
      const token = tr.status?.token;
      if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
      const file = path.join(dir, `sa-${namespace}-${name}.kubeconfig`);
      await fsp.writeFile(file, kubeconfigText(running.server, caPem, `${namespace}-${name}`, { token }), { mode: 0o600 });
      return file;
    },

    async restartApiServer(): Promise<void> {
      await terminate(running.apiserver);
      running.apiserver = await running.respawnApiserver();
      this.pids.kubeApiserver = running.apiserver.pid;
      const deadline = Date.now() + 60_000;
      for (;;) {
        const res = await httpsGet(running.server, '/readyz', tls).catch(() => undefined);
        if (res?.status === 200) return;
        if (!running.apiserver.running() || Date.now() > deadline) throw new Error('kube-apiserver did not come back after a restart');
        await sleep(50);
      }
    },

    stop(): Promise<void> {
      stopping ??= (async () => {
        // kube-controller-manager first, then kube-apiserver (it drains against a live etcd), then etcd.
        if (running.kcm !== undefined) await terminate(running.kcm);
        await terminate(running.apiserver);
        await terminate(running.etcd);
        if (!keepDir) await fsp.rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// For a process that did not start it (the CLI): status and stop by the PIDs in the state file.

/** In stop order. */
function procsFromState(state: ControlPlaneState): Proc[] {
  const kcm = state.kubeControllerManager;
  return [
    ...(kcm === undefined ? [] : [new PidProc('kube-controller-manager', kcm.pid, kcm.bin, state.dir)]),
    new PidProc('kube-apiserver', state.kubeApiserver.pid, state.kubeApiserver.bin, state.dir),
    new PidProc('etcd', state.etcd.pid, state.etcd.bin, state.dir),
  ];
}

export interface ControlPlaneStatus {
  /** Both processes alive and /readyz answers 200. */
  running: boolean;
  state: ControlPlaneState | undefined;
  detail: string;
}

export async function controlPlaneStatus(dir: string): Promise<ControlPlaneStatus> {
  const state = readControlPlaneState(dir);
  if (state === undefined) return { running: false, state, detail: `no control plane state in ${dir}` };
  const dead = procsFromState(state).filter((p) => !p.running());
  if (dead.length > 0) {
    const which = dead.map((p) => `${p.name} (pid ${p.pid})`).join(', ');
    return { running: false, state, detail: `${which} not running` };
  }
  try {
    const tls = loadTlsClient({ caCert: path.join(dir, 'pki/ca.crt'), adminCert: path.join(dir, 'pki/admin.crt'), adminKey: path.join(dir, 'pki/admin.key') });
    const res = await httpsGet(state.server, '/readyz', tls);
    if (res.status !== 200) return { running: false, state, detail: `${state.server}/readyz: HTTP ${res.status}` };
  } catch (err) {
    return { running: false, state, detail: `${state.server}/readyz: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { running: true, state, detail: `running at ${state.server}` };
}

/**
 * Stops the processes named in dir's state file (only those, verified by binary and folder in /proc) and removes
 * dir unless keepDir. Returns the PIDs it stopped.
 */
export async function stopControlPlaneAt(dir: string, opts: { keepDir?: boolean } = {}): Promise<number[]> {
  const state = readControlPlaneState(dir);
  const stopped: number[] = [];
  if (state !== undefined) {
    for (const p of procsFromState(state)) {
      if (!p.running()) continue;
      await terminate(p);
      stopped.push(p.pid);
    }
  }
  if (!opts.keepDir) await fsp.rm(dir, { recursive: true, force: true });
  return stopped;
}

// ---------------------------------------------------------------------------------------------------------------
// CRDs

const crdDocSchema = z.object({
  apiVersion: z.literal('apiextensions.k8s.io/v1'),
  kind: z.literal('CustomResourceDefinition'),
  metadata: z.object({ name: z.string().min(1) }).loose(),
}).loose();

/** Every CustomResourceDefinition in the YAML files of dir (default: the repository's crds/), in file order. */
export function readCrds(dir = path.join(repoRoot, 'crds')): V1CustomResourceDefinition[] {
  const crds: V1CustomResourceDefinition[] = [];
  for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of YAML.parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${path.join(dir, file)}: ${doc.errors[0]?.message}`);
      const obj: unknown = doc.toJS();
      if (typeof obj !== 'object' || obj === null || (obj as { kind?: unknown }).kind !== 'CustomResourceDefinition') continue;
      const parsed = crdDocSchema.safeParse(obj);
      if (!parsed.success) throw new Error(`${path.join(dir, file)}: not a valid CRD: ${parsed.error.message}`);
      // Into client-node's model (enum → _enum, default → _default, x-kubernetes-validations →
      // xKubernetesValidations, ...): its API client serializes from the model's names and silently drops the YAML's.
      crds.push(loadYaml<V1CustomResourceDefinition>(JSON.stringify(obj)));
    }
  }
  return crds;
}

/**
 * Creates or updates every CRD of crds/ and waits until each is Established and served. Returns their names.
 */
export async function installCrds(kubeConfig: KubeConfig, opts: { dir?: string; timeoutMs?: number } = {}): Promise<string[]> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crds = readCrds(opts.dir);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (apiStatusCode(err) !== 409) throw err;
      const cur = await api.readCustomResourceDefinition({ name });
      await api.replaceCustomResourceDefinition({
        name,
        body: { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata?.resourceVersion } },
      });
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const got = await api.readCustomResourceDefinition({ name });
      const established = got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      const accepted = got.status?.acceptedNames?.plural === crd.spec.names.plural;
      if (established && accepted) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after ${opts.timeoutMs ?? 30_000} ms`);
      await sleep(100);
    }
    // Served a moment after Established: wait until a LIST of it answers.
    const version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name ?? '';
    const objects = kubeConfig.makeApiClient(CustomObjectsApi);
    for (;;) {
      try {
        await objects.listClusterCustomObject({ group: crd.spec.group, version, plural: crd.spec.names.plural, limit: 1 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`CRD ${name} not served after ${opts.timeoutMs ?? 30_000} ms: ${String(err)}`);
        await sleep(100);
      }
    }
  }
  return crds.map((c) => c.metadata?.name ?? '');
}
