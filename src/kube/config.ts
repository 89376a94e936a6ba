// Where the Kubernetes API server is and how to authenticate to it: a small kubeconfig / in-cluster loader.
//
// Importing @kubernetes/client-node costs about 100 MB of RSS (its index pulls in every generated model), and the
// operator needs only the server URL, TLS settings and an Authorization header. This module reads the common
// kubeconfig fields itself (zod + yaml) and builds an undici dispatcher; client-node is imported lazily, and only
// for what it alone can do here: `exec` and `auth-provider` users (cloud-provider kubeconfigs) and `proxy-url`.
//
// Order, as client-go's loader in controller-runtime: an explicit path (first of a colon-separated list; else
// KUBECONFIG), else in-cluster (KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount token), else ~/.kube/config.
//
// Errors name the file and the field (`users[0].user.client-key`); they never carry a token, password or key.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';
import YAML from 'yaml';
import { z } from 'zod';

/** How a KubeAccess was made. */
export type KubeAccessMode = 'kubeconfig' | 'in-cluster' | 'client-node';

/** A Kubernetes API server and the credentials for it. */
export interface KubeAccess {
  /** Base URL without a trailing slash, e.g. `https://10.0.0.1:443`. */
  readonly server: string;
  readonly mode: KubeAccessMode;
  /** For logs: where the settings came from (file and context, or in-cluster). Never holds a secret. */
  readonly description: string;
  /**
   * Per-request authentication headers (Authorization). A token from a file (tokenFile, the in-cluster token) is
   * re-read at most every 60 s (bound ServiceAccount tokens rotate); a failed re-read keeps the last token.
   */
  headers(): Promise<Record<string, string>>;
  /** A shared connection pool with the cluster's TLS settings (CA, client certificate, server name). */
  readonly dispatcher: Dispatcher;
  /**
   * A new connection pool with the same TLS settings, owned by the caller (who closes or destroys it): for a
   * client that must be able to drop its connections after a hang without disturbing other users.
   */
  createDispatcher(): Promise<Dispatcher>;
  /** Closes the shared dispatcher. */
  close(): Promise<void>;
}

export interface LoadKubeAccessOptions {
  /** kubeconfig path; a colon-separated list uses its first entry. Default: KUBECONFIG, then in-cluster, then ~/.kube/config. */
  kubeconfig?: string;
  /** Context to use instead of the file's current-context. */
  context?: string;
  /** Folder of the in-cluster ServiceAccount files `token` and `ca.crt` (tests). */
  serviceAccountDir?: string;
  /** Minimum interval between re-reads of a token file (default 60 s). */
  tokenRefreshMs?: number;
  /** Environment to read KUBECONFIG, KUBERNETES_SERVICE_HOST/PORT and HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const TOKEN_REFRESH_MS = 60_000;

/** A kubeconfig or in-cluster setting that cannot be used. The message names the file and the field. */
export class KubeConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KubeConfigError';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

/** Loads the API server address and credentials (see the order at the top of this file). */
export async function loadKubeAccess(opts: LoadKubeAccessOptions = {}): Promise<KubeAccess> {
  const env = opts.env ?? process.env;
  const refreshMs = opts.tokenRefreshMs ?? TOKEN_REFRESH_MS;
  const explicit = firstPath(opts.kubeconfig) ?? firstPath(env.KUBECONFIG);
  if (explicit !== undefined) return loadKubeconfigFile(path.resolve(explicit), opts.context, refreshMs);

  const saDir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (host && port && fs.existsSync(path.join(saDir, 'token'))) return inClusterAccess(host, port, saDir, refreshMs);

  const home = env.HOME || os.homedir();
  const fallback = path.join(home, '.kube', 'config');
  if (fs.existsSync(fallback)) return loadKubeconfigFile(fallback, opts.context, refreshMs);
  throw new KubeConfigError(
    'no Kubernetes configuration: pass --kubeconfig (or KUBECONFIG), run in a cluster ' +
      `(KUBERNETES_SERVICE_HOST/PORT and ${path.join(saDir, 'token')}), or create ${fallback}`,
  );
}

/**
 * Wraps a @kubernetes/client-node KubeConfig (its current context). client-node is imported here, lazily; the
 * caller, holding a KubeConfig, has paid for it already.
 *
 * Credentials come from `applySecurityAuthentication` before every request (client-node caches exec credentials
 * until they expire). The TLS settings of the dispatchers are those of the time they are created: a client
 * certificate that an exec plugin rotates reaches new dispatchers only.
 */
export async function kubeAccessFromKubeConfig(kc: KubeConfig, description = 'client-node KubeConfig'): Promise<KubeAccess> {
  const { RequestContext, HttpMethod } = await import('@kubernetes/client-node');
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
  const server = trimSlash(cluster.server);
  const authenticate = async () => {
    const ctx = new RequestContext(`${server}/`, HttpMethod.GET);
    await kc.applySecurityAuthentication(ctx);
    return ctx;
  };
  // Authenticating once up front fails early (a missing exec plugin, unreadable files).
  const dispatcher = (await authenticate()).getDispatcher() ?? new Agent();
  return {
    server,
    mode: 'client-node',
    description,
    async headers() {
      // client-node builds a fresh dispatcher on each call; it has no connection and is simply dropped.
      return { ...(await authenticate()).getHeaders() };
    },
    dispatcher,
    async createDispatcher() {
      return (await authenticate()).getDispatcher() ?? new Agent();
    },
    close: () => dispatcher.close(),
  };
}

/** True for a KubeAccess (as opposed to a client-node KubeConfig). */
export function isKubeAccess(x: KubeConfig | KubeAccess): x is KubeAccess {
  return typeof (x as Partial<KubeAccess>).headers === 'function' && typeof (x as Partial<KubeAccess>).createDispatcher === 'function';
}

const adapted = new WeakMap<KubeConfig, Promise<KubeAccess>>();

/** The KubeAccess itself, or the (one, shared) adapter of a client-node KubeConfig. */
export function toKubeAccess(x: KubeConfig | KubeAccess): Promise<KubeAccess> {
  if (isKubeAccess(x)) return Promise.resolve(x);
  let p = adapted.get(x);
  if (p === undefined) {
    p = kubeAccessFromKubeConfig(x);
    adapted.set(x, p);
    // A failure (an exec plugin that failed once) is not cached.
    p.catch(() => adapted.delete(x));
  }
  return p;
}

/** The server URL of either kind, synchronously (a KubeConfig without a current cluster throws). */
export function serverOf(x: KubeConfig | KubeAccess): string {
  if (isKubeAccess(x)) return x.server;
  const cluster = x.getCurrentCluster();
  if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
  return trimSlash(cluster.server);
}

// ---------------------------------------------------------------------------------------------------------------
// kubeconfig files

const NamedList = z.array(z.unknown()).nullish();

const KubeconfigFile = z.object({
  clusters: NamedList,
  users: NamedList,
  contexts: NamedList,
  'current-context': z.string().nullish(),
});

const Named = z.object({ name: z.string() });

const ContextEntry = z.object({
  name: z.string(),
  context: z.object({
    cluster: z.string().min(1),
    user: z.string().nullish(),
    namespace: z.string().nullish(),
  }),
});

const ClusterEntry = z.object({
  name: z.string(),
  cluster: z.object({
    server: z.string().min(1),
    'certificate-authority': z.string().min(1).nullish(),
    'certificate-authority-data': z.string().min(1).nullish(),
    'insecure-skip-tls-verify': z.boolean().nullish(),
    'tls-server-name': z.string().min(1).nullish(),
    'proxy-url': z.string().nullish(),
  }),
});

const UserEntry = z.object({
  name: z.string(),
  user: z
    .object({
      'client-certificate': z.string().min(1).nullish(),
      'client-certificate-data': z.string().min(1).nullish(),
      'client-key': z.string().min(1).nullish(),
      'client-key-data': z.string().min(1).nullish(),
      token: z.string().nullish(),
      tokenFile: z.string().min(1).nullish(),
      username: z.string().nullish(),
      password: z.string().nullish(),
      exec: z.unknown().optional(),
      'auth-provider': z.unknown().optional(),
      as: z.string().nullish(),
      'as-uid': z.string().nullish(),
      'as-groups': z.unknown().optional(),
      'as-user-extra': z.unknown().optional(),
    })
    .nullish(),
});

type Cluster = z.infer<typeof ClusterEntry>['cluster'];
type User = NonNullable<z.infer<typeof UserEntry>['user']>;

async function loadKubeconfigFile(file: string, contextName: string | undefined, refreshMs: number): Promise<KubeAccess> {
  const fail = (where: string, what: string): never => {
    throw new KubeConfigError(`kubeconfig ${file}: ${where ? `${where}: ` : ''}${what}`);
  };
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    return fail('', `cannot read the file (${errnoOf(err)})`);
  }
  let raw: unknown;
  try {
    // No pretty errors: they quote the offending line, which may hold a token.
    raw = YAML.parse(text, { prettyErrors: false });
  } catch (err) {
    let pos = '';
    if (err instanceof YAML.YAMLError) {
      const before = text.slice(0, err.pos[0]);
      pos = ` at line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')}`;
    }
    const code = err instanceof YAML.YAMLError ? ` (${err.code})` : '';
    return fail('', `not valid YAML${pos}${code}`);
  }
  const doc = parseAt(KubeconfigFile, raw ?? {}, '', fail);

  const ctxName = contextName ?? doc['current-context'] ?? '';
  if (!ctxName) return fail('current-context', 'not set (and no context was given)');
  const ctxAt = findNamed(doc.contexts, ctxName);
  if (ctxAt === undefined) return fail('contexts', `no context named "${ctxName}"`);
  const ctx = parseAt(ContextEntry, ctxAt.value, `contexts[${ctxAt.index}]`, fail).context;

  const clusterAt = findNamed(doc.clusters, ctx.cluster);
  if (clusterAt === undefined) return fail(`contexts[${ctxAt.index}].context.cluster`, `no cluster named "${ctx.cluster}"`);
  const clusterWhere = `clusters[${clusterAt.index}].cluster`;
  const cluster = parseAt(ClusterEntry, clusterAt.value, `clusters[${clusterAt.index}]`, fail).cluster;

  let user: User = {};
  let userWhere = 'user';
  if (ctx.user) {
    const userAt = findNamed(doc.users, ctx.user);
    if (userAt === undefined) return fail(`contexts[${ctxAt.index}].context.user`, `no user named "${ctx.user}"`);
    userWhere = `users[${userAt.index}].user`;
    user = parseAt(UserEntry, userAt.value, `users[${userAt.index}]`, fail).user ?? {};
  }

  const description = `kubeconfig ${file}, context ${ctxName}`;
  if (user.exec !== undefined || user['auth-provider'] !== undefined || cluster['proxy-url']) {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(file);
      kc.setCurrentContext(ctxName);
      return await kubeAccessFromKubeConfig(kc, `${description} (through client-node)`);
    } catch (err) {
      return fail(userWhere, `client-node could not use it: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const dir = path.dirname(file);
  return fromSettings(cluster, clusterWhere, user, userWhere, dir, refreshMs, description, fail);
}

async function fromSettings(
  cluster: Cluster,
  clusterWhere: string,
  user: User,
  userWhere: string,
  dir: string,
  refreshMs: number,
  description: string,
  fail: (where: string, what: string) => never,
): Promise<KubeAccess> {
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    return fail(`${clusterWhere}.server`, 'not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${clusterWhere}.server`, 'not an http(s) URL');
  if (url.username || url.password) fail(`${clusterWhere}.server`, 'must not carry credentials');
  if (url.search || url.hash) fail(`${clusterWhere}.server`, 'must not have a query or fragment');

  const insecure = cluster['insecure-skip-tls-verify'] === true;
  const ca = await material(cluster, 'certificate-authority', clusterWhere, dir, fail);
  if (insecure && ca !== undefined) {
    fail(clusterWhere, 'insecure-skip-tls-verify and a certificate authority must not be given together');
  }
  const cert = await material(user, 'client-certificate', userWhere, dir, fail);
  const key = await material(user, 'client-key', userWhere, dir, fail);
  if ((cert === undefined) !== (key === undefined)) {
    fail(userWhere, cert === undefined ? 'client-key without client-certificate' : 'client-certificate without client-key');
  }
  if (ca !== undefined) checkTls({ ca }, `${clusterWhere}.certificate-authority`, fail);
  if (cert !== undefined && key !== undefined) checkTls({ cert, key }, `${userWhere}.client-certificate/client-key`, fail);
  for (const field of ['as', 'as-uid', 'as-groups', 'as-user-extra'] as const) {
    if (user[field] !== undefined && user[field] !== null) fail(`${userWhere}.${field}`, 'impersonation is not supported');
  }

  const hasToken = !!user.token || !!user.tokenFile;
  const hasBasic = !!user.username || !!user.password;
  if (hasToken && hasBasic) fail(userWhere, 'a token and username/password must not be given together');

  let auth: () => Promise<string | undefined> = async () => undefined;
  if (user.tokenFile) {
    const file = resolveIn(dir, user.tokenFile);
    const token = await FileToken.open(file, refreshMs, user.token || undefined, (what) => fail(`${userWhere}.tokenFile`, what));
    auth = async () => `Bearer ${await token.get()}`;
  } else if (user.token) {
    const value = `Bearer ${user.token}`;
    auth = async () => value;
  } else if (hasBasic) {
    const value = `Basic ${Buffer.from(`${user.username ?? ''}:${user.password ?? ''}`).toString('base64')}`;
    auth = async () => value;
  }

  return accessFrom({
    server: trimSlash(url.href),
    mode: 'kubeconfig',
    description,
    tlsOptions: {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(insecure ? { rejectUnauthorized: false } : {}),
      ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    },
    auth,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// In-cluster

async function inClusterAccess(host: string, port: string, saDir: string, refreshMs: number): Promise<KubeAccess> {
  const tokenFile = path.join(saDir, 'token');
  const caFile = path.join(saDir, 'ca.crt');
  const fail = (what: string): never => {
    throw new KubeConfigError(`in-cluster configuration: ${what}`);
  };
  const token = await FileToken.open(tokenFile, refreshMs, undefined, (what) => fail(`${tokenFile}: ${what}`));
  let ca: Buffer;
  try {
    ca = await fsp.readFile(caFile);
  } catch (err) {
    return fail(`${caFile}: cannot read (${errnoOf(err)})`);
  }
  checkTls({ ca }, caFile, (where, what) => fail(`${where}: ${what}`));
  const hostPart = net.isIPv6(host) ? `[${host}]` : host;
  if (!/^\d{1,5}$/.test(port)) fail(`KUBERNETES_SERVICE_PORT: not a port number`);
  return accessFrom({
    server: `https://${hostPart}:${port}`,
    mode: 'in-cluster',
    description: `in-cluster (${saDir})`,
    tlsOptions: { ca },
    auth: async () => `Bearer ${await token.get()}`,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Pieces

interface TlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

function accessFrom(o: {
  server: string;
  mode: KubeAccessMode;
  description: string;
  tlsOptions: TlsOptions;
  auth: () => Promise<string | undefined>;
}): KubeAccess {
  // Keep-alive probes after 30 s, as client-go (undici's default of 60 s races with load balancers' idle timeouts).
  const make = (): Dispatcher => new Agent({ connect: { ...o.tlsOptions, keepAlive: true, keepAliveInitialDelay: 30_000 } });
  const dispatcher = make();
  return {
    server: o.server,
    mode: o.mode,
    description: o.description,
    async headers(): Promise<Record<string, string>> {
      const a = await o.auth();
      return a === undefined ? {} : { Authorization: a };
    },
    dispatcher,
    createDispatcher: async () => make(),
    close: () => dispatcher.close(),
  };
}

/** A token in a file, re-read at most every refreshMs; a failed or empty re-read keeps the last token. */
class FileToken {
  private value: string;
  private readAt: number;
  private pending: Promise<void> | undefined;
  private readonly file: string;
  private readonly refreshMs: number;

  private constructor(file: string, value: string, refreshMs: number) {
    this.file = file;
    this.value = value;
    this.refreshMs = refreshMs;
    this.readAt = Date.now();
  }

  static async open(file: string, refreshMs: number, fallback: string | undefined, fail: (what: string) => never): Promise<FileToken> {
    let value: string;
    try {
      value = (await fsp.readFile(file, 'utf8')).trim();
    } catch (err) {
      if (fallback !== undefined) return new FileToken(file, fallback, refreshMs);
      return fail(`cannot read ${file} (${errnoOf(err)})`);
    }
    if (!value) {
      if (fallback !== undefined) return new FileToken(file, fallback, refreshMs);
      return fail(`${file} is empty`);
    }
    return new FileToken(file, value, refreshMs);
  }

  async get(): Promise<string> {
    if (Date.now() - this.readAt >= this.refreshMs) {
      this.pending ??= this.reread().finally(() => (this.pending = undefined));
      await this.pending;
    }
    return this.value;
  }

  private async reread(): Promise<void> {
    try {
      const v = (await fsp.readFile(this.file, 'utf8')).trim();
      if (v) this.value = v;
    } catch {
      // keep the last token: the kubelet rewrites the file atomically, a failure is transient
    }
    this.readAt = Date.now();
  }
}

/** `<field>` (a file, relative to the kubeconfig's folder) or `<field>-data` (base64), as bytes. */
async function material<F extends string>(
  entry: Partial<Record<F | `${F}-data`, string | null>>,
  field: F,
  where: string,
  dir: string,
  fail: (where: string, what: string) => never,
): Promise<Buffer | undefined> {
  const data = entry[`${field}-data` as const];
  const file = entry[field];
  if (data) {
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) fail(`${where}.${field}-data`, 'not base64');
    const buf = Buffer.from(compact, 'base64');
    if (buf.length === 0) fail(`${where}.${field}-data`, 'empty');
    return buf;
  }
  if (file) {
    const resolved = resolveIn(dir, file);
    try {
      return await fsp.readFile(resolved);
    } catch (err) {
      return fail(`${where}.${field}`, `cannot read ${resolved} (${errnoOf(err)})`);
    }
  }
  return undefined;
}

/** Loads PEM material into a TLS context to report a broken file at start, not at the first request. */
function checkTls(o: { ca?: Buffer; cert?: Buffer; key?: Buffer }, where: string, fail: (where: string, what: string) => never): void {
  try {
    tls.createSecureContext(o);
  } catch (err) {
    // OpenSSL's messages name the routine and the problem, never the bytes.
    fail(where, `does not load (${err instanceof Error ? err.message : 'invalid'})`);
  }
  if (o.ca !== undefined && !o.ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) {
    fail(where, 'no PEM certificate in it');
  }
}

function parseAt<T>(schema: z.ZodType<T>, value: unknown, where: string, fail: (where: string, what: string) => never): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  let at = where;
  for (const seg of issue.path) at += typeof seg === 'number' ? `[${seg}]` : `${at ? '.' : ''}${String(seg)}`;
  // zod's messages describe types and shapes, never the value.
  return fail(at, issue.message);
}

function findNamed(list: unknown[] | null | undefined, name: string): { index: number; value: unknown } | undefined {
  const index = (list ?? []).findIndex((e) => Named.safeParse(e).data?.name === name);
  return index < 0 ? undefined : { index, value: list![index] };
}

function firstPath(p: string | undefined): string | undefined {
  const first = p?.split(path.delimiter).find((s) => s !== '');
  return first || undefined;
}

function resolveIn(dir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.resolve(dir, p);
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

function errnoOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'error';
}
