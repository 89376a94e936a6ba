// A list+watch cache for one collection path (a client-go "reflector + store"), on a KubeAccess (server, TLS,
// auth headers: ../kube/config.ts) and undici. A @kubernetes/client-node KubeConfig is accepted too (adapted on
// the first request; only then is client-node imported).
//
// - Paginated LIST (limit/continue), then WATCH from the list's resourceVersion with bookmarks and a randomised
//   timeoutSeconds. A watch the server ends is resumed from the last seen resourceVersion (bookmarks advance it);
//   a cut or failing watch is resumed the same way after a capped exponential backoff; 410 Gone (HTTP status or
//   ERROR event) leads to a fresh LIST, which is diffed against the store: adds, updates for changed objects,
//   and synthetic deletes for objects that went away meanwhile.
// - A watchdog aborts a watch that stays silent (no event, no bookmark) longer than the server should allow.
// - Objects are parsed with the caller's zod schema; managedFields (and by default the kubectl last-applied
//   annotation) are dropped before parsing. An object that does not parse goes to onInvalid and stays out of the
//   store; it never stops the loop.
//
// The watch stream is read here rather than through client-node's `Watch`: that one aborts a watch after 30 s
// without data, which a quiet watch (bookmarks come about once a minute) runs into, and it hides the HTTP body
// of a refused watch (410 vs other errors, Retry-After).
import type { KubeConfig } from '@kubernetes/client-node';
import { fetch, type Dispatcher, type Response as UndiciResponse } from 'undici';
import { z } from 'zod';
import { serverOf, toKubeAccess, type KubeAccess } from '../kube/config.ts';
import { backoffDelay } from './queue.ts';

export interface InformerLogger {
  warn(message: string, meta?: Record<string, unknown>): void;
  info?(message: string, meta?: Record<string, unknown>): void;
  debug?(message: string, meta?: Record<string, unknown>): void;
}

/** Why an object left the store: a watch DELETED event, absent from a relist, or it stopped parsing. */
export type DeleteReason = 'watch' | 'relist' | 'invalid';

export interface InformerOptions<T> {
  /** Server and credentials. One of `access` and `kubeConfig` is needed; `access` wins. */
  access?: KubeAccess;
  /** A client-node KubeConfig (adapted on the first request), or a KubeAccess. */
  kubeConfig?: KubeConfig | KubeAccess;
  /** Collection path, e.g. `/apis/vpnaas.dev/v1alpha1/vpnservices` or `/api/v1/namespaces/x/secrets`. */
  path: string;
  /** Parses one object. Unknown fields it does not keep are dropped, which keeps the store small. */
  schema: z.ZodType<T>;
  labelSelector?: string;
  fieldSelector?: string;
  /** LIST page size (default 500). */
  pageSize?: number;
  /** Watch timeoutSeconds is random in [min, 2*min) (default min 300: 5 to 10 minutes). */
  minWatchTimeoutSeconds?: number;
  /** Abort a watch after this long without any data (default: its timeoutSeconds + 60 s). */
  watchdogMs?: number;
  /** Backoff after errors (defaults 1 s, capped at 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Timeout of one LIST page, and of the response headers of a watch (default 60 s). */
  requestTimeoutMs?: number;
  /** Keep the `kubectl.kubernetes.io/last-applied-configuration` annotation (default: dropped). */
  keepLastAppliedAnnotation?: boolean;
  logger?: InformerLogger;
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T, reason: DeleteReason): void;
  /** An object (key `namespace/name`) that the schema refused; it is not (or no longer) in the store. */
  onInvalid?(key: string, error: Error): void;
  /** A watch DELETED event for a key that is not in the store (an object that did not parse). */
  onGone?(key: string): void;
}

export interface InformerStats {
  /** Complete LISTs (the first one and relists). */
  lists: number;
  /** LIST pages fetched. */
  pages: number;
  /** Watches opened (HTTP 200 received). */
  watches: number;
  /** Relists caused by 410 Gone. */
  expired: number;
  /** Failed list or watch attempts (each followed by a backoff). */
  errors: number;
  /** Watches aborted by the watchdog. */
  watchdogAborts: number;
}

/** Where the list/watch loop is: not started, listing, watching, waiting after an error, stopped, or ended
 * without being stopped (a bug: the loop threw). */
export type InformerPhase = 'new' | 'listing' | 'watching' | 'backoff' | 'stopped' | 'ended';

/** What a liveness check needs to know about the loop (see health()). */
export interface InformerHealth {
  phase: InformerPhase;
  /** Epoch ms when the phase began. */
  since: number;
  /**
   * Epoch ms by which the phase must end or show progress (a LIST page, a watch event or bookmark, the end of a
   * backoff), derived from the informer's own timeouts plus a grace of HEALTH_GRACE_MS; null when nothing is
   * awaited ('new', 'stopped', 'ended'). Past it, the loop is wedged: every wait it makes is bounded.
   */
  deadline: number | null;
  /** Failed list/watch attempts in a row; 0 after a successful LIST or a watch that delivered data. */
  consecutiveErrors: number;
  /** The last failure, while consecutiveErrors > 0. */
  lastError?: InformerErrorInfo;
  synced: boolean;
}

/** One failed list or watch attempt, as reported to onError listeners. */
export interface InformerErrorInfo {
  path: string;
  /** HTTP status, or 0 when the server could not be reached, timed out or answered nonsense. */
  status: number;
  reason: string;
  message: string;
  /** True when the LIST failed (no cache yet, or a relist); false for a watch. */
  listing: boolean;
  consecutiveErrors: number;
  retryInMs: number;
  at: number;
}

/** Slack on top of the informer's own bounds before health() calls a phase overdue. */
export const HEALTH_GRACE_MS = 30_000;

export interface Informer<T> {
  /** Starts listing and watching (once). */
  start(): void;
  /** Aborts the list/watch, clears every timer, closes the connections; resolves when the loop has ended. */
  stop(): Promise<void>;
  /** True once the first complete LIST has been delivered to the handlers. */
  hasSynced(): boolean;
  /** Resolves true when synced, false if stopped before. */
  waitForSync(): Promise<boolean>;
  /** The object with key `namespace/name` (or `name` for cluster-scoped objects). */
  get(key: string): T | undefined;
  list(): T[];
  keys(): string[];
  size(): number;
  /** The resourceVersion the watch resumes from. */
  resourceVersion(): string;
  stats(): Readonly<InformerStats>;
  /** The loop's phase and deadline, for a liveness check; the last error, for a readiness message. */
  health(): InformerHealth;
  /** Calls `listener` after each failed list or watch attempt (before its backoff); returns an unsubscribe.
   * For hints and logs: a throwing listener is ignored. */
  onError(listener: (e: InformerErrorInfo) => void): () => void;
}

/** An error status from the API server (or 0 when it could not be reached or timed out). */
export class InformerRequestError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly retryAfterMs: number;
  constructor(status: number, reason: string, message: string, retryAfterMs = 0) {
    super(message);
    this.name = 'InformerRequestError';
    this.status = status;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

const statusSchema = z.object({
  code: z.number().optional(),
  reason: z.string().optional(),
  message: z.string().optional(),
  details: z.object({ retryAfterSeconds: z.number().optional() }).optional(),
});

const listSchema = z.object({
  metadata: z.object({ resourceVersion: z.string().optional(), continue: z.string().optional() }),
  items: z.array(z.unknown()).nullish(),
});

const eventSchema = z.object({
  type: z.string(),
  object: z.unknown(),
});

const metaSchema = z.object({
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    resourceVersion: z.string().optional(),
  }),
});

const bookmarkSchema = z.object({ metadata: z.object({ resourceVersion: z.string().optional() }) });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** Seconds from a Retry-After header (delta form only), as ms; 0 if absent. */
function retryAfterHeaderMs(value: string | null): number {
  if (value === null) return 0;
  const s = Number(value.trim());
  return Number.isFinite(s) && s > 0 ? s * 1000 : 0;
}

function isTooLargeResourceVersion(message: string): boolean {
  return /too large resource version/i.test(message);
}

class Stopped extends Error {
  constructor() {
    super('informer stopped');
  }
}

class WatchdogTimeout extends Error {
  constructor(ms: number) {
    super(`no data on the watch for ${ms} ms`);
  }
}

/** Outcome of one watch: resume from the last resourceVersion, or relist. */
type WatchEnd = 'resume' | 'relist';

interface Entry<T> {
  obj: T;
  rv: string;
}

type Decoded<T> =
  | { key: string; rv: string; ok: true; obj: T }
  | { key: string; rv: string; ok: false; error: Error };

class InformerImpl<T> implements Informer<T> {
  private readonly o: InformerOptions<T>;
  private readonly server: string;
  private readonly store = new Map<string, Entry<T>>();
  private rv = '';
  private synced = false;
  private syncWaiters: Array<(ok: boolean) => void> = [];
  private readonly counters: InformerStats = { lists: 0, pages: 0, watches: 0, expired: 0, errors: 0, watchdogAborts: 0 };

  private started = false;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly source: KubeConfig | KubeAccess;
  /** This informer's own connection pool (from access.createDispatcher), dropped after a hang. */
  private dispatcher: Dispatcher | undefined;
  /** Every timer this informer has armed and not yet cleared. */
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private failures = 0;
  private lastFailureAt = 0;
  private phase: InformerPhase = 'new';
  private phaseSince = Date.now();
  private deadline: number | null = null;
  private consecutiveErrors = 0;
  private lastError: InformerErrorInfo | undefined;
  private readonly errorListeners = new Set<(e: InformerErrorInfo) => void>();

  constructor(options: InformerOptions<T>) {
    this.o = options;
    const source = options.access ?? options.kubeConfig;
    if (source === undefined) throw new Error('informer: access or kubeConfig is required');
    this.source = source;
    this.server = serverOf(source);
  }

  // ---- public API

  start(): void {
    if (this.stopped) throw new Error('informer was stopped; create a new one');
    if (this.started) return;
    this.started = true;
    this.loop = this.run().then(
      () => {
        if (!this.stopped) this.setPhase('ended', null);
      },
      (err: unknown) => {
        this.setPhase('ended', null);
        try {
          this.o.logger?.warn('informer: loop ended unexpectedly', { path: this.o.path, error: errorMessage(err) });
        } catch {
          // the logger is what broke
        }
      },
    );
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.setPhase('stopped', null);
      this.abort.abort(new Stopped());
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      this.resolveSync(false);
    }
    await this.loop;
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d !== undefined) await d.destroy().catch(() => undefined);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  waitForSync(): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  get(key: string): T | undefined {
    return this.store.get(key)?.obj;
  }

  list(): T[] {
    return Array.from(this.store.values(), (e) => e.obj);
  }

  keys(): string[] {
    return Array.from(this.store.keys());
  }

  size(): number {
    return this.store.size;
  }

  resourceVersion(): string {
    return this.rv;
  }

  stats(): Readonly<InformerStats> {
    return { ...this.counters };
  }

  health(): InformerHealth {
    const h: InformerHealth = {
      phase: this.phase,
      since: this.phaseSince,
      deadline: this.deadline,
      consecutiveErrors: this.consecutiveErrors,
      synced: this.synced,
    };
    if (this.lastError !== undefined) h.lastError = { ...this.lastError };
    return h;
  }

  onError(listener: (e: InformerErrorInfo) => void): () => void {
    this.errorListeners.add(listener);
    return () => {
      this.errorListeners.delete(listener);
    };
  }

  private setPhase(phase: InformerPhase, deadline: number | null): void {
    if (this.stopped && phase !== 'stopped' && phase !== 'ended') return;
    if (phase !== this.phase) {
      this.phase = phase;
      this.phaseSince = Date.now();
    }
    this.deadline = deadline;
  }

  /** Progress in the current phase: the next sign of life is due within `withinMs` (plus the grace). */
  private progress(withinMs: number): void {
    if (!this.stopped) this.deadline = Date.now() + withinMs + HEALTH_GRACE_MS;
  }

  private recovered(): void {
    this.consecutiveErrors = 0;
    this.lastError = undefined;
  }

  // ---- loop

  private async run(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.listAll();
          needList = false;
          this.failures = 0;
          this.recovered();
        }
        const end = await this.watchOnce();
        if (end === 'relist') needList = true;
      } catch (err) {
        if (this.stopped) break;
        this.counters.errors++;
        // Errors more than two minutes apart start the backoff afresh.
        const now = Date.now();
        if (now - this.lastFailureAt > 120_000) this.failures = 0;
        this.lastFailureAt = now;
        const retryAfter = err instanceof InformerRequestError ? err.retryAfterMs : 0;
        const delay = Math.max(
          retryAfter,
          backoffDelay(this.failures++, this.o.backoffBaseMs ?? 1_000, this.o.backoffMaxMs ?? 30_000, 0.2),
        );
        if (err instanceof InformerRequestError && isTooLargeResourceVersion(err.message)) needList = true;
        this.o.logger?.warn(needList ? 'informer: list failed, retrying' : 'informer: watch failed, resuming', {
          path: this.o.path,
          error: errorMessage(err),
          status: err instanceof InformerRequestError ? err.status : undefined,
          retryInMs: Math.round(delay),
        });
        this.setPhase('backoff', Date.now() + delay + HEALTH_GRACE_MS);
        this.reportError(err, needList, delay);
        try {
          await this.sleep(delay);
        } catch {
          break;
        }
      }
    }
  }

  private reportError(err: unknown, listing: boolean, delay: number): void {
    this.consecutiveErrors++;
    const info: InformerErrorInfo = {
      path: this.o.path,
      status: err instanceof InformerRequestError ? err.status : 0,
      reason: err instanceof InformerRequestError ? err.reason : 'Error',
      message: errorMessage(err),
      listing,
      consecutiveErrors: this.consecutiveErrors,
      retryInMs: Math.round(delay),
      at: Date.now(),
    };
    this.lastError = info;
    for (const l of this.errorListeners) {
      try {
        l({ ...info });
      } catch {
        // a listener is for hints only
      }
    }
  }

  /** Full paginated LIST, then one atomic diff against the store. */
  private async listAll(): Promise<void> {
    const pageSize = this.o.pageSize ?? 500;
    const requestTimeoutMs = this.o.requestTimeoutMs ?? 60_000;
    this.setPhase('listing', Date.now() + requestTimeoutMs + HEALTH_GRACE_MS);
    const items: Decoded<T>[] = [];
    let cont: string | undefined;
    let rv = '';
    let paginate = true;
    for (;;) {
      const query: Record<string, string> = {};
      if (paginate) query.limit = String(pageSize);
      if (cont !== undefined) query.continue = cont;
      let page: z.infer<typeof listSchema>;
      this.progress(requestTimeoutMs);
      try {
        page = await this.listPage(query);
      } catch (err) {
        // An expired continue token: fall back to one unpaginated list (as client-go's pager does).
        if (cont !== undefined && err instanceof InformerRequestError && err.status === 410) {
          this.o.logger?.info?.('informer: continue token expired, listing without pagination', { path: this.o.path });
          items.length = 0;
          cont = undefined;
          paginate = false;
          continue;
        }
        throw err;
      }
      this.counters.pages++;
      for (const raw of page.items ?? []) {
        const d = this.decode(raw, true);
        if (d !== undefined) items.push(d);
      }
      rv = page.metadata.resourceVersion ?? rv;
      cont = page.metadata.continue || undefined;
      if (cont === undefined) break;
    }
    this.counters.lists++;
    this.replace(items);
    this.rv = rv;
    if (!this.synced) {
      this.synced = true;
      this.resolveSync(true);
    }
  }

  private async listPage(query: Record<string, string>): Promise<z.infer<typeof listSchema>> {
    const { res, done } = await this.request(query, `list ${this.o.path}`);
    let body: unknown;
    try {
      body = await res.json();
    } catch (err) {
      if (this.stopped) throw new Stopped();
      throw new InformerRequestError(0, 'BadResponse', `list ${this.o.path}: unreadable response: ${errorMessage(err)}`);
    } finally {
      done();
    }
    const parsed = listSchema.safeParse(body);
    if (!parsed.success) throw new InformerRequestError(0, 'BadResponse', `list ${this.o.path}: not a list`);
    return parsed.data;
  }

  /** One watch, read to its end. Resolves how to go on; rejects on errors (the caller backs off). */
  private async watchOnce(): Promise<WatchEnd> {
    const minTimeout = Math.max(1, this.o.minWatchTimeoutSeconds ?? 300);
    const timeoutSeconds = Math.floor(minTimeout * (1 + Math.random()));
    const silenceMs = this.o.watchdogMs ?? timeoutSeconds * 1000 + 60_000;
    const query: Record<string, string> = {
      watch: 'true',
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeoutSeconds),
      resourceVersion: this.rv,
    };

    const ac = new AbortController();
    const onStop = (): void => ac.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    let lastData = Date.now();
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const check = (): void => {
      if (watchdog !== undefined) this.timers.delete(watchdog);
      const idle = Date.now() - lastData;
      if (idle >= silenceMs) {
        watchdog = undefined;
        ac.abort(new WatchdogTimeout(silenceMs));
      } else {
        watchdog = this.timer(check, silenceMs - idle);
      }
    };
    watchdog = this.timer(check, silenceMs);

    const opened = Date.now();
    let events = 0;
    // The headers are due within the request timeout; then data (an event or bookmark) within the watchdog's
    // silence bound, which aborts the watch otherwise.
    this.setPhase('watching', opened + (this.o.requestTimeoutMs ?? 60_000) + HEALTH_GRACE_MS);
    try {
      const { res, done } = await this.request(query, `watch ${this.o.path}`, ac.signal);
      done();
      this.counters.watches++;
      this.progress(silenceMs);
      const body = res.body;
      if (body === null) throw new InformerRequestError(0, 'BadResponse', `watch ${this.o.path}: no body`);
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          lastData = Date.now();
          this.progress(silenceMs);
          if (this.consecutiveErrors > 0) this.recovered();
          buf += decoder.decode(value, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim() === '') continue;
            const end = this.handleEvent(line);
            if (end !== undefined) return end;
            events++;
          }
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
      // The server ended the watch. Progress resets the error backoff; an instant empty close counts as an error.
      const lasted = Date.now() - opened;
      if (events === 0 && lasted < Math.min(1_000, timeoutSeconds * 500)) {
        throw new InformerRequestError(0, 'ShortWatch', `watch ${this.o.path} closed after ${lasted} ms without events`);
      }
      this.failures = 0;
      return 'resume';
    } catch (err) {
      if (this.stopped) throw new Stopped();
      if (ac.signal.aborted && ac.signal.reason instanceof WatchdogTimeout) {
        this.counters.watchdogAborts++;
        this.dropConnections();
        throw new InformerRequestError(0, 'Watchdog', `watch ${this.o.path}: ${ac.signal.reason.message}`);
      }
      if (err instanceof InformerRequestError && err.status === 410) return this.expired(err.message);
      if (events > 0) this.failures = 0;
      throw err;
    } finally {
      if (watchdog !== undefined) {
        clearTimeout(watchdog);
        this.timers.delete(watchdog);
      }
      this.abort.signal.removeEventListener('abort', onStop);
      ac.abort();
    }
  }

  private expired(message: string): WatchEnd {
    this.counters.expired++;
    this.o.logger?.info?.('informer: resourceVersion expired, relisting', { path: this.o.path, message });
    return 'relist';
  }

  /** Applies one watch event line. Returns a WatchEnd to end the watch, undefined to go on. */
  private handleEvent(line: string): WatchEnd | undefined {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new InformerRequestError(0, 'BadResponse', `watch ${this.o.path}: unreadable event`);
    }
    const ev = eventSchema.safeParse(json);
    if (!ev.success) throw new InformerRequestError(0, 'BadResponse', `watch ${this.o.path}: malformed event`);
    const { type, object } = ev.data;
    switch (type) {
      case 'BOOKMARK': {
        const b = bookmarkSchema.safeParse(object);
        if (b.success && b.data.metadata.resourceVersion) this.rv = b.data.metadata.resourceVersion;
        return undefined;
      }
      case 'ERROR': {
        const s = statusSchema.safeParse(object);
        const status = s.success ? s.data : {};
        if (status.code === 410) return this.expired(status.message ?? 'Gone');
        throw new InformerRequestError(
          status.code ?? 0,
          status.reason ?? 'Unknown',
          `watch ${this.o.path}: ${status.message ?? 'error event'}`,
          (status.details?.retryAfterSeconds ?? 0) * 1000,
        );
      }
      case 'ADDED':
      case 'MODIFIED': {
        const d = this.decode(object, false);
        if (d === undefined) return undefined;
        this.upsert(d);
        if (d.rv) this.rv = d.rv;
        return undefined;
      }
      case 'DELETED': {
        const d = this.decode(object, false);
        if (d === undefined) return undefined;
        const old = this.store.get(d.key);
        if (old !== undefined) {
          this.store.delete(d.key);
          this.emit(() => this.o.onDelete?.(d.ok ? d.obj : old.obj, 'watch'), d.key);
        } else if (this.o.onGone) {
          // Not in the store (it did not parse): say that it is gone all the same.
          this.emit(() => this.o.onGone!(d.key), d.key);
        }
        if (d.rv) this.rv = d.rv;
        return undefined;
      }
      default:
        this.o.logger?.debug?.('informer: ignoring watch event', { path: this.o.path, type });
        return undefined;
    }
  }

  // ---- store

  /**
   * Key, resourceVersion and parsed object (or the parse error). With `reuse`, an object whose resourceVersion
   * equals the stored one is not parsed again.
   */
  private decode(raw: unknown, reuse: boolean): Decoded<T> | undefined {
    const meta = metaSchema.safeParse(raw);
    if (!meta.success || !isRecord(raw)) {
      this.o.logger?.warn('informer: object without metadata.name', { path: this.o.path });
      return undefined;
    }
    const { name, namespace, resourceVersion } = meta.data.metadata;
    const key = namespace ? `${namespace}/${name}` : name;
    const rv = resourceVersion ?? '';
    if (reuse && rv !== '') {
      const cur = this.store.get(key);
      if (cur !== undefined && cur.rv === rv) return { key, rv, ok: true, obj: cur.obj };
    }
    const m = raw.metadata;
    if (isRecord(m)) {
      delete m.managedFields;
      if (!this.o.keepLastAppliedAnnotation && isRecord(m.annotations)) delete m.annotations[LAST_APPLIED];
    }
    let parsed: z.ZodSafeParseResult<T>;
    try {
      parsed = this.o.schema.safeParse(raw);
    } catch (err) {
      // A refinement or transform that throws: the object is invalid, the loop goes on.
      return { key, rv, ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
    if (parsed.success) {
      const obj = parsed.data;
      // A schema that passes metadata through could still carry managedFields.
      if (isRecord(obj) && isRecord(obj.metadata)) delete obj.metadata.managedFields;
      return { key, rv, ok: true, obj };
    }
    return { key, rv, ok: false, error: parsed.error };
  }

  private upsert(d: Decoded<T>): void {
    const old = this.store.get(d.key);
    if (!d.ok) {
      if (old !== undefined) {
        this.store.delete(d.key);
        this.emit(() => this.o.onDelete?.(old.obj, 'invalid'), d.key);
      }
      this.invalid(d.key, d.error);
      return;
    }
    if (old !== undefined && old.obj === d.obj) return; // unchanged (relist reuse)
    this.store.set(d.key, { obj: d.obj, rv: d.rv });
    if (old === undefined) this.emit(() => this.o.onAdd?.(d.obj), d.key);
    else this.emit(() => this.o.onUpdate?.(old.obj, d.obj), d.key);
  }

  /** Makes the store equal to a full list: adds, updates of changed objects, deletes of missing ones. */
  private replace(items: Decoded<T>[]): void {
    const seen = new Set<string>();
    for (const d of items) {
      seen.add(d.key);
      this.upsert(d);
    }
    for (const [key, old] of this.store) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.emit(() => this.o.onDelete?.(old.obj, 'relist'), key);
    }
  }

  private invalid(key: string, error: Error): void {
    if (this.o.onInvalid) {
      this.emit(() => this.o.onInvalid!(key, error), key);
      return;
    }
    const issues = error instanceof z.ZodError ? error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) : [error.message];
    this.o.logger?.warn('informer: invalid object left out of the cache', { path: this.o.path, key, issues });
  }

  /** Calls a handler; a throwing handler is logged and never breaks the loop. */
  private emit(fn: () => void, key: string): void {
    try {
      fn();
    } catch (err) {
      this.o.logger?.warn('informer: handler threw', { path: this.o.path, key, error: errorMessage(err) });
    }
  }

  private resolveSync(ok: boolean): void {
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w(ok);
  }

  // ---- HTTP

  /**
   * GET the collection with `query`. Resolves on a 2xx response; the caller reads the body and then calls
   * `done()`, which clears the request timeout (it covers the response headers, and the body until `done`).
   * Rejects with InformerRequestError otherwise, or with the signal's reason when it aborts.
   */
  private async request(
    query: Record<string, string>,
    what: string,
    signal: AbortSignal = this.abort.signal,
  ): Promise<{ res: UndiciResponse; done(): void }> {
    if (this.stopped) throw new Stopped();
    const url = new URL(this.server + this.o.path);
    if (this.o.labelSelector) url.searchParams.set('labelSelector', this.o.labelSelector);
    if (this.o.fieldSelector) url.searchParams.set('fieldSelector', this.o.fieldSelector);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);

    let auth: Record<string, string>;
    try {
      const access = await toKubeAccess(this.source);
      auth = await access.headers();
      this.dispatcher ??= await access.createDispatcher();
    } catch (err) {
      if (this.stopped) throw new Stopped();
      throw new InformerRequestError(0, 'Credentials', `${what}: ${errorMessage(err)}`);
    }
    if (this.stopped) throw new Stopped();

    const timeoutMs = this.o.requestTimeoutMs ?? 60_000;
    const timeout = new AbortController();
    const timer = this.timer(() => timeout.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
    const combined = AbortSignal.any([signal, timeout.signal]);
    let res: UndiciResponse;
    try {
      res = await fetch(url, {
        method: 'GET',
        headers: { ...auth, Accept: 'application/json' },
        dispatcher: this.dispatcher,
        signal: combined,
      });
    } catch (err) {
      done();
      if (this.stopped) throw new Stopped();
      if (signal.aborted) throw signal.reason;
      const timedOut = timeout.signal.aborted;
      if (timedOut) this.dropConnections();
      throw new InformerRequestError(
        0,
        timedOut ? 'Timeout' : 'ConnectionError',
        `${what}: ${errorMessage(timedOut ? timeout.signal.reason : err)}`,
      );
    }
    if (res.ok) return { res, done };
    let status: z.infer<typeof statusSchema> = {};
    try {
      const s = statusSchema.safeParse(await res.json());
      if (s.success) status = s.data;
    } catch {
      // not a Status body
    } finally {
      done();
    }
    const retryAfter = Math.max(
      retryAfterHeaderMs(res.headers.get('retry-after')),
      (status.details?.retryAfterSeconds ?? 0) * 1000,
    );
    throw new InformerRequestError(
      res.status,
      status.reason ?? res.statusText,
      `${what}: HTTP ${res.status}${status.message ? `: ${status.message}` : ''}`,
      retryAfter,
    );
  }

  /**
   * Forgets the connection pool after a silent hang or a timeout. undici multiplexes every request over one
   * HTTP/2 connection, so without this the next request would go to the same dead connection.
   */
  private dropConnections(): void {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    if (d !== undefined) d.destroy().catch(() => undefined);
  }

  /** setTimeout that stop() clears. */
  private timer(fn: () => void, ms: number): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, Math.min(Math.max(ms, 0), 2 ** 31 - 1));
    this.timers.add(t);
    return t;
  }

  /** Waits ms; rejects when the informer is stopped. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) {
        reject(new Stopped());
        return;
      }
      const onStop = (): void => {
        clearTimeout(t);
        this.timers.delete(t);
        reject(new Stopped());
      };
      const t = this.timer(() => {
        this.abort.signal.removeEventListener('abort', onStop);
        resolve();
      }, ms);
      this.abort.signal.addEventListener('abort', onStop, { once: true });
    });
  }
}

/** A list+watch cache for one collection path; call `start()` to begin. */
export function createInformer<T>(options: InformerOptions<T>): Informer<T> {
  return new InformerImpl(options);
}
