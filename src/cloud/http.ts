// The HTTP layer shared by Keystone and Neutron calls: one undici Agent per cloud (keep-alive, bounded
// connections, TLS as configured), a per-request timeout, error mapping to CloudError, and one observation per
// request for metrics and logs. Tokens and request bodies are never logged, and an error built from a response
// holds none of the request's secrets (its token and the `secrets` of the request), in any common encoding.
// A response body is read up to the cloud's limit (src/cloud/limits.ts); for a tenant's cloud, every request's host
// is checked against the admin's policy before anything is sent (src/cloud/hosts.ts).
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import type { CloudConfig } from './config.ts';
import { CloudConfigError } from './config.ts';
import { CloudError, cloudErrorFromResponse, requestIdFrom } from './errors.ts';
import { CloudGate } from './gate.ts';
import type { CloudGateOptions, GateState, Release } from './gate.ts';
import { HostNotAllowedError, type HostPolicy } from './hosts.ts';
import { DEFAULT_LIMITS, formatBytes } from './limits.ts';
import { Redactor } from './redact.ts';
import type { Secret } from './secret.ts';

export interface RequestEvent {
  cloud: string;
  method: string;
  /** Route template without ids, e.g. `/vpn/vpnservices/{id}` or `/v3/auth/tokens`. */
  route: string;
  /** HTTP status; 0 when no response came (timeout, connection error). */
  status: number;
  durationMs: number;
  requestId: string | undefined;
  /**
   * What went wrong: for status 0, `Timeout`, the connection error code (`ECONNRESET`, …), a code of the gate (not
   * sent) or `HostNotAllowed` (not sent: a tenant's cloud naming a host the admin does not allow); with a status,
   * `ResponseTooLarge` (the body was over the limit and not read further).
   */
  error?: string | undefined;
}

export type RequestObserver = (e: RequestEvent) => void;

export interface CloudLogger {
  debug(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  warn(msg: string, meta?: Record<string, unknown>): void;
}

export interface TlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

/** Reads the CA bundle and client certificate named by the config (file paths, or PEM text given directly). */
export function tlsSettingsFrom(config: CloudConfig): TlsSettings {
  const read = (field: string, v: string | undefined): string | undefined => {
    if (v === undefined) return undefined;
    if (v.includes('-----BEGIN')) return v;
    try {
      return readFileSync(v, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'read error';
      throw new CloudConfigError(config.source, `cannot read ${v} (${code})`, `clouds.${config.cloudName}.${field}`);
    }
  };
  const tls: TlsSettings = { rejectUnauthorized: config.verify };
  const ca = read('cacert', config.cacert);
  if (ca !== undefined) tls.ca = ca;
  const cert = read('cert', config.cert);
  if (cert !== undefined) tls.cert = cert;
  const key = read('key', config.key);
  if (key !== undefined) tls.key = key;
  return tls;
}

export interface HttpTransportOptions {
  cloudName: string;
  tls: TlsSettings;
  timeoutMs: number;
  connections?: number;
  onRequest?: RequestObserver | undefined;
  logger?: CloudLogger | undefined;
  userAgent?: string;
  /** Concurrency limit and fail-fast of this cloud (see gate.ts). */
  gate?: CloudGateOptions | undefined;
  /** Clock of the fail-fast cool-down, for tests. */
  now?: (() => number) | undefined;
  /** The largest response body read (default DEFAULT_LIMITS.maxResponseBytes, 4 MiB). */
  maxResponseBytes?: number | undefined;
  /** For a tenant's cloud: the hosts it may send to (checked before each request). None: any host. */
  hosts?: HostPolicy | undefined;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  route: string;
  /** Sent as X-Auth-Token. */
  token?: Secret | undefined;
  /** Extra headers (never logged). */
  headers?: Record<string, string>;
  /** JSON body. */
  body?: unknown;
  /** Statuses that count as success (default: any 2xx). */
  expect?: readonly number[];
  /**
   * Secrets the request carries besides the token (a password in the body, a PSK): scrubbed, like the token,
   * from the texts of the CloudError an error response becomes.
   */
  secrets?: ReadonlyArray<string | Secret | undefined> | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  requestId: string | undefined;
}

export class HttpTransport {
  readonly #agent: Agent;
  readonly #opts: HttpTransportOptions;
  readonly #gate: CloudGate;

  constructor(opts: HttpTransportOptions) {
    this.#opts = opts;
    this.#gate = new CloudGate(opts.cloudName, opts.timeoutMs, opts.gate ?? {}, opts.now ?? Date.now);
    const connect: Record<string, unknown> = { rejectUnauthorized: opts.tls.rejectUnauthorized };
    if (opts.tls.ca !== undefined) connect.ca = opts.tls.ca;
    if (opts.tls.cert !== undefined) connect.cert = opts.tls.cert;
    if (opts.tls.key !== undefined) connect.key = opts.tls.key;
    connect.timeout = Math.min(opts.timeoutMs, 30_000);
    this.#agent = new Agent({
      connections: opts.connections ?? 16,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 120_000,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connect,
    });
  }

  get timeoutMs(): number {
    return this.#opts.timeoutMs;
  }

  /** The longest a request can take from the call to its end: the wait for a slot plus the request timeout. */
  get maxRequestMs(): number {
    return this.#gate.queueTimeoutMs + this.#opts.timeoutMs;
  }

  /** Requests in flight and waiting, and whether this cloud is failing fast. */
  gateState(): GateState {
    return this.#gate.state();
  }

  /**
   * Throws HostNotAllowedError when this cloud has a host policy that does not allow the host of `url` (or its
   * scheme is not http(s)), after observing the refusal as a request of `at` without an answer (error
   * `HostNotAllowed`); `what` names where the URL comes from (e.g. `the service catalog's network endpoint`).
   */
  checkHost(url: string, what: string, at: { method: string; route: string; path?: string }): void {
    const policy = this.#opts.hosts;
    if (policy === undefined) return;
    let u: URL | undefined;
    try {
      u = new URL(url);
    } catch {
      u = undefined;
    }
    if (u && (u.protocol === 'http:' || u.protocol === 'https:') && policy.allows(u.hostname)) return;
    const err = new HostNotAllowedError({ host: u?.hostname ?? url, what, method: at.method, path: at.path ?? u?.pathname ?? '' });
    this.#observe({ cloud: this.#opts.cloudName, method: at.method, route: at.route, status: 0, durationMs: 0, requestId: undefined, error: err.code });
    throw err;
  }

  /** Sends a request; returns the response for an expected status, throws CloudError otherwise. */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const path = url.pathname;
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#opts.userAgent ?? 'vpnaas-operator',
      ...req.headers,
    };
    let body: string | undefined;
    if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    if (req.token) headers['x-auth-token'] = req.token.reveal();
    // Built only when an error is: what its texts must not hold.
    const secrets = (): Redactor => new Redactor([req.token, ...(req.secrets ?? [])]);

    this.checkHost(req.url, 'the request URL', { method: req.method, route: req.route, path });
    const started = performance.now();
    let release: Release;
    try {
      release = await this.#gate.acquire(req.method, path);
    } catch (e) {
      // Not sent: the cloud is failing fast or too busy. Observed like a request without an answer.
      this.#observe({
        cloud: this.#opts.cloudName,
        method: req.method,
        route: req.route,
        status: 0,
        durationMs: Math.round((performance.now() - started) * 1000) / 1000,
        requestId: undefined,
        error: e instanceof CloudError ? e.code : 'Gate',
      });
      throw e;
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#opts.timeoutMs);
    let status = 0;
    let requestId: string | undefined;
    let errorCode: string | undefined;
    const maxBytes = this.#opts.maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes;
    try {
      let res;
      let text: string;
      try {
        const send = () =>
          this.#agent.request({
            origin: url.origin,
            path: url.pathname + url.search,
            method: req.method,
            headers,
            body: body ?? null,
            signal: controller.signal,
          });
        try {
          res = await send();
        } catch (e) {
          // A GET whose connection the server closed before answering anything (a kept-alive socket it had dropped,
          // an API worker that died under it, as Debian's neutron-server does now and then) is asked once more, within
          // the same timeout: nothing was answered, and a GET changes nothing. Other methods are never repeated here.
          if (req.method !== 'GET' || timedOut || !closedUnanswered(e)) throw e;
          res = await send();
        }
        status = res.statusCode;
        requestId = requestIdFrom(res.headers);
        text = await readText(res.body, res.headers['content-length'], maxBytes);
      } catch (e) {
        if (e instanceof BodyTooLarge) {
          // An answer, over the limit: not read further (the connection is dropped), an error of its own.
          controller.abort();
          errorCode = 'ResponseTooLarge';
          throw new CloudError({
            status,
            code: errorCode,
            cloudMessage: `the response body is larger than ${formatBytes(maxBytes)}, the operator's limit per cloud response${e.declared !== undefined ? ` (Content-Length ${e.declared})` : ''}; not read further`,
            requestId,
            method: req.method,
            path,
            kind: 'retryable',
            secrets: secrets(),
          });
        }
        status = 0;
        errorCode = timedOut ? 'Timeout' : networkErrorCode(e);
        throw new CloudError({
          status: 0,
          code: errorCode,
          cloudMessage: timedOut
            ? `no response within ${this.#opts.timeoutMs} ms`
            : `connection failed: ${networkErrorMessage(e)}`,
          requestId,
          method: req.method,
          path,
          cause: e,
          secrets: secrets(),
        });
      }
      const ok = req.expect ? req.expect.includes(status) : status >= 200 && status < 300;
      if (!ok) {
        throw cloudErrorFromResponse({ method: req.method, path, status, headers: res.headers, body: text, secrets: secrets() });
      }
      return { status, headers: res.headers, text, requestId };
    } finally {
      clearTimeout(timer);
      release(status !== 0);
      const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      const event: RequestEvent = {
        cloud: this.#opts.cloudName,
        method: req.method,
        route: req.route,
        status,
        durationMs,
        requestId,
      };
      if (errorCode !== undefined) event.error = errorCode;
      this.#observe(event);
    }
  }

  #observe(event: RequestEvent): void {
    try {
      this.#opts.onRequest?.(event);
    } catch {
      // an observer must not break the request
    }
    this.#opts.logger?.debug('cloud request', { ...event });
  }

  async close(): Promise<void> {
    this.#gate.close();
    await this.#agent.close();
  }

  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}

class BodyTooLarge extends Error {
  readonly declared: number | undefined;
  constructor(declared?: number) {
    super('response body too large');
    this.declared = declared;
  }
}

/** The body as text, refusing one over `max` bytes: by its Content-Length before reading, else once read past it. */
async function readText(body: AsyncIterable<Buffer | Uint8Array | string>, contentLength: string | string[] | undefined, max: number): Promise<string> {
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  if (Number.isFinite(declared) && declared > max) throw new BodyTooLarge(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk);
    size += b.length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(b);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errChain(e: unknown): Array<{ code?: unknown; message?: unknown; name?: unknown }> {
  const out: Array<{ code?: unknown; message?: unknown; name?: unknown }> = [];
  let cur: unknown = e;
  for (let i = 0; i < 5 && typeof cur === 'object' && cur !== null; i++) {
    out.push(cur as { code?: unknown; message?: unknown });
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

function networkErrorCode(e: unknown): string {
  const chain = errChain(e);
  // Prefer the OS/TLS code (ECONNRESET, CERT_…) over undici's wrapper codes.
  for (const c of chain) {
    if (typeof c.code === 'string' && !c.code.startsWith('UND_ERR')) return c.code;
  }
  for (const c of chain) if (typeof c.code === 'string') return c.code;
  return 'ConnectionError';
}

function networkErrorMessage(e: unknown): string {
  const parts: string[] = [];
  for (const c of errChain(e)) {
    if (typeof c.message === 'string' && c.message && !parts.includes(c.message)) parts.push(c.message);
  }
  return parts.join(': ') || 'unknown error';
}

/** The server closed the connection before sending a single byte of an answer. */
function closedUnanswered(e: unknown): boolean {
  const err = e as { code?: unknown; socket?: { bytesRead?: unknown } } | null;
  return err !== null && typeof err === 'object' && err.code === 'UND_ERR_SOCKET' && err.socket?.bytesRead === 0;
}
