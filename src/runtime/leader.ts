// Leader election on a coordination.k8s.io/v1 Lease (SPEC §3.11), after client-go's leaderelection package.
//
// Protocol (the same record and rules as client-go, so tools like `kubectl get lease` read it the usual way):
// - Acquire: GET the Lease; create it if missing (409: another replica created it first). A Lease held by another
//   identity is taken over only once it has expired, and expiry is judged by the local monotonic clock of
//   *observation*: the holder's lease runs for leaseDurationSeconds from the moment this process last saw the
//   record change, never from the remote acquireTime/renewTime, so clock skew between nodes does not matter.
//   Every write is a PUT carrying metadata.resourceVersion (optimistic concurrency; 409 = lost the race).
// - Renew every retryPeriod. If no renewal has succeeded for renewDeadline (measured from the start of the last
//   successful attempt, which is earlier than the moment the API server stored it), leadership is given up: the
//   AbortSignal passed to onStartedLeading fires and onStoppedLeading is called. Since renewDeadline <
//   leaseDuration, that happens before any other replica can consider the lease expired. Seeing another holder in
//   the record ends leadership at once.
// - stop(): the signal fires; renewals go on while the onStartedLeading promise (if it returned one) winds down,
//   for at most renewDeadline; then the Lease is released (holderIdentity "", leaseDurationSeconds 1, as
//   client-go's ReleaseOnCancel does) so a standby takes over at its next retry instead of after leaseDuration.
// - After losing leadership the elector goes back to acquiring. The operator does not rely on that: its
//   onStoppedLeading exits the process (as controller-runtime does), because caches and in-flight work of a former
//   leader cannot be trusted. Tests and other callers may keep the elector running.
//
// The identity must be unique per process (e.g. pod name plus a random suffix): a Lease already held by our own
// identity is taken at once, as in client-go, which is right for a restart of the same process and wrong for two.
// Differences from client-go: onStoppedLeading is called only after leading (client-go calls it whenever Run
// returns); onNewLeader is not called for an empty holder; the acquire poll is not jittered upwards (it waits at
// most retryPeriod, and not past the moment the observed lease expires).
import { z } from 'zod';
import { KubeClient, KubeApiError } from '../kube/client.ts';
import { LEASES, resourcePath } from '../kube/paths.ts';

export interface LeaderElectionLog {
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
}

export interface LeaderElectionOptions {
  kube: KubeClient;
  namespace: string;
  name: string;
  /** Unique per process. */
  identity: string;
  /** How long a standby waits after last seeing the record change before taking over. Default 15000; ≥ 1000. */
  leaseDurationMs?: number;
  /** How long the leader keeps leading without a successful renewal. Default 10000; < leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Interval between attempts to acquire or renew. Default 2000; < renewDeadlineMs. */
  retryPeriodMs?: number;
  log?: LeaderElectionLog;
  /**
   * Wall clock (ms since the epoch) for the acquireTime/renewTime written into the Lease. Default Date.now. Expiry
   * and deadlines never use it: they are measured on the monotonic clock.
   */
  now?: () => number;
}

export interface LeaderCallbacks {
  /**
   * Called on acquiring the lease. The signal fires when leadership ends (lost, or stop()). A returned promise is
   * awaited by stop() (at most renewDeadline) before the lease is released; a rejection is logged.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called once after each period of leading, after the signal fired. */
  onStoppedLeading(): void;
  /** Called when the observed holder changes to a (non-empty) identity, ours included. */
  onNewLeader?(identity: string): void;
}

// ---------------------------------------------------------------------------------------------------------------
// The Lease object. Unknown fields (labels, owner references, spec.strategy, ...) pass through, so a PUT keeps them.

const leaseSpecSchema = z.looseObject({
  holderIdentity: z.string().nullish(),
  leaseDurationSeconds: z.number().int().nullish(),
  acquireTime: z.string().nullish(),
  renewTime: z.string().nullish(),
  leaseTransitions: z.number().int().nullish(),
});

const leaseSchema = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string().optional(),
    resourceVersion: z.string(),
  }),
  spec: leaseSpecSchema.nullish(),
});

type Lease = z.infer<typeof leaseSchema>;
type LeaseSpec = z.infer<typeof leaseSpecSchema>;

/** Kubernetes MicroTime: `2006-01-02T15:04:05.000000Z`. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** The fields of the leader election record; two observations differ when these differ. */
function recordKey(spec: LeaseSpec | null | undefined): string {
  return JSON.stringify([
    spec?.holderIdentity ?? '',
    spec?.leaseDurationSeconds ?? null,
    spec?.acquireTime ?? null,
    spec?.renewTime ?? null,
    spec?.leaseTransitions ?? null,
  ]);
}

// ---------------------------------------------------------------------------------------------------------------

type Attempt =
  | { kind: 'ok' }
  /** Another identity holds a lease that has not expired (by our observation); it expires in expiresInMs. */
  | { kind: 'held'; holder: string; expiresInMs: number }
  | { kind: 'failed'; error: string };

interface Observed {
  lease: Lease;
  key: string;
  /** Monotonic time at which we saw the record change. */
  at: number;
}

const mono = (): number => performance.now();

/** Resolves after ms, or as soon as one of the signals fires. Leaves no listener behind. */
function sleep(ms: number, ...signals: AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    if (signals.some((s) => s.aborted)) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      for (const s of signals) s.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    for (const s of signals) s.addEventListener('abort', done, { once: true });
  });
}

/** The promise's value, or undefined if it has not settled within ms (the promise keeps running). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(err: unknown): string {
  if (err instanceof KubeApiError) return `${err.status} ${err.reason}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export class LeaderElector {
  readonly #kube: KubeClient;
  readonly #identity: string;
  readonly #path: string;
  readonly #collectionPath: string;
  readonly #namespace: string;
  readonly #name: string;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #log: LeaderElectionLog | undefined;
  readonly #now: () => number;

  readonly #stopCtl = new AbortController();
  #running: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #leading = false;
  #observed: Observed | undefined;
  #reportedLeader: string | undefined;
  #onNewLeader: ((identity: string) => void) | undefined;
  /** The attempt still running (it may outlive a renew deadline); awaited before the next one. */
  #inflight: Promise<Attempt> | undefined;
  #lastWarning: string | undefined;

  constructor(opts: LeaderElectionOptions) {
    const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    const problems: string[] = [];
    for (const [k, v] of Object.entries({ leaseDurationMs, renewDeadlineMs, retryPeriodMs })) {
      if (!Number.isFinite(v) || v <= 0) problems.push(`${k} must be a positive number of milliseconds (got ${v})`);
    }
    if (problems.length === 0) {
      if (leaseDurationMs < 1000) problems.push(`leaseDurationMs must be at least 1000 (the Lease counts whole seconds), got ${leaseDurationMs}`);
      if (!(renewDeadlineMs < leaseDurationMs)) {
        problems.push(`renewDeadlineMs (${renewDeadlineMs}) must be less than leaseDurationMs (${leaseDurationMs}), or a leader could still act after a standby took over`);
      }
      if (!(retryPeriodMs < renewDeadlineMs)) {
        problems.push(`retryPeriodMs (${retryPeriodMs}) must be less than renewDeadlineMs (${renewDeadlineMs}), or the leader gets no second chance to renew`);
      }
    }
    if (!opts.identity) problems.push('identity must not be empty');
    if (!opts.namespace || !opts.name) problems.push('namespace and name of the Lease must not be empty');
    if (problems.length > 0) throw new Error(`invalid leader election configuration: ${problems.join('; ')}`);

    this.#identity = opts.identity;
    this.#namespace = opts.namespace;
    this.#name = opts.name;
    this.#leaseDurationMs = leaseDurationMs;
    this.#renewDeadlineMs = renewDeadlineMs;
    this.#retryPeriodMs = retryPeriodMs;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#collectionPath = resourcePath(LEASES, opts.namespace);
    this.#path = resourcePath(LEASES, opts.namespace, opts.name);
    // Our own client: no request may outlast the renew deadline (the caller's client may wait 30 s). Request
    // observation (metrics) goes to the caller's hook, whenever it is set.
    this.#kube = new KubeClient(opts.kube.kubeConfig, { timeoutMs: renewDeadlineMs });
    this.#kube.onRequest = (r) => opts.kube.onRequest?.(r);
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /** Campaigns, leads, and campaigns again after losing, until stop(); resolves once stopped. Single use. */
  run(callbacks: LeaderCallbacks): Promise<void> {
    if (this.#running !== undefined) return Promise.reject(new Error('LeaderElector.run() was already called'));
    if (this.#stopping !== undefined) return Promise.reject(new Error('LeaderElector was stopped; create a new one'));
    this.#onNewLeader = callbacks.onNewLeader;
    this.#running = this.#loop(callbacks);
    return this.#running;
  }

  /** Ends leadership (releasing the lease) or the campaign; resolves when run() has returned. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stopCtl.abort();
      await this.#running?.catch(() => undefined);
    })();
    return this.#stopping;
  }

  get #meta(): Record<string, unknown> {
    return { lease: `${this.#namespace}/${this.#name}`, identity: this.#identity };
  }

  async #loop(cb: LeaderCallbacks): Promise<void> {
    const stop = this.#stopCtl.signal;
    while (!stop.aborted) {
      const acquiredAt = await this.#acquire();
      if (acquiredAt === undefined) return; // stopped while campaigning
      if (stop.aborted) {
        // Won the lease just as stop() came: hand it back without leading.
        await this.#release();
        return;
      }
      const outcome = await this.#lead(cb, acquiredAt);
      if (outcome === 'stopped') {
        await this.#release();
        this.#callStopped(cb);
        return;
      }
      this.#callStopped(cb);
    }
  }

  #callStopped(cb: LeaderCallbacks): void {
    try {
      cb.onStoppedLeading();
    } catch (err) {
      this.#log?.warn('leader election: onStoppedLeading threw', { ...this.#meta, error: describeError(err) });
    }
  }

  /** Tries until the lease is ours (returns the start time of the winning attempt) or stop() (undefined). */
  async #acquire(): Promise<number | undefined> {
    const stop = this.#stopCtl.signal;
    this.#log?.info('leader election: trying to acquire the lease', this.#meta);
    while (!stop.aborted) {
      await this.#inflight?.catch(() => undefined);
      const started = mono();
      const attempt = this.#attempt();
      const res = await attempt;
      if (res.kind === 'ok') {
        this.#lastWarning = undefined;
        this.#log?.info('leader election: acquired the lease', this.#meta);
        return started;
      }
      let wait = this.#retryPeriodMs * (0.9 + 0.1 * Math.random());
      if (res.kind === 'held') {
        // Poll again when it expires if that comes before the next retry (+ a little: the clock must pass it).
        wait = Math.min(wait, res.expiresInMs + 5);
      } else {
        this.#warnOnce('leader election: could not acquire the lease; retrying', res.error);
      }
      await sleep(started + wait - mono(), stop);
    }
    return undefined;
  }

  /** Leads until the lease is lost or stop() (and the work has wound down). */
  async #lead(cb: LeaderCallbacks, acquiredAt: number): Promise<'lost' | 'stopped'> {
    const stop = this.#stopCtl.signal;
    const leaderCtl = new AbortController();
    const workDone = new AbortController();
    this.#leading = true;
    Promise.resolve()
      .then(() => cb.onStartedLeading(leaderCtl.signal))
      .catch((err: unknown) => {
        this.#log?.warn('leader election: onStartedLeading failed', { ...this.#meta, error: describeError(err) });
      })
      .finally(() => workDone.abort());

    const endLeading = (reason: string): void => {
      if (!this.#leading) return;
      this.#leading = false;
      leaderCtl.abort(new Error(`leadership ended: ${reason}`));
    };

    let lastOk = acquiredAt;
    let stoppedAt: number | undefined;
    let next = acquiredAt + this.#retryPeriodMs;
    for (;;) {
      if (stop.aborted && stoppedAt === undefined) {
        this.#log?.info('leader election: stopping; releasing the lease', this.#meta);
        endLeading('stopped');
        stoppedAt = mono();
      }
      if (stoppedAt !== undefined && (workDone.signal.aborted || mono() - stoppedAt >= this.#renewDeadlineMs)) {
        await this.#inflight?.catch(() => undefined);
        return 'stopped';
      }
      const deadline = lastOk + this.#renewDeadlineMs;
      // Until stop(): sleep to the next renewal. After stop(): renew on while the work winds down.
      await sleep(Math.min(next, deadline) - mono(), stoppedAt === undefined ? stop : workDone.signal);
      if (stop.aborted && stoppedAt === undefined) continue;
      if (stoppedAt !== undefined && workDone.signal.aborted) continue;

      const remaining = deadline - mono();
      if (remaining < 1) return this.#lost(endLeading, `no successful renewal within ${this.#renewDeadlineMs} ms`);
      const started = mono();
      next = started + this.#retryPeriodMs;
      const res = await within(this.#attempt(), remaining);
      if (res === undefined) return this.#lost(endLeading, `renewal still unanswered at the ${this.#renewDeadlineMs} ms deadline`);
      if (res.kind === 'ok') {
        lastOk = started;
        this.#lastWarning = undefined;
      } else if (res.kind === 'held') {
        return this.#lost(endLeading, `the lease is held by ${res.holder}`);
      } else {
        this.#warnOnce('leader election: renewal failed; retrying until the renew deadline', res.error);
      }
    }
  }

  #lost(endLeading: (reason: string) => void, reason: string): 'lost' {
    this.#log?.warn('leader election: lost leadership', { ...this.#meta, reason });
    endLeading(reason);
    return 'lost';
  }

  #warnOnce(msg: string, error: string): void {
    if (error === this.#lastWarning) return;
    this.#lastWarning = error;
    this.#log?.warn(msg, { ...this.#meta, error });
  }

  /** One tryAcquireOrRenew; attempts never overlap (callers await #inflight first). */
  #attempt(): Promise<Attempt> {
    const p = this.#tryAcquireOrRenew().catch((err: unknown): Attempt => ({ kind: 'failed', error: describeError(err) }));
    this.#inflight = p;
    return p;
  }

  async #tryAcquireOrRenew(): Promise<Attempt> {
    // Fast path for the leader: write over the version we saw last; only a conflict sends us to read it again.
    const obs = this.#observed;
    if (this.#leading && obs !== undefined && obs.lease.spec?.holderIdentity === this.#identity) {
      try {
        await this.#put(obs.lease, this.#record(obs.lease.spec));
        return { kind: 'ok' };
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409)) throw err;
      }
    }

    let lease: Lease;
    try {
      lease = this.#parse(await this.#kube.request('GET', this.#path));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      const t = microTime(this.#now());
      const body = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#name, namespace: this.#namespace },
        spec: {
          holderIdentity: this.#identity,
          leaseDurationSeconds: this.#leaseDurationSeconds(),
          acquireTime: t,
          renewTime: t,
          leaseTransitions: 0,
        },
      };
      try {
        this.#observe(this.#parse(await this.#kube.request('POST', this.#collectionPath, body)));
      } catch (err2) {
        if (err2 instanceof KubeApiError && err2.status === 409) return { kind: 'failed', error: 'another candidate created the lease first' };
        throw err2;
      }
      return { kind: 'ok' };
    }

    const seen = this.#observe(lease);
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== this.#identity) {
      const durationMs = (lease.spec?.leaseDurationSeconds ?? this.#leaseDurationSeconds()) * 1000;
      const expiresInMs = seen.at + durationMs - mono();
      if (expiresInMs > 0) return { kind: 'held', holder, expiresInMs };
      this.#log?.info('leader election: the lease has expired; taking it over', { ...this.#meta, previousHolder: holder });
    }
    try {
      await this.#put(lease, this.#record(lease.spec));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 409) return { kind: 'failed', error: 'lost an update race for the lease' };
      throw err;
    }
    return { kind: 'ok' };
  }

  /** The record that makes (or keeps) us the holder, given the current one. */
  #record(cur: LeaseSpec | null | undefined): LeaseSpec {
    const t = microTime(this.#now());
    const ours = cur?.holderIdentity === this.#identity;
    return {
      holderIdentity: this.#identity,
      leaseDurationSeconds: this.#leaseDurationSeconds(),
      acquireTime: ours ? (cur.acquireTime ?? t) : t,
      renewTime: t,
      leaseTransitions: ours ? (cur.leaseTransitions ?? 0) : (cur?.leaseTransitions ?? 0) + 1,
    };
  }

  async #put(lease: Lease, fields: LeaseSpec): Promise<void> {
    const body = { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { ...lease.spec, ...fields } };
    this.#observe(this.#parse(await this.#kube.request('PUT', this.#path, body)));
  }

  #parse(body: unknown): Lease {
    const r = leaseSchema.safeParse(body);
    if (!r.success) throw new Error(`unexpected Lease from the API server: ${z.prettifyError(r.error)}`);
    return r.data;
  }

  /** Records what we saw; the observation time moves only when the record changed. */
  #observe(lease: Lease): Observed {
    const key = recordKey(lease.spec);
    const prev = this.#observed;
    const obs: Observed = prev !== undefined && prev.key === key ? { lease, key, at: prev.at } : { lease, key, at: mono() };
    this.#observed = obs;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== '' && holder !== this.#reportedLeader) {
      this.#reportedLeader = holder;
      this.#log?.info('leader election: new leader observed', { ...this.#meta, leader: holder });
      try {
        this.#onNewLeader?.(holder);
      } catch (err) {
        this.#log?.warn('leader election: onNewLeader threw', { ...this.#meta, error: describeError(err) });
      }
    }
    return obs;
  }

  #leaseDurationSeconds(): number {
    return Math.ceil(this.#leaseDurationMs / 1000);
  }

  /** Gives the lease up if the last record we saw says it is ours (a conflict means it no longer is). */
  async #release(): Promise<void> {
    await this.#inflight?.catch(() => undefined);
    const obs = this.#observed;
    if (obs === undefined || obs.lease.spec?.holderIdentity !== this.#identity) return;
    const t = microTime(this.#now());
    try {
      await this.#put(obs.lease, {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: t,
        renewTime: t,
        leaseTransitions: obs.lease.spec.leaseTransitions ?? 0,
      });
      this.#log?.info('leader election: released the lease', this.#meta);
    } catch (err) {
      this.#log?.warn('leader election: could not release the lease', { ...this.#meta, error: describeError(err) });
    }
  }
}
