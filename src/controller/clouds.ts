// Which cloud an object talks to: the operator's default (a mounted clouds.yaml) or, with
// spec.cloudCredentialsRef, the clouds.yaml in a Secret of the object's namespace. One Cloud (connection pool,
// token cache) and one CloudView per distinct cloud.
import type { VpnService } from '../api/vpnservice.ts';
import { createCloud, type Cloud, type CreateCloudOptions } from '../cloud/cloud.ts';
import { CloudConfigError, loadCloudConfigFromString, type CloudConfig } from '../cloud/config.ts';
import { classify } from '../cloud/errors.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { z } from 'zod';
import { CloudView } from './cloudview.ts';
import type { CloudResolver } from './reconciler.ts';
import { CredentialsError, type CloudHandle } from './ports.ts';

/** How long refused credentials are not sent to Keystone again (a new Secret version gets a new handle at once). */
const AUTH_RETRY_MS = 5 * 60_000;

export class CloudHandleImpl implements CloudHandle {
  readonly cloud: Cloud;
  readonly view: CloudView;
  endpoint = '';
  private refusedAuth: { err: unknown; at: number } | undefined;
  private readonly now: () => number;
  constructor(cloud: Cloud, now: () => number = Date.now) {
    this.cloud = cloud;
    this.view = new CloudView(cloud.vpnServices);
    this.now = now;
  }
  get api() {
    return this.cloud.vpnServices;
  }
  /**
   * Resolves the endpoint (authenticates on first use). Credentials the cloud refused are not tried again for
   * AUTH_RETRY_MS: every object on them gets the same refusal without a request (Keystone can lock an account
   * after repeated failures).
   */
  async ready(): Promise<this> {
    if (this.endpoint) return this;
    const refused = this.refusedAuth;
    if (refused && this.now() - refused.at < AUTH_RETRY_MS) throw refused.err;
    try {
      this.endpoint = await this.cloud.endpoint();
      this.refusedAuth = undefined;
    } catch (err) {
      if (classify(err) === 'auth') this.refusedAuth = { err, at: this.now() };
      throw err;
    }
    return this;
  }
}

const SecretObject = z.object({
  metadata: z.object({ resourceVersion: z.string() }),
  data: z.record(z.string(), z.string()).optional(),
});

interface SecretEntry {
  resourceVersion: string;
  checkedAt: number;
  handle: CloudHandleImpl | undefined;
  problem: string | undefined;
}

/**
 * The operator's default cloud, and per-namespace clouds from Secrets named by spec.cloudCredentialsRef. A Secret
 * is read when an object that names it is reconciled (at most every `secretTtlMs`), so a changed Secret is picked
 * up without watching every Secret of the cluster (which would need list/watch on all Secrets and hold them in
 * memory): only `get` on Secrets is needed.
 */
export class CloudResolverImpl implements CloudResolver {
  readonly handle: CloudHandleImpl | undefined;
  private readonly problem: string | undefined;
  private readonly kube: KubeClient | undefined;
  private readonly cloudOpts: CreateCloudOptions;
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly secretTtlMs: number;
  private readonly now: () => number;

  constructor(opts: {
    defaultConfig?: CloudConfig | undefined;
    defaultProblem?: string | undefined;
    kube?: KubeClient;
    cloudOptions?: CreateCloudOptions;
    secretTtlMs?: number;
    now?: () => number;
  }) {
    this.cloudOpts = opts.cloudOptions ?? {};
    this.now = opts.now ?? Date.now;
    this.handle = opts.defaultConfig ? new CloudHandleImpl(createCloud(opts.defaultConfig, this.cloudOpts), this.now) : undefined;
    this.problem = opts.defaultProblem;
    this.kube = opts.kube;
    this.secretTtlMs = opts.secretTtlMs ?? 10_000;
  }

  async resolve(obj: VpnService): Promise<CloudHandle> {
    const ref = obj.spec.cloudCredentialsRef;
    if (ref) return this.fromSecret(obj.metadata.namespace, ref.secretName, ref.cloudName);
    if (!this.handle) {
      throw new CredentialsError(
        `The operator has no default cloud${this.problem ? ` (${this.problem})` : ''}: mount a clouds.yaml into the operator or set spec.cloudCredentialsRef.`,
      );
    }
    return this.handle.ready();
  }

  private async fromSecret(namespace: string, secretName: string, cloudName: string): Promise<CloudHandle> {
    const key = `${namespace}/${secretName}/${cloudName}`;
    let entry = this.secrets.get(key);
    if (!entry || this.now() - entry.checkedAt >= this.secretTtlMs) entry = await this.readSecret(key, namespace, secretName, cloudName, entry);
    if (!entry.handle) throw new CredentialsError(entry.problem ?? `Secret ${namespace}/${secretName} is not usable.`);
    return entry.handle.ready();
  }

  private async readSecret(
    key: string,
    namespace: string,
    secretName: string,
    cloudName: string,
    prev: SecretEntry | undefined,
  ): Promise<SecretEntry> {
    if (!this.kube) throw new CredentialsError('spec.cloudCredentialsRef is not supported by this operator instance.');
    let secret: z.infer<typeof SecretObject>;
    try {
      secret = SecretObject.parse(await this.kube.request('GET', `/api/v1/namespaces/${namespace}/secrets/${secretName}`));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        this.drop(key, prev);
        throw new CredentialsError(
          `Secret ${namespace}/${secretName} named by spec.cloudCredentialsRef does not exist: create it with a key clouds.yaml (and optionally cacert).`,
        );
      }
      throw err;
    }
    if (prev && prev.resourceVersion === secret.metadata.resourceVersion) {
      prev.checkedAt = this.now();
      return prev;
    }
    const entry: SecretEntry = { resourceVersion: secret.metadata.resourceVersion, checkedAt: this.now(), handle: undefined, problem: undefined };
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
        entry.handle = new CloudHandleImpl(createCloud(config, this.cloudOpts), this.now);
      } catch (err) {
        if (!(err instanceof CloudConfigError)) throw err;
        entry.problem = err.message;
      }
    }
    this.drop(key, prev);
    this.secrets.set(key, entry);
    return entry;
  }

  private drop(key: string, prev: SecretEntry | undefined): void {
    this.secrets.delete(key);
    // Let requests in flight on the old credentials finish before closing their connections.
    if (prev?.handle) setTimeout(() => void prev.handle!.cloud.close().catch(() => undefined), 60_000).unref();
  }

  async close(): Promise<void> {
    await Promise.all([this.handle?.cloud.close(), ...[...this.secrets.values()].map((e) => e.handle?.cloud.close())]);
  }
}
