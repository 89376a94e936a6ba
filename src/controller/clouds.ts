// Which cloud an object talks to: the operator's default (a mounted clouds.yaml) or, with
// spec.cloudCredentialsRef, the clouds.yaml in a Secret of the object's namespace. One Cloud (connection pool,
// token cache) and one set of bulk views per distinct cloud.
//
// A Secret's cloud is untrusted input (issue 17): with the admin's host policy (`--tenant-cloud-hosts`), a clouds.yaml
// whose auth_url or network_endpoint_override names a host the policy does not allow is refused as it is read
// (CredentialsNotFound, nothing sent), and every request of its cloud is checked again before it is sent (the
// catalog's network endpoint is only known after authentication: src/cloud/auth.ts).
//
// Deletion always ends (SPEC §3.6): a Secret that objects use is guarded by a finalizer per object
// (`vpnaas.dev/in-use-<uid>`), added before the object's first cloud write and removed once its cloud cleanup is
// done. Deleting a namespace therefore leaves each Secret readable until the objects that used it are cleaned up,
// and a Secret that is gone means that nothing using it is left to clean up.
import { createCloud, type CreateCloudOptions } from '../cloud/cloud.ts';
import { CloudConfigError, loadCloudConfigFromString, type CloudConfig } from '../cloud/config.ts';
import { classify } from '../cloud/errors.ts';
import { hostOf, TENANT_CLOUD_HOSTS_FLAG, type HostPolicy } from '../cloud/hosts.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { z } from 'zod';
import type { Cloud } from '../cloud/cloud.ts';
import { CredentialsError, type CloudHandle } from '../core/cloud.ts';
import type { CloudResolver } from '../core/reconciler.ts';
import type { ManagedObject } from '../core/types.ts';
import { SECRETS, resourcePath } from '../kube/paths.ts';

/** How long refused credentials are not sent to Keystone again (a new Secret version gets a new handle at once). */
const AUTH_RETRY_MS = 5 * 60_000;
/** Secret entries unused for this long are dropped (their connections closed). */
const IDLE_EVICT_MS = 30 * 60_000;
const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export const GUARD_PREFIX = 'vpnaas.dev/in-use-';

/** The finalizer an object keeps on the Secret it uses. */
export function guardFinalizer(uid: string): string {
  return `${GUARD_PREFIX}${uid}`;
}

export class CloudHandleImpl implements CloudHandle {
  readonly cloud: Cloud;
  endpoint = '';
  private readonly views = new Map<string, unknown>();
  private refusedAuth: { err: unknown; at: number } | undefined;
  private readonly now: () => number;
  constructor(cloud: Cloud, now: () => number = Date.now) {
    this.cloud = cloud;
    this.now = now;
  }

  view<V>(name: string, make: () => V): V {
    let v = this.views.get(name) as V | undefined;
    if (v === undefined) {
      v = make();
      this.views.set(name, v);
    }
    return v;
  }

  /**
   * Resolves the endpoint (authenticates on first use). Credentials the cloud refused (at first use or on a later
   * re-authentication) are not tried again for AUTH_RETRY_MS: every object on them gets the same refusal without a
   * request (Keystone can lock an account after repeated failures).
   */
  async ready(): Promise<this> {
    const refused = this.refusedAuth;
    if (refused && this.now() - refused.at < AUTH_RETRY_MS) throw refused.err;
    if (this.endpoint) return this;
    try {
      this.endpoint = await this.cloud.endpoint();
      this.refusedAuth = undefined;
    } catch (err) {
      this.noteFailure(err);
      throw err;
    }
    return this;
  }

  /** Called with any failure of a request on this cloud: a refused authentication starts the hold. */
  noteFailure(err: unknown): void {
    if (classify(err) === 'auth') this.refusedAuth = { err, at: this.now() };
  }
}

const SecretObject = z.object({
  metadata: z.object({
    resourceVersion: z.string(),
    deletionTimestamp: z.string().optional(),
    finalizers: z.array(z.string()).optional(),
  }),
  data: z.record(z.string(), z.string()).optional(),
});
type SecretObject = z.infer<typeof SecretObject>;

interface SecretEntry {
  resourceVersion: string;
  checkedAt: number;
  usedAt: number;
  handle: CloudHandleImpl | undefined;
  problem: string | undefined;
  missing: boolean;
  deleting: boolean;
  finalizers: Set<string>;
  /** The credentials' data, to tell a metadata-only change from new credentials. */
  digest: string;
}

/**
 * The operator's default cloud, and per-namespace clouds from Secrets named by spec.cloudCredentialsRef. A Secret
 * is read when an object that names it is reconciled (at most every `secretTtlMs`, one read at a time per Secret,
 * a missing Secret remembered as such for the same time), so a changed Secret is picked up without watching every
 * Secret of the cluster: only `get` and `patch` (for the guard finalizers) on Secrets are needed.
 */
export class CloudResolverImpl implements CloudResolver {
  readonly handle: CloudHandleImpl | undefined;
  private readonly problem: string | undefined;
  private readonly kube: KubeClient | undefined;
  private readonly cloudOpts: CreateCloudOptions;
  /** The hosts clouds from Secrets may use; undefined: any. */
  private readonly tenantHosts: HostPolicy | undefined;
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly reading = new Map<string, Promise<SecretEntry>>();
  private readonly secretTtlMs: number;
  private readonly now: () => number;
  private lastSweep = 0;

  constructor(opts: {
    defaultConfig?: CloudConfig | undefined;
    defaultProblem?: string | undefined;
    kube?: KubeClient;
    cloudOptions?: CreateCloudOptions;
    /** The hosts clouds from Secrets may use (never the default cloud); undefined: any. */
    tenantHosts?: HostPolicy | undefined;
    secretTtlMs?: number;
    now?: () => number;
  }) {
    this.now = opts.now ?? Date.now;
    this.cloudOpts = opts.cloudOptions ?? {};
    this.tenantHosts = opts.tenantHosts;
    this.handle = opts.defaultConfig ? this.newHandle(opts.defaultConfig) : undefined;
    this.problem = opts.defaultProblem;
    this.kube = opts.kube;
    this.secretTtlMs = opts.secretTtlMs ?? 10_000;
  }

  private newHandle(config: CloudConfig, hosts?: HostPolicy): CloudHandleImpl {
    return new CloudHandleImpl(createCloud(config, hosts ? { ...this.cloudOpts, hosts } : this.cloudOpts), this.now);
  }

  async resolve(obj: ManagedObject): Promise<CloudHandle> {
    const ref = obj.spec.cloudCredentialsRef;
    if (ref) {
      const entry = await this.entry(obj);
      if (entry.missing) {
        throw new CredentialsError(
          `Secret ${obj.metadata.namespace}/${ref.secretName} named by spec.cloudCredentialsRef does not exist: create it with a key clouds.yaml (and optionally cacert).`,
          { secretMissing: true },
        );
      }
      if (!entry.handle) throw new CredentialsError(entry.problem ?? `Secret ${obj.metadata.namespace}/${ref.secretName} is not usable.`);
      return entry.handle.ready();
    }
    if (!this.handle) {
      throw new CredentialsError(
        `The operator has no default cloud${this.problem ? ` (${this.problem})` : ''}: mount a clouds.yaml into the operator or set spec.cloudCredentialsRef.`,
      );
    }
    return this.handle.ready();
  }

  timeoutMs(cloud: CloudHandle): number {
    return cloud.cloud.maxRequestMs;
  }

  async guard(obj: ManagedObject): Promise<void> {
    const ref = obj.spec.cloudCredentialsRef;
    if (!ref || !this.kube) return;
    const entry = await this.entry(obj);
    const fin = guardFinalizer(obj.metadata.uid);
    if (entry.finalizers.has(fin)) return;
    if (entry.missing || entry.deleting) {
      throw new CredentialsError(
        `Secret ${obj.metadata.namespace}/${ref.secretName} named by spec.cloudCredentialsRef ${entry.missing ? 'does not exist' : 'is being deleted'}: the operator makes no cloud call with credentials that are going away.`,
        { secretMissing: entry.missing },
      );
    }
    // A strategic merge patch merges the finalizer list: no precondition, no conflict with other objects' guards.
    await this.patchSecret(obj.metadata.namespace, ref.secretName, { metadata: { finalizers: [fin] } });
    entry.finalizers.add(fin);
  }

  async unguard(obj: ManagedObject): Promise<void> {
    const ref = obj.spec.cloudCredentialsRef;
    if (!ref || !this.kube) return;
    const fin = guardFinalizer(obj.metadata.uid);
    try {
      await this.patchSecret(obj.metadata.namespace, ref.secretName, { metadata: { '$deleteFromPrimitiveList/finalizers': [fin] } });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    this.secrets.get(this.secretKey(obj))?.finalizers.delete(fin);
  }

  private async patchSecret(namespace: string, name: string, body: unknown): Promise<void> {
    await this.kube!.request('PATCH', resourcePath(SECRETS, namespace, name), body, STRATEGIC_MERGE_PATCH);
  }

  private secretKey(obj: ManagedObject): string {
    const ref = obj.spec.cloudCredentialsRef!;
    return `${obj.metadata.namespace}/${ref.secretName}/${ref.cloudName}`;
  }

  /** The entry of an object's Secret: cached for secretTtlMs; one read at a time per Secret. */
  private async entry(obj: ManagedObject): Promise<SecretEntry> {
    const key = this.secretKey(obj);
    const cached = this.secrets.get(key);
    const now = this.now();
    this.sweep(now);
    if (cached && now - cached.checkedAt < this.secretTtlMs) {
      cached.usedAt = now;
      return cached;
    }
    let p = this.reading.get(key);
    if (!p) {
      const ref = obj.spec.cloudCredentialsRef!;
      p = this.readSecret(key, obj.metadata.namespace, ref.secretName, ref.cloudName, cached).finally(() => this.reading.delete(key));
      this.reading.set(key, p);
    }
    return p;
  }

  private async readSecret(key: string, namespace: string, secretName: string, cloudName: string, prev: SecretEntry | undefined): Promise<SecretEntry> {
    if (!this.kube) throw new CredentialsError('spec.cloudCredentialsRef is not supported by this operator instance.');
    let secret: SecretObject | undefined;
    try {
      secret = SecretObject.parse(await this.kube.request('GET', resourcePath(SECRETS, namespace, secretName)));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    const now = this.now();
    if (!secret) {
      // Remembered as missing for the TTL: a hundred objects on one missing Secret make one read per TTL.
      this.drop(key, prev);
      const missing: SecretEntry = { resourceVersion: '', checkedAt: now, usedAt: now, handle: undefined, problem: undefined, missing: true, deleting: false, finalizers: new Set(), digest: '' };
      this.secrets.set(key, missing);
      return missing;
    }
    const finalizers = new Set(secret.metadata.finalizers ?? []);
    const deleting = secret.metadata.deletionTimestamp !== undefined;
    if (prev && !prev.missing && prev.resourceVersion === secret.metadata.resourceVersion) {
      Object.assign(prev, { checkedAt: now, usedAt: now, finalizers, deleting });
      return prev;
    }
    if (prev && !prev.missing && prev.handle && prev.digest === digest(secret)) {
      // Only metadata changed (e.g. a guard finalizer): keep the cloud handle and its token.
      Object.assign(prev, { resourceVersion: secret.metadata.resourceVersion, checkedAt: now, usedAt: now, finalizers, deleting });
      return prev;
    }
    const entry: SecretEntry = { resourceVersion: secret.metadata.resourceVersion, checkedAt: now, usedAt: now, handle: undefined, problem: undefined, missing: false, deleting, finalizers, digest: digest(secret) };
    const b64 = secret.data?.['clouds.yaml'];
    if (b64 === undefined) {
      entry.problem = `Secret ${namespace}/${secretName} has no key clouds.yaml: add the clouds.yaml that holds cloud ${cloudName}.`;
    } else {
      try {
        const cacert = secret.data?.cacert;
        const config = loadCloudConfigFromString(Buffer.from(b64, 'base64').toString('utf8'), cloudName, {
          source: `Secret ${namespace}/${secretName} key clouds.yaml`,
          ...(cacert ? { cacert: Buffer.from(cacert, 'base64').toString('utf8') } : {}),
        });
        const refused = this.refusedHost(config);
        if (refused) entry.problem = refused;
        else entry.handle = this.newHandle(config, this.tenantHosts);
      } catch (err) {
        if (!(err instanceof CloudConfigError)) throw err;
        entry.problem = err.message;
      }
    }
    this.drop(key, prev);
    this.secrets.set(key, entry);
    return entry;
  }

  /**
   * Why a Secret's cloud may not be used: its auth_url or network_endpoint_override names a host not allowed. The
   * refusal is observed (once per Secret version) as the request it prevents, without an answer (`HostNotAllowed`).
   */
  private refusedHost(config: CloudConfig): string | undefined {
    const policy = this.tenantHosts;
    if (!policy) return undefined;
    const urls: Array<[string, string | undefined, { method: string; route: string }]> = [
      ['auth.auth_url', config.auth.authUrl, { method: 'POST', route: '/v3/auth/tokens' }],
      ['network_endpoint_override', config.networkEndpointOverride, { method: '', route: 'network endpoint' }],
    ];
    for (const [field, url, at] of urls) {
      if (url === undefined) continue;
      const host = hostOf(url);
      if (host !== undefined && policy.allows(host)) continue;
      try {
        this.cloudOpts.onRequest?.({ cloud: config.cloudName, ...at, status: 0, durationMs: 0, requestId: undefined, error: 'HostNotAllowed' });
      } catch {
        // an observer must not break the read
      }
      return `${config.source}: clouds.${config.cloudName}.${field} names host ${host ?? url}, which is not allowed for clouds from tenant Secrets: the cluster admin sets the allowed hosts (operator flag ${TENANT_CLOUD_HOSTS_FLAG}). Nothing was sent to it; use an allowed host, or ask the cluster admin to allow this one.`;
    }
    return undefined;
  }

  /** Drops entries nobody used for IDLE_EVICT_MS (at most once a minute). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [key, e] of this.secrets) {
      if (now - e.usedAt < IDLE_EVICT_MS) continue;
      this.secrets.delete(key);
      this.drop(key, e);
    }
  }

  private drop(key: string, prev: SecretEntry | undefined): void {
    if (this.secrets.get(key) === prev) this.secrets.delete(key);
    // Let requests in flight on the old credentials finish before closing their connections.
    if (prev?.handle) setTimeout(() => void prev.handle!.cloud.close().catch(() => undefined), 60_000).unref();
  }

  async close(): Promise<void> {
    await Promise.all([this.handle?.cloud.close(), ...[...this.secrets.values()].map((e) => e.handle?.cloud.close())]);
  }
}

function digest(secret: SecretObject): string {
  const d = secret.data ?? {};
  return JSON.stringify([d['clouds.yaml'] ?? null, d.cacert ?? null]);
}

