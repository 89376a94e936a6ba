// Wires one kind: the informer, the work queue and the generic reconciler with the kind's adapter; which events
// enqueue which keys; the scope index the claims read; the quorum read of a scope's claimants.
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeAccess } from '../kube/config.ts';
import { GROUP, KIND, PLURAL, VERSION, VpnService } from '../api/vpnservice.ts';
import { KubeApiError, MERGE_PATCH, type KubeClient } from '../kube/client.ts';
import { z } from 'zod';
import type { Logger } from '../core/logger.ts';
import { Reconciler, RetryLater, type CloudResolver, type DependencySource, type ReconcilerConfig, type SecretSource } from '../core/reconciler.ts';
import { objectKey, type ManagedObject } from '../core/types.ts';
import type { CloudResource, ResourceAdapter } from '../core/adapter.ts';
import type { UpdateVpnServiceRequest } from '../cloud/vpnservices.ts';
import type { CloudVpn } from '../kinds/vpnservice/adapter.ts';
import { KubeWriter, kindPath, type KindInfo } from '../core/writer.ts';
import { vpnServiceAdapter } from '../kinds/vpnservice/adapter.ts';
import { createInformer, type Informer } from './informer.ts';
import { WorkQueue, runWorkers, type WorkerHooks, type WorkersHandle } from './queue.ts';
import { resourcePath } from '../kube/paths.ts';

export interface ControllerOptions {
  /** Server and credentials of the informer: a KubeAccess (or a client-node KubeConfig, as in tests). */
  kubeConfig: KubeConfig | KubeAccess;
  kube: KubeClient;
  clouds: CloudResolver;
  log: Logger;
  /** Watch only this namespace (default: all namespaces). */
  namespace?: string;
  workers?: number;
  config?: Partial<ReconcilerConfig>;
  /** Backoff of failing keys (client-go's defaults: 5 ms … 1000 s; ours: 1 s … 5 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  hooks?: WorkerHooks;
  identity?: string;
}

export const VPNSERVICE_KIND: KindInfo<VpnService> = {
  group: GROUP,
  version: VERSION,
  plural: PLURAL,
  kind: KIND,
  parse: (raw) => VpnService.parse(raw),
};

const ListOf = z.object({ items: z.array(z.unknown()) });

/** One kind as the controller wires it. */
export interface KindWiring<O extends ManagedObject, R extends CloudResource, P> {
  info: KindInfo<O>;
  schema: z.ZodType<O>;
  adapter: ResourceAdapter<O, R, P>;
  /** For an exclusive kind: the selectable field that holds the scope (`spec.routerId`) and its raw value. */
  scopeField?: { selector: string; value(o: O): string };
}

/** What the controller of one kind tells the others (the Manager) about its objects. */
export interface KindEvents<O> {
  /** An object was added or changed (old undefined when added), or is gone (o undefined). */
  changed?(old: O | undefined, o: O | undefined): void;
}

export class Controller<O extends ManagedObject = VpnService, R extends CloudResource = CloudVpn, P = UpdateVpnServiceRequest> {
  readonly informer: Informer<O>;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler<O, R, P>;
  readonly writer: KubeWriter<O>;
  readonly kind: string;
  private readonly opts: ControllerOptions;
  private readonly wiring: KindWiring<O, R, P>;
  /** Keys by canonical scope (immutable), so that claims and wake-ups look at one scope's objects only. */
  private readonly scopes = new ScopeIndex();
  /** Which objects show or import which cloud id (status.id, spec.importId): who manages a cloud resource. */
  private readonly ids = new IdIndex();
  /** Objects that stopped parsing: their last valid version keeps its claim (they are not taken for deleted). */
  private readonly unparsable = new Map<string, O>();
  private workers: WorkersHandle | undefined;

  constructor(opts: ControllerOptions & { wiring?: KindWiring<O, R, P>; events?: KindEvents<O>; deps?: DependencySource; secrets?: SecretSource }) {
    this.opts = opts;
    const wiring = (opts.wiring ?? VPNSERVICE_WIRING) as unknown as KindWiring<O, R, P>;
    this.wiring = wiring;
    this.kind = wiring.info.kind;
    const events = opts.events ?? {};
    this.queue = new WorkQueue({ baseDelayMs: opts.backoffBaseMs ?? 1_000, maxDelayMs: opts.backoffMaxMs ?? 300_000 });
    this.writer = new KubeWriter(wiring.info, opts.kube, opts.log, { host: opts.identity ?? '' });
    const log = opts.log.child({ kind: wiring.info.kind });
    const ex = wiring.adapter.exclusive;
    const scopeOf = (o: O) => (ex ? ex.scopeOf(o) : undefined);
    this.informer = createInformer<O>({
      kubeConfig: opts.kubeConfig,
      path: kindPath(wiring.info, opts.namespace),
      schema: wiring.schema,
      logger: log,
      onAdd: (o) => {
        this.unparsable.delete(objectKey(o));
        this.ids.set(objectKey(o), cloudIdsOf(o));
        const sc = scopeOf(o);
        if (sc !== undefined) this.scopes.add(sc, objectKey(o));
        this.reconciler.observed(o);
        this.queue.add(objectKey(o));
        events.changed?.(undefined, o);
      },
      onUpdate: (old, o) => {
        this.ids.set(objectKey(o), cloudIdsOf(o));
        const ours = this.reconciler.observed(o);
        if (!ours && needsReconcile(old, o)) this.queue.add(objectKey(o));
        const sc = scopeOf(o);
        if (sc !== undefined) {
          // An owner that starts deleting gives up its scope at once: let the waiting ones look.
          if (!old.metadata.deletionTimestamp && o.metadata.deletionTimestamp) this.wakeScope(sc);
          // Another object's claim moved (intent stored or given up, resource recorded): the others look again.
          else if (claimMoved(old, o)) this.wakeScope(sc, objectKey(o));
        }
        events.changed?.(old, o);
      },
      onDelete: (o, why) => {
        if (why === 'invalid') {
          this.unparsable.set(objectKey(o), o);
          return;
        }
        this.gone(o);
        events.changed?.(o, undefined);
      },
      onGone: (key) => {
        const o = this.unparsable.get(key);
        if (o) {
          this.gone(o);
          events.changed?.(o, undefined);
        }
      },
      onInvalid: (key, err) => {
        log.warn(`a ${wiring.info.kind} does not parse; it keeps its cloud resource and is not reconciled until fixed`, { key, error: err.message });
        void this.showUnparsable(key, err).catch((e: unknown) =>
          log.warn('could not write the status of an object that does not parse', { key, error: e instanceof Error ? e.message : String(e) }),
        );
      },
    });
    const informer = this.informer;
    const scopes = this.scopes;
    const ids = this.ids;
    const unparsable = this.unparsable;
    const kube = opts.kube;
    const scopeField = wiring.scopeField;
    this.reconciler = new Reconciler<O, R, P>({
      adapter: wiring.adapter,
      source: {
        get: (key) => informer.get(key),
        *onScope(scope) {
          for (const key of scopes.keys(scope)) {
            const o = informer.get(key) ?? unparsable.get(key);
            if (o) yield o;
          }
        },
        async freshOnScope(scope, like) {
          // A quorum read (no resourceVersion): the CRD makes the scope field selectable. The cache adds objects
          // whose value is spelled in another case (the API server compares strings exactly).
          const byKey = new Map<string, O>();
          if (scopeField) {
            for (const v of new Set([scope, scopeField.value(like)])) {
              const res = ListOf.parse(
                await kube.request('GET', `${kindPath(wiring.info)}?fieldSelector=${encodeURIComponent(`${scopeField.selector}=${v}`)}`),
              );
              for (const raw of res.items) {
                const p = wiring.schema.safeParse(raw);
                if (p.success) byKey.set(objectKey(p.data), p.data);
              }
            }
          }
          for (const key of scopes.keys(scope)) {
            const o = informer.get(key) ?? unparsable.get(key);
            if (o && !byKey.has(key)) byKey.set(key, o);
          }
          return [...byKey.values()];
        },
        *holding(id) {
          for (const key of ids.keys(id)) {
            const o = informer.get(key) ?? unparsable.get(key);
            if (o) yield o;
          }
        },
      },
      writer: this.writer,
      clouds: opts.clouds,
      log,
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.deps ? { deps: opts.deps } : {}),
      ...(opts.secrets ? { secrets: opts.secrets } : {}),
    });
    this.reconciler.onScopeReleased = (scope) => this.wakeScope(scope);
    this.reconciler.onCloudNews = (key) => this.queue.add(key);
  }

  /** The cached object (namespace/name). */
  get(key: string): O | undefined {
    return this.informer.get(key);
  }

  /** Queues an object for a reconcile. */
  enqueue(key: string): void {
    if (this.informer.get(key)) this.queue.add(key);
  }

  /**
   * An object the API server accepted but this operator cannot read (e.g. written under another version of the CRD)
   * is not taken for deleted: it keeps its claim and its cloud resource, and its status says what to do. Written
   * with a plain merge patch, since the object cannot be parsed back; only when the message changed.
   */
  private async showUnparsable(key: string, err: Error): Promise<void> {
    const [ns, name] = key.split('/');
    const path = resourcePath(this.wiring.info, ns ?? '', name ?? '');
    const issues = err instanceof z.ZodError ? err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : err.message;
    const message = `The operator cannot read this object (${issues.slice(0, 500)}). Fix it (kubectl edit); meanwhile it keeps its cloud resource${this.wiring.adapter.exclusive ? ` and its ${this.wiring.adapter.exclusive.noun}` : ''}, and deleting it waits until it is fixed.`;
    const Raw = z.object({
      metadata: z.object({ generation: z.number().int().optional() }),
      status: z.object({ conditions: z.array(z.object({ type: z.string(), message: z.string().optional() })).optional() }).optional(),
    });
    const raw = Raw.parse(await this.opts.kube.request('GET', path));
    if (raw.status?.conditions?.find((c) => c.type === 'Ready')?.message === message) return;
    const now = new Date().toISOString();
    const g = raw.metadata.generation;
    const cond = (type: string, status: string) => ({ type, status, reason: 'InvalidSpec', message, lastTransitionTime: now, ...(g !== undefined ? { observedGeneration: g } : {}) });
    await this.opts.kube.request('PATCH', resourcePath(this.wiring.info, ns ?? '', name ?? '', 'status'), { status: { conditions: [cond('Ready', 'False'), cond('Stalled', 'True')] } }, MERGE_PATCH);
  }

  private gone(o: O): void {
    const key = objectKey(o);
    this.unparsable.delete(key);
    const ex = this.wiring.adapter.exclusive;
    if (ex) this.scopes.delete(ex.scopeOf(o), key);
    this.ids.set(key, []);
    this.reconciler.forget(key, o.metadata.uid);
    if (ex) this.wakeScope(ex.scopeOf(o));
  }

  /** Starts the cache (standbys keep a warm cache too, so a takeover is quick). Resolves when synced. */
  async startInformer(): Promise<boolean> {
    this.informer.start();
    const ok = await this.informer.waitForSync();
    if (ok) this.opts.log.info('cache synced', { kind: this.kind, objects: this.informer.size() });
    return ok;
  }

  /** Starts reconciling (the leader only). Every object is queued once; workers need the synced cache. */
  async startWorkers(): Promise<void> {
    if (this.workers) return;
    if (!(await this.informer.waitForSync())) return;
    for (const k of this.informer.keys()) this.queue.add(k);
    const log = this.opts.log;
    const hooks = this.opts.hooks ?? {};
    const kind = this.kind;
    this.workers = runWorkers(this.queue, this.opts.workers ?? 4, (key) => this.reconciler.reconcile(key), {
      ...hooks,
      onReconcile: (key, outcome, durationMs, error) => {
        hooks.onReconcile?.(key, outcome, durationMs, error);
        if (error !== undefined) logFailure(log, `${kind} ${key}`, error);
      },
    });
  }

  /** Both, for a single replica. */
  async start(): Promise<void> {
    if (await this.startInformer()) await this.startWorkers();
  }

  synced(): boolean {
    return this.informer.hasSynced();
  }

  /**
   * Stops taking work and lets in-flight reconciles finish (up to deadlineMs), then stops the watch. Returns
   * whether every reconcile ended: when not, a cloud write may still be in flight, and the caller must not hand
   * over leadership before it could have ended (the Lease then expires by itself).
   */
  async stop(deadlineMs = 20_000): Promise<boolean> {
    this.queue.shutDown();
    const drained = (this.workers?.stop() ?? Promise.resolve()).then(() => true);
    const ended = await Promise.race([drained, new Promise<boolean>((r) => setTimeout(() => r(false), deadlineMs).unref())]);
    await this.informer.stop();
    return ended;
  }

  private wakeScope(scope: string, except?: string): void {
    for (const key of this.scopes.keys(scope)) if (key !== except) this.queue.add(key);
  }
}

export const VPNSERVICE_WIRING: KindWiring<VpnService, CloudVpn, UpdateVpnServiceRequest> = {
  info: VPNSERVICE_KIND,
  schema: VpnService as unknown as z.ZodType<VpnService>,
  adapter: vpnServiceAdapter,
  scopeField: { selector: 'spec.routerId', value: (o) => o.spec.routerId },
};

function cloudIdsOf(o: ManagedObject): string[] {
  const out: string[] = [];
  if (o.status?.id) out.push(o.status.id);
  if (o.spec.importId && o.spec.importId !== o.status?.id) out.push(o.spec.importId);
  return out;
}

/** key -> the cloud ids it shows or imports, and the reverse. */
class IdIndex {
  private readonly byId = new Map<string, Set<string>>();
  private readonly byKey = new Map<string, string[]>();
  set(key: string, ids: string[]): void {
    for (const id of this.byKey.get(key) ?? []) {
      const s = this.byId.get(id);
      s?.delete(key);
      if (s?.size === 0) this.byId.delete(id);
    }
    if (ids.length === 0) {
      this.byKey.delete(key);
      return;
    }
    this.byKey.set(key, ids);
    for (const id of ids) {
      const s = this.byId.get(id) ?? new Set<string>();
      s.add(key);
      this.byId.set(id, s);
    }
  }
  keys(id: string): Iterable<string> {
    return this.byId.get(id) ?? [];
  }
}

class ScopeIndex {
  private readonly byScope = new Map<string, Set<string>>();
  add(scope: string, key: string): void {
    const set = this.byScope.get(scope) ?? new Set<string>();
    set.add(key);
    this.byScope.set(scope, set);
  }
  delete(scope: string, key: string): void {
    const set = this.byScope.get(scope);
    set?.delete(key);
    if (set?.size === 0) this.byScope.delete(scope);
  }
  keys(scope: string): Iterable<string> {
    return this.byScope.get(scope) ?? [];
  }
}

/** A failed reconcile, logged so that nothing stalls silently (e.g. a missing RBAC permission). */
function logFailure(log: Logger, key: string, error: unknown): void {
  if (error instanceof RetryLater) {
    log.debug('retrying with backoff', { key, reason: error.message });
  } else if (error instanceof KubeApiError && (error.status === 401 || error.status === 403)) {
    log.error('the Kubernetes API refused the operator: check its ServiceAccount and ClusterRole', {
      key,
      status: error.status,
      request: `${error.method} ${error.path}`,
      error: error.message,
    });
  } else {
    log.warn('reconcile failed; retrying with backoff', { key, error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * Which updates need a reconcile. Our own status writes change neither generation nor metadata we act on, so
 * they do not come back as work (a steady state makes no writes and no reconciles beyond the periodic resync).
 */
export function needsReconcile(old: ManagedObject, o: ManagedObject): boolean {
  return (
    old.metadata.generation !== o.metadata.generation ||
    old.metadata.deletionTimestamp !== o.metadata.deletionTimestamp ||
    JSON.stringify(old.metadata.finalizers ?? []) !== JSON.stringify(o.metadata.finalizers ?? []) ||
    JSON.stringify(old.metadata.annotations ?? {}) !== JSON.stringify(o.metadata.annotations ?? {})
  );
}

/** Whether an update changed what other objects' claims read: the intent, the service id, eligibility. */
function claimMoved(old: ManagedObject, o: ManagedObject): boolean {
  const ia = old.metadata.annotations?.['vpnaas.dev/create-intent'];
  const ib = o.metadata.annotations?.['vpnaas.dev/create-intent'];
  const ra = old.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
  const rb = o.status?.conditions?.find((c) => c.type === 'Ready')?.reason;
  return ia !== ib || old.status?.id !== o.status?.id || ra !== rb;
}
