// A small Kubernetes REST client on undici, from a KubeAccess (server, TLS, auth headers: ./config.ts). The
// operator needs a handful of verbs on a few paths, with exact control over patch types, so this is simpler and
// more predictable than the generated clients. A @kubernetes/client-node KubeConfig is accepted too (tests hold
// one): it is adapted on the first request, and only then is client-node imported.
import type { KubeConfig } from '@kubernetes/client-node';
import { fetch, type Dispatcher } from 'undici';
import { z } from 'zod';
import { serverOf, toKubeAccess, type KubeAccess } from './config.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export const MERGE_PATCH = 'application/merge-patch+json';
export const JSON_PATCH = 'application/json-patch+json';

const Status = z.object({
  kind: z.literal('Status').optional(),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
});

/** An error answered by the API server (or a failure to reach it: status 0). */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;
  constructor(status: number, reason: string, message: string, method: string, path: string) {
    super(message);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
  }
}

export function isKubeStatus(err: unknown, ...statuses: number[]): err is KubeApiError {
  return err instanceof KubeApiError && statuses.includes(err.status);
}

export interface KubeRequestObserver {
  (r: { method: Method; path: string; status: number; durationMs: number }): void;
}

export class KubeClient {
  /** What the client was made from; another client can be made from it (they share the credentials). */
  readonly kubeConfig: KubeConfig | KubeAccess;
  private readonly server: string;
  private readonly timeoutMs: number;
  /** This client's own connection pool: dropped after a timeout, so that a dead connection is not reused. */
  private pool: Promise<Dispatcher> | undefined;
  onRequest?: KubeRequestObserver;

  constructor(kubeConfig: KubeConfig | KubeAccess, opts: { timeoutMs?: number } = {}) {
    this.kubeConfig = kubeConfig;
    this.server = serverOf(kubeConfig);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Sends one request; returns the parsed JSON body (undefined for an empty body). Throws KubeApiError. */
  async request(
    method: Method,
    path: string,
    body?: unknown,
    contentType?: string,
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const url = this.server + path;
    let auth: Record<string, string>;
    let pool: Promise<Dispatcher>;
    let dispatcher: Dispatcher;
    try {
      const access = await toKubeAccess(this.kubeConfig);
      auth = await access.headers();
      if (this.pool === undefined) {
        const p = access.createDispatcher();
        this.pool = p;
        p.catch(() => this.pool === p && (this.pool = undefined));
      }
      pool = this.pool;
      dispatcher = await pool;
    } catch (err) {
      const cause = err instanceof Error ? err.message : String(err);
      throw new KubeApiError(0, 'Credentials', `${method} ${pathOnly(path)}: ${cause}`, method, pathOnly(path));
    }
    const h: Record<string, string> = { Accept: 'application/json', ...auth, ...headers };
    if (body !== undefined) h['Content-Type'] = contentType ?? 'application/json';
    const started = performance.now();
    // A timer cleared as soon as the answer is in (AbortSignal.timeout would keep one alive per request).
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    let res;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
        signal: timeout.signal,
      });
      text = await res.text();
    } catch (err) {
      if (timeout.signal.aborted) this.dropPool(pool);
      this.onRequest?.({ method, path: routeOf(path), status: 0, durationMs: performance.now() - started });
      const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new KubeApiError(0, 'Unreachable', `${method} ${pathOnly(path)}: ${cause}`, method, pathOnly(path));
    } finally {
      clearTimeout(timer);
    }
    this.onRequest?.({ method, path: routeOf(path), status: res.status, durationMs: performance.now() - started });
    if (res.status >= 400) {
      let reason = res.statusText || 'Error';
      let message = text.slice(0, 2000);
      try {
        const s = Status.parse(JSON.parse(text));
        reason = s.reason ?? reason;
        message = s.message ?? message;
      } catch {
        // not a Status object: keep the raw text
      }
      throw new KubeApiError(res.status, reason, message, method, pathOnly(path));
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  }

  /** Closes this client's connections (requests after this open new ones). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool !== undefined) await (await pool).close().catch(() => undefined);
  }

  /**
   * Forgets the pool a request timed out on. undici multiplexes requests over one HTTP/2 connection: without
   * this, a connection that went silent (a half-open TCP connection) would take every later request down too.
   */
  private dropPool(pool: Promise<Dispatcher>): void {
    if (this.pool !== pool) return; // already replaced
    this.pool = undefined;
    void pool.then((d) => d.destroy()).catch(() => undefined);
  }
}

function pathOnly(path: string): string {
  return path.split('?')[0] ?? path;
}

/** A low-cardinality label for a path: namespace and object names are replaced by placeholders. */
export function routeOf(path: string): string {
  const segs = pathOnly(path).split('/').filter(Boolean);
  const prefixLen = segs[0] === 'api' ? 2 : 3; // /api/v1 or /apis/group/version
  const out = segs.slice(0, prefixLen);
  let rest = segs.slice(prefixLen);
  if (rest[0] === 'namespaces' && rest.length > 2) {
    out.push('namespaces', '{ns}');
    rest = rest.slice(2);
  }
  // plural [/name [/subresource]]
  rest.forEach((s, i) => out.push(i === 1 ? '{name}' : s));
  return '/' + out.join('/');
}
