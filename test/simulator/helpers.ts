// Small HTTP helpers for the simulator suites: real requests over undici, no mocks.
import { request } from 'undici';
import type { Simulator } from '../../src/simulator/index.ts';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

export async function http(method: string, url: string, opts: { headers?: Record<string, string>; body?: unknown; raw?: string } = {}): Promise<HttpResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await request(url, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  let parsed: unknown = undefined;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text };
}

export function passwordAuth(
  user = 'demo',
  password = 'secret',
  /** null: unscoped. */
  scope: unknown = { project: { name: 'demo', domain: { name: 'Default' } } },
): unknown {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      ...(scope === null ? {} : { scope }),
    },
  };
}

export async function issueToken(sim: Simulator, body: unknown = passwordAuth()): Promise<string> {
  const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body });
  if (r.status !== 201) throw new Error(`token: ${r.status} ${r.text}`);
  return r.headers['x-subject-token'] as string;
}

/** A tiny Neutron client bound to one token. */
export function neutron(sim: Simulator, token: string) {
  const base = `${sim.networkUrl}/v2.0`;
  const h = { 'x-auth-token': token };
  return {
    list: (query = '') => http('GET', `${base}/vpn/vpnservices${query ? `?${query}` : ''}`, { headers: h }),
    get: (id: string, query = '') => http('GET', `${base}/vpn/vpnservices/${id}${query ? `?${query}` : ''}`, { headers: h }),
    create: (vpnservice: unknown) => http('POST', `${base}/vpn/vpnservices`, { headers: h, body: { vpnservice } }),
    createRaw: (raw: string) => http('POST', `${base}/vpn/vpnservices`, { headers: { ...h, 'content-type': 'application/json' }, raw }),
    update: (id: string, vpnservice: unknown) => http('PUT', `${base}/vpn/vpnservices/${id}`, { headers: h, body: { vpnservice } }),
    delete: (id: string) => http('DELETE', `${base}/vpn/vpnservices/${id}`, { headers: h }),
    router: (id: string) => http('GET', `${base}/routers/${id}`, { headers: h }),
    raw: (method: string, path: string, body?: unknown) => http(method, `${sim.networkUrl}${path}`, { headers: h, body }),
  };
}

export const ROUTER_A = '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa';
export const ROUTER_B = '0b5c9a6e-3f1d-4c1e-9a57-2f7c7e0d4b11';
export const ROUTER_NO_GW = '7d1f3c2a-9e4b-4f6d-8a3c-1b2e3f4a5b6c';
export const SUBNET_A = '5b1e2f3a-4c5d-4e6f-8a9b-0c1d2e3f4a5b';
export const SUBNET_OTHER = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
