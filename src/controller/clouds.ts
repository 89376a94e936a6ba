// Which cloud an object talks to: the operator's default (a mounted clouds.yaml) or, with
// spec.cloudCredentialsRef, the clouds.yaml in a Secret of the object's namespace. One Cloud (connection pool,
// token cache) and one CloudView per distinct cloud.
import type { VpnService } from '../api/vpnservice.ts';
import { createCloud, type Cloud, type CreateCloudOptions } from '../cloud/cloud.ts';
import type { CloudConfig } from '../cloud/config.ts';
import { CloudView } from './cloudview.ts';
import type { CloudResolver } from './reconciler.ts';
import { CredentialsError, type CloudHandle } from './ports.ts';

export class CloudHandleImpl implements CloudHandle {
  readonly cloud: Cloud;
  readonly view: CloudView;
  endpoint = '';
  constructor(cloud: Cloud) {
    this.cloud = cloud;
    this.view = new CloudView(cloud.vpnServices);
  }
  get api() {
    return this.cloud.vpnServices;
  }
  /** Resolves the endpoint (authenticates on first use). */
  async ready(): Promise<this> {
    if (!this.endpoint) this.endpoint = await this.cloud.endpoint();
    return this;
  }
}

/** Every object uses the operator's default cloud (objects with cloudCredentialsRef need a SecretCloudResolver). */
export class DefaultCloudResolver implements CloudResolver {
  readonly handle: CloudHandleImpl | undefined;
  private readonly problem: string | undefined;

  constructor(config: CloudConfig | undefined, opts: CreateCloudOptions = {}, problem?: string) {
    this.handle = config ? new CloudHandleImpl(createCloud(config, opts)) : undefined;
    this.problem = problem;
  }

  async resolve(obj: VpnService): Promise<CloudHandle> {
    if (obj.spec.cloudCredentialsRef) {
      throw new CredentialsError(
        `spec.cloudCredentialsRef is set but this operator runs without per-namespace credentials support; remove it to use the default cloud.`,
      );
    }
    if (!this.handle) {
      throw new CredentialsError(
        `The operator has no default cloud${this.problem ? ` (${this.problem})` : ''}: mount a clouds.yaml into the operator or set spec.cloudCredentialsRef.`,
      );
    }
    return this.handle.ready();
  }

  async close(): Promise<void> {
    await this.handle?.cloud.close();
  }
}
