// Smoke test of the real local OpenStack (scripts/cloud/up.sh): Keystone password auth and catalog, a VPN
// service on a seeded router, the agent's status report, delete, and 409 VPNServiceInUse with a site connection.
// The report is the agent stand-in's (scripts/cloud/agent.py, the agent's RPC): this cloud has no data plane.
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, test } from 'vitest';
import { fetch, Agent } from 'undici';
import YAML from 'yaml';
import { z } from 'zod';
import { ensureLocalOpenStack, landedPost, neutronRequest, type LocalOpenStack } from '../support/openstack.ts';
/** The local Neutron closes each connection after one response (scripts/cloud/up.sh): no keep-alive here. */
const noKeepAlive = new Agent({ pipelining: 0 });


const catalogSchema = z.object({
  token: z.object({
    expires_at: z.string(),
    project: z.object({ id: z.string(), name: z.string() }),
    catalog: z.array(
      z.object({
        type: z.string(),
        endpoints: z.array(z.object({ interface: z.string(), region_id: z.string().nullish(), url: z.string() })),
      }),
    ),
  }),
});
const vpnServiceSchema = z.object({
  vpnservice: z.object({ id: z.string(), status: z.string(), router_id: z.string(), external_v4_ip: z.string().nullish() }),
});
const neutronErrorSchema = z.object({ NeutronError: z.object({ type: z.string(), message: z.string() }) });
const cloudsSchema = z.object({
  clouds: z.object({
    local: z.object({
      auth: z.object({ auth_url: z.string(), username: z.string(), password: z.string(), project_name: z.string() }),
      region_name: z.string(),
    }),
  }),
});

let cloud: LocalOpenStack;

beforeAll(async () => {
  const t0 = Date.now();
  cloud = await ensureLocalOpenStack();
  const t = cloud.info.timingsSeconds;
  console.log(
    `local OpenStack ready in ${Date.now() - t0} ms (up.sh: ${JSON.stringify(t)}, reused: ${cloud.info.reused.join(',') || 'none'})`,
  );
}, 900_000);

async function userToken(): Promise<{ token: string; body: z.infer<typeof catalogSchema> }> {
  const clouds = cloudsSchema.parse(YAML.parse(await readFile(cloud.cloudsYamlPath, 'utf8')));
  const a = clouds.clouds.local.auth;
  const res = await fetch(`${cloud.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: a.username, domain: { id: 'default' }, password: a.password } } },
        scope: { project: { name: a.project_name, domain: { id: 'default' } } },
      },
    }),
  });
  expect(res.status).toBe(201);
  const token = res.headers.get('x-subject-token');
  expect(token).toBeTruthy();
  return { token: token ?? '', body: catalogSchema.parse(await res.json()) };
}

async function neutron(token: string, method: string, p: string, body?: unknown) {
  const headers = { 'x-auth-token': token, accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) };
  // Survives a crash of Neutron's API worker under the request (see neutronRequest).
  const res = await neutronRequest(`${cloud.networkUrl}/v2.0/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, landedPost(cloud.networkUrl, p, body, headers));
  return { status: res.status, json: res.text ? (JSON.parse(res.text) as unknown) : undefined, requestId: res.headers.get('x-openstack-request-id') };
}

async function waitForStatus(token: string, id: string, want: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const r = await neutron(token, 'GET', `vpn/vpnservices/${id}`);
    expect(r.status).toBe(200);
    if (vpnServiceSchema.parse(r.json).vpnservice.status === want) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`VPN service ${id} not ${want} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('local OpenStack (Keystone + Neutron VPNaaS)', () => {
  test('vpnaas-user authenticates with a password and finds the network endpoint in the catalog', async () => {
    const { body } = await userToken();
    expect(body.token.project.id).toBe(cloud.seed.projectId);
    const network = body.token.catalog.find((s) => s.type === 'network');
    const pub = network?.endpoints.find((e) => e.interface === 'public' && e.region_id === cloud.seed.region);
    expect(pub?.url).toBe(cloud.networkUrl); // no /v2.0, like a real cloud
  });

  test('VPN service: PENDING_CREATE with the gateway IP, ACTIVE after the agent reports, delete 204', async () => {
    const { token } = await userToken();
    const router = cloud.seed.routersWithGateway[0]!;
    const created = await neutron(token, 'POST', 'vpn/vpnservices', { vpnservice: { router_id: router.id, name: 'smoke' } });
    expect(created.status).toBe(201);
    expect(created.requestId).toMatch(/^req-/);
    const vs = vpnServiceSchema.parse(created.json).vpnservice;
    expect(vs.status).toBe('PENDING_CREATE');
    expect(vs.external_v4_ip).toBe(router.gatewayIp);

    const t0 = Date.now();
    await cloud.agentReport(vs.id, 'ACTIVE');
    const reportMs = Date.now() - t0;
    const visibleMs = await waitForStatus(token, vs.id, 'ACTIVE', 10_000);
    console.log(`agentReport took ${reportMs} ms; a GET confirmed ACTIVE within ${visibleMs} ms after it returned`);

    const deleted = await neutron(token, 'DELETE', `vpn/vpnservices/${vs.id}`);
    expect(deleted.status).toBe(204);
    expect((await neutron(token, 'GET', `vpn/vpnservices/${vs.id}`)).status).toBe(404);
  });

  test('a VPN service with an IPsec site connection cannot be deleted: 409 VPNServiceInUse', async () => {
    const { token } = await userToken();
    const router = cloud.seed.routersWithGateway[1]!;
    const created = await neutron(token, 'POST', 'vpn/vpnservices', { vpnservice: { router_id: router.id, name: 'smoke-in-use' } });
    expect(created.status).toBe(201);
    const vs = vpnServiceSchema.parse(created.json).vpnservice;
    const conn = await cloud.createSiteConnection(vs.id);
    try {
      const refused = await neutron(token, 'DELETE', `vpn/vpnservices/${vs.id}`);
      expect(refused.status).toBe(409);
      expect(neutronErrorSchema.parse(refused.json).NeutronError.type).toBe('VPNServiceInUse');
    } finally {
      await conn.delete();
    }
    expect((await neutron(token, 'DELETE', `vpn/vpnservices/${vs.id}`)).status).toBe(204);
  });
});
