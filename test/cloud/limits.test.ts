// A cloud is untrusted input (issue 17), over real HTTP: response bodies are bounded (an error of its own, counted
// in the request's observation), listings are bounded per call (pages, objects, bytes) whatever the cloud's next links
// say, and a listing of 10,000 VPN services (the benchmarks' size) still works with the defaults. For a tenant's
// cloud, the host policy is checked before anything is sent: auth_url, network_endpoint_override and the catalog's
// network endpoint (a simulator on 127.0.0.2 behind a proxy on 127.0.0.1, so that its Keystone names 127.0.0.2).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createCloud, type Cloud, type CreateCloudOptions } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { classify, CloudError } from '../../src/cloud/errors.ts';
import { HostNotAllowedError, parseHostAllowList } from '../../src/cloud/hosts.ts';
import type { RequestEvent } from '../../src/cloud/http.ts';
import { DEFAULT_LIMITS } from '../../src/cloud/limits.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { startHostileNeutron, startTripwire } from '../support/hostile-cloud.ts';
import { startProxy } from '../support/proxy.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((f) => f()));
});

function open(yaml: string, opts: CreateCloudOptions = {}): Cloud {
  const c = createCloud(loadCloudConfigFromString(yaml, undefined, { source: 'test clouds.yaml' }), opts);
  cleanup.push(() => c.close());
  return c;
}

/** A cloud without Keystone whose network endpoint is `url`. */
const noAuth = (url: string): string => `clouds:\n  t:\n    auth_type: none\n    network_endpoint_override: ${url}\n`;

async function sim(opts: Parameters<typeof startSimulator>[0] = {}): Promise<Simulator> {
  const s = await startSimulator(opts);
  cleanup.push(() => s.stop());
  return s;
}

async function caught(p: Promise<unknown>): Promise<CloudError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CloudError);
    return e as CloudError;
  }
  throw new Error('expected a CloudError');
}

/** A server answering every request with a JSON listing padded to `bytes`, with or without Content-Length. */
async function bigAnswer(bytes: number, contentLength: boolean): Promise<{ url: string; sent: () => number }> {
  let sent = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    const head = '{"vpnservices": [], "pad": "';
    const tail = '"}';
    const pad = bytes - head.length - tail.length;
    res.writeHead(200, { 'content-type': 'application/json', ...(contentLength ? { 'content-length': String(bytes) } : {}) });
    res.write(head);
    // In 64 KiB chunks, counting what the socket took: a client that stops reading stops the count.
    const chunk = 'x'.repeat(65_536);
    let left = pad;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        sent += n;
        if (!res.write(chunk.slice(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end(tail);
    };
    res.on('close', () => {
      left = 0;
    });
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  cleanup.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sent: () => sent };
}

describe('the limit per response', () => {
  it.each([true, false])('a body over 4 MiB (Content-Length given: %s) is an error of its own, observed as ResponseTooLarge', async (withLength) => {
    const big = await bigAnswer(24 * 1024 * 1024, withLength);
    const events: RequestEvent[] = [];
    const c = open(noAuth(big.url), { onRequest: (e) => events.push(e) });
    const err = await caught(c.vpnServices.list());
    expect(err.code).toBe('ResponseTooLarge');
    expect(err.status).toBe(200);
    expect(err.message).toContain("larger than 4 MiB, the operator's limit per cloud response");
    expect(classify(err)).toBe('retryable');
    expect(events).toEqual([expect.objectContaining({ route: '/vpn/vpnservices', status: 200, error: 'ResponseTooLarge' })]);
    // Not read to the end: the connection was dropped far before the 24 MiB.
    await new Promise((r) => setTimeout(r, 200));
    expect(big.sent()).toBeLessThan(16 * 1024 * 1024);
  });

  it('a body under the limit is read', async () => {
    const big = await bigAnswer(3 * 1024 * 1024, false);
    const c = open(noAuth(big.url));
    expect(await c.vpnServices.list()).toEqual([]);
  });

  it('the limit can be set per cloud (tests, embedders)', async () => {
    const answer = await bigAnswer(2048, true);
    expect((await caught(open(noAuth(answer.url), { limits: { maxResponseBytes: 1024 } }).vpnServices.list())).message).toContain('larger than 1 KiB');
    expect(await open(noAuth(answer.url), { limits: { maxResponseBytes: 4096 } }).vpnServices.list()).toEqual([]);
  });
});

describe('the budget of a listing call', () => {
  it(`a cloud whose next links never end: the listing stops after ${DEFAULT_LIMITS.maxListPages} pages, in seconds`, async () => {
    const hostile = await startHostileNeutron();
    cleanup.push(() => hostile.stop());
    const c = open(noAuth(hostile.url));
    const t0 = performance.now();
    const err = await caught(c.vpnServices.list());
    const ms = performance.now() - t0;
    expect(err.code).toBe('ListingTooLarge');
    expect(err.message).toContain(`after ${DEFAULT_LIMITS.maxListPages} pages`);
    expect(classify(err)).toBe('retryable');
    expect(hostile.requests).toHaveLength(DEFAULT_LIMITS.maxListPages);
    expect(ms).toBeLessThan(30_000);
  });

  it('pages of large objects: the listing stops at its byte budget', async () => {
    const hostile = await startHostileNeutron({ padding: 1024 * 1024 });
    cleanup.push(() => hostile.stop());
    const c = open(noAuth(hostile.url));
    const err = await caught(c.vpnServices.list());
    expect(err.code).toBe('ListingTooLarge');
    expect(err.message).toContain('more than 32 MiB in 32 pages');
    expect(hostile.requests).toHaveLength(32);
  });

  it('the other kinds (NeutronCollection): pages, objects and bytes, against the simulator', async () => {
    const s = await sim();
    const seed = open(s.cloudsYaml('t'));
    for (let i = 0; i < 5; i++) await seed.ikePolicies.create({ name: `ike-${i}` });
    const list = (limits: CreateCloudOptions['limits']) => open(s.cloudsYaml('t'), { pageSize: 2, limits }).ikePolicies.list();
    expect(await list({})).toHaveLength(5);
    expect((await caught(list({ maxListPages: 2 }))).message).toContain('after 2 pages (4 objects)');
    expect((await caught(list({ maxListItems: 3 }))).message).toContain('more than 3 objects in 2 pages');
    expect((await caught(list({ maxListBytes: 300 }))).message).toContain('more than 300 bytes in');
    // VPN services too.
    const r = randomUUID();
    s.addRouter({ id: r, gatewayV4: '203.0.113.2' });
    await seed.vpnServices.create({ router_id: r });
    const r2 = randomUUID();
    s.addRouter({ id: r2, gatewayV4: '203.0.113.3' });
    await seed.vpnServices.create({ router_id: r2 });
    expect((await caught(open(s.cloudsYaml('t'), { limits: { maxListPages: 1 }, pageSize: 1 }).vpnServices.list())).message).toContain('after 1 page (1 object)');
  });

  it('a listing of 10,000 VPN services (the benchmarks) works with the default limits', async () => {
    const s = await sim({ seedRules: false, requestLogLimit: 100 });
    const c = open(s.cloudsYaml('t'));
    const routers = Array.from({ length: 10_000 }, (_, i) => {
      const id = randomUUID();
      s.addRouter({ id, gatewayV4: `10.0.${i >> 8}.${i & 255}` });
      return id;
    });
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < routers.length) {
          const i = next++;
          await c.vpnServices.create({ router_id: routers[i]!, name: `vpnaas-team-${i}-office-link`, description: 'IPsec to the Berlin office' });
        }
      }),
    );
    const events: RequestEvent[] = [];
    const lister = open(s.cloudsYaml('t'), { onRequest: (e) => events.push(e) });
    expect(await lister.vpnServices.list()).toHaveLength(10_000);
    expect(events.filter((e) => e.route === '/vpn/vpnservices')).toHaveLength(11); // 10 full pages, one empty
  }, 120_000);
});

describe('the host policy of a tenant cloud', () => {
  const allowOnly = parseHostAllowList('127.0.0.1');

  it('auth_url on a host not allowed: refused before anything is sent, observed as HostNotAllowed', async () => {
    const trip = await startTripwire('127.0.0.2');
    cleanup.push(() => trip.stop());
    const events: RequestEvent[] = [];
    const c = open(`clouds:\n  t:\n    auth: {auth_url: "${trip.url}/v3", username: demo, password: secret, project_name: demo, user_domain_name: Default, project_domain_name: Default}\n`, {
      hosts: allowOnly,
      onRequest: (e) => events.push(e),
    });
    const err = await caught(c.vpnServices.list());
    expect(err).toBeInstanceOf(HostNotAllowedError);
    expect(err.message).toContain('clouds.t.auth.auth_url names host 127.0.0.2');
    expect(err.message).toContain('--tenant-cloud-hosts');
    expect(classify(err)).toBe('terminal');
    expect(trip.hits()).toBe(0);
    expect(await caught(c.endpoint())).toBeInstanceOf(HostNotAllowedError);
    expect(trip.hits()).toBe(0);
    expect(events).toEqual([
      expect.objectContaining({ method: 'POST', route: '/v3/auth/tokens', status: 0, error: 'HostNotAllowed' }),
      expect.objectContaining({ method: 'POST', route: '/v3/auth/tokens', status: 0, error: 'HostNotAllowed' }),
    ]);
  });

  it('network_endpoint_override on a host not allowed: refused, nothing sent', async () => {
    const trip = await startTripwire('127.0.0.2');
    cleanup.push(() => trip.stop());
    const c = open(noAuth(trip.url), { hosts: allowOnly });
    const err = await caught(c.vpnServices.list());
    expect(err.message).toContain('clouds.t.network_endpoint_override names host 127.0.0.2');
    expect(trip.hits()).toBe(0);
  });

  it("the network endpoint that the tenant's Keystone puts in the catalog: checked too", async () => {
    const s = await sim({ host: '127.0.0.2' });
    const proxy = await startProxy(s.url);
    cleanup.push(() => proxy.stop());
    const yaml = `clouds:\n  t:\n    auth: {auth_url: "${proxy.url}/v3", username: demo, password: secret, project_name: demo, user_domain_name: Default, project_domain_name: Default}\n`;
    const events: RequestEvent[] = [];
    const c = open(yaml, { hosts: allowOnly, onRequest: (e) => events.push(e) });
    const err = await caught(c.vpnServices.list());
    expect(err).toBeInstanceOf(HostNotAllowedError);
    expect(events.map((e) => [e.route, e.status, e.error])).toEqual([['/v3/auth/tokens', 201, undefined], ['network endpoint', 0, 'HostNotAllowed']]);
    expect(err.message).toContain("the service catalog's network endpoint (chosen by the cloud's Keystone) names host 127.0.0.2");
    // Keystone (through the allowed proxy) was asked; Neutron never.
    expect(s.countOf({ method: 'POST', route: '/v3/auth/tokens' })).toBe(1);
    expect(s.countOf()).toBe(1);
    // Allowed, the same cloud works.
    const ok = open(yaml, { hosts: parseHostAllowList('127.0.0.1,127.0.0.2') });
    expect(await ok.vpnServices.list()).toEqual([]);
    // And without a policy (the operator's own cloud), any host.
    expect(await open(yaml).vpnServices.list()).toEqual([]);
  });
});
