// Keystone's state: domains, projects, users, application credentials and issued tokens.
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';

export interface SimProject {
  id?: string;
  name: string;
  /** Domain name; default `Default`. */
  domain?: string;
}

export interface SimUser {
  id?: string;
  name: string;
  password: string;
  /** Domain name; default `Default`. */
  domain?: string;
  /** Names of the projects the user has a role on; default: the first configured project. */
  projects?: string[];
  /** Admin role: sees and may act on every project's routers and VPN services. */
  admin?: boolean;
}

export interface SimAppCredential {
  id?: string;
  name: string;
  secret: string;
  /** The owning user's name. */
  user: string;
  /** Project name; default the user's first project. */
  project?: string;
}

export const simProjectSchema = z.object({ id: z.string().min(1).optional(), name: z.string().min(1), domain: z.string().optional() });
export const simUserSchema = z.object({
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  password: z.string(),
  domain: z.string().optional(),
  projects: z.array(z.string()).optional(),
  admin: z.boolean().optional(),
});
export const simAppCredentialSchema = z.object({
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  secret: z.string(),
  user: z.string().min(1),
  project: z.string().optional(),
});

export interface Domain {
  id: string;
  name: string;
}
export interface Project {
  id: string;
  name: string;
  domainId: string;
}
export interface User {
  id: string;
  name: string;
  password: string;
  domainId: string;
  projectIds: Set<string>;
  admin: boolean;
}
export interface AppCredential {
  id: string;
  name: string;
  secret: string;
  userId: string;
  projectId: string;
}
export interface Token {
  id: string;
  userId: string;
  projectId: string | null;
  domainId: string | null;
  methods: string[];
  issuedAt: number;
  expiresAt: number;
  appCredId: string | null;
  auditId: string;
}

function hexId(): string {
  return randomUUID().replaceAll('-', '');
}

export interface IdentityOptions {
  projects?: SimProject[];
  users?: SimUser[];
  appCredentials?: SimAppCredential[];
  tokenTtlSeconds?: number;
}

export class Identity {
  tokenTtlSeconds: number;
  readonly domains = new Map<string, Domain>();
  readonly projects = new Map<string, Project>();
  readonly users = new Map<string, User>();
  readonly appCreds = new Map<string, AppCredential>();
  readonly roleIds = { admin: hexId(), member: hexId(), reader: hexId() };
  private readonly tokens = new Map<string, Token>();
  private issuedSincePrune = 0;

  constructor(opts: IdentityOptions) {
    this.tokenTtlSeconds = opts.tokenTtlSeconds ?? 3600;
    this.domains.set('default', { id: 'default', name: 'Default' });
    const users = opts.users ?? [{ name: 'demo', password: 'secret', projects: ['demo'] }];
    const projects = opts.projects ?? (opts.users ? [] : [{ name: 'demo' }]);
    for (const p of projects) this.addProject(p);
    for (const u of users) this.addUser(u);
    if (this.projects.size === 0) this.addProject({ name: 'demo' });
    for (const a of opts.appCredentials ?? []) this.addAppCredential(a);
  }

  private domainNamed(name: string): Domain {
    for (const d of this.domains.values()) if (d.name === name) return d;
    const d = { id: hexId(), name };
    this.domains.set(d.id, d);
    return d;
  }

  /** A domain by `{id}` or `{name}`. */
  findDomain(ref: { id?: string | undefined; name?: string | undefined }): Domain | undefined {
    if (ref.id !== undefined) return this.domains.get(ref.id);
    if (ref.name !== undefined) for (const d of this.domains.values()) if (d.name === ref.name) return d;
    return undefined;
  }

  addProject(p: SimProject): Project {
    const domainId = this.domainNamed(p.domain ?? 'Default').id;
    const existing = this.findProject(p.name, domainId);
    if (existing) return existing;
    const proj = { id: p.id ?? hexId(), name: p.name, domainId };
    this.projects.set(proj.id, proj);
    return proj;
  }

  findProject(name: string, domainId: string): Project | undefined {
    for (const p of this.projects.values()) if (p.name === name && p.domainId === domainId) return p;
    return undefined;
  }

  private projectByName(name: string): Project {
    for (const p of this.projects.values()) if (p.name === name) return p;
    return this.addProject({ name });
  }

  /** The first configured project: the owner of routers seeded without a project. */
  get defaultProject(): Project {
    return this.projects.values().next().value as Project;
  }

  addUser(u: SimUser): User {
    const domainId = this.domainNamed(u.domain ?? 'Default').id;
    const names = u.projects ?? [];
    const projectIds = new Set(names.map((n) => this.projectByName(n).id));
    if (projectIds.size === 0) {
      const first = this.projects.values().next().value ?? this.addProject({ name: 'demo' });
      projectIds.add(first.id);
    }
    const user = { id: u.id ?? hexId(), name: u.name, password: u.password, domainId, projectIds, admin: u.admin ?? false };
    this.users.set(user.id, user);
    return user;
  }

  findUser(ref: { id?: string | undefined; name?: string | undefined }, domainId: string | undefined): User | undefined {
    if (ref.id !== undefined) return this.users.get(ref.id);
    for (const u of this.users.values()) if (u.name === ref.name && (domainId === undefined || u.domainId === domainId)) return u;
    return undefined;
  }

  addAppCredential(a: SimAppCredential): AppCredential {
    const user = this.findUser({ name: a.user }, undefined);
    if (!user) throw new Error(`application credential ${a.name}: unknown user ${a.user}`);
    const projectId = a.project !== undefined ? this.projectByName(a.project).id : (user.projectIds.values().next().value as string);
    user.projectIds.add(projectId);
    const cred = { id: a.id ?? hexId(), name: a.name, secret: a.secret, userId: user.id, projectId };
    this.appCreds.set(cred.id, cred);
    return cred;
  }

  issue(userId: string, scope: { projectId?: string; domainId?: string }, methods: string[], appCredId: string | null, now: number): Token {
    if (++this.issuedSincePrune >= 5000) this.prune(now);
    const token: Token = {
      id: `gAAAAAB${randomBytes(132).toString('base64url')}`,
      userId,
      projectId: scope.projectId ?? null,
      domainId: scope.domainId ?? null,
      methods,
      issuedAt: now,
      expiresAt: now + this.tokenTtlSeconds * 1000,
      appCredId,
      auditId: randomBytes(16).toString('base64url').slice(0, 22),
    };
    this.tokens.set(token.id, token);
    return token;
  }

  /** A token that is known, not revoked and not expired. */
  validate(id: string | undefined, now: number): Token | undefined {
    if (!id) return undefined;
    const t = this.tokens.get(id);
    if (!t) return undefined;
    if (t.expiresAt <= now) {
      this.tokens.delete(id);
      return undefined;
    }
    // A token dies with its user or application credential.
    if (!this.users.has(t.userId) || (t.appCredId !== null && !this.appCreds.has(t.appCredId))) return undefined;
    return t;
  }

  revoke(id: string): boolean {
    return this.tokens.delete(id);
  }

  revokeAll(): void {
    this.tokens.clear();
  }

  private prune(now: number): void {
    this.issuedSincePrune = 0;
    for (const [id, t] of this.tokens) if (t.expiresAt <= now) this.tokens.delete(id);
  }
}
