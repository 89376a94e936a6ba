// A tenant's own "Neutron" that tries to hurt the operator through its listings (issue 17): every page of a VPN service
// listing holds new services and a next link, forever; or a page is as large as asked. It is what a tenant can run
// and name in its clouds.yaml (network_endpoint_override, or its Keystone's catalog), so it cannot be the simulator,
// which answers like a cloud. Listens on a loopback address; counts what reaches it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface HostileNeutron {
  /** http://HOST:PORT (Neutron's root, as a catalog or network_endpoint_override names it). */
  url: string;
  /** Requests received, by method and path without the query. */
  requests: Array<{ method: string; path: string }>;
  /** Bytes of padding per listed service (a long description), 0 by default. */
  padding: number;
  stop(): Promise<void>;
}

export async function startHostileNeutron(opts: { host?: string; padding?: number } = {}): Promise<HostileNeutron> {
  const host = opts.host ?? '127.0.0.1';
  const requests: HostileNeutron['requests'] = [];
  let url = '';
  const state: HostileNeutron = {
    get url() {
      return url;
    },
    requests,
    padding: opts.padding ?? 0,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? 'GET', path: u.pathname });
    req.resume();
    if (req.method === 'GET' && u.pathname === '/v2.0/vpn/vpnservices') {
      const id = randomUUID();
      const q = new URLSearchParams(u.search);
      q.set('marker', id);
      const body = JSON.stringify({
        vpnservices: [
          {
            id,
            name: `hostile-${requests.length}`,
            description: 'x'.repeat(state.padding),
            router_id: q.get('router_id') ?? randomUUID(),
            subnet_id: null,
            admin_state_up: true,
            status: 'ACTIVE',
            external_v4_ip: '203.0.113.99',
            external_v6_ip: null,
          },
        ],
        vpnservices_links: [{ rel: 'next', href: `${url}/v2.0/vpn/vpnservices?${q.toString()}` }],
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const body = JSON.stringify({ NeutronError: { type: 'HTTPNotFound', message: 'not here', detail: '' } });
    res.writeHead(404, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  url = `http://${host}:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A server that counts the connections and requests reaching it and answers each with 500 (a host nothing may reach). */
export async function startTripwire(host: string): Promise<{ url: string; hits: () => number; stop: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(500).end();
  });
  server.on('connection', () => {
    hits++;
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  return {
    url: `http://${host}:${(server.address() as AddressInfo).port}`,
    hits: () => hits,
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
