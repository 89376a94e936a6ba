// Fault injection: per route, with a probability and an optional count, an error status (429 with Retry-After),
// a reset connection, a lost response (the request is performed, then the connection drops), a hang (the request
// is performed, then no answer ever comes: the client times out) or added latency.
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { json, keystoneError, neutronErrorBody } from './http.ts';
import type { SimResponse } from './http.ts';

export type FaultKind = 'error' | 'reset' | 'lostResponse' | 'hang' | 'latency';

export interface FaultSpec {
  /** `*`, `METHOD *`, `METHOD /path` or `/path`; the path is a route template (`/v2.0/vpn/vpnservices/{id}`) or a
   * concrete path, and may end in `*` to match a prefix. Default `*`. Admin routes (`/_sim/…`) never fault. */
  route?: string;
  /** `error`: answer `status` without performing the request; `reset`: drop the connection without performing it;
   * `lostResponse`: perform it, then drop the connection; `hang`: perform it, then never answer (the connection
   * stays open until the client gives up or the simulator stops); `latency`: only delay.
   * Default: `error` when `status` is set, `latency` when only `latencyMs` is set, else `error` (500). */
  kind?: FaultKind;
  /** HTTP status of an `error` fault (default 500). */
  status?: number;
  /** Retry-After seconds of a 429 (default 1). */
  retryAfterSeconds?: number;
  /** Error message in the API's own error shape. */
  message?: string;
  /** Raw body instead of the API's error shape (e.g. a proxy's HTML page), with `contentType`. */
  body?: string;
  contentType?: string;
  /** Probability that a matching request is hit, 0..1 (default 1). */
  rate?: number;
  /** Hit only the next N matching requests, then the fault removes itself. */
  times?: number;
  /** Delay before the request is handled (any kind). */
  latencyMs?: number;
}

export const faultSpecSchema = z.object({
  route: z.string().min(1).optional(),
  kind: z.enum(['error', 'reset', 'lostResponse', 'hang', 'latency']).optional(),
  status: z.number().int().min(100).max(599).optional(),
  retryAfterSeconds: z.number().min(0).optional(),
  message: z.string().optional(),
  body: z.string().optional(),
  contentType: z.string().optional(),
  rate: z.number().min(0).max(1).optional(),
  times: z.number().int().positive().optional(),
  latencyMs: z.number().min(0).optional(),
});

export interface FaultInfo extends FaultSpec {
  id: number;
  /** How many requests it has hit so far. */
  hits: number;
}

interface Entry {
  id: number;
  spec: FaultSpec;
  kind: FaultKind;
  method: string;
  path: string;
  remaining: number | null;
  hits: number;
}

export type FaultAction =
  | { kind: 'error'; spec: FaultSpec; status: number }
  | { kind: 'reset' }
  | { kind: 'lostResponse' }
  | { kind: 'hang' };

export interface FaultDecision {
  latencyMs: number;
  action: FaultAction | null;
}

/** mulberry32: a small seeded PRNG so a fault run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseRoute(route: string): { method: string; path: string } {
  const r = route.trim();
  const space = r.indexOf(' ');
  if (space < 0) return r.startsWith('/') ? { method: '*', path: r } : { method: r.toUpperCase() === '*' ? '*' : r.toUpperCase(), path: '*' };
  return { method: r.slice(0, space).toUpperCase(), path: r.slice(space + 1).trim() || '*' };
}

function pathMatches(pattern: string, template: string, path: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return template.startsWith(prefix) || path.startsWith(prefix);
  }
  return pattern === template || pattern === path;
}

export class Faults {
  private entries: Entry[] = [];
  private nextId = 1;
  private readonly random: () => number;

  constructor(seed?: number) {
    this.random = seed === undefined ? Math.random : prng(seed);
  }

  add(spec: FaultSpec): number {
    const kind: FaultKind = spec.kind ?? (spec.status === undefined && spec.latencyMs !== undefined ? 'latency' : 'error');
    const { method, path } = parseRoute(spec.route ?? '*');
    const id = this.nextId++;
    this.entries.push({ id, spec: { ...spec }, kind, method, path, remaining: spec.times ?? null, hits: 0 });
    return id;
  }

  remove(id: number): boolean {
    const n = this.entries.length;
    this.entries = this.entries.filter((e) => e.id !== id);
    return this.entries.length !== n;
  }

  clear(): void {
    this.entries = [];
  }

  list(): FaultInfo[] {
    return this.entries.map((e) => ({ ...e.spec, id: e.id, hits: e.hits }));
  }

  /** What happens to one request. Latency of every hit fault adds up; the first other hit fault wins. */
  decide(method: string, template: string, path: string): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, action: null };
    if (this.entries.length === 0) return decision;
    for (const e of [...this.entries]) {
      if (e.method !== '*' && e.method !== method) continue;
      if (!pathMatches(e.path, template, path)) continue;
      if (e.kind !== 'latency' && decision.action !== null) continue;
      if (this.random() >= (e.spec.rate ?? 1)) continue;
      e.hits++;
      if (e.remaining !== null && --e.remaining <= 0) this.remove(e.id);
      decision.latencyMs += e.spec.latencyMs ?? 0;
      if (e.kind === 'error') decision.action = { kind: 'error', spec: e.spec, status: e.spec.status ?? 500 };
      else if (e.kind === 'reset') decision.action = { kind: 'reset' };
      else if (e.kind === 'lostResponse') decision.action = { kind: 'lostResponse' };
      else if (e.kind === 'hang') decision.action = { kind: 'hang' };
    }
    return decision;
  }
}

const NEUTRON_ERRORS: Record<number, [string, string]> = {
  400: ['HTTPBadRequest', 'The server could not comply with the request since it is either malformed or otherwise incorrect.'],
  404: ['HTTPNotFound', 'The resource could not be found.'],
  409: ['HTTPConflict', 'There was a conflict when trying to complete your request.'],
  429: ['HTTPTooManyRequests', 'Too many requests.'],
  500: ['HTTPInternalServerError', 'Request Failed: internal server error while processing your request.'],
  502: ['HTTPBadGateway', 'Bad gateway.'],
  503: ['HTTPServiceUnavailable', 'The server is currently unavailable. Please try again at a later time.'],
  504: ['HTTPGatewayTimeout', 'The gateway has timed out.'],
};

/** The response of an injected error, in the shape of the API the route belongs to. */
export function faultResponse(api: 'keystone' | 'neutron', action: Extract<FaultAction, { kind: 'error' }>): SimResponse {
  const { spec, status } = action;
  const headers: Record<string, string> = {};
  if (status === 429 || spec.retryAfterSeconds !== undefined) headers['Retry-After'] = String(spec.retryAfterSeconds ?? 1);
  if (spec.body !== undefined) return { status, headers, raw: spec.body, contentType: spec.contentType ?? 'text/plain; charset=utf-8' };
  const title = STATUS_CODES[status] ?? 'Error';
  if (api === 'keystone') return keystoneError(status, title, spec.message ?? title, headers);
  const [type, message] = NEUTRON_ERRORS[status] ?? [`HTTP${title.replaceAll(' ', '')}`, title];
  return json(status, neutronErrorBody(type, spec.message ?? message), headers);
}
