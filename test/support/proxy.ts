// A small HTTP proxy of our own on 127.0.0.1, between the operator and a real cloud (Neutron), for the failures
// the simulator's faults cannot cause on a real cloud: the request is forwarded for real and the real answer comes
// back, and then a test's hook decides what the client gets: the answer, a dropped connection (a lost response), or
// nothing at all (a hang, until the client times out); a request can also be held before it is forwarded (it lands
// late, after the client gave up or died). The hook runs after the upstream answered and before
// the client is answered, so a test can kill the operator exactly between "the cloud created it" and "the
// operator learnt it".
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ProxyVerdict = 'forward' | 'drop' | 'hang';

export interface ProxiedExchange {
  method: string;
  /** Path with query string, as the client sent it. */
  url: string;
  status: number;
  /** The upstream response body (text). */
  body: string;
}

export type ProxyHook = (x: ProxiedExchange) => ProxyVerdict | Promise<ProxyVerdict>;

/** Runs before a request is forwarded; the request reaches upstream only when it resolves (a request that lands late,
 * even after the client went away). */
export type HoldHook = (x: { method: string; url: string; body: string }) => void | Promise<void>;

export interface Proxy {
  /** http://127.0.0.1:PORT: use as the endpoint instead of the upstream one. */
  url: string;
  /** Every exchange forwarded so far, with the verdict it got. */
  log: Array<ProxiedExchange & { verdict: ProxyVerdict }>;
  setHook(hook: ProxyHook | null): void;
  setHold(hold: HoldHook | null): void;
  stop(): Promise<void>;
}

export async function startProxy(upstream: string): Promise<Proxy> {
  const target = new URL(upstream);
  let hook: ProxyHook | null = null;
  let hold: HoldHook | null = null;
  const log: Proxy['log'] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      if (hold) await Promise.resolve(hold({ method: req.method ?? 'GET', url: req.url ?? '/', body: Buffer.concat(chunks).toString('utf8') })).catch(() => undefined);
      const headers = { ...req.headers, host: target.host };
      delete headers.connection;
      const up = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false },
        (upRes) => {
          const body: Buffer[] = [];
          upRes.on('data', (c: Buffer) => body.push(c));
          upRes.on('end', () => {
            const x: ProxiedExchange = { method: req.method ?? 'GET', url: req.url ?? '/', status: upRes.statusCode ?? 0, body: Buffer.concat(body).toString('utf8') };
            void Promise.resolve(hook ? hook(x) : 'forward')
              .catch(() => 'drop' as const)
              .then((verdict) => {
                log.push({ ...x, verdict });
                if (verdict === 'drop') {
                  req.socket.destroy();
                } else if (verdict === 'hang') {
                  hanging.add(res);
                  res.on('close', () => hanging.delete(res));
                } else {
                  const h = { ...upRes.headers };
                  delete h.connection;
                  delete h['transfer-encoding'];
                  res.writeHead(upRes.statusCode ?? 502, { ...h, 'content-length': String(Buffer.byteLength(x.body)) });
                  res.end(x.body);
                }
              });
          });
        },
      );
      up.on('error', () => req.socket.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    setHook: (h) => {
      hook = h;
    },
    setHold: (h) => {
      hold = h;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.socket?.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
