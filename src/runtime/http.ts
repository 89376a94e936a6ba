// The operator's own HTTP endpoints (SPEC §3.12): `GET /metrics` (Prometheus text exposition), `GET /healthz`
// (liveness) and `GET /readyz` (readiness). Plain node:http; nothing here reads a request body.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../controller/logger.ts';
import type { Metrics } from './metrics.ts';

export interface HttpServerOptions {
  /** 0 picks a free port; the chosen one is returned. */
  port: number;
  /** Address to bind (default 0.0.0.0; tests use 127.0.0.1). */
  host?: string;
  metrics: Metrics;
  /** Liveness: false, `{ok: false, reason}` (or throwing) makes /healthz answer 503 (with the reason). */
  healthy: () => boolean | { ok: boolean; reason?: string };
  /** Readiness: true once the caches have synced; until then /readyz answers 503. */
  ready: () => boolean;
  /** Short text for a 503 from /readyz (default "not ready"). */
  notReadyReason?: () => string | undefined;
  log?: Logger;
}

export interface HttpServerHandle {
  /** The port actually bound. */
  readonly port: number;
  /** Stops listening, closes open (keep-alive) connections, resolves when the port is free. */
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';

function check(fn: () => boolean): boolean {
  try {
    return fn() === true;
  } catch {
    return false;
  }
}

/** One line of text, for a 503 body: no control characters, bounded length. */
function shortText(s: string | undefined, fallback: string): string {
  const t = (s ?? '').replace(/[\r\n\t]+/g, ' ').trim().slice(0, 200);
  return t === '' ? fallback : t;
}

export function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const { metrics, log } = opts;

  const send = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: string,
    contentType = TEXT,
    extra: Record<string, string> = {},
  ): void => {
    const buf = Buffer.from(body, 'utf8');
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': String(buf.length),
      'cache-control': 'no-store',
      ...extra,
    });
    res.end(req.method === 'HEAD' ? undefined : buf);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      send(req, res, 400, 'bad request\n');
      return;
    }
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) {
      send(req, res, 404, 'not found\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, 'method not allowed\n', TEXT, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/metrics': {
        let text: string;
        try {
          text = await metrics.registry.metrics();
        } catch (err) {
          log?.error('metrics collection failed', { error: err instanceof Error ? err.message : String(err) });
          send(req, res, 500, 'metrics collection failed\n');
          return;
        }
        send(req, res, 200, text, metrics.registry.contentType);
        return;
      }
      case '/healthz': {
        // Answering at all shows the event loop is alive; healthy() covers the operator's own loops.
        let h: { ok: boolean; reason?: string };
        try {
          const r = opts.healthy();
          h = typeof r === 'boolean' ? { ok: r } : { ok: r.ok === true, ...(r.reason !== undefined ? { reason: r.reason } : {}) };
        } catch {
          h = { ok: false };
        }
        if (h.ok) send(req, res, 200, 'ok\n');
        else send(req, res, 503, (h.reason === undefined ? 'unhealthy' : `unhealthy: ${shortText(h.reason, '')}`) + '\n');
        return;
      }
      case '/readyz':
        if (check(opts.ready)) {
          send(req, res, 200, 'ok\n');
        } else {
          let reason: string | undefined;
          try {
            reason = opts.notReadyReason?.();
          } catch {
            reason = undefined;
          }
          send(req, res, 503, shortText(reason, 'not ready') + '\n');
        }
        return;
    }
  };

  const server = http.createServer((req, res) => {
    // Drain any request body so keep-alive connections stay usable.
    req.resume();
    handle(req, res).catch((err: unknown) => {
      log?.error('http handler failed', { error: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) send(req, res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      server.on('error', (err) => log?.error('http server error', { error: err.message }));
      const port = (server.address() as AddressInfo).port;
      log?.info('http server listening', { host: opts.host ?? '0.0.0.0', port });
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close: () => {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            // Idle keep-alive connections would hold close() open; requests in flight are cut short too,
            // as a stopping process has nothing more to say.
            server.closeAllConnections();
          });
          return closing;
        },
      });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port: opts.port, host: opts.host ?? '0.0.0.0' });
  });
}
