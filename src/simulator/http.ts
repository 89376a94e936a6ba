// Request/response values shared by the simulator's handlers. Handlers never touch node:http directly: they
// return a SimResponse, so the server can decide afterwards to write it or to drop the connection (lost response).
import type { IncomingHttpHeaders } from 'node:http';

export interface SimRequest {
  method: string;
  /** Path without the query string (and without a `.json` suffix on Neutron routes). */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  params: Record<string, string>;
  requestId: string;
  /** `http://host:port` as the client addressed us (the Host header), for links. */
  origin: string;
}

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON-serialised unless `raw` is set. Absent: no body. */
  body?: unknown;
  raw?: string;
  contentType?: string;
}

export type Handler = (req: SimRequest) => SimResponse | Promise<SimResponse>;

/** One route: `template` is a path with `{name}` segments, e.g. `/v2.0/vpn/vpnservices/{id}`. */
export interface RouteDef {
  method: string;
  template: string;
  handler: Handler;
}

export function json(status: number, body: unknown, headers?: Record<string, string>): SimResponse {
  return headers ? { status, body, headers } : { status, body };
}

export function noContent(): SimResponse {
  return { status: 204 };
}

/** Neutron's error body: `{"NeutronError":{"type","message","detail"}}`. */
export function neutronErrorBody(type: string, message: string, detail = ''): unknown {
  return { NeutronError: { type, message, detail } };
}

/** An error a Neutron handler throws; the dispatcher turns it into Neutron's error body. */
export class NeutronFault extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.status = status;
    this.type = type;
  }
  toResponse(): SimResponse {
    return json(this.status, neutronErrorBody(this.type, this.message));
  }
}

/** An error a Keystone handler throws; the dispatcher turns it into Keystone's error body. */
export class KeystoneFault extends Error {
  readonly status: number;
  readonly title: string;
  constructor(status: number, title: string, message: string) {
    super(message);
    this.status = status;
    this.title = title;
  }
  toResponse(): SimResponse {
    return keystoneError(this.status, this.title, this.message);
  }
}

export function keystoneError(status: number, title: string, message: string, headers?: Record<string, string>): SimResponse {
  return json(status, { error: { code: status, title, message } }, headers);
}

export const UNAUTHORIZED_MESSAGE = 'The request you have made requires authentication.';

/** How Python's `'%s' % value` renders a JSON value, for Neutron-like messages. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return JSON.stringify(v);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
