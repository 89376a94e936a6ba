// clouds.yaml, read the way openstacksdk and gophercloud read it: the same search path, the same keys and the same
// backwards-compatible spellings (dashes for underscores, tenant_* for project_*, *_endpoint_type for *interface,
// auth_token for token, domain_* as the default user/project domain). Parsed with `yaml` + zod; a malformed file
// gives one CloudConfigError naming the file and the field path. Secret values are wrapped in Secret and never
// appear in an error message.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDocument as parseYamlDocument, visit, YAMLError } from 'yaml';
import { z } from 'zod';
import { Secret } from './secret.ts';

export type AuthType = 'password' | 'v3applicationcredential' | 'token' | 'none';
export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface CloudAuthConfig {
  authUrl?: string;
  username?: string;
  userId?: string;
  password?: Secret;
  userDomainName?: string;
  userDomainId?: string;
  projectName?: string;
  projectId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  /** Domain scope (when no project is given). */
  domainName?: string;
  domainId?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: Secret;
  token?: Secret;
}

export interface CloudConfig {
  /** The cloud's key under `clouds:`. */
  cloudName: string;
  /** Where the configuration came from (a file path, or e.g. `secret ns/name`), for messages. */
  source: string;
  authType: AuthType;
  auth: CloudAuthConfig;
  regionName?: string;
  interface: EndpointInterface;
  identityApiVersion: string;
  /** CA bundle: an absolute file path, or PEM text (from a Kubernetes Secret). */
  cacert?: string;
  /** Verify the server's TLS certificate (default true). */
  verify: boolean;
  /** Client certificate and key: absolute file paths or PEM text. */
  cert?: string;
  key?: string;
  /** Explicit network (Neutron) endpoint; the catalog is not consulted. */
  networkEndpointOverride?: string;
  /** Per-request timeout from `api_timeout` (seconds in the file). */
  apiTimeoutMs?: number;
}

/** The range of `api_timeout` the operator accepts, in seconds. */
export const API_TIMEOUT_MIN_S = 1;
export const API_TIMEOUT_MAX_S = 600;

export class CloudConfigError extends Error {
  readonly source: string;
  readonly fieldPath: string | undefined;

  constructor(source: string, message: string, fieldPath?: string) {
    super(fieldPath ? `${source}: ${fieldPath}: ${message}` : `${source}: ${message}`);
    this.name = 'CloudConfigError';
    this.source = source;
    this.fieldPath = fieldPath;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Search path

export interface LoadCloudConfigOptions {
  /** Cloud name; default `OS_CLOUD`, or the only cloud in the file. */
  cloudName?: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  homeDir?: string;
}

const SUFFIXES = ['.yaml', '.yml', '.json'];

function searchDirs(env: Record<string, string | undefined>, cwd: string, home: string): string[] {
  const dirs = [cwd];
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg) dirs.push(path.join(xdg, 'openstack'));
  dirs.push(path.join(home, '.config', 'openstack'));
  dirs.push('/etc/openstack');
  return [...new Set(dirs)];
}

/** The files looked at, in order: `OS_CLIENT_CONFIG_FILE`, then clouds.yaml in `.`, `~/.config/openstack`, `/etc/openstack`. */
export function cloudsYamlCandidates(opts: LoadCloudConfigOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = opts.homeDir ?? os.homedir();
  const files: string[] = [];
  if (env.OS_CLIENT_CONFIG_FILE) files.push(path.resolve(cwd, expandHome(env.OS_CLIENT_CONFIG_FILE, home)));
  for (const dir of searchDirs(env, cwd, home)) for (const s of SUFFIXES) files.push(path.join(dir, `clouds${s}`));
  return files;
}

function secureYamlCandidates(opts: LoadCloudConfigOptions): string[] {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = opts.homeDir ?? os.homedir();
  const files: string[] = [];
  if (env.OS_CLIENT_SECURE_FILE) files.push(path.resolve(cwd, expandHome(env.OS_CLIENT_SECURE_FILE, home)));
  for (const dir of searchDirs(env, cwd, home)) for (const s of SUFFIXES) files.push(path.join(dir, `secure${s}`));
  return files;
}

function expandHome(p: string, home: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}

/**
 * Finds clouds.yaml on the standard search path (and merges secure.yaml, as openstacksdk does) and returns the
 * selected cloud. Throws CloudConfigError.
 */
export function loadCloudConfig(opts: LoadCloudConfigOptions = {}): CloudConfig {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const home = opts.homeDir ?? os.homedir();
  const candidates = cloudsYamlCandidates(opts);
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new CloudConfigError('clouds.yaml', `no clouds.yaml found (looked at ${candidates.join(', ')})`);
  }
  const doc = parseDocument(readText(file), file);
  const secureFile = secureYamlCandidates(opts).find((f) => existsSync(f));
  let merged = doc;
  if (secureFile) {
    const secure = parseDocument(readText(secureFile), secureFile);
    merged = deepMerge(doc, secure) as Record<string, unknown>;
  }
  const name = opts.cloudName || env.OS_CLOUD || undefined;
  return selectCloud(merged, name, { source: file, baseDir: cwd, home, allowFilePaths: true, cacertReplaced: false });
}

export interface LoadFromStringOptions {
  /** Name of the origin for messages, e.g. `secret ns/name key clouds.yaml`. Default `clouds.yaml`. */
  source?: string;
  /** Relative `cacert`/`cert`/`key` paths are resolved against this folder (default: the working directory).
   * Only with `allowFilePaths`. */
  baseDir?: string;
  /** PEM CA bundle that replaces the file's `cacert` (e.g. the Secret's `cacert` key). */
  cacert?: string;
  /**
   * Accept file paths in `cacert`, `cert`, `key` (and a CA path in `verify`). Default false: the text comes from
   * a tenant (a Secret), and a path would make the operator read its own filesystem for them (a file-existence
   * oracle at least), so any path is refused with a CloudConfigError; PEM text inline is accepted, and a `cacert`
   * path that the `cacert` option replaces is ignored (never read). Only the operator's own configuration
   * (loadCloudConfig, or a caller that knows the text is the operator's) may name files.
   */
  allowFilePaths?: boolean;
}

/**
 * Parses clouds.yaml text (e.g. from a Kubernetes Secret) and returns the named cloud (or the only one). The text
 * is a tenant's unless `allowFilePaths` says otherwise: it may not name files (see LoadFromStringOptions).
 */
export function loadCloudConfigFromString(
  yamlText: string,
  cloudName?: string,
  opts: LoadFromStringOptions = {},
): CloudConfig {
  const source = opts.source ?? 'clouds.yaml';
  const doc = parseDocument(yamlText, source);
  const cacertReplaced = opts.cacert !== undefined && opts.cacert.trim() !== '';
  const cfg = selectCloud(doc, cloudName || undefined, {
    source,
    baseDir: opts.baseDir ?? process.cwd(),
    home: os.homedir(),
    allowFilePaths: opts.allowFilePaths ?? false,
    cacertReplaced,
  });
  if (opts.cacert !== undefined && opts.cacert.trim() !== '') {
    cfg.cacert = opts.cacert;
  }
  return cfg;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'read error';
    throw new CloudConfigError(file, `cannot read file (${code})`);
  }
}

function parseDocument(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  const d = parseYamlDocument(text, { prettyErrors: true });
  const err = d.errors[0];
  if (err) {
    // The yaml library quotes the offending line in its message; that line may hold a password, so only the
    // position and the error code are reported.
    const pos = err instanceof YAMLError ? err.linePos?.[0] : undefined;
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    throw new CloudConfigError(source, `YAML syntax error${where} (${err.code})`);
  }
  // Unquoted numbers and booleans are kept as written (a numeric project id must not become 1.2e+31, a password
  // `True` must not become `true`); the schema converts the few fields that are numbers or booleans.
  visit(d, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string' && node.value !== null && typeof node.source === 'string') {
        node.value = node.source;
      }
    },
  });
  try {
    doc = d.toJS({ maxAliasCount: 100 });
  } catch {
    throw new CloudConfigError(source, 'YAML could not be converted (too many aliases?)');
  }
  if (doc === null || doc === undefined) throw new CloudConfigError(source, 'Required', 'clouds');
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CloudConfigError(source, 'expected a mapping at the top level');
  }
  return doc as Record<string, unknown>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (isRecord(a) && isRecord(b)) {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Normalisation (the backwards-compatible spellings openstacksdk accepts)

function normalizeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalizeKeys);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) out[k.replace(/-/g, '_')] = normalizeKeys(val);
  return out;
}

const BOOL_WORD = /^(true|false|yes|no|on|off|1|0)$/i;

const AUTH_ALIASES: Record<string, string[]> = {
  project_id: ['tenant_id', 'project_id'],
  project_name: ['tenant_name', 'project_name'],
  token: ['auth_token', 'token'],
};

// Keys that openstacksdk moves from the cloud entry into `auth` when given at the top level.
const AUTH_KEYS = [
  'auth_url',
  'username',
  'user_id',
  'password',
  'user_domain_name',
  'user_domain_id',
  'project_name',
  'project_id',
  'project_domain_name',
  'project_domain_id',
  'domain_name',
  'domain_id',
  'application_credential_id',
  'application_credential_name',
  'application_credential_secret',
  'token',
  'auth_token',
  'tenant_id',
  'tenant_name',
];

function normalizeCloud(raw: Record<string, unknown>): Record<string, unknown> {
  const cloud = normalizeKeys(raw) as Record<string, unknown>;
  const auth: Record<string, unknown> = isRecord(cloud.auth) ? { ...cloud.auth } : {};
  const authWasInvalid = cloud.auth !== undefined && !isRecord(cloud.auth);
  // Top-level auth keys win over the auth section (openstacksdk: they may be CLI/env overrides).
  for (const k of AUTH_KEYS) {
    if (k in cloud) {
      auth[k] = cloud[k];
      delete cloud[k];
    }
  }
  for (const [target, aliases] of Object.entries(AUTH_ALIASES)) {
    let value: unknown;
    for (const a of aliases) {
      if (a in auth) {
        value = auth[a];
        delete auth[a];
      }
    }
    if (value !== undefined && value !== null && value !== '') auth[target] = value;
  }
  // domain_id/domain_name: with a project, the default for the user's and the project's domain; without one, the
  // domain scope.
  const projectScoped = auth.project_id !== undefined || auth.project_name !== undefined;
  if (projectScoped) {
    for (const [from, targets] of [
      ['domain_id', ['user_domain_id', 'project_domain_id']],
      ['domain_name', ['user_domain_name', 'project_domain_name']],
    ] as const) {
      if (auth[from] !== undefined) {
        for (const t of targets) if (auth[t] === undefined) auth[t] = auth[from];
        delete auth[from];
      }
    }
  }
  // default_domain_* fill the user's and project's domain when not given.
  for (const [from, targets] of [
    ['default_domain_id', ['user_domain_id', 'project_domain_id']],
    ['default_domain_name', ['user_domain_name', 'project_domain_name']],
  ] as const) {
    const v = auth[from] ?? cloud[from];
    if (v !== undefined) {
      for (const t of targets) if (auth[t] === undefined) auth[t] = v;
    }
    delete auth[from];
    delete cloud[from];
  }
  cloud.auth = authWasInvalid ? raw.auth : auth;
  // *endpoint_type → *interface
  for (const k of Object.keys(cloud)) {
    if (k.endsWith('endpoint_type')) {
      const target = k.replace(/endpoint_type$/, 'interface');
      if (cloud[target] === undefined) cloud[target] = cloud[k];
      delete cloud[k];
    }
  }
  // requests/keystoneauth accept a CA bundle path in `verify`.
  if (typeof cloud.verify === 'string' && !BOOL_WORD.test(cloud.verify)) {
    if (cloud.cacert === undefined || cloud.cacert === null) cloud.cacert = cloud.verify;
    cloud.verify = true;
  }
  // auth_plugin is the old name of auth_type.
  if (cloud.auth_type === undefined && cloud.auth_plugin !== undefined) cloud.auth_type = cloud.auth_plugin;
  delete cloud.auth_plugin;
  // Service-specific timeouts (e.g. network_timeout) become api_timeout, as in openstacksdk.
  for (const k of Object.keys(cloud)) {
    if (k.endsWith('_timeout') && k !== 'api_timeout' && cloud.api_timeout === undefined) {
      cloud.api_timeout = cloud[k];
    }
  }
  return cloud;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema

function requiredMessage(expected: string) {
  return (iss: { input?: unknown }): string =>
    iss.input === undefined || iss.input === null ? 'Required' : `expected ${expected}`;
}

// YAML turns unquoted numeric ids into numbers; openstacksdk str()s every auth value.
const str = z.preprocess(
  (v) => (typeof v === 'number' || typeof v === 'bigint' ? String(v) : v),
  z.string({ error: requiredMessage('a string') }).min(1, { error: 'must not be empty' }),
);
const optStr = str.optional().nullable();
const boolish = z.preprocess(
  (v) =>
    typeof v === 'string' && /^(true|yes|on|1)$/i.test(v)
      ? true
      : typeof v === 'string' && /^(false|no|off|0)$/i.test(v)
        ? false
        : v,
  z.boolean({ error: requiredMessage('true or false') }),
);

const AUTH_TYPES: Record<string, AuthType> = {
  password: 'password',
  v3password: 'password',
  v3applicationcredential: 'v3applicationcredential',
  applicationcredential: 'v3applicationcredential',
  application_credential: 'v3applicationcredential',
  token: 'token',
  v3token: 'token',
  admin_token: 'none',
  none: 'none',
  noauth: 'none',
};

/** Endpoint interfaces as clouds.yaml and the Keystone catalog spell them (also the old `publicURL` style). */
export const INTERFACES: Record<string, EndpointInterface> = {
  public: 'public',
  publicurl: 'public',
  internal: 'internal',
  internalurl: 'internal',
  admin: 'admin',
  adminurl: 'admin',
};

const interfaceField = z
  .preprocess(
    (v) => (typeof v === 'string' ? v.toLowerCase() : v),
    z.string({ error: requiredMessage('a string') }).refine((v) => v in INTERFACES, {
      error: 'expected public, internal or admin',
    }),
  )
  .optional()
  .nullable();

const urlString = str.refine(
  (v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { error: 'expected an http(s) URL' },
);

const AuthSchema = z.looseObject({
  auth_url: urlString.optional().nullable(),
  endpoint: urlString.optional().nullable(),
  username: optStr,
  user_id: optStr,
  password: optStr,
  user_domain_name: optStr,
  user_domain_id: optStr,
  project_name: optStr,
  project_id: optStr,
  project_domain_name: optStr,
  project_domain_id: optStr,
  domain_name: optStr,
  domain_id: optStr,
  application_credential_id: optStr,
  application_credential_name: optStr,
  application_credential_secret: optStr,
  token: optStr,
});

const CloudSchema = z.looseObject({
  auth: AuthSchema.default({}),
  auth_type: z
    .preprocess(
      (v) => (typeof v === 'string' ? v.toLowerCase().replace(/-/g, '_') : v),
      z.string({ error: requiredMessage('a string') }).refine((v) => v in AUTH_TYPES, {
        error: `unsupported auth_type (supported: ${Object.keys(AUTH_TYPES).join(', ')})`,
      }),
    )
    .optional()
    .nullable(),
  region_name: optStr,
  regions: z
    .array(z.union([str, z.looseObject({ name: str })]), { error: requiredMessage('a list of regions') })
    .optional()
    .nullable(),
  interface: interfaceField,
  network_interface: interfaceField,
  identity_api_version: z
    .preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string({ error: requiredMessage('a string') }))
    .refine((v) => /^v?3(\.\d+)?$/.test(v), { error: 'only Keystone v3 is supported' })
    .optional()
    .nullable(),
  cacert: optStr,
  verify: boolish.optional().nullable(),
  insecure: boolish.optional().nullable(),
  cert: optStr,
  key: optStr,
  network_endpoint_override: urlString.optional().nullable(),
  api_timeout: z
    .preprocess(
      (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
      // Bounded: a tenant's value below a second fails every request at once, one above 10 minutes holds a request
      // slot that long (and past 24.8 days overflows Node's timers).
      z
        .number({ error: requiredMessage('a number of seconds') })
        .min(API_TIMEOUT_MIN_S, { error: `must be at least ${API_TIMEOUT_MIN_S} second (seconds, not milliseconds)` })
        .max(API_TIMEOUT_MAX_S, { error: `must be at most ${API_TIMEOUT_MAX_S} seconds` }),
    )
    .optional()
    .nullable(),
});

type ParsedCloud = z.infer<typeof CloudSchema>;

function formatPath(cloudName: string, p: readonly PropertyKey[]): string {
  let out = `clouds.${cloudName}`;
  for (const seg of p) out += typeof seg === 'number' ? `[${seg}]` : `.${String(seg)}`;
  return out;
}

function inferAuthType(auth: ParsedCloud['auth']): AuthType {
  if (auth.application_credential_secret || auth.application_credential_id) return 'v3applicationcredential';
  if (auth.token && !auth.password) return 'token';
  return 'password';
}

function selectCloud(
  doc: Record<string, unknown>,
  requested: string | undefined,
  ctx: BuildContext,
): CloudConfig {
  const { source } = ctx;
  const clouds = doc.clouds;
  if (clouds === undefined || clouds === null) throw new CloudConfigError(source, 'Required', 'clouds');
  if (!isRecord(clouds)) throw new CloudConfigError(source, 'expected a mapping of cloud names', 'clouds');
  const names = Object.keys(clouds);
  let name = requested;
  if (name === undefined) {
    if (names.length === 1) name = names[0];
    else if (names.length === 0) throw new CloudConfigError(source, 'no cloud defined', 'clouds');
    else {
      throw new CloudConfigError(
        source,
        `several clouds are defined (${names.join(', ')}): name one (OS_CLOUD or the cloud name setting)`,
      );
    }
  }
  if (name === undefined || !Object.hasOwn(clouds, name)) {
    throw new CloudConfigError(source, `cloud "${requested}" not found (defined: ${names.join(', ') || 'none'})`);
  }
  const rawCloud = clouds[name];
  if (!isRecord(rawCloud)) throw new CloudConfigError(source, 'expected a mapping', `clouds.${name}`);
  const normalized = normalizeCloud(rawCloud);
  const result = CloudSchema.safeParse(normalized);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new CloudConfigError(source, issue.message, formatPath(name, issue.path));
  }
  return buildConfig(name, result.data, ctx);
}

interface BuildContext {
  source: string;
  baseDir: string;
  home: string;
  /** File paths in cacert/cert/key may be used (the operator's own configuration). */
  allowFilePaths: boolean;
  /** The caller replaces cacert with PEM text: a cacert path is ignored, never read. */
  cacertReplaced: boolean;
}

const FILE_REFUSALS: Record<'cacert' | 'cert' | 'key', string> = {
  cacert:
    "a clouds.yaml from a Secret cannot name a file on the operator's filesystem (cacert, or a CA path in verify): put the PEM CA bundle in the Secret's cacert key, or inline as PEM text",
  cert: "a clouds.yaml from a Secret cannot name a file on the operator's filesystem: give the client certificate inline as PEM text",
  key: "a clouds.yaml from a Secret cannot name a file on the operator's filesystem: give the client key inline as PEM text",
};

function buildConfig(cloudName: string, c: ParsedCloud, ctx: BuildContext): CloudConfig {
  const { source } = ctx;
  const fail = (field: string, message: string): never => {
    throw new CloudConfigError(source, message, `clouds.${cloudName}.${field}`);
  };
  const a = c.auth;
  const authType = c.auth_type ? AUTH_TYPES[c.auth_type]! : inferAuthType(a);
  const v = (s: string | null | undefined): string | undefined => (s === null || s === undefined ? undefined : s);

  const auth: CloudAuthConfig = {};
  const set = <K extends keyof CloudAuthConfig>(k: K, val: CloudAuthConfig[K] | undefined): void => {
    if (val !== undefined) auth[k] = val;
  };
  set('authUrl', v(a.auth_url)?.replace(/\/+$/, ''));
  set('username', v(a.username));
  set('userId', v(a.user_id));
  set('userDomainName', v(a.user_domain_name));
  set('userDomainId', v(a.user_domain_id));
  set('projectName', v(a.project_name));
  set('projectId', v(a.project_id));
  set('projectDomainName', v(a.project_domain_name));
  set('projectDomainId', v(a.project_domain_id));
  set('domainName', v(a.domain_name));
  set('domainId', v(a.domain_id));
  set('applicationCredentialId', v(a.application_credential_id));
  set('applicationCredentialName', v(a.application_credential_name));
  if (a.password) auth.password = new Secret(a.password);
  if (a.application_credential_secret) auth.applicationCredentialSecret = new Secret(a.application_credential_secret);
  if (a.token) auth.token = new Secret(a.token);

  let override = v(c.network_endpoint_override);
  // keystoneauth's admin_token / none plugins carry the endpoint in auth.endpoint.
  if (!override && authType === 'none') override = v(a.endpoint);

  switch (authType) {
    case 'password':
      if (!auth.authUrl) fail('auth.auth_url', 'Required');
      if (!auth.username && !auth.userId) fail('auth.username', 'Required (or auth.user_id)');
      if (!auth.password) fail('auth.password', 'Required');
      if (auth.username && !auth.userId && !auth.userDomainName && !auth.userDomainId) {
        fail('auth.user_domain_name', 'Required with auth.username (or auth.user_domain_id / auth.domain_name)');
      }
      if (auth.projectName && !auth.projectId && !auth.projectDomainName && !auth.projectDomainId) {
        fail(
          'auth.project_domain_name',
          'Required with auth.project_name (or auth.project_domain_id / auth.domain_name)',
        );
      }
      break;
    case 'v3applicationcredential':
      if (!auth.authUrl) fail('auth.auth_url', 'Required');
      if (!auth.applicationCredentialSecret) fail('auth.application_credential_secret', 'Required');
      if (!auth.applicationCredentialId) {
        if (!auth.applicationCredentialName) {
          fail('auth.application_credential_id', 'Required (or auth.application_credential_name with a user)');
        }
        if (!auth.userId && !auth.username) fail('auth.user_id', 'Required with auth.application_credential_name (or auth.username)');
        if (!auth.userId && !auth.userDomainName && !auth.userDomainId) {
          fail('auth.user_domain_name', 'Required with auth.username (or auth.user_domain_id)');
        }
      }
      break;
    case 'token':
      if (!auth.token) fail('auth.token', 'Required');
      if (!auth.authUrl && !override) fail('auth.auth_url', 'Required (or network_endpoint_override)');
      break;
    case 'none':
      if (!override) fail('network_endpoint_override', 'Required with auth_type ' + (c.auth_type ?? 'none'));
      break;
  }

  let regionName = v(c.region_name);
  if (!regionName && c.regions && c.regions.length > 0) {
    const first = c.regions[0]!;
    regionName = typeof first === 'string' ? first : first.name;
  }

  const iface = INTERFACES[c.network_interface ?? c.interface ?? 'public']!;
  let verify = true;
  if (c.insecure === true) verify = false;
  if (c.verify === false) verify = false;
  if (c.verify === true) verify = true;

  const resolveFile = (field: 'cacert' | 'cert' | 'key', p: string | undefined): string | undefined => {
    if (p === undefined) return undefined;
    if (p.includes('-----BEGIN')) return p;
    if (!ctx.allowFilePaths) {
      if (field === 'cacert' && ctx.cacertReplaced) return undefined;
      // The path itself is not repeated: it is the tenant's own text, and nothing was looked up.
      fail(field, FILE_REFUSALS[field]);
    }
    return path.resolve(ctx.baseDir, expandHome(p, ctx.home));
  };

  const cfg: CloudConfig = {
    cloudName,
    source,
    authType,
    auth,
    interface: iface,
    identityApiVersion: '3',
    verify,
  };
  if (regionName) cfg.regionName = regionName;
  const cacert = resolveFile('cacert', v(c.cacert));
  if (cacert) cfg.cacert = cacert;
  const cert = resolveFile('cert', v(c.cert));
  if (cert) cfg.cert = cert;
  const key = resolveFile('key', v(c.key));
  if (key) cfg.key = key;
  if (override) cfg.networkEndpointOverride = override.replace(/\/+$/, '');
  if (c.api_timeout !== undefined && c.api_timeout !== null) cfg.apiTimeoutMs = Math.round(c.api_timeout * 1000);
  return cfg;
}
