import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator } from '../../src/simulator/index.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { http, issueToken, neutron, passwordAuth, ROUTER_A, sleep } from './helpers.ts';

const UNAUTHORIZED = { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } };

describe('simulator: Keystone v3', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({
      routers: [{ id: ROUTER_A }],
      projects: [{ name: 'demo' }, { name: 'other' }, { name: 'engineering', domain: 'corp' }],
      users: [
        { name: 'demo', password: 'secret', projects: ['demo'] },
        { name: 'alice', password: 'wonder', domain: 'corp', projects: ['engineering'] },
        { id: 'u-fixed-id', name: 'bob', password: 'builder', projects: ['other'] },
      ],
      appCredentials: [{ id: 'ac-1', name: 'operator', secret: 's3cr3t', user: 'demo', project: 'demo' }],
      region: 'RegionOne',
    });
  });
  afterAll(async () => {
    await sim?.stop();
  });

  it('serves the v3 version document', async () => {
    const r = await http('GET', sim.authUrl);
    expect(r.status).toBe(200);
    expect(r.body.version.id).toMatch(/^v3\./);
    expect(r.body.version.status).toBe('stable');
    expect(r.body.version.links[0]).toEqual({ rel: 'self', href: `${sim.url}/v3/` });
  });

  it('issues a project-scoped token for a password (user name + domain name, project name + domain)', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
    expect(r.status).toBe(201);
    expect(r.headers['x-subject-token']).toMatch(/^gAAAAAB[\w-]{100,}$/);
    expect(r.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f-]{36}$/);
    const t = r.body.token;
    expect(t.methods).toEqual(['password']);
    expect(t.user).toMatchObject({ name: 'demo', domain: { id: 'default', name: 'Default' } });
    expect(t.project).toEqual({ id: sim.projectId('demo'), name: 'demo', domain: { id: 'default', name: 'Default' } });
    expect(t.roles.map((x: { name: string }) => x.name)).toContain('member');
    expect(Date.parse(t.expires_at) - Date.parse(t.issued_at)).toBe(3600_000);
    expect(t.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('lists the network service in the catalog without /v2.0, for every interface', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
    const network = r.body.token.catalog.find((s: { type: string }) => s.type === 'network');
    expect(network.name).toBe('neutron');
    expect(network.endpoints.map((e: { interface: string }) => e.interface).sort()).toEqual(['admin', 'internal', 'public']);
    for (const e of network.endpoints) {
      expect(e).toMatchObject({ region: 'RegionOne', region_id: 'RegionOne', url: sim.url });
      expect(e.url).not.toMatch(/v2\.0/);
    }
    const identity = r.body.token.catalog.find((s: { type: string }) => s.type === 'identity');
    expect(identity.endpoints[0].url).toBe(sim.authUrl);
  });

  it('omits the catalog with ?nocatalog', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens?nocatalog`, { body: passwordAuth() });
    expect(r.status).toBe(201);
    expect(r.body.token.catalog).toBeUndefined();
  });

  it('accepts a user id and a project id', async () => {
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { id: 'u-fixed-id', password: 'builder' } } },
        scope: { project: { id: sim.projectId('other') } },
      },
    };
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body });
    expect(r.status).toBe(201);
    expect(r.body.token.user.id).toBe('u-fixed-id');
    expect(r.body.token.project.name).toBe('other');
  });

  it('resolves users and projects in another domain, by domain id too', async () => {
    const domainId = sim.projects().find((p) => p.name === 'engineering')?.domainId;
    const body = {
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'alice', domain: { id: domainId }, password: 'wonder' } } },
        scope: { project: { name: 'engineering', domain: { name: 'corp' } } },
      },
    };
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body });
    expect(r.status).toBe(201);
    expect(r.body.token.project.domain.name).toBe('corp');
    // The same user name in the wrong domain does not exist.
    const wrong = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth('alice', 'wonder') });
    expect(wrong.status).toBe(401);
  });

  it('issues a domain-scoped token', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth('demo', 'secret', { domain: { name: 'Default' } }) });
    expect(r.status).toBe(201);
    expect(r.body.token.domain).toEqual({ id: 'default', name: 'Default' });
    expect(r.body.token.project).toBeUndefined();
    expect(r.body.token.catalog).toBeDefined();
  });

  it('issues an unscoped token without a catalog', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth('demo', 'secret', null) });
    expect(r.status).toBe(201);
    expect(r.body.token.project).toBeUndefined();
    expect(r.body.token.catalog).toBeUndefined();
  });

  it('authenticates an application credential by id and by name + user', async () => {
    const byId = await http('POST', `${sim.authUrl}/auth/tokens`, {
      body: { auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: 's3cr3t' } } } },
    });
    expect(byId.status).toBe(201);
    expect(byId.body.token.methods).toEqual(['application_credential']);
    expect(byId.body.token.project.id).toBe(sim.projectId('demo'));
    expect(byId.body.token.application_credential).toMatchObject({ id: 'ac-1', name: 'operator' });

    const byName = await http('POST', `${sim.authUrl}/auth/tokens`, {
      body: {
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { name: 'operator', secret: 's3cr3t', user: { name: 'demo', domain: { name: 'Default' } } },
          },
        },
      },
    });
    expect(byName.status).toBe(201);

    const wrong = await http('POST', `${sim.authUrl}/auth/tokens`, {
      body: { auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac-1', secret: 'nope' } } } },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual(UNAUTHORIZED);
  });

  it('re-issues a token with the token method, keeping or changing the scope', async () => {
    const first = await issueToken(sim);
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: { auth: { identity: { methods: ['token'], token: { id: first } } } } });
    expect(r.status).toBe(201);
    expect(r.headers['x-subject-token']).not.toBe(first);
    expect(r.body.token.project.name).toBe('demo');
    expect(r.body.token.methods).toEqual(['token']);
    const bad = await http('POST', `${sim.authUrl}/auth/tokens`, { body: { auth: { identity: { methods: ['token'], token: { id: 'nope' } } } } });
    expect(bad.status).toBe(401);
  });

  it('answers wrong credentials with Keystone 401', async () => {
    for (const body of [passwordAuth('demo', 'wrong'), passwordAuth('nobody', 'secret'), passwordAuth('demo', 'secret', { project: { name: 'other', domain: { name: 'Default' } } })]) {
      const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body });
      expect(r.status).toBe(401);
      expect(r.body).toEqual(UNAUTHORIZED);
      expect(r.headers['x-subject-token']).toBeUndefined();
      expect(r.headers['www-authenticate']).toBe(`Keystone uri="${sim.authUrl}"`);
    }
  });

  it('answers malformed auth bodies with 400', async () => {
    const r = await http('POST', `${sim.authUrl}/auth/tokens`, { raw: '{nope', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 400, title: 'Bad Request' });
    const noDomain = await http('POST', `${sim.authUrl}/auth/tokens`, {
      body: { auth: { identity: { methods: ['password'], password: { user: { name: 'demo', password: 'secret' } } } } },
    });
    expect(noDomain.status).toBe(400);
    const method = await http('POST', `${sim.authUrl}/auth/tokens`, { body: { auth: { identity: { methods: ['kerberos'] } } } });
    expect(method.status).toBe(401);
  });

  it('validates and revokes tokens (GET/DELETE /v3/auth/tokens)', async () => {
    const admin = await issueToken(sim);
    const subject = await issueToken(sim);
    const ok = await http('GET', `${sim.authUrl}/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': subject } });
    expect(ok.status).toBe(200);
    expect(ok.body.token.project.name).toBe('demo');
    const del = await http('DELETE', `${sim.authUrl}/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': subject } });
    expect(del.status).toBe(204);
    const gone = await http('GET', `${sim.authUrl}/auth/tokens`, { headers: { 'x-auth-token': admin, 'x-subject-token': subject } });
    expect(gone.status).toBe(404);
    expect((await neutron(sim, subject).list()).status).toBe(401);
  });

  it('Neutron answers a missing, unknown or revoked token with Keystone 401', async () => {
    const none = await http('GET', `${sim.networkUrl}/v2.0/vpn/vpnservices`);
    expect(none.status).toBe(401);
    expect(none.body).toEqual(UNAUTHORIZED);
    expect(none.headers['x-openstack-request-id']).toMatch(/^req-/);
    expect((await neutron(sim, 'gAAAAABbogus').list()).body).toEqual(UNAUTHORIZED);

    const t = await issueToken(sim);
    expect((await neutron(sim, t).list()).status).toBe(200);
    sim.revokeTokens();
    expect((await neutron(sim, t).list()).status).toBe(401);
  });
});

describe('simulator: token expiry', () => {
  it('expires tokens after tokenTtlSeconds; Neutron then answers 401', async () => {
    const sim = await startSimulator({ tokenTtlSeconds: 0.3 });
    try {
      const r = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
      expect(Date.parse(r.body.token.expires_at) - Date.parse(r.body.token.issued_at)).toBe(300);
      const t = r.headers['x-subject-token'] as string;
      expect((await neutron(sim, t).list()).status).toBe(200);
      await sleep(400);
      const after = await neutron(sim, t).list();
      expect(after.status).toBe(401);
      expect(after.body).toEqual(UNAUTHORIZED);
      // The TTL can change at run time.
      sim.configure({ tokenTtlSeconds: 60 });
      const r2 = await http('POST', `${sim.authUrl}/auth/tokens`, { body: passwordAuth() });
      expect(Date.parse(r2.body.token.expires_at) - Date.parse(r2.body.token.issued_at)).toBe(60_000);
    } finally {
      await sim.stop();
    }
  });
});
