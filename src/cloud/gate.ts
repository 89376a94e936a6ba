// Per-cloud admission for requests (one gate per Cloud, i.e. per distinct cloud: see cloud.ts):
// - a concurrency limit: at most `maxInFlight` requests at once; the rest wait in a bounded FIFO (`maxQueued`),
//   each for at most `queueTimeoutMs`; a full queue or an overlong wait fails at once;
// - fail-fast (a circuit breaker): after `failureThreshold` timeouts or connection errors in a row, the gate opens
//   for `coolDownMs`: every waiting and every new request fails at once with a CloudError of status 0 (classified
//   `retryable`) instead of each waiting out its own timeout. After the cool-down one request goes through as a
//   probe (half-open): an answer closes the gate, another timeout opens it again.
// So one hanging tenant cloud holds at most `maxInFlight` sockets and, once it has failed a few times, no worker
// for longer than a failed request; the other clouds' requests never wait behind it.
//
// Any HTTP answer (also 4xx/5xx) counts as the cloud being reachable; only status-0 failures (no answer) count.
import { CloudError } from './errors.ts';

export interface CloudGateOptions {
  /** Requests in flight at once (default 4). */
  maxInFlight?: number;
  /** Requests waiting for a slot (default 256); more fail at once. */
  maxQueued?: number;
  /** Longest wait for a slot (default: the request timeout; a slot frees within one request timeout unless the
   * cloud hangs, and then the gate opens and fails the waiters first). */
  queueTimeoutMs?: number;
  /** Timeouts/connection errors in a row that open the gate (default 3). */
  failureThreshold?: number;
  /** How long the gate stays open before a probe may go through (default 15 s). */
  coolDownMs?: number;
}

export const DEFAULT_GATE: Required<Omit<CloudGateOptions, 'queueTimeoutMs'>> = {
  maxInFlight: 4,
  maxQueued: 256,
  failureThreshold: 3,
  coolDownMs: 15_000,
};

/** What a request says when it is done: whether the cloud answered at all. */
export type Release = (answered: boolean) => void;

interface Waiter {
  resolve: (release: Release) => void;
  reject: (err: CloudError) => void;
  timer: ReturnType<typeof setTimeout>;
  method: string;
  path: string;
}

export interface GateState {
  inFlight: number;
  queued: number;
  state: 'closed' | 'open' | 'half-open';
  consecutiveFailures: number;
}

export class CloudGate {
  readonly #max: number;
  readonly #maxQueued: number;
  readonly #queueTimeoutMs: number;
  /** Longest wait for a slot. */
  get queueTimeoutMs(): number {
    return this.#queueTimeoutMs;
  }
  readonly #threshold: number;
  readonly #coolDownMs: number;
  readonly #cloudName: string;
  readonly #now: () => number;
  #inFlight = 0;
  readonly #queue: Waiter[] = [];
  #failures = 0;
  /** Epoch ms until which the gate is open; 0 when closed. */
  #openUntil = 0;
  /** A probe is in flight (half-open): others still fail fast. */
  #probing = false;

  constructor(cloudName: string, requestTimeoutMs: number, opts: CloudGateOptions = {}, now: () => number = Date.now) {
    const pos = (v: number | undefined, d: number, what: string): number => {
      if (v === undefined) return d;
      if (!Number.isFinite(v) || v < 1) throw new Error(`cloud gate: ${what} must be a number ≥ 1, got ${v}`);
      return Math.floor(v);
    };
    this.#cloudName = cloudName;
    this.#max = pos(opts.maxInFlight, DEFAULT_GATE.maxInFlight, 'maxInFlight');
    this.#maxQueued = opts.maxQueued === 0 ? 0 : pos(opts.maxQueued, DEFAULT_GATE.maxQueued, 'maxQueued');
    this.#queueTimeoutMs = pos(opts.queueTimeoutMs, requestTimeoutMs, 'queueTimeoutMs');
    this.#threshold = pos(opts.failureThreshold, DEFAULT_GATE.failureThreshold, 'failureThreshold');
    this.#coolDownMs = pos(opts.coolDownMs, DEFAULT_GATE.coolDownMs, 'coolDownMs');
    this.#now = now;
  }

  state(): GateState {
    const open = this.#openUntil !== 0;
    return {
      inFlight: this.#inFlight,
      queued: this.#queue.length,
      state: !open ? 'closed' : this.#probing || this.#now() >= this.#openUntil ? 'half-open' : 'open',
      consecutiveFailures: this.#failures,
    };
  }

  /** Waits for a slot; rejects with a retryable CloudError when the gate is open, the queue full or the wait too long. */
  acquire(method: string, path: string): Promise<Release> {
    const refusal = this.#refusal(method, path);
    if (refusal) return Promise.reject(refusal);
    if (this.#inFlight < this.#max && this.#queue.length === 0) return Promise.resolve(this.#take());
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(
        this.#error(method, path, 'CloudBusy', `${this.#queue.length} requests already wait for this cloud (at most ${this.#max} at once)`),
      );
    }
    return new Promise<Release>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        method,
        path,
        timer: setTimeout(() => {
          const i = this.#queue.indexOf(w);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(this.#error(method, path, 'CloudBusy', `no free slot for this cloud within ${this.#queueTimeoutMs} ms (at most ${this.#max} requests at once)`));
        }, this.#queueTimeoutMs),
      };
      this.#queue.push(w);
    });
  }

  /** Why a request may not go now (open gate, or a probe already in flight), or undefined. */
  #refusal(method: string, path: string): CloudError | undefined {
    if (this.#openUntil === 0) return undefined;
    const now = this.#now();
    if (now < this.#openUntil || this.#probing) {
      const left = Math.max(0, this.#openUntil - now);
      return this.#error(
        method,
        path,
        'CloudUnavailable',
        `the cloud gave no answer ${this.#failures} times in a row (timeouts or connection errors): failing fast` +
          (this.#probing ? ' while a probe request is in flight' : ` for another ${Math.ceil(left / 1000)} s`),
      );
    }
    // Cool-down over: the next request to take a slot is the probe (see #take).
    return undefined;
  }

  #take(): Release {
    this.#inFlight++;
    // Half-open: this request is the probe; until it ends, the others fail fast.
    if (this.#openUntil !== 0) this.#probing = true;
    let released = false;
    return (answered: boolean) => {
      if (released) return;
      released = true;
      this.#inFlight--;
      this.#record(answered);
      this.#next();
    };
  }

  #record(answered: boolean): void {
    if (answered) {
      this.#failures = 0;
      this.#openUntil = 0;
      this.#probing = false;
      return;
    }
    this.#failures++;
    if (this.#probing || this.#failures >= this.#threshold) {
      this.#probing = false;
      this.#openUntil = this.#now() + this.#coolDownMs;
      // Everyone waiting would only wait for the same dead cloud.
      for (const w of this.#queue.splice(0)) {
        clearTimeout(w.timer);
        w.reject(this.#refusal(w.method, w.path) as CloudError);
      }
    }
  }

  #next(): void {
    while (this.#inFlight < this.#max && this.#queue.length > 0) {
      const w = this.#queue.shift() as Waiter;
      clearTimeout(w.timer);
      const refusal = this.#refusal(w.method, w.path);
      if (refusal) w.reject(refusal);
      else w.resolve(this.#take());
    }
  }

  #error(method: string, path: string, code: string, message: string): CloudError {
    return new CloudError({ status: 0, code, cloudMessage: `${message} (cloud ${this.#cloudName})`, method, path, kind: 'retryable' });
  }

  /** Fails every waiting request (the cloud is being closed). */
  close(): void {
    for (const w of this.#queue.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.#error(w.method, w.path, 'CloudClosed', 'the cloud client was closed'));
    }
  }
}
