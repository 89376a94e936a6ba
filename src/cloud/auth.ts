// Keystone v3 authentication (also spoken by Huawei Cloud IAM): password (names or ids; project-, domain- or
// un-scoped), application credentials, or a static token. Tokens are cached until shortly before `expires_at`
// (5 min or 10% of the lifetime, whichever is smaller); concurrent callers share one auth request; invalidate()
// drops a token the cloud refused. The network endpoint comes from the explicit override or the token's catalog.
// For a tenant's cloud, auth_url, the override and the catalog's network endpoint (which the tenant's Keystone
// chooses) are each checked against the admin's host policy before anything is sent to them (src/cloud/hosts.ts).
import { z } from 'zod';
import { INTERFACES, type CloudConfig, type EndpointInterface } from './config.ts';
import { classify, CloudError } from './errors.ts';
import type { CloudLogger, HttpTransport } from './http.ts';
import { Redactor } from './redact.ts';
import { Secret } from './secret.ts';

const CatalogEndpointSchema = z.object({
  url: z.string(),
  interface: z.string().optional(),
  region: z.string().nullable().optional(),
  region_id: z.string().nullable().optional(),
});

const CatalogEntrySchema = z.object({
  type: z.string(),
  name: z.string().optional(),
  endpoints: z.array(CatalogEndpointSchema).default([]),
});

export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;

const TokenBodySchema = z.object({
  token: z.object({
    expires_at: z.string().nullable().optional(),
    issued_at: z.string().nullable().optional(),
    catalog: z.array(CatalogEntrySchema).optional(),
    project: z.object({ id: z.string() }).optional(),
    user: z.object({ id: z.string() }).optional(),
  }),
});

export interface AuthToken {
  readonly value: Secret;
  /** Local clock time (ms) at which the token expires; undefined: unknown (a static token). */
  readonly expiresAt: number | undefined;
  /** Local clock time (ms) after which a new token is fetched. */
  readonly refreshAt: number | undefined;
  readonly catalog: readonly CatalogEntry[] | undefined;
  readonly projectId: string | undefined;
  readonly userId: string | undefined;
}

export interface Authenticator {
  /** The token to send, or undefined when the cloud needs none (auth_type none). */
  token(): Promise<AuthToken | undefined>;
  /** Forget `token` if it is still the current one (after a 401). */
  invalidate(token: AuthToken | undefined): void;
  /** False for a static token: a 401 cannot be cured by authenticating again. */
  readonly canReauthenticate: boolean;
  /** The network endpoint (ending in /v2.0) for requests made with `token`. */
  networkEndpoint(token?: AuthToken): Promise<string>;
}

// ---------------------------------------------------------------------------------------------------------------
// Pure helpers

/** The Keystone v3 base URL: auth_url with `/v3` (replacing `/v2.0`, appended when no version is given). */
export function identityBaseUrl(authUrl: string): string {
  const u = authUrl.replace(/\/+$/, '');
  if (/\/v3$/.test(u)) return u;
  if (/\/v2\.0$/.test(u)) return u.replace(/\/v2\.0$/, '/v3');
  return `${u}/v3`;
}

/** Neutron's API root: the catalog URL has no version, so `/v2.0` is appended when missing. */
export function networkBaseUrl(url: string): string {
  const u = url.replace(/\/+$/, '');
  return /\/v2\.0$/.test(u) ? u : `${u}/v2.0`;
}


export interface EndpointFilter {
  type: string;
  interface: EndpointInterface;
  region?: string | undefined;
  projectId?: string | undefined;
}

/**
 * Picks the endpoint URL for a service type from a Keystone v3 catalog: the first endpoint with the wanted interface
 * (`publicURL` style accepted) and, when a region is given, that region (`region_id` or `region`). `$(project_id)s`
 * style templates are filled in. Returns undefined when nothing matches.
 */
export function selectEndpoint(catalog: readonly CatalogEntry[], f: EndpointFilter): string | undefined {
  for (const entry of catalog) {
    if (entry.type !== f.type) continue;
    for (const ep of entry.endpoints) {
      const iface = INTERFACES[(ep.interface ?? 'public').toLowerCase()];
      if (iface !== f.interface) continue;
      if (f.region !== undefined && ep.region_id !== f.region && ep.region !== f.region) continue;
      let url = ep.url;
      if (f.projectId !== undefined) {
        url = url.replace(/[$%]\((tenant_id|project_id)\)s/g, f.projectId);
      }
      return url;
    }
  }
  return undefined;
}

/** Parses a Keystone timestamp; one without a zone is UTC. */
export function parseKeystoneTime(s: string | null | undefined): number | undefined {
  if (!s) return undefined;
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(s);
  const t = Date.parse(hasZone ? s : `${s}Z`);
  return Number.isNaN(t) ? undefined : t;
}

/** Margin before expiry at which a token is renewed: 5 minutes or 10% of its lifetime, whichever is smaller. */
export function refreshMarginMs(ttlMs: number): number {
  return Math.max(0, Math.min(5 * 60_000, ttlMs * 0.1));
}

type Scope =
  | { project: { id: string } | { name: string; domain: { id: string } | { name: string } } }
  | { domain: { id: string } | { name: string } };

function domainRef(id: string | undefined, name: string | undefined): { id: string } | { name: string } | undefined {
  if (id) return { id };
  if (name) return { name };
  return undefined;
}

/** The POST /v3/auth/tokens body for a password or application credential config. Holds secrets: never log it. */
export function authRequestBody(config: CloudConfig): unknown {
  const a = config.auth;
  if (config.authType === 'v3applicationcredential') {
    const secret = a.applicationCredentialSecret?.reveal() ?? '';
    let cred: Record<string, unknown>;
    if (a.applicationCredentialId) {
      cred = { id: a.applicationCredentialId, secret };
    } else {
      const user = a.userId
        ? { id: a.userId }
        : { name: a.username, domain: domainRef(a.userDomainId, a.userDomainName) };
      cred = { name: a.applicationCredentialName, secret, user };
    }
    return { auth: { identity: { methods: ['application_credential'], application_credential: cred } } };
  }
  const user = a.userId
    ? { id: a.userId, password: a.password?.reveal() ?? '' }
    : {
        name: a.username,
        domain: domainRef(a.userDomainId, a.userDomainName),
        password: a.password?.reveal() ?? '',
      };
  let scope: Scope | undefined;
  if (a.projectId) scope = { project: { id: a.projectId } };
  else if (a.projectName) {
    const domain = domainRef(a.projectDomainId, a.projectDomainName);
    if (domain) scope = { project: { name: a.projectName, domain } };
  } else {
    const domain = domainRef(a.domainId, a.domainName);
    if (domain) scope = { domain };
  }
  const body: { auth: Record<string, unknown> } = {
    auth: { identity: { methods: ['password'], password: { user } } },
  };
  if (scope) body.auth.scope = scope;
  return body;
}

/** The secrets of a cloud's credentials (password, application credential secret, token): no error text holds them. */
export function credentialSecrets(config: CloudConfig): Secret[] {
  const a = config.auth;
  return [a.password, a.applicationCredentialSecret, a.token].filter((s): s is Secret => s !== undefined);
}

// ---------------------------------------------------------------------------------------------------------------

export interface KeystoneAuthOptions {
  logger?: CloudLogger | undefined;
  /** Clock, for tests. */
  now?: () => number;
}

const CATALOG_PATH = 'service catalog';
/** A network endpoint refused before any request to it: observed under this route, without a method. */
const ENDPOINT_CHECK = { method: '', route: 'network endpoint', path: 'network endpoint' };

export class KeystoneAuth implements Authenticator {
  readonly #config: CloudConfig;
  readonly #http: HttpTransport;
  readonly #logger: CloudLogger | undefined;
  readonly #now: () => number;
  #current: AuthToken | undefined;
  #inflight: Promise<AuthToken> | undefined;
  #staticCatalog: Promise<AuthToken> | undefined;
  readonly canReauthenticate: boolean;

  constructor(config: CloudConfig, http: HttpTransport, opts: KeystoneAuthOptions = {}) {
    this.#config = config;
    this.#http = http;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.canReauthenticate = config.authType === 'password' || config.authType === 'v3applicationcredential';
  }

  async token(): Promise<AuthToken | undefined> {
    const cfg = this.#config;
    if (cfg.authType === 'none') {
      return cfg.auth.token ? staticToken(cfg.auth.token) : undefined;
    }
    if (cfg.authType === 'token') return staticToken(cfg.auth.token!);
    const now = this.#now();
    const cur = this.#current;
    if (cur && (cur.refreshAt === undefined || now < cur.refreshAt)) return cur;
    try {
      return await this.#refresh();
    } catch (e) {
      // Keystone briefly unavailable while the current token is still good: keep using it.
      const safety = cur?.refreshAt !== undefined && cur.expiresAt !== undefined ? Math.min(10_000, (cur.expiresAt - cur.refreshAt) / 2) : 0;
      if (cur && cur.expiresAt !== undefined && this.#now() < cur.expiresAt - safety && classify(e) === 'retryable') {
        this.#logger?.warn('token refresh failed; using the current token until it expires', {
          cloud: cfg.cloudName,
          error: e instanceof Error ? e.message : String(e),
        });
        return cur;
      }
      throw e;
    }
  }

  invalidate(token: AuthToken | undefined): void {
    if (token !== undefined && this.#current === token) this.#current = undefined;
  }

  async networkEndpoint(token?: AuthToken): Promise<string> {
    const cfg = this.#config;
    if (cfg.networkEndpointOverride) {
      this.#http.checkHost(cfg.networkEndpointOverride, `clouds.${cfg.cloudName}.network_endpoint_override`, ENDPOINT_CHECK);
      return networkBaseUrl(cfg.networkEndpointOverride);
    }
    let t = token;
    if (cfg.authType === 'token') t = await this.#catalogForStaticToken();
    else t ??= await this.token();
    const url = t?.catalog
      ? selectEndpoint(t.catalog, {
          type: 'network',
          interface: cfg.interface,
          region: cfg.regionName,
          projectId: t.projectId,
        })
      : undefined;
    if (url === undefined) {
      const where = `${cfg.regionName ? `region ${cfg.regionName}, ` : ''}interface ${cfg.interface}`;
      throw new CloudError({
        status: 0,
        code: 'EndpointNotFound',
        cloudMessage: `no network endpoint in the service catalog (${where}); set network_endpoint_override or check region_name/interface`,
        method: '',
        path: CATALOG_PATH,
        kind: 'terminal',
      });
    }
    this.#http.checkHost(url, "the service catalog's network endpoint (chosen by the cloud's Keystone)", ENDPOINT_CHECK);
    return networkBaseUrl(url);
  }

  #refresh(): Promise<AuthToken> {
    if (!this.#inflight) {
      const p = this.#authenticate().then((t) => {
        this.#current = t;
        return t;
      });
      this.#inflight = p;
      const clear = (): void => {
        if (this.#inflight === p) this.#inflight = undefined;
      };
      p.then(clear, clear);
    }
    return this.#inflight;
  }

  async #authenticate(): Promise<AuthToken> {
    const cfg = this.#config;
    const base = identityBaseUrl(cfg.auth.authUrl!);
    this.#http.checkHost(base, `clouds.${cfg.cloudName}.auth.auth_url`, { method: 'POST', route: '/v3/auth/tokens' });
    const secrets = credentialSecrets(cfg);
    const res = await this.#http.send({
      method: 'POST',
      url: `${base}/auth/tokens`,
      route: '/v3/auth/tokens',
      body: authRequestBody(cfg),
      expect: [200, 201],
      secrets,
    });
    const receivedAt = this.#now();
    const subject = res.headers['x-subject-token'];
    const value = Array.isArray(subject) ? subject[0] : subject;
    if (!value) {
      throw new CloudError({
        status: res.status,
        code: 'InvalidResponse',
        cloudMessage: 'the identity service returned no X-Subject-Token',
        requestId: res.requestId,
        method: 'POST',
        path: new URL(`${base}/auth/tokens`).pathname,
      });
    }
    const body = parseTokenBody(res.text, res.status, res.requestId, 'POST', new URL(`${base}/auth/tokens`).pathname, secrets);
    const expires = parseKeystoneTime(body.token.expires_at);
    const issued = parseKeystoneTime(body.token.issued_at);
    let expiresAt: number | undefined;
    let refreshAt: number | undefined;
    if (expires !== undefined) {
      // Lifetime measured on the server's clock, applied to ours: immune to clock skew.
      const ttl = Math.max(0, expires - (issued ?? receivedAt));
      expiresAt = receivedAt + ttl;
      refreshAt = expiresAt - refreshMarginMs(ttl);
    }
    this.#logger?.debug('authenticated', {
      cloud: cfg.cloudName,
      authType: cfg.authType,
      requestId: res.requestId,
      expiresInMs: expiresAt === undefined ? undefined : expiresAt - receivedAt,
    });
    return {
      value: new Secret(value),
      expiresAt,
      refreshAt,
      catalog: body.token.catalog,
      projectId: body.token.project?.id,
      userId: body.token.user?.id,
    };
  }

  /** A static token's catalog, read once with GET /v3/auth/tokens (X-Auth-Token = X-Subject-Token = the token). */
  #catalogForStaticToken(): Promise<AuthToken> {
    if (!this.#staticCatalog) {
      const cfg = this.#config;
      const token = cfg.auth.token!;
      const base = identityBaseUrl(cfg.auth.authUrl!);
      const url = `${base}/auth/tokens`;
      this.#http.checkHost(base, `clouds.${cfg.cloudName}.auth.auth_url`, { method: 'GET', route: '/v3/auth/tokens' });
      const p = this.#http
        .send({
          method: 'GET',
          url,
          route: '/v3/auth/tokens',
          token,
          headers: { 'x-subject-token': token.reveal() },
          expect: [200],
          secrets: credentialSecrets(cfg),
        })
        .then((res): AuthToken => {
          const body = parseTokenBody(res.text, res.status, res.requestId, 'GET', new URL(url).pathname, credentialSecrets(cfg));
          return { ...staticToken(token), catalog: body.token.catalog, projectId: body.token.project?.id };
        });
      this.#staticCatalog = p;
      p.catch(() => {
        if (this.#staticCatalog === p) this.#staticCatalog = undefined;
      });
    }
    return this.#staticCatalog;
  }
}

function staticToken(value: Secret): AuthToken {
  return {
    value,
    expiresAt: undefined,
    refreshAt: undefined,
    catalog: undefined,
    projectId: undefined,
    userId: undefined,
  };
}

function parseTokenBody(
  text: string,
  status: number,
  requestId: string | undefined,
  method: string,
  path: string,
  secrets: readonly Secret[],
): z.infer<typeof TokenBodySchema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = TokenBodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CloudError({
      status,
      code: 'InvalidResponse',
      cloudMessage: `unexpected token response${issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : ''}`,
      requestId,
      method,
      path,
      secrets: new Redactor(secrets),
    });
  }
  return parsed.data;
}
