// A work queue in the manner of client-go's rate-limited delaying queue:
// - a key waiting in the queue is held once (dedup);
// - a key being processed is never handed to a second worker: adding it again marks it dirty, and `done` puts it
//   back in the queue;
// - delayed adds live in one min-heap served by a single timer (earliest pending time per key wins);
// - per-key exponential backoff for failures (`addRateLimited` / `forget` / `numRequeues`).

/** Largest delay setTimeout accepts (about 24.8 days); longer delays are re-armed when they fire. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Capped exponential backoff: `base * 2^attempt`, at most `cap`. With `jitter` in (0, 1] the delay is spread
 * downwards over `[d * (1 - jitter), d]`, so the cap still holds. `attempt` counts from 0.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  jitter = 0,
  random: () => number = Math.random,
): number {
  if (!(baseMs > 0) || !(capMs > 0)) return 0;
  const n = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  // 2^n overflows to Infinity for large n; min() then yields the cap.
  const d = Math.min(capMs, baseMs * 2 ** n);
  const j = Math.min(Math.max(jitter, 0), 1);
  if (j === 0) return d;
  return d * (1 - j * random());
}

/** Default jitter of the per-key backoff (like client-go's wait.Backoff Jitter, but downwards: the cap holds). */
export const DEFAULT_JITTER = 0.2;

export interface WorkQueueOptions {
  /** First retry delay of `addRateLimited` (default 1 s). */
  baseDelayMs?: number;
  /** Largest retry delay of `addRateLimited` (default 5 min). */
  maxDelayMs?: number;
  /** Jitter fraction for `addRateLimited` delays, 0..1 (default DEFAULT_JITTER): each delay is drawn from
   * `[d * (1 - jitter), d]`, so keys that failed together (one cloud blip) do not come back together. 0: exact. */
  jitter?: number;
  /** Random source for jitter (default Math.random). */
  random?: () => number;
}

interface DelayedEntry {
  key: string;
  at: number;
}

/** A binary min-heap of delayed entries ordered by due time. */
class DelayHeap {
  private readonly items: DelayedEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): DelayedEntry | undefined {
    return this.items[0];
  }

  push(entry: DelayedEntry): void {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p]!;
      if (parent.at <= entry.at) break;
      a[i] = parent;
      i = p;
    }
    a[i] = entry;
  }

  pop(): DelayedEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && a[r]!.at < a[l]!.at ? r : l;
      if (a[c]!.at >= last.at) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }

  /** Keeps only the entries `keep` accepts and restores the heap order. */
  filter(keep: (e: DelayedEntry) => boolean): void {
    const kept = this.items.filter(keep);
    this.items.length = 0;
    for (const e of kept) this.push(e);
  }

  clear(): void {
    this.items.length = 0;
  }
}

/** A FIFO of keys with O(1) push and shift (array plus head index, compacted now and then). */
class Fifo {
  private items: string[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(key: string): void {
    this.items.push(key);
  }

  shift(): string | undefined {
    if (this.head >= this.items.length) return undefined;
    const key = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return key;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

export class WorkQueue {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly jitter: number;
  private readonly random: () => number;

  /** Keys ready to be handed out, in order. Each is also in `dirty`. */
  private readonly fifo = new Fifo();
  /** Keys that need processing (queued, or re-added while being processed). */
  private readonly dirty = new Set<string>();
  /** Keys handed to a worker and not yet `done`. */
  private readonly processing = new Set<string>();
  /** Workers waiting in `get`. */
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  /** `drain` callers waiting for `processing` to empty. */
  private drainWaiters: Array<() => void> = [];

  /** Delayed adds: one heap entry per (key, due time); `dueAt` holds the live due time per key. */
  private readonly heap = new DelayHeap();
  private readonly dueAt = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;

  private readonly failures = new Map<string, number>();
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 1_000;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
    this.jitter = options.jitter ?? DEFAULT_JITTER;
    this.random = options.random ?? Math.random;
  }

  /** Queues `key` unless it is already waiting; a key being processed is queued again when it is `done`. */
  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.fifo.push(key);
  }

  /** Adds `key` after `delayMs`. If the key already has an earlier pending time, that one stays. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (!(delayMs > 0)) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.dueAt.get(key);
    if (pending !== undefined && pending <= at) return;
    this.dueAt.set(key, at);
    this.heap.push({ key, at });
    // Entries superseded by an earlier time stay in the heap until popped; compact if they pile up.
    if (this.heap.size > 64 && this.heap.size > 2 * this.dueAt.size) {
      this.heap.filter((e) => this.dueAt.get(e.key) === e.at);
    }
    this.armTimer();
  }

  /**
   * Adds `key` after its next backoff delay and counts the failure. With `minDelayMs` (e.g. a server's
   * Retry-After) the delay is at least that.
   */
  addRateLimited(key: string, minDelayMs = 0): number {
    if (this.shuttingDown) return 0;
    const attempt = this.failures.get(key) ?? 0;
    this.failures.set(key, attempt + 1);
    const delay = Math.max(minDelayMs, backoffDelay(attempt, this.baseDelayMs, this.maxDelayMs, this.jitter, this.random));
    this.addAfter(key, delay);
    return delay;
  }

  /** Resets the backoff of `key`. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** How many times `key` was added with `addRateLimited` since the last `forget`. */
  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to process; the caller owns it until `done(key)`. Waits while the queue is empty. Resolves
   * `undefined` once the queue is shut down.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.fifo.shift();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    if (!this.processing.delete(key)) return;
    if (this.dirty.has(key) && !this.shuttingDown) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0 && this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Keys waiting to be handed out now (not counting delayed keys or keys being processed). */
  len(): number {
    return this.fifo.length;
  }

  /** Keys waiting for a delayed add. */
  lenDelayed(): number {
    return this.dueAt.size;
  }

  /** Keys handed out and not yet `done`. */
  lenProcessing(): number {
    return this.processing.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /**
   * Stops handing out work: waiting and later `get` calls resolve `undefined`, adds are ignored, delayed adds are
   * dropped. Keys already handed out may still be `done`.
   */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.clearTimer();
    this.heap.clear();
    this.dueAt.clear();
    this.fifo.clear();
    this.dirty.clear();
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w(undefined);
  }

  /** Waits until no key is being processed. Resolves false if `timeoutMs` passed first. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.processing.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.drainWaiters = this.drainWaiters.filter((w) => w !== onDrained);
        resolve(false);
      }, Math.min(Math.max(timeoutMs, 0), MAX_TIMER_MS));
      const onDrained = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.drainWaiters.push(onDrained);
    });
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Makes sure the single timer fires at the earliest due time. */
  private armTimer(): void {
    const top = this.heap.peek();
    if (top === undefined) {
      this.clearTimer();
      return;
    }
    if (this.timer !== undefined && this.timerAt <= top.at) return;
    this.clearTimer();
    this.timerAt = top.at;
    const wait = Math.min(Math.max(top.at - Date.now(), 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.at > now) break;
      this.heap.pop();
      // Skip entries superseded by an earlier time for the same key.
      if (this.dueAt.get(top.key) !== top.at) continue;
      this.dueAt.delete(top.key);
      this.add(top.key);
    }
    this.armTimer();
  }
}

/**
 * What a reconcile that returned (did not throw) reports. `requeueAfterMs`: look at the key again after this
 * long (a status poll, a resync, a recheck): a schedule, not a failure. `retry`: the pass did not reach its goal
 * for a reason it handled itself (e.g. it showed CloudUnavailable and comes back later) and should count as a
 * retry, not a success.
 */
export type ReconcileResult = { requeueAfterMs?: number; retry?: boolean } | void;

/**
 * How one reconcile ended, for metrics: `success` (returned; a scheduled requeue after it is still a success),
 * `retry` (returned with `retry: true`), `error` (threw; re-queued with backoff).
 */
export type ReconcileOutcome = 'success' | 'retry' | 'error';

export interface WorkerHooks {
  /** Ready keys in the queue, after each get and done. */
  onDepth?(depth: number): void;
  /** A failed key was re-queued with backoff: its attempt count and delay. */
  onRetry?(key: string, attempt: number, delayMs: number): void;
  /** One reconcile finished. `error` is set when it threw. */
  onReconcile?(key: string, outcome: ReconcileOutcome, durationMs: number, error?: unknown): void;
  /** A reconcile that returned asked to be run again after `delayMs` (a poll or resync: not a failure). */
  onRequeue?(key: string, delayMs: number): void;
}

export interface WorkersHandle {
  /** Shuts the queue down and resolves when in-flight reconciles have finished. */
  stop(): Promise<void>;
  /** Resolves when all workers have exited (after `stop` or the queue's `shutDown`). */
  readonly finished: Promise<void>;
}

/** `retryAfterMs` of an error, if it carries a finite non-negative number there. */
function retryAfterOf(err: unknown): number {
  if (typeof err === 'object' && err !== null && 'retryAfterMs' in err) {
    const v = err.retryAfterMs;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  }
  return 0;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A metrics hook must never stop a worker.
  }
}

/**
 * Runs `n` workers on `queue`. A reconcile that returns forgets the key's backoff, and re-queues it after
 * `requeueAfterMs` if given. One that throws re-queues it with backoff (at least the error's `retryAfterMs`).
 */
export function runWorkers(
  queue: WorkQueue,
  n: number,
  reconcile: (key: string) => Promise<ReconcileResult>,
  hooks: WorkerHooks = {},
): WorkersHandle {
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      if (hooks.onDepth) safely(() => hooks.onDepth!(queue.len()));
      const started = performance.now();
      let outcome: ReconcileOutcome;
      let error: unknown;
      try {
        const result = await reconcile(key);
        queue.forget(key);
        outcome = result?.retry === true ? 'retry' : 'success';
        const after = result?.requeueAfterMs;
        if (typeof after === 'number' && Number.isFinite(after) && after >= 0) {
          queue.addAfter(key, after);
          if (hooks.onRequeue) safely(() => hooks.onRequeue!(key, after));
        }
      } catch (err) {
        outcome = 'error';
        error = err;
        const attempt = queue.numRequeues(key);
        const delay = queue.addRateLimited(key, retryAfterOf(err));
        if (hooks.onRetry) safely(() => hooks.onRetry!(key, attempt + 1, delay));
      } finally {
        queue.done(key);
      }
      const duration = performance.now() - started;
      if (hooks.onReconcile) safely(() => hooks.onReconcile!(key, outcome, duration, error));
      if (hooks.onDepth) safely(() => hooks.onDepth!(queue.len()));
    }
  };
  const count = Math.max(1, Math.floor(n));
  const finished = Promise.all(Array.from({ length: count }, () => worker())).then(() => undefined);
  return {
    finished,
    stop: async () => {
      queue.shutDown();
      await finished;
    },
  };
}
