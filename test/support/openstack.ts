// A real local OpenStack (Keystone + Neutron with VPNaaS, MariaDB, RabbitMQ from Debian's packages) for test
// suites. scripts/cloud/up.sh does the work: it installs what is missing, reuses running services (one set per
// state folder, shared by all suites and workers; it serialises concurrent callers with a lock), starts the
// others and seeds the cloud. This module runs it once per process and reads what it wrote.
//
// A VPN service leaves PENDING_CREATE only when a VPN agent reports: agentReport() does that the way the agent
// does (the ipsec_driver update_status RPC over RabbitMQ, sent by scripts/cloud/agent.py).
//
// ensureLocalOpenStack({ dataplane: true }) is another cloud, in a state folder of its own
// (<VPNAAS_STATE or .state>/dataplane, VPNAAS_DP_STATE to override), with the real data plane
// (scripts/cloud/dataplane.sh: the L3 agent with the VPN agent and strongSwan, two "VM" namespaces): there the
// real agent reports, so the suites of the stand-in never share it.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetch, Agent } from 'undici';
import YAML from 'yaml';
import { z } from 'zod';
/** The local Neutron closes each connection after one response (scripts/cloud/up.sh): no keep-alive here. */
const noKeepAlive = new Agent({ pipelining: 0 });

/**
 * A request to the local Neutron that survives its API worker dying under it. Debian's neutron-server (eventlet on
 * Python 3.11) now and then crashes a worker (`SystemError: ... switch of GreenThread ... returned NULL`, then
 * "Child killed by signal 11" in its log; it respawns in ~20 ms), and the request in flight ends with the socket
 * closed and nothing read. The test clients ask again: GET, PUT and DELETE as they are; a POST first looks for what
 * it would have made (`landed`: a lookup by the body's name), so a POST that did land is not made twice.
 */
export async function neutronRequest(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string | undefined },
  landed?: () => Promise<{ status: number; text: string } | undefined>,
): Promise<{ status: number; text: string; headers: Headers }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, { ...init, dispatcher: noKeepAlive });
      return { status: res.status, text: await res.text(), headers: res.headers as unknown as Headers };
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (attempt >= 3 || (code !== 'UND_ERR_SOCKET' && code !== 'ECONNRESET' && code !== 'ECONNREFUSED')) throw err;
      await new Promise((r) => setTimeout(r, 500 * (attempt + 1))); // the worker respawns
      if (init.method === 'POST' && landed) {
        const got = await landed();
        if (got) return { ...got, headers: new Headers() };
      }
    }
  }
}


const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const scriptsDir = path.join(repoRoot, 'scripts/cloud');
const PYTHON = '/usr/bin/python3'; // Debian's: a pyenv python3 earlier on PATH lacks oslo.messaging

export type AgentStatus = 'ACTIVE' | 'DOWN' | 'ERROR';

const routerSchema = z.object({
  id: z.string(),
  name: z.string(),
  networkId: z.string(),
  subnetId: z.string(), // the internal subnet attached to the router as an interface
  subnetCidr: z.string(),
});

/** seed.json, written by scripts/cloud/up.sh. */
export const seedSchema = z.object({
  region: z.string(),
  authUrl: z.string(), // http://127.0.0.1:PORT/v3
  networkUrl: z.string(), // http://127.0.0.1:PORT (no /v2.0, like the catalog)
  projectId: z.string(),
  projectName: z.string(),
  userId: z.string(),
  userName: z.string(),
  domainId: z.string(),
  extNet: z.object({ id: z.string(), name: z.string(), subnetId: z.string(), subnetCidr: z.string() }),
  routersWithGateway: z.array(routerSchema.extend({ gatewayIp: z.string() })).min(1),
  routerWithoutGateway: routerSchema,
  /** Only on a cloud with the data plane (scripts/cloud/dataplane.py vms). */
  dataplane: z
    .object({
      host: z.string(), // the agents' host name
      vms: z
        .array(
          z.object({
            side: z.enum(['a', 'b']),
            namespace: z.string(),
            ip: z.string(),
            cidr: z.string(),
            gatewayIp: z.string(),
            portId: z.string(),
            tap: z.string(),
            routerId: z.string(),
          }),
        )
        .length(2),
    })
    .optional(),
});
export type Seed = z.infer<typeof seedSchema>;

/** cloud.json, written by scripts/cloud/up.sh on every run. */
const cloudJsonSchema = z.object({
  stateDir: z.string(),
  cloudsYaml: z.string(),
  seedJson: z.string(),
  neutronConf: z.string(),
  authUrl: z.string(),
  networkUrl: z.string(),
  ports: z.record(z.string(), z.number()),
  pids: z.record(z.string(), z.number()),
  reused: z.array(z.string()),
  timingsSeconds: z.record(z.string(), z.number()),
  dataplane: z.boolean().optional(),
});
export type CloudInfo = z.infer<typeof cloudJsonSchema>;

const cloudsYamlSchema = z.object({
  clouds: z.record(
    z.string(),
    z.object({
      auth: z.object({
        auth_url: z.string(),
        username: z.string(),
        password: z.string(),
        project_name: z.string(),
        user_domain_name: z.string(),
        project_domain_name: z.string(),
      }),
      region_name: z.string(),
    }),
  ),
});

export type CloudName = 'local' | 'local-admin';

export interface SiteConnection {
  id: string;
  ikePolicyId: string;
  ipsecPolicyId: string;
  localEpGroupId?: string;
  peerEpGroupId?: string;
  /** Deletes the site connection, then its policies and endpoint groups (404s are ignored). */
  delete(): Promise<void>;
}

export interface LocalOpenStack {
  cloudsYamlPath: string;
  seed: Seed;
  /** Reports a VPN service's status as the VPN agent does; resolves when neutron-server has processed it. */
  agentReport(serviceId: string, status: AgentStatus): Promise<void>;
  /** Neutron's URL as the catalog gives it (no /v2.0). */
  networkUrl: string;
  /** Keystone v3, as in clouds.yaml: http://127.0.0.1:PORT/v3. */
  authUrl: string;
  /** What up.sh recorded: state folder, neutron.conf, ports, pids, timings of the run that this call made. */
  info: CloudInfo;
  /** A project-scoped token for a cloud of clouds.yaml (cached until shortly before it expires). */
  token(cloud?: CloudName): Promise<string>;
  /**
   * Creates (as admin, in the VPN service's project) an IKE policy, an IPsec policy, and an IPsec site connection
   * on the VPN service: endpoint groups for a service without subnet (the router's seeded subnet as local, a
   * peer CIDR), peer_cidrs for a legacy service with a subnet. Neutron accepts it with no agent (the connection
   * stays PENDING_CREATE), and then refuses to delete the VPN service: 409 VPNServiceInUse.
   */
  createSiteConnection(vpnServiceId: string, opts?: { peerAddress?: string; peerCidr?: string }): Promise<SiteConnection>;
}

// ---------------------------------------------------------------------------------------------------------------

function run(cmd: string, args: string[], opts: { inheritStderr?: boolean; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    // Kept for the error either way; with inheritStderr also shown as it comes (progress of a long start).
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (opts.inheritStderr) process.stderr.write(d);
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else
        reject(
          new Error(
            `${path.basename(args[0] ?? cmd)} failed (${signal ?? `exit ${code}`})${err ? `: ${err.trim().slice(-2000)}` : ''}`,
          ),
        );
    });
  });
}

/**
 * Sends the ipsec_driver update_status RPC for the given VPN services (scripts/cloud/agent.py). Resolves when
 * neutron-server has processed it; rejects on any failure (no broker, no consumer, server error).
 */
export async function agentReport(
  neutronConf: string,
  serviceIds: string[],
  status: AgentStatus,
  opts: { timeoutSeconds?: number; connections?: Record<string, AgentStatus> } = {},
): Promise<void> {
  const timeout = opts.timeoutSeconds ?? 30;
  const args = [path.join(scriptsDir, 'agent.py'), '--config', neutronConf, '--status', status, '--timeout', String(timeout)];
  for (const [id, s] of Object.entries(opts.connections ?? {})) args.push('--connection', `${id}=${s}`);
  await run(PYTHON, [...args, ...serviceIds], { timeoutMs: (timeout + 10) * 1000 });
}

const pending = new Map<string, Promise<LocalOpenStack>>();

/** The environment of scripts/cloud/{up,down,dataplane}.sh for the data-plane cloud (its own state folder). */
export function dataplaneEnv(): NodeJS.ProcessEnv {
  const root = process.env.VPNAAS_STATE ?? path.join(repoRoot, '.state');
  return { ...process.env, VPNAAS_STATE: process.env.VPNAAS_DP_STATE ?? path.join(root, 'dataplane'), VPNAAS_DATAPLANE: '1' };
}

/** Runs scripts/cloud/NAME.sh with ARGS (for the data-plane cloud with `dataplane`); resolves to its stdout. */
export function cloudScript(name: 'up' | 'down' | 'dataplane', args: string[], opts: { dataplane?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return run('bash', [path.join(scriptsDir, `${name}.sh`), ...args], { inheritStderr: true, timeoutMs: opts.timeoutMs ?? 900_000, env: opts.dataplane ? dataplaneEnv() : process.env });
}

/**
 * Makes sure the local OpenStack runs (scripts/cloud/up.sh: installs, starts or reuses, seeds) and returns how
 * to reach it. Once per process; the services outlive it (stop them with scripts/cloud/down.sh).
 * `dataplane: true`: the cloud with the real data plane (a state folder of its own, see above; seed.dataplane set).
 */
export function ensureLocalOpenStack(opts: { dataplane?: boolean } = {}): Promise<LocalOpenStack> {
  const key = opts.dataplane ? 'dataplane' : 'plain';
  let p = pending.get(key);
  if (!p) {
    p = start(opts.dataplane === true).catch((e: unknown) => {
      pending.delete(key);
      throw e;
    });
    pending.set(key, p);
  }
  return p;
}

/** Forgets the cloud that ensureLocalOpenStack() started (after a suite stopped it with down.sh). */
export function forgetLocalOpenStack(opts: { dataplane?: boolean } = {}): void {
  pending.delete(opts.dataplane ? 'dataplane' : 'plain');
}

async function start(dataplane: boolean): Promise<LocalOpenStack> {
  // A cold machine installs ~280 packages first (about a minute with a fast mirror).
  const out = await run('bash', [path.join(scriptsDir, 'up.sh'), '--quiet'], { inheritStderr: true, timeoutMs: 900_000, env: dataplane ? dataplaneEnv() : process.env });
  const infoPath = /^\s*info\s+(\S+\/cloud\.json)\s*$/m.exec(out)?.[1];
  if (!infoPath) throw new Error(`scripts/cloud/up.sh did not name its cloud.json; it printed: ${out.slice(-2000)}`);
  const info = cloudJsonSchema.parse(JSON.parse(await fs.readFile(infoPath, 'utf8')));
  const seed = seedSchema.parse(JSON.parse(await fs.readFile(info.seedJson, 'utf8')));
  if (dataplane && !seed.dataplane) throw new Error(`${info.seedJson} has no dataplane section: scripts/cloud/dataplane.sh up did not finish`);
  const clouds = cloudsYamlSchema.parse(YAML.parse(await fs.readFile(info.cloudsYaml, 'utf8')));

  const tokens = new Map<CloudName, { token: string; expiresAt: number }>();
  async function token(cloud: CloudName = 'local'): Promise<string> {
    const cached = tokens.get(cloud);
    if (cached && cached.expiresAt - Date.now() > 60_000) return cached.token;
    const c = clouds.clouds[cloud];
    if (!c) throw new Error(`clouds.yaml has no cloud ${cloud}`);
    const res = await fetch(`${c.auth.auth_url.replace(/\/+$/, '')}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: c.auth.username, domain: { name: c.auth.user_domain_name }, password: c.auth.password } },
          },
          scope: { project: { name: c.auth.project_name, domain: { name: c.auth.project_domain_name } } },
        },
      }),
    });
    const subject = res.headers.get('x-subject-token');
    if (res.status !== 201 || !subject) throw new Error(`Keystone: ${res.status} for ${c.auth.username} (cloud ${cloud})`);
    const body = z.object({ token: z.object({ expires_at: z.string() }) }).parse(await res.json());
    tokens.set(cloud, { token: subject, expiresAt: Date.parse(body.token.expires_at) });
    return subject;
  }

  async function neutron(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const headers = { 'x-auth-token': await token('local-admin'), accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) };
    const res = await neutronRequest(`${info.networkUrl}/v2.0/${p}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, landedPost(info.networkUrl, p, body, headers));
    return { status: res.status, json: res.text ? (JSON.parse(res.text) as unknown) : undefined };
  }
  async function create<T extends z.ZodType>(p: string, key: string, body: Record<string, unknown>, schema: T): Promise<z.infer<T>> {
    const r = await neutron('POST', p, { [key]: body });
    if (r.status !== 201) throw new Error(`POST ${p}: ${r.status} ${JSON.stringify(r.json)}`);
    return schema.parse((r.json as Record<string, unknown>)[key]);
  }
  const idOnly = z.object({ id: z.string() });

  async function createSiteConnection(
    vpnServiceId: string,
    opts: { peerAddress?: string; peerCidr?: string } = {},
  ): Promise<SiteConnection> {
    const peerAddress = opts.peerAddress ?? '198.51.100.10';
    const peerCidr = opts.peerCidr ?? '192.168.100.0/24';
    const got = await neutron('GET', `vpn/vpnservices/${vpnServiceId}`);
    if (got.status !== 200) throw new Error(`GET vpnservice ${vpnServiceId}: ${got.status}`);
    const vs = z
      .object({ vpnservice: z.object({ router_id: z.string(), project_id: z.string(), subnet_id: z.string().nullish() }) })
      .parse(got.json).vpnservice;
    const projectId = vs.project_id;
    const suffix = vpnServiceId.slice(0, 8);
    const made: Array<[string, string]> = []; // [collection, id] in creation order
    const cleanup = async (): Promise<void> => {
      for (const [collection, id] of made.splice(0).reverse()) {
        const r = await neutron('DELETE', `vpn/${collection}/${id}`);
        if (r.status !== 204 && r.status !== 404) throw new Error(`DELETE ${collection}/${id}: ${r.status} ${JSON.stringify(r.json)}`);
      }
    };
    try {
      const ike = await create('vpn/ikepolicies', 'ikepolicy', { name: `ike-${suffix}`, project_id: projectId }, idOnly);
      made.push(['ikepolicies', ike.id]);
      const ipsec = await create('vpn/ipsecpolicies', 'ipsecpolicy', { name: `ipsec-${suffix}`, project_id: projectId }, idOnly);
      made.push(['ipsecpolicies', ipsec.id]);
      const conn: Record<string, unknown> = {
        name: `conn-${suffix}`,
        project_id: projectId,
        vpnservice_id: vpnServiceId,
        ikepolicy_id: ike.id,
        ipsecpolicy_id: ipsec.id,
        peer_address: peerAddress,
        peer_id: peerAddress,
        psk: 'local-test-psk', // a throwaway pre-shared key for a loopback test cloud
      };
      let localEpGroupId: string | undefined;
      let peerEpGroupId: string | undefined;
      if (vs.subnet_id) {
        conn.peer_cidrs = [peerCidr];
      } else {
        const router = [...seed.routersWithGateway, seed.routerWithoutGateway].find((r) => r.id === vs.router_id);
        if (!router) throw new Error(`router ${vs.router_id} of VPN service ${vpnServiceId} is not a seeded router`);
        const local = await create(
          'vpn/endpoint-groups',
          'endpoint_group',
          { name: `local-${suffix}`, type: 'subnet', endpoints: [router.subnetId], project_id: projectId },
          idOnly,
        );
        made.push(['endpoint-groups', local.id]);
        const peer = await create(
          'vpn/endpoint-groups',
          'endpoint_group',
          { name: `peer-${suffix}`, type: 'cidr', endpoints: [peerCidr], project_id: projectId },
          idOnly,
        );
        made.push(['endpoint-groups', peer.id]);
        conn.local_ep_group_id = localEpGroupId = local.id;
        conn.peer_ep_group_id = peerEpGroupId = peer.id;
      }
      const sc = await create('vpn/ipsec-site-connections', 'ipsec_site_connection', conn, idOnly);
      made.push(['ipsec-site-connections', sc.id]);
      return { id: sc.id, ikePolicyId: ike.id, ipsecPolicyId: ipsec.id, localEpGroupId, peerEpGroupId, delete: cleanup };
    } catch (e) {
      await cleanup().catch(() => undefined);
      throw e;
    }
  }

  return {
    cloudsYamlPath: info.cloudsYaml,
    seed,
    networkUrl: info.networkUrl,
    authUrl: info.authUrl,
    info,
    token,
    agentReport: (serviceId, status) => agentReport(info.neutronConf, [serviceId], status),
    createSiteConnection,
  };
}

/**
 * For a POST of `{<key>: {name, ...}}` to a collection: a look-up by that name, answering as the POST would have
 * (201 with the one found), or undefined when it did not land (or the body has no name to look for).
 */
export function landedPost(networkUrl: string, p: string, body: unknown, headers: Record<string, string>): () => Promise<{ status: number; text: string } | undefined> {
  return async () => {
    if (typeof body !== 'object' || body === null) return undefined;
    const [key, inner] = Object.entries(body)[0] ?? [];
    const name = (inner as { name?: unknown } | undefined)?.name;
    if (key === undefined || typeof name !== 'string' || name === '') return undefined;
    const res = await fetch(`${networkUrl}/v2.0/${p}?name=${encodeURIComponent(name)}`, { headers, dispatcher: noKeepAlive });
    if (res.status !== 200) return undefined;
    const list = (await res.json()) as Record<string, Array<Record<string, unknown>>>;
    const items = Object.values(list).find((v) => Array.isArray(v)) ?? [];
    if (items.length !== 1) return undefined;
    return { status: 201, text: JSON.stringify({ [key]: items[0] }) };
  };
}
