// Keystone v3: version document and the token API (password, application_credential and token methods).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { json, keystoneError, KeystoneFault, noContent, UNAUTHORIZED_MESSAGE } from './http.ts';
import type { Handler, RouteDef, SimRequest, SimResponse } from './http.ts';
import type { Token, User } from './identity.ts';
import type { SimState } from './state.ts';

const BAD_REQUEST_MESSAGE =
  'The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.';

const ref = z.object({ id: z.string().optional(), name: z.string().optional() });
const userRef = z.object({ id: z.string().optional(), name: z.string().optional(), domain: ref.optional() });
const authBodySchema = z.object({
  auth: z.object({
    identity: z.object({
      methods: z.array(z.string()).min(1),
      password: z.object({ user: userRef.extend({ password: z.string() }) }).optional(),
      token: z.object({ id: z.string() }).optional(),
      application_credential: z
        .object({ id: z.string().optional(), name: z.string().optional(), secret: z.string(), user: userRef.optional() })
        .optional(),
    }),
    scope: z
      .union([
        z.literal('unscoped'),
        z.object({
          project: ref.extend({ domain: ref.optional() }).optional(),
          domain: ref.optional(),
          system: z.unknown().optional(),
        }),
      ])
      .optional(),
  }),
});

function unauthorized(message = UNAUTHORIZED_MESSAGE): KeystoneFault {
  return new KeystoneFault(401, 'Unauthorized', message);
}
function badRequest(message: string): KeystoneFault {
  return new KeystoneFault(400, 'Bad Request', `${message} ${BAD_REQUEST_MESSAGE}`);
}

/** Keystone writes times with microseconds: 2026-11-25T18:09:00.000000Z. */
export function keystoneTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function wwwAuthenticate(state: SimState): Record<string, string> {
  return { 'WWW-Authenticate': `Keystone uri="${state.url}/v3"` };
}

/** The 401 keystonemiddleware answers for a missing, unknown, expired or revoked token. */
export function tokenRejected(state: SimState): SimResponse {
  return keystoneError(401, 'Unauthorized', UNAUTHORIZED_MESSAGE, wwwAuthenticate(state));
}

/** The token of a request to a protected (Neutron) route, or undefined. */
export function requestToken(state: SimState, req: SimRequest): Token | undefined {
  const h = req.headers['x-auth-token'];
  return state.identity.validate(Array.isArray(h) ? h[0] : h, state.now());
}

function versionDoc(state: SimState): unknown {
  return {
    version: {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${state.url}/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    },
  };
}

// Stable ids for the catalog of this simulator instance.
interface CatalogIds {
  network: string;
  identity: string;
  endpoints: Record<string, string>;
}
const catalogIds = new WeakMap<SimState, CatalogIds>();
function ids(state: SimState): CatalogIds {
  let c = catalogIds.get(state);
  if (!c) {
    c = { network: randomUUID().replaceAll('-', ''), identity: randomUUID().replaceAll('-', ''), endpoints: {} };
    catalogIds.set(state, c);
  }
  return c;
}

export function catalog(state: SimState): unknown[] {
  const c = ids(state);
  const endpoints = (service: string, url: string) =>
    (['public', 'internal', 'admin'] as const).map((iface) => {
      const key = `${service}/${iface}`;
      c.endpoints[key] ??= randomUUID().replaceAll('-', '');
      return { id: c.endpoints[key], interface: iface, region_id: state.region, region: state.region, url };
    });
  return [
    { endpoints: endpoints('network', `${state.url}${state.networkPrefix}`), id: c.network, type: 'network', name: 'neutron' },
    { endpoints: endpoints('identity', `${state.url}/v3`), id: c.identity, type: 'identity', name: 'keystone' },
  ];
}

function tokenBody(state: SimState, t: Token, withCatalog: boolean): unknown {
  const { identity } = state;
  const user = identity.users.get(t.userId) as User;
  const userDomain = identity.domains.get(user.domainId);
  const roles = [
    ...(user.admin ? [{ id: identity.roleIds.admin, name: 'admin' }] : []),
    { id: identity.roleIds.member, name: 'member' },
    { id: identity.roleIds.reader, name: 'reader' },
  ];
  const body: Record<string, unknown> = {
    methods: t.methods,
    user: { domain: { id: userDomain?.id, name: userDomain?.name }, id: user.id, name: user.name, password_expires_at: null },
    audit_ids: [t.auditId],
    expires_at: keystoneTime(t.expiresAt),
    issued_at: keystoneTime(t.issuedAt),
  };
  if (t.projectId !== null) {
    const p = identity.projects.get(t.projectId);
    const d = p ? identity.domains.get(p.domainId) : undefined;
    body.project = { domain: { id: d?.id, name: d?.name }, id: t.projectId, name: p?.name };
    body.is_domain = false;
    body.roles = roles;
  } else if (t.domainId !== null) {
    const d = identity.domains.get(t.domainId);
    body.domain = { id: d?.id, name: d?.name };
    body.roles = roles;
  }
  if (t.appCredId !== null) {
    const a = identity.appCreds.get(t.appCredId);
    body.application_credential = { id: t.appCredId, name: a?.name, restricted: true };
  }
  if (withCatalog && (t.projectId !== null || t.domainId !== null)) body.catalog = catalog(state);
  return { token: body };
}

type AuthBody = z.infer<typeof authBodySchema>;
type UserRef = z.infer<typeof userRef>;

function resolveUser(state: SimState, u: UserRef | undefined, where: string): User | undefined {
  if (!u) throw badRequest(`Expecting to find user in ${where}.`);
  if (u.id !== undefined) return state.identity.findUser({ id: u.id }, undefined);
  if (u.name === undefined) throw badRequest('Expecting to find id or name in user.');
  if (!u.domain || (u.domain.id === undefined && u.domain.name === undefined))
    throw badRequest('Expecting to find domain in user.');
  const domain = state.identity.findDomain(u.domain);
  if (!domain) return undefined;
  return state.identity.findUser({ name: u.name }, domain.id);
}

interface Authenticated {
  user: User;
  appCredId: string | null;
  /** Scope inherited from a token (token method) or fixed by an application credential. */
  projectId?: string;
  domainId?: string;
}

function authenticate(state: SimState, identity: AuthBody['auth']['identity']): Authenticated {
  const results: Authenticated[] = [];
  for (const method of identity.methods) {
    if (method === 'password') {
      const p = identity.password;
      if (!p) throw badRequest('Expecting to find password in identity.');
      const user = resolveUser(state, p.user, 'password');
      if (!user || user.password !== p.user.password) throw unauthorized();
      results.push({ user, appCredId: null });
    } else if (method === 'token') {
      if (!identity.token) throw badRequest('Expecting to find token in identity.');
      const t = state.identity.validate(identity.token.id, state.now());
      if (!t) throw unauthorized();
      const user = state.identity.users.get(t.userId) as User;
      const r: Authenticated = { user, appCredId: t.appCredId };
      if (t.projectId !== null) r.projectId = t.projectId;
      if (t.domainId !== null) r.domainId = t.domainId;
      results.push(r);
    } else if (method === 'application_credential') {
      const a = identity.application_credential;
      if (!a) throw badRequest('Expecting to find application_credential in identity.');
      let cred;
      if (a.id !== undefined) cred = state.identity.appCreds.get(a.id);
      else {
        if (a.name === undefined) throw badRequest('Expecting to find id or name in application_credential.');
        const user = resolveUser(state, a.user, 'application_credential');
        if (user) for (const c of state.identity.appCreds.values()) if (c.name === a.name && c.userId === user.id) cred = c;
      }
      if (!cred || cred.secret !== a.secret) throw unauthorized();
      const user = state.identity.users.get(cred.userId);
      if (!user) throw unauthorized();
      results.push({ user, appCredId: cred.id, projectId: cred.projectId });
    } else {
      throw unauthorized('Attempted to authenticate with an unsupported method.');
    }
  }
  const first = results[0] as Authenticated;
  if (results.some((r) => r.user.id !== first.user.id)) throw unauthorized();
  return results.find((r) => r.appCredId !== null) ?? first;
}

function resolveScope(state: SimState, auth: AuthBody['auth'], who: Authenticated): { projectId?: string; domainId?: string } {
  const scope = auth.scope;
  if (scope === undefined || scope === 'unscoped') {
    if (who.projectId !== undefined) return { projectId: who.projectId };
    if (who.domainId !== undefined && scope === undefined) return { domainId: who.domainId };
    return {};
  }
  if (who.appCredId !== null) throw unauthorized('Application credentials cannot request a scope.');
  const { identity } = state;
  if (scope.project) {
    let project;
    if (scope.project.id !== undefined) project = identity.projects.get(scope.project.id);
    else {
      if (scope.project.name === undefined) throw badRequest('Expecting to find id or name in project.');
      if (!scope.project.domain) throw badRequest('Expecting to find domain in project.');
      const d = identity.findDomain(scope.project.domain);
      project = d ? identity.findProject(scope.project.name, d.id) : undefined;
    }
    if (!project || !(who.user.admin || who.user.projectIds.has(project.id))) throw unauthorized();
    return { projectId: project.id };
  }
  if (scope.domain) {
    const d = identity.findDomain(scope.domain);
    if (!d || !(who.user.admin || who.user.domainId === d.id)) throw unauthorized();
    return { domainId: d.id };
  }
  // System scope is not simulated.
  throw unauthorized();
}

function parseBody(req: SimRequest): AuthBody {
  let raw: unknown;
  try {
    raw = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw badRequest('Malformed request body.');
  }
  const parsed = authBodySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest(`Invalid input for field '${issue?.path.join('.') ?? 'auth'}': ${issue?.message ?? 'invalid'}.`);
  }
  return parsed.data;
}

function headerValue(req: SimRequest, name: string): string | undefined {
  const h = req.headers[name];
  return Array.isArray(h) ? h[0] : h;
}

/** Turns a thrown KeystoneFault into Keystone's error response (401s carry WWW-Authenticate). */
function guard(state: SimState, fn: Handler): Handler {
  return async (req) => {
    try {
      return await fn(req);
    } catch (e) {
      if (!(e instanceof KeystoneFault)) throw e;
      const r = e.toResponse();
      if (e.status === 401) r.headers = { ...r.headers, ...wwwAuthenticate(state) };
      return r;
    }
  };
}

export function keystoneRoutes(state: SimState): RouteDef[] {
  const withWww = (fn: Handler): Handler => guard(state, fn);
  return [
    { method: 'GET', template: '/v3', handler: () => json(200, versionDoc(state)) },
    {
      method: 'POST',
      template: '/v3/auth/tokens',
      handler: withWww((req) => {
        const body = parseBody(req);
        const who = authenticate(state, body.auth.identity);
        const scope = resolveScope(state, body.auth, who);
        const methods = [...new Set(body.auth.identity.methods)];
        const t = state.identity.issue(who.user.id, scope, methods, who.appCredId, state.now());
        const withCatalog = !req.query.has('nocatalog');
        return json(201, tokenBody(state, t, withCatalog), { 'X-Subject-Token': t.id });
      }),
    },
    {
      method: 'GET',
      template: '/v3/auth/tokens',
      handler: withWww((req) => {
        if (!state.identity.validate(headerValue(req, 'x-auth-token'), state.now())) throw unauthorized();
        const subject = headerValue(req, 'x-subject-token');
        const t = state.identity.validate(subject, state.now());
        if (!t) return keystoneError(404, 'Not Found', 'Could not find token.');
        return json(200, tokenBody(state, t, !req.query.has('nocatalog')), { 'X-Subject-Token': t.id });
      }),
    },
    {
      method: 'DELETE',
      template: '/v3/auth/tokens',
      handler: withWww((req) => {
        if (!state.identity.validate(headerValue(req, 'x-auth-token'), state.now())) throw unauthorized();
        const subject = headerValue(req, 'x-subject-token');
        if (!subject || !state.identity.validate(subject, state.now())) return keystoneError(404, 'Not Found', 'Could not find token.');
        state.identity.revoke(subject);
        return noContent();
      }),
    },
  ];
}
