// The operator's writes to Kubernetes: metadata (finalizer, create intent) with an optimistic-concurrency
// precondition, status by merge patch on /status, and events (deduplicated like client-go's correlator).
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, VpnService, type VpnServiceStatus } from '../api/vpnservice.ts';
import { KubeApiError, MERGE_PATCH, type KubeClient } from '../kube/client.ts';
import type { Logger } from './logger.ts';
import { statusMergePatch } from './status.ts';

export interface MetaChange {
  finalizers?: string[];
  annotations?: Record<string, string | null>;
}

export interface Writer {
  patchMeta(obj: VpnService, change: MetaChange): Promise<VpnService>;
  patchStatus(obj: VpnService, next: VpnServiceStatus): Promise<VpnService>;
  event(obj: VpnService, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

function objectPath(obj: VpnService): string {
  return `/apis/${GROUP}/${VERSION}/namespaces/${obj.metadata.namespace}/${PLURAL}/${obj.metadata.name}`;
}

export class KubeWriter implements Writer {
  private readonly kube: KubeClient;
  private readonly log: Logger;
  private readonly component: string;
  private readonly host: string;
  /** Recent events by (uid, type, reason, message): name and count, for aggregation. */
  private readonly recent = new Map<string, { name: string; count: number; at: number }>();

  constructor(kube: KubeClient, log: Logger, opts: { component?: string; host?: string } = {}) {
    this.kube = kube;
    this.log = log;
    this.component = opts.component ?? 'vpnaas-operator';
    this.host = opts.host ?? '';
  }

  async patchMeta(obj: VpnService, change: MetaChange): Promise<VpnService> {
    // resourceVersion in a merge patch is a precondition: a concurrent change gives 409 and the key is retried.
    const body = { metadata: { resourceVersion: obj.metadata.resourceVersion, ...change } };
    const res = await this.kube.request('PATCH', objectPath(obj), body, MERGE_PATCH);
    return VpnService.parse(res);
  }

  async patchStatus(obj: VpnService, next: VpnServiceStatus): Promise<VpnService> {
    const body = { status: statusMergePatch(obj.status, next) };
    const res = await this.kube.request('PATCH', `${objectPath(obj)}/status`, body, MERGE_PATCH);
    return VpnService.parse(res);
  }

  /**
   * Records an event without waiting for it. Events go out two at a time behind the reconciles' own writes, so a
   * burst of objects does not make the API server serve events before status; past 5,000 queued, the oldest
   * events are dropped (and said so in the log).
   */
  event(obj: VpnService, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.pending.push({ obj, type, reason, message });
    if (this.pending.length > 5_000) {
      const dropped = this.pending.shift()!;
      this.log.warn('event dropped: too many queued', { key: `${dropped.obj.metadata.namespace}/${dropped.obj.metadata.name}`, reason: dropped.reason });
    }
    this.pump();
  }

  private readonly pending: Array<{ obj: VpnService; type: 'Normal' | 'Warning'; reason: string; message: string }> = [];
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

  private async sendEvent(obj: VpnService, type: string, reason: string, message: string): Promise<void> {
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
          `/api/v1/namespaces/${ns}/events/${prev.name}`,
          { count: prev.count, lastTimestamp: now.toISOString() },
          MERGE_PATCH,
        );
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    }
    const name = `${obj.metadata.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await this.kube.request('POST', `/api/v1/namespaces/${ns}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: KIND,
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
