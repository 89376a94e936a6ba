// One error type for everything the cloud says (or fails to say), and the classification the reconciler acts on
// (SPEC §3.7). Parsers cover the error bodies of SPEC §4: Neutron, Keystone, Huawei (two shapes), and non-JSON.
// The secrets a request carried (password, token, PSK) are scrubbed from the body before it is parsed, from each
// text after it is decoded and before it is clipped, and from the final message (src/cloud/redact.ts).
import type { Redactor } from './redact.ts';

export type CloudErrorKind = 'terminal' | 'retryable' | 'auth' | 'notFound' | 'conflict' | 'pendingState';

export interface CloudErrorInit {
  /** HTTP status; 0 for network errors and timeouts. */
  status: number;
  /** The cloud's error type or code (Neutron `type`, Keystone `title`, Huawei `error_code`/`code`). */
  code?: string | undefined;
  /** The cloud's message (or, for status 0, what went wrong on the wire). */
  cloudMessage?: string | undefined;
  detail?: string | undefined;
  requestId?: string | undefined;
  retryAfterMs?: number | undefined;
  method: string;
  /** URL path, without the query string. */
  path: string;
  /** Overrides the classification derived from status/code (e.g. a missing catalog entry is terminal). */
  kind?: CloudErrorKind | undefined;
  cause?: unknown;
  /** The secrets of the request: removed from code, cloudMessage, detail, requestId and the message. Not kept. */
  secrets?: Redactor | undefined;
}

export class CloudError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly cloudMessage: string;
  readonly detail: string | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly method: string;
  readonly path: string;
  readonly kind: CloudErrorKind | undefined;

  constructor(given: CloudErrorInit) {
    const init = scrubInit(given);
    super(init.secrets ? init.secrets.redact(formatMessage(init)) : formatMessage(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'CloudError';
    this.status = init.status;
    this.code = init.code;
    this.cloudMessage = init.cloudMessage ?? '';
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.retryAfterMs = init.retryAfterMs;
    this.method = init.method;
    this.path = init.path;
    this.kind = init.kind;
  }

  /** Structured form for JSON logs. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      status: this.status,
      code: this.code,
      cloudMessage: this.cloudMessage,
      requestId: this.requestId,
      retryAfterMs: this.retryAfterMs,
      method: this.method,
      path: this.path,
      kind: classify(this),
    };
  }
}

function scrubInit(init: CloudErrorInit): CloudErrorInit {
  const r = init.secrets;
  if (!r || r.empty) return init;
  return {
    ...init,
    code: r.redact(init.code),
    cloudMessage: r.redact(init.cloudMessage),
    detail: r.redact(init.detail),
    requestId: r.redact(init.requestId),
  };
}

function formatMessage(init: CloudErrorInit): string {
  const what = init.status === 0 ? '' : ` ${init.status}${init.code ? ` ${init.code}` : ''}`;
  const msg = init.cloudMessage ? `: ${init.cloudMessage}` : '';
  const rid = init.requestId ? ` (request ${init.requestId})` : '';
  const where = init.method ? `${init.method} ${init.path}` : init.path || 'cloud';
  return `${where}${what}${msg}${rid}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Body parsing

export interface ParsedErrorBody {
  code?: string | undefined;
  message?: string | undefined;
  detail?: string | undefined;
  /** Some clouds (Huawei API gateway) put the request id in the body. */
  requestId?: string | undefined;
}

const MAX_MESSAGE = 500;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v === '' ? undefined : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Whitespace collapsed, secrets removed (from the decoded text, before the cut), cut at MAX_MESSAGE. */
function clipper(secrets: Redactor | undefined): (s: string | undefined) => string | undefined {
  return (s) => {
    if (s === undefined) return undefined;
    // Scrubbed before and after the whitespace is collapsed (a secret may hold a run of spaces).
    let t = (secrets ? secrets.redact(s) : s).replace(/\s+/g, ' ').trim();
    if (secrets) t = secrets.redact(t);
    if (t === '') return undefined;
    return t.length > MAX_MESSAGE ? `${t.slice(0, MAX_MESSAGE)}…` : t;
  };
}

/**
 * Extracts code/message from a parsed JSON error body, whatever the cloud's format. With `secrets`, messages are
 * scrubbed before they are clipped (the other fields are scrubbed by parseErrorBody and CloudError).
 */
export function parseErrorJson(body: unknown, secrets?: Redactor): ParsedErrorBody {
  const clip = clipper(secrets);
  if (!isRecord(body)) return {};
  // Neutron: {"NeutronError": {"type", "message", "detail"}} (old Neutron: {"NeutronError": "message"}).
  if ('NeutronError' in body) {
    const ne = body.NeutronError;
    if (isRecord(ne)) {
      return { code: asText(ne.type), message: clip(asText(ne.message)), detail: clip(asText(ne.detail)) };
    }
    return { message: clip(asText(ne)) };
  }
  // Keystone: {"error": {"code": 401, "title": "Unauthorized", "message": "..."}}; Huawei services sometimes use
  // {"error": {"code": "APIGW.0101", "message": "..."}}.
  if (isRecord(body.error)) {
    const e = body.error;
    const code = asText(e.title) ?? (typeof e.code === 'string' ? e.code : undefined) ?? asText(e.error_code);
    return {
      code,
      message: clip(asText(e.message) ?? asText(e.error_msg)),
      requestId: asText(e.request_id),
    };
  }
  // Huawei: {"error_code": "VPC.0101", "error_msg": "...", "request_id"?}.
  if ('error_code' in body || 'error_msg' in body) {
    return {
      code: asText(body.error_code),
      message: clip(asText(body.error_msg) ?? asText(body.message)),
      requestId: asText(body.request_id),
    };
  }
  // Huawei: {"code": "VPC.0101", "message": "..."}.
  if ('code' in body && ('message' in body || 'msg' in body)) {
    return {
      code: asText(body.code),
      message: clip(asText(body.message) ?? asText(body.msg)),
      requestId: asText(body.request_id),
    };
  }
  // Pecan/WSME: {"faultstring": "...", "faultcode": "Client"}.
  if ('faultstring' in body) {
    return { code: asText(body.faultcode), message: clip(asText(body.faultstring)) };
  }
  // Nova/webob style: {"itemNotFound": {"message": "...", "code": 404}}.
  const keys = Object.keys(body);
  if (keys.length === 1) {
    const inner = body[keys[0]!];
    if (isRecord(inner) && 'message' in inner) return { code: keys[0], message: clip(asText(inner.message)) };
  }
  if ('message' in body) return { message: clip(asText(body.message)) };
  return {};
}

/**
 * Parses an error response body (JSON in any of the known formats, or text/HTML). With `secrets`, the body is
 * scrubbed before anything else, and every text taken from it again once decoded (JSON, entities), before the clip.
 */
export function parseErrorBody(text: string, contentType?: string, secrets?: Redactor): ParsedErrorBody {
  if (!secrets || secrets.empty) return parseBody(text, contentType, undefined);
  const p = parseBody(secrets.redact(text), contentType, secrets);
  const out: ParsedErrorBody = { ...p };
  if (p.code !== undefined) out.code = secrets.redact(p.code);
  if (p.requestId !== undefined) out.requestId = secrets.redact(p.requestId);
  return out;
}

function parseBody(text: string, contentType: string | undefined, secrets: Redactor | undefined): ParsedErrorBody {
  const trimmed = text.trim();
  if (trimmed === '') return {};
  const looksJson = (contentType ?? '').includes('json') || trimmed.startsWith('{');
  if (looksJson) {
    try {
      const parsed = parseErrorJson(JSON.parse(trimmed), secrets);
      if (parsed.code !== undefined || parsed.message !== undefined) return parsed;
    } catch {
      // not JSON after all; fall through to text.
    }
  }
  const plain = trimmed
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  return { message: clipper(secrets)(plain) };
}

/**
 * Retry-After: delay in seconds, or an HTTP date. Returns milliseconds from `now` (never negative), or undefined
 * when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined | null, now: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === null) return undefined;
  const s = v.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (/^-\d/.test(s)) return undefined;
  const t = Date.parse(s);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

/** The request id header: X-Openstack-Request-Id, else X-Compute-Request-Id / X-Request-Id (Huawei). */
export function requestIdFrom(headers: Record<string, string | string[] | undefined>): string | undefined {
  for (const h of ['x-openstack-request-id', 'x-request-id', 'x-compute-request-id']) {
    const v = headers[h];
    const s = Array.isArray(v) ? v[0] : v;
    if (s) return s;
  }
  return undefined;
}

export interface HttpErrorInput {
  method: string;
  path: string;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  now?: number;
  /** The secrets the request carried: no text of the error holds them (see parseErrorBody). */
  secrets?: Redactor | undefined;
}

/** Builds the CloudError for an HTTP error response. */
export function cloudErrorFromResponse(r: HttpErrorInput): CloudError {
  const ct = r.headers['content-type'];
  const parsed = parseErrorBody(r.body, Array.isArray(ct) ? ct[0] : ct, r.secrets);
  return new CloudError({
    status: r.status,
    code: parsed.code,
    cloudMessage: parsed.message,
    detail: parsed.detail,
    requestId: requestIdFrom(r.headers) ?? parsed.requestId,
    retryAfterMs: parseRetryAfter(r.headers['retry-after'], r.now),
    method: r.method,
    path: r.path,
    secrets: r.secrets,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Classification (SPEC §3.7)

/** Neutron's refusal to update a VPN service while it is PENDING_*: wait and retry. */
const PENDING_STATE_CODES = new Set(['VPNStateInvalidToUpdate']);

/**
 * What the reconciler should do about an error:
 * - `terminal`: the cloud refused this request (4xx); retry only when the spec changes (or slowly);
 * - `retryable`: 5xx, timeouts, connection errors, 408, 429 (see `retryAfterMs`);
 * - `auth`: 401 after one re-authentication;
 * - `notFound`: 404; `conflict`: 409;
 * - `pendingState`: 400 VPNStateInvalidToUpdate: the object is PENDING_*; wait and retry.
 * Anything that is not a CloudError (a bug, an unexpected exception) is `retryable`.
 */
export function classify(err: unknown): CloudErrorKind {
  if (!(err instanceof CloudError)) return 'retryable';
  if (err.kind) return err.kind;
  const s = err.status;
  if (s === 0) return 'retryable';
  if (s >= 500) return 'retryable';
  if (s === 401) return 'auth';
  if (s === 404) return 'notFound';
  if (s === 409) return 'conflict';
  if (s === 408 || s === 425 || s === 429) return 'retryable';
  if (s === 400 && err.code !== undefined && PENDING_STATE_CODES.has(err.code)) return 'pendingState';
  if (s >= 400) return 'terminal';
  // 1xx-3xx reaching here is an unexpected answer (e.g. a redirect, a body that does not parse): try again later.
  return 'retryable';
}

/** True when trying again later may succeed without a spec change (retryable or pendingState). */
export function isTransient(err: unknown): boolean {
  const k = classify(err);
  return k === 'retryable' || k === 'pendingState';
}

/** The cloud's Retry-After hint in milliseconds, if any. */
export function retryAfterMs(err: unknown): number | undefined {
  return err instanceof CloudError ? err.retryAfterMs : undefined;
}
