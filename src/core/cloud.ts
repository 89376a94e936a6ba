// One cloud as the core sees it: the resolved network endpoint (the first half of a claim key), the cloud's
// clients, and bulk views that adapters make on first use (one per kind and cloud).
import type { Cloud } from '../cloud/cloud.ts';

export interface CloudHandle {
  /** The network endpoint URL (ends in /v2.0). */
  readonly endpoint: string;
  readonly cloud: Cloud;
  /** The view called `name` of this cloud, made by `make` on first use. */
  view<V>(name: string, make: () => V): V;
  /** Told of a refused authentication on this cloud, so that the credentials are not sent again for a while. */
  noteFailure?(err: unknown): void;
}

/** Raised when an object's cloud cannot be resolved (missing Secret, bad clouds.yaml, unknown cloud name). */
export class CredentialsError extends Error {
  /** The Secret named by the object does not exist (as opposed to: exists but is not usable). */
  readonly secretMissing: boolean;
  constructor(message: string, opts: { secretMissing?: boolean } = {}) {
    super(message);
    this.name = 'CredentialsError';
    this.secretMissing = opts.secretMissing ?? false;
  }
}
