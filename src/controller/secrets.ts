// Secret values that objects take as inputs (an IPsec site connection's PSK): read by GET when an object needs
// them (cached briefly, one read at a time per Secret), and polled while objects use them, so that a changed value
// reaches its users within one poll period without watching every Secret of the cluster (RBAC: get on secrets).
// Values live only in this cache; nothing here logs or shows them.
import { z } from 'zod';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import type { Logger } from '../core/logger.ts';
import type { SecretData, SecretSource } from '../core/reconciler.ts';
import { SECRETS, resourcePath } from '../kube/paths.ts';

const SecretObject = z.object({
  metadata: z.object({ resourceVersion: z.string() }),
  data: z.record(z.string(), z.string()).nullish(),
});

interface Entry {
  at: number;
  value: SecretData | undefined;
}

export interface SecretInputsOptions {
  kube: KubeClient;
  log: Logger;
  /** How long a read is reused (default 5 s). */
  ttlMs?: number;
  /** Poll period of the Secrets in use (default 15 s), stretched so that polls stay under maxReadsPerSecond. */
  pollMs?: number;
  maxReadsPerSecond?: number;
  /** Told when a Secret in use changed (value, existence). */
  onChange(namespace: string, name: string): void;
  now?: () => number;
}

export class SecretInputs implements SecretSource {
  private readonly o: SecretInputsOptions;
  private readonly cache = new Map<string, Entry>();
  private readonly reading = new Map<string, Promise<SecretData | undefined>>();
  /** Secrets in use: namespace/name -> the users' keys. */
  private readonly inUse = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(o: SecretInputsOptions) {
    this.o = o;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  async read(namespace: string, name: string): Promise<SecretData | undefined> {
    const key = `${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < (this.o.ttlMs ?? 5_000)) return hit.value;
    return this.fetch(key, namespace, name);
  }

  private fetch(key: string, namespace: string, name: string): Promise<SecretData | undefined> {
    let p = this.reading.get(key);
    if (!p) {
      p = (async () => {
        let value: SecretData | undefined;
        try {
          const s = SecretObject.parse(await this.o.kube.request('GET', resourcePath(SECRETS, namespace, name)));
          const data: Record<string, string> = {};
          for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
          value = { resourceVersion: s.metadata.resourceVersion, data };
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
        this.cache.set(key, { at: this.now(), value });
        return value;
      })().finally(() => this.reading.delete(key));
      this.reading.set(key, p);
    }
    return p;
  }

  /** Records which Secrets object `user` takes inputs from (replacing earlier ones). */
  use(user: string, secrets: ReadonlyArray<{ namespace: string; name: string }>): void {
    this.release(user);
    for (const s of secrets) {
      const key = `${s.namespace}/${s.name}`;
      const set = this.inUse.get(key) ?? new Set<string>();
      set.add(user);
      this.inUse.set(key, set);
    }
  }

  release(user: string): void {
    for (const [key, set] of this.inUse) {
      if (set.delete(user) && set.size === 0) {
        this.inUse.delete(key);
        this.cache.delete(key);
      }
    }
  }

  usersOf(namespace: string, name: string): string[] {
    return [...(this.inUse.get(`${namespace}/${name}`) ?? [])];
  }

  /** Starts polling the Secrets in use. */
  start(): void {
    if (this.timer || this.stopped) return;
    const round = async () => {
      const keys = [...this.inUse.keys()];
      const spacing = 1000 / (this.o.maxReadsPerSecond ?? 5);
      for (const key of keys) {
        if (this.stopped) return;
        const [namespace, name] = key.split('/') as [string, string];
        const before = this.cache.get(key)?.value?.resourceVersion ?? (this.cache.has(key) ? '' : undefined);
        try {
          const after = (await this.fetch(key, namespace, name))?.resourceVersion ?? '';
          if (before !== undefined && before !== after) this.o.onChange(namespace, name);
        } catch (err) {
          this.o.log.debug('could not read a Secret in use; trying again next round', { secret: key, error: err instanceof Error ? err.message : String(err) });
        }
        await new Promise((r) => setTimeout(r, spacing).unref());
      }
    };
    const schedule = () => {
      if (this.stopped) return;
      const period = Math.max(this.o.pollMs ?? 15_000, (this.inUse.size * 1000) / (this.o.maxReadsPerSecond ?? 5));
      this.timer = setTimeout(() => void round().finally(schedule), period);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
