// The operator's writes to Kubernetes, for every kind: metadata (finalizer, create intent) with an
// optimistic-concurrency precondition, status by merge patch on /status, and events (deduplicated like client-go's
// correlator).
import { KubeApiError, MERGE_PATCH, type KubeClient } from '../kube/client.ts';
import type { Logger } from './logger.ts';
import { statusMergePatch } from './status.ts';
import type { ManagedObject } from './types.ts';
import { EVENTS, resourcePath } from '../kube/paths.ts';

/** Where a kind lives in the API, and how to read what the API server returns. */
export interface KindInfo<O> {
  group: string;
  version: string;
  plural: string;
  kind: string;
  parse(raw: unknown): O;
}

export interface MetaChange {
  finalizers?: string[];
  annotations?: Record<string, string | null>;
}

export interface Writer<O extends ManagedObject> {
  patchMeta(obj: O, change: MetaChange): Promise<O>;
  patchStatus(obj: O, next: NonNullable<O['status']>): Promise<O>;
  event(obj: O, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

/** The path of a kind's objects (one namespace, or all). */
export function kindPath(k: { group: string; version: string; plural: string }, namespace?: string): string {
  return resourcePath(k, namespace);
}

export class KubeWriter<O extends ManagedObject> implements Writer<O> {
  private readonly info: KindInfo<O>;
  private readonly kube: KubeClient;
  private readonly log: Logger;
  private readonly component: string;
  private readonly host: string;
  /** Recent events by (uid, type, reason, message): name and count, for aggregation. */
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(info: KindInfo<O>, kube: KubeClient, log: Logger, opts: { component?: string; host?: string } = {}) {
    this.info = info;
    this.kube = kube;
    this.log = log;
    this.component = opts.component ?? 'vpnaas-operator';
    this.host = opts.host ?? '';
  }

  private objectPath(obj: O): string {
    return resourcePath(this.info, obj.metadata.namespace, obj.metadata.name);
  }

  async patchMeta(obj: O, change: MetaChange): Promise<O> {
    // resourceVersion in a merge patch is a precondition: a concurrent change gives 409 and the key is retried.
    const body = { metadata: { resourceVersion: obj.metadata.resourceVersion, ...change } };
    const res = await this.kube.request('PATCH', this.objectPath(obj), body, MERGE_PATCH);
    return this.info.parse(res);
  }

  async patchStatus(obj: O, next: NonNullable<O['status']>): Promise<O> {
    const body = { status: statusMergePatch(obj.status, next) };
    const res = await this.kube.request('PATCH', resourcePath(this.info, obj.metadata.namespace, obj.metadata.name, 'status'), body, MERGE_PATCH);
    return this.info.parse(res);
  }

  /**
   * Records an event without waiting for it. Events go out two at a time behind the reconciles' own writes, so a
   * burst of objects does not make the API server serve events before status; past 5,000 queued, the oldest
   * events are dropped (and said so in the log).
   */
  event(obj: O, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.pending.push({ obj, type, reason, message });
    if (this.pending.length > 5_000) {
      const dropped = this.pending.shift()!;
      this.log.warn('event dropped: too many queued', { key: `${dropped.obj.metadata.namespace}/${dropped.obj.metadata.name}`, reason: dropped.reason });
    }
    this.pump();
  }

  private readonly pending: Array<{ obj: O; type: 'Normal' | 'Warning'; reason: string; message: string }> = [];
  private sending = 0;

  private pump(): void {
    while (this.sending < 2 && this.pending.length) {
      const e = this.pending.shift()!;
      this.sending++;
      void this.sendEvent(e.obj, e.type, e.reason, e.message)
        .catch((err: unknown) => {
          this.log.warn('could not record event', {
            key: `${e.obj.metadata.namespace}/${e.obj.metadata.name}`,
            reason: e.reason,
            error: err instanceof Error ? err.message : String(err),
          });
        })
        .finally(() => {
          this.sending--;
          this.pump();
        });
    }
  }

  private async sendEvent(obj: O, type: string, reason: string, message: string): Promise<void> {
    const now = new Date();
    const ns = obj.metadata.namespace;
    const dedup = `${obj.metadata.uid}\u0000${type}\u0000${reason}\u0000${message}`;
    const prev = this.recent.get(dedup);
    if (prev && now.getTime() - prev.at < 10 * 60_000) {
      prev.count++;
      prev.at = now.getTime();
      try {
        await this.kube.request(
          'PATCH',
          resourcePath(EVENTS, ns, prev.name),
          { count: prev.count, lastTimestamp: now.toISOString() },
          MERGE_PATCH,
        );
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    }
    const name = `${obj.metadata.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.kube.request('POST', resourcePath(EVENTS, ns), {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: `${this.info.group}/${this.info.version}`,
        kind: this.info.kind,
        name: obj.metadata.name,
        namespace: ns,
        uid: obj.metadata.uid,
        resourceVersion: obj.metadata.resourceVersion,
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      source: { component: this.component, host: this.host },
      reportingComponent: this.component,
      reportingInstance: this.host,
    });
    this.recent.set(dedup, { name, count: 1, at: now.getTime() });
    // Aggregation is for repeats within minutes: the oldest entries go first, so memory stays flat at any scale.
    if (this.recent.size > 1_000) {
      for (const k of this.recent.keys()) {
        this.recent.delete(k);
        if (this.recent.size <= 900) break;
      }
    }
  }
}
