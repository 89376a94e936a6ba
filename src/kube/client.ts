// A small Kubernetes REST client on top of @kubernetes/client-node's KubeConfig (auth, TLS, in-cluster) and
// undici. The operator needs a handful of verbs on a few paths, with exact control over patch types, so this
// is simpler and more predictable than the generated clients.
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { fetch } from 'undici';
import { z } from 'zod';

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
  readonly kubeConfig: KubeConfig;
  private readonly server: string;
  private readonly timeoutMs: number;
  onRequest?: KubeRequestObserver;

  constructor(kubeConfig: KubeConfig, opts: { timeoutMs?: number } = {}) {
    this.kubeConfig = kubeConfig;
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = cluster.server.replace(/\/+$/, '');
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
    const ctx = new RequestContext(url, HttpMethod[method]);
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const h: Record<string, string> = { Accept: 'application/json', ...ctx.getHeaders(), ...headers };
    if (body !== undefined) h['Content-Type'] = contentType ?? 'application/json';
    const started = performance.now();
    let res;
    try {
      res = await fetch(url, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: ctx.getDispatcher(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      this.onRequest?.({ method, path: routeOf(path), status: 0, durationMs: performance.now() - started });
      const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new KubeApiError(0, 'Unreachable', `${method} ${pathOnly(path)}: ${cause}`, method, pathOnly(path));
    }
    const text = await res.text();
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
