// Prometheus metrics of the operator (SPEC §3.12), on a registry of their own (never prom-client's global one),
// all named `vpnaas_*`. The controller, the cloud client and the Kubernetes client feed them through hooks and
// observers; object counts by cloud status and Ready reason are computed at scrape time from a callback.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestEvent, RequestObserver } from '../cloud/http.ts';
import { REASONS } from '../core/conditions.ts';
import type { ReconcileOutcome, WorkerHooks } from '../controller/queue.ts';
import type { KubeRequestObserver } from '../kube/client.ts';

export const METRIC_PREFIX = 'vpnaas_';

/** What the objects callback yields per VpnService: its cloud status and its Ready condition's reason. */
export interface ObjectSample {
  /** The object's kind (default VpnService). */
  kind?: string | undefined;
  cloudStatus?: string | undefined;
  readyReason?: string | undefined;
}

export type ObjectsSource = () => Iterable<ObjectSample>;

export interface MetricsOptions {
  /** Objects counted at scrape time into `vpnaas_objects` and `vpnaas_objects_ready`. */
  objects?: ObjectsSource;
  /** Register prom-client's process metrics (CPU, memory, event loop, GC) with the prefix (default true). */
  defaultMetrics?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  /** Hooks for `runWorkers`: queue depth, retries, reconcile outcomes and durations. */
  workerHooks(): WorkerHooks;
  /** `onRequest` of the cloud HTTP transport. */
  readonly cloudObserver: RequestObserver;
  /** `onRequest` of the Kubernetes client. */
  readonly kubeObserver: KubeRequestObserver;
  setLeader(leader: boolean): void;
  setSynced(synced: boolean): void;
  setObjectsSource(fn: ObjectsSource | undefined): void;
  /** A settled object's cloud read failed and it kept its last known state. */
  staleRead(): void;
}

/** Label value for an object without a cloud status or Ready reason yet. */
export const NONE_LABEL = 'none';

/** Statuses a Neutron VPN service can have; always exported (0 when no object has them). */
const CLOUD_STATUSES = ['ACTIVE', 'DOWN', 'BUILD', 'ERROR', 'PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE'];

const RESULTS: readonly ReconcileOutcome[] = ['success', 'retry', 'error'];

/** Seconds; reconciles range from a cache hit (sub-ms) to a slow cloud (tens of seconds). */
const RECONCILE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds; API calls, up to the transport timeouts. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Label values are bounded: a stray long string from a cloud must not blow up the exposition. */
function labelValue(v: string | undefined): string {
  if (v === undefined || v === '') return NONE_LABEL;
  return v.length > 64 ? v.slice(0, 64) : v;
}

function seconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? ms / 1000 : 0;
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const p = METRIC_PREFIX;
  let objectsSource: ObjectsSource | undefined = opts.objects;

  const reconcileTotal = new Counter({
    name: `${p}reconcile_total`,
    help: 'Reconciles by result: success (the pass did its work; a scheduled poll or resync after it is still a success), retry (the pass handled a failure and comes back later), error (threw; retried with backoff).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  for (const result of RESULTS) reconcileTotal.inc({ result }, 0);

  const reconcileDuration = new Histogram({
    name: `${p}reconcile_duration_seconds`,
    help: 'Duration of one reconcile.',
    buckets: RECONCILE_BUCKETS,
    registers: [registry],
  });

  const cloudRequests = new Counter({
    name: `${p}cloud_requests_total`,
    help: 'Cloud (Keystone, Neutron) API requests by method, route template and HTTP status (0: no response).',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });

  const cloudDuration = new Histogram({
    name: `${p}cloud_request_duration_seconds`,
    help: 'Duration of cloud API requests by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });

  const cloudErrors = new Counter({
    name: `${p}cloud_request_errors_total`,
    help: 'Cloud requests without a usable answer, by method, route template and error: Timeout, a connection error code (ECONNRESET, ...), a code of the cloud gate (not sent), HostNotAllowed (not sent: a tenant cloud naming a host the admin does not allow), ResponseTooLarge (a body over the limit per response, not read further).',
    labelNames: ['method', 'route', 'error'] as const,
    registers: [registry],
  });

  const kubeRequests = new Counter({
    name: `${p}kube_requests_total`,
    help: 'Kubernetes API requests by method, route template and HTTP status (0: no response).',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });

  const kubeDuration = new Histogram({
    name: `${p}kube_request_duration_seconds`,
    help: 'Duration of Kubernetes API requests by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });

  const depth = new Gauge({
    name: `${p}workqueue_depth`,
    help: 'Keys waiting in the work queue, ready to be processed.',
    registers: [registry],
  });

  const staleReads = new Counter({
    name: `${p}cloud_stale_reads_total`,
    help: 'Drift checks of settled objects whose cloud read failed transiently: the object kept its last known state (no write); it shows CloudUnavailable only after 30 min without a good read.',
    registers: [registry],
  });
  const retries = new Counter({
    name: `${p}workqueue_retries_total`,
    help: 'Keys re-queued with backoff after a failed reconcile.',
    registers: [registry],
  });

  const requeues = new Counter({
    name: `${p}workqueue_requeues_total`,
    help: 'Keys scheduled again after a reconcile that returned (status polls, resyncs, rechecks): schedules, not failures.',
    registers: [registry],
  });

  new Gauge({
    name: `${p}objects`,
    help: `Objects by kind and cloud status ("${NONE_LABEL}": no cloud resource recorded yet, or a kind without a cloud status).`,
    labelNames: ['kind', 'cloud_status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of CLOUD_STATUSES) this.set({ kind: 'VpnService', cloud_status: s }, 0);
      countInto(this, 'cloud_status', (o) => o.cloudStatus);
    },
  });

  new Gauge({
    name: `${p}objects_ready`,
    help: `Objects by kind and the reason of their Ready condition ("${NONE_LABEL}": no condition yet).`,
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const reason of Object.keys(REASONS)) this.set({ kind: 'VpnService', reason }, 0);
      countInto(this, 'reason', (o) => o.readyReason);
    },
  });

  const leader = new Gauge({
    name: `${p}leader`,
    help: '1 while this replica holds the leader Lease, else 0.',
    registers: [registry],
  });
  leader.set(0);

  const synced = new Gauge({
    name: `${p}informer_synced`,
    help: '1 once the informer caches have synced, else 0.',
    registers: [registry],
  });
  synced.set(0);

  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });

  /** Counts the objects of the current source by one field into `gauge`; a failing source leaves only zeros. */
  function countInto<L extends string>(
    gauge: Gauge<L | 'kind'>,
    label: L,
    field: (o: ObjectSample) => string | undefined,
  ): void {
    const source = objectsSource;
    if (source === undefined) return;
    const counts = new Map<string, number>();
    try {
      for (const o of source()) {
        const v = `${o.kind ?? 'VpnService'}\u0000${labelValue(field(o))}`;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    } catch {
      // A broken source must not break the scrape; its counts are left out.
      return;
    }
    for (const [kv, n] of counts) {
      const [kind, v] = kv.split('\u0000') as [string, string];
      gauge.set({ kind, [label]: v } as Partial<Record<L | 'kind', string>>, n);
    }
  }

  const cloudObserver: RequestObserver = (e: RequestEvent) => {
    cloudRequests.inc({ method: e.method, route: e.route, status: String(e.status) });
    if (e.error !== undefined) cloudErrors.inc({ method: e.method, route: e.route, error: labelValue(e.error) });
    cloudDuration.observe({ method: e.method, route: e.route }, seconds(e.durationMs));
  };

  const kubeObserver: KubeRequestObserver = (r) => {
    kubeRequests.inc({ method: r.method, route: r.path, status: String(r.status) });
    kubeDuration.observe({ method: r.method, route: r.path }, seconds(r.durationMs));
  };

  const hooks: WorkerHooks = {
    onDepth(n) {
      depth.set(n);
    },
    onRetry() {
      retries.inc();
    },
    onReconcile(_key, outcome, durationMs) {
      reconcileTotal.inc({ result: outcome });
      reconcileDuration.observe(seconds(durationMs));
    },
    onRequeue() {
      requeues.inc();
    },
  };

  return {
    registry,
    workerHooks: () => hooks,
    cloudObserver,
    kubeObserver,
    staleRead() {
      staleReads.inc();
    },
    setLeader(b) {
      leader.set(b ? 1 : 0);
    },
    setSynced(b) {
      synced.set(b ? 1 : 0);
    },
    setObjectsSource(fn) {
      objectsSource = fn;
    },
  };
}
