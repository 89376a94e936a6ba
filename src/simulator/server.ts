// The HTTP server: routing, fault injection, counters, the request id header, and writing (or deliberately not
// writing) the handlers' responses.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counters, Outcome } from './counters.ts';
import { faultResponse } from './faults.ts';
import type { Faults } from './faults.ts';
import { json, keystoneError, neutronErrorBody } from './http.ts';
import type { RouteDef, SimRequest, SimResponse } from './http.ts';

export type Api = 'keystone' | 'neutron' | 'admin';

interface CompiledRoute extends RouteDef {
  api: Api;
  segments: string[];
}

const MAX_BODY = 1 << 20;

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export class Routes {
  private readonly routes: CompiledRoute[] = [];

  add(api: Api, defs: RouteDef[]): void {
    for (const d of defs) this.routes.push({ ...d, api, segments: d.template.split('/') });
  }

  /** The route for a method and path; `pathKnown`: some route has this path (so a method mismatch is a 405). */
  match(method: string, path: string): { route?: CompiledRoute; params: Record<string, string>; pathKnown: boolean } {
    const parts = path.split('/');
    let pathKnown = false;
    for (const r of this.routes) {
      if (r.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = r.segments[i] as string;
        const part = parts[i] as string;
        if (seg.startsWith('{') && seg.endsWith('}')) {
          if (part === '') ok = false;
          else params[seg.slice(1, -1)] = safeDecode(part);
        } else if (seg !== part) ok = false;
      }
      if (!ok) continue;
      pathKnown = true;
      if (r.method === method) return { route: r, params, pathKnown };
    }
    return { params: {}, pathKnown };
  }
}

export interface ServerDeps {
  routes: Routes;
  faults: Faults;
  counters: Counters;
  /** Neutron's path prefix ('' = root): decides which API an unmatched path belongs to. */
  networkPrefix: string;
}

function apiOf(path: string, prefix: string): Api {
  if (path === '/_sim' || path.startsWith('/_sim/')) return 'admin';
  if (path === '/v3' || path.startsWith('/v3/')) return 'keystone';
  if (prefix !== '' && !path.startsWith(prefix)) return 'keystone';
  return 'neutron';
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooBig ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function unmatched(api: Api, method: string, pathKnown: boolean): SimResponse {
  const status = pathKnown ? 405 : 404;
  if (api === 'keystone') return keystoneError(status, pathKnown ? 'Method Not Allowed' : 'Not Found', pathKnown ? 'The method is not allowed for the requested URL.' : 'The resource could not be found.');
  if (api === 'admin') return json(status, { error: pathKnown ? `method ${method} not allowed` : 'no such admin route' });
  return json(
    status,
    neutronErrorBody(pathKnown ? 'HTTPMethodNotAllowed' : 'HTTPNotFound', pathKnown ? 'The method is not allowed for the requested URL.' : 'The resource could not be found.'),
  );
}

function internalError(api: Api): SimResponse {
  if (api === 'keystone')
    return keystoneError(500, 'Internal Server Error', 'An unexpected error prevented the server from fulfilling your request.');
  if (api === 'admin') return json(500, { error: 'internal error' });
  return json(500, neutronErrorBody('HTTPInternalServerError', 'Request Failed: internal server error while processing your request.'));
}

function write(res: ServerResponse, r: SimResponse, requestId: string): void {
  const payload = r.raw ?? (r.body === undefined ? undefined : JSON.stringify(r.body));
  const headers: Record<string, string | number> = { 'X-Openstack-Request-Id': requestId, ...r.headers };
  if (payload !== undefined) {
    headers['Content-Type'] = r.contentType ?? 'application/json';
    headers['Content-Length'] = Buffer.byteLength(payload);
  } else if (r.status !== 204 && r.status !== 304) {
    headers['Content-Length'] = 0;
  }
  res.writeHead(r.status, headers);
  res.end(payload);
}

function drop(req: IncomingMessage): void {
  req.socket.resetAndDestroy();
}

export function createSimServer(deps: ServerDeps): Server {
  const { routes, faults, counters, networkPrefix } = deps;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const requestId = `req-${randomUUID()}`;
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const api = apiOf(url.pathname, networkPrefix);
    let path = url.pathname;
    if (api === 'neutron' && path.endsWith('.json')) path = path.slice(0, -'.json'.length);
    const m = routes.match(method, path);
    const route = m.route?.template ?? path;
    const record = (status: Outcome) => {
      if (api !== 'admin') counters.record({ method, path, route, status, at, durationMs: Date.now() - at, requestId });
    };

    const decision = api === 'admin' ? { latencyMs: 0, action: null } : faults.decide(method, route, path);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    const action = decision.action;
    if (action?.kind === 'reset') {
      drop(req);
      record('reset');
      return;
    }

    const body = await readBody(req);
    let response: SimResponse;
    if (action?.kind === 'error') {
      response = faultResponse(api === 'keystone' ? 'keystone' : 'neutron', action);
    } else if (body === null) {
      response = api === 'neutron'
        ? json(413, neutronErrorBody('HTTPRequestEntityTooLarge', 'Request is too large.'))
        : json(413, { error: 'request body too large' });
    } else if (!m.route) {
      response = unmatched(api, method, m.pathKnown);
    } else {
      const simReq: SimRequest = {
        method,
        path,
        query: url.searchParams,
        headers: req.headers,
        body,
        params: m.params,
        requestId,
        origin: `http://${req.headers.host ?? '127.0.0.1'}`,
      };
      try {
        response = await m.route.handler(simReq);
      } catch {
        response = internalError(api);
      }
    }

    if (action?.kind === 'lostResponse') {
      drop(req);
      record('lost');
      return;
    }
    if (action?.kind === 'hang') {
      // Never answered: the connection stays open until the client gives up or the server closes.
      record('hang');
      return;
    }
    if (res.destroyed || req.socket.destroyed) {
      record('aborted');
      return;
    }
    write(res, response, requestId);
    record(response.status);
  }

  const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) write(res, json(500, { error: 'internal error' }), `req-${randomUUID()}`);
    });
  });
  // A client that resets its own connection must not take the server down.
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}

/** Listens on a loopback address (127.0.0.1 by default; tests use 127.0.0.2 for a second host). */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) throw new Error(`the simulator listens on loopback addresses only, not ${host}`);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

export async function close(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
