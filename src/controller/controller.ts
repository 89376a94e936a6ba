// Wires the informer, the work queue and the reconciler: which events enqueue which keys.
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeAccess } from '../kube/config.ts';
import { GROUP, PLURAL, VERSION, VpnService, objectKey } from '../api/vpnservice.ts';
import { KubeApiError, type KubeClient } from '../kube/client.ts';
import { createInformer, type Informer } from './informer.ts';
import type { Logger } from './logger.ts';
import { WorkQueue, runWorkers, type WorkerHooks, type WorkersHandle } from './queue.ts';
import { Reconciler, RetryLater, type CloudResolver, type ReconcilerConfig } from './reconciler.ts';
import { KubeWriter } from './writer.ts';

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

export class Controller {
  readonly informer: Informer<VpnService>;
  readonly queue: WorkQueue;
  readonly reconciler: Reconciler;
  readonly writer: KubeWriter;
  private readonly opts: ControllerOptions;
  /** Keys by spec.routerId (immutable), so that claims and wake-ups look at one router's objects only. */
  private readonly routers = new RouterIndex();
  private workers: WorkersHandle | undefined;

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.queue = new WorkQueue({ baseDelayMs: opts.backoffBaseMs ?? 1_000, maxDelayMs: opts.backoffMaxMs ?? 300_000 });
    this.writer = new KubeWriter(opts.kube, opts.log, { host: opts.identity ?? '' });
    const path = opts.namespace
      ? `/apis/${GROUP}/${VERSION}/namespaces/${opts.namespace}/${PLURAL}`
      : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
    const log = opts.log;
    this.informer = createInformer<VpnService>({
      kubeConfig: opts.kubeConfig,
      path,
      schema: VpnService,
      logger: log,
      onAdd: (o) => {
        this.routers.add(o);
        this.reconciler.observed(o);
        this.queue.add(objectKey(o));
      },
      onUpdate: (old, o) => {
        const ours = this.reconciler.observed(o);
        if (!ours && needsReconcile(old, o)) this.queue.add(objectKey(o));
        // An owner that starts deleting gives up its router at once: let the waiting ones look.
        if (!old.metadata.deletionTimestamp && o.metadata.deletionTimestamp) this.wakeRouter(o.spec.routerId);
      },
      onDelete: (o) => {
        this.routers.delete(o);
        this.reconciler.forget(objectKey(o));
        this.wakeRouter(o.spec.routerId);
      },
      onInvalid: (key, err) => log.warn('ignoring a VpnService that does not parse', { key, error: err.message }),
    });
    const informer = this.informer;
    const routers = this.routers;
    this.reconciler = new Reconciler({
      source: {
        get: (key) => informer.get(key),
        *onRouter(routerId) {
          for (const key of routers.keys(routerId)) {
            const o = informer.get(key);
            if (o) yield o;
          }
        },
      },
      writer: this.writer,
      clouds: opts.clouds,
      log,
      ...(opts.config ? { config: opts.config } : {}),
    });
    this.reconciler.onRouterReleased = (routerId) => this.wakeRouter(routerId);
    this.reconciler.onCloudNews = (key) => this.queue.add(key);
  }

  /** Starts the cache (standbys keep a warm cache too, so a takeover is quick). Resolves when synced. */
  async startInformer(): Promise<boolean> {
    this.informer.start();
    const ok = await this.informer.waitForSync();
    if (ok) this.opts.log.info('cache synced', { objects: this.informer.size() });
    return ok;
  }

  /** Starts reconciling (the leader only). Every object is queued once; workers need the synced cache. */
  async startWorkers(): Promise<void> {
    if (this.workers) return;
    if (!(await this.informer.waitForSync())) return;
    for (const k of this.informer.keys()) this.queue.add(k);
    const log = this.opts.log;
    const hooks = this.opts.hooks ?? {};
    this.workers = runWorkers(this.queue, this.opts.workers ?? 4, (key) => this.reconciler.reconcile(key), {
      ...hooks,
      onReconcile: (key, outcome, durationMs, error) => {
        hooks.onReconcile?.(key, outcome, durationMs, error);
        if (error !== undefined) logFailure(log, key, error);
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

  /** Stops taking work, lets in-flight reconciles finish (up to deadlineMs), stops the watch. */
  async stop(deadlineMs = 20_000): Promise<void> {
    this.queue.shutDown();
    const drained = this.workers?.stop() ?? Promise.resolve();
    await Promise.race([drained, new Promise((r) => setTimeout(r, deadlineMs).unref())]);
    await this.informer.stop();
  }

  private wakeRouter(routerId: string): void {
    for (const key of this.routers.keys(routerId)) this.queue.add(key);
  }
}

class RouterIndex {
  private readonly byRouter = new Map<string, Set<string>>();
  add(o: VpnService): void {
    const set = this.byRouter.get(o.spec.routerId) ?? new Set<string>();
    set.add(objectKey(o));
    this.byRouter.set(o.spec.routerId, set);
  }
  delete(o: VpnService): void {
    const set = this.byRouter.get(o.spec.routerId);
    set?.delete(objectKey(o));
    if (set?.size === 0) this.byRouter.delete(o.spec.routerId);
  }
  keys(routerId: string): Iterable<string> {
    return this.byRouter.get(routerId) ?? [];
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
export function needsReconcile(old: VpnService, o: VpnService): boolean {
  return (
    old.metadata.generation !== o.metadata.generation ||
    old.metadata.deletionTimestamp !== o.metadata.deletionTimestamp ||
    JSON.stringify(old.metadata.finalizers ?? []) !== JSON.stringify(o.metadata.finalizers ?? []) ||
    JSON.stringify(old.metadata.annotations ?? {}) !== JSON.stringify(o.metadata.annotations ?? {})
  );
}
