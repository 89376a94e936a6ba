// `vpnaas-operator simulator`: runs the cloud simulator until SIGINT/SIGTERM.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { startSimulator } from './index.ts';
import type { SimulatorOptions } from './index.ts';
import { seedRouterSchema } from './store.ts';
import type { SeedRouter } from './store.ts';
import type { SimUser } from './identity.ts';

const HELP = `Usage: vpnaas-operator simulator [flags]

A Keystone v3 + Neutron VPNaaS simulator on 127.0.0.1 (see src/simulator/index.ts).

Flags:
  --port N                 port to listen on (default 0: a free port; the URL is printed)
  --active-delay-ms N      ms from create to ACTIVE of VPN services and IPsec site connections (default 0); 'never'
                           or a negative value: only via the admin API
  --routers FILE           YAML or JSON list of routers ({id, project?, projectId?, name?, gatewayV4?, gatewayV6?,
                           subnets?}; project: a project name), or an object with a 'routers' list
  --router ID[:GWV4[:PROJECT]]
                           a router with an external gateway (GWV4 an address, 'auto' or absent: one is
                           assigned, 'none': no gateway), owned by PROJECT (a project name; default demo);
                           repeatable
  --project NAME           one more project (domain Default); repeatable
  --user NAME:PASSWORD[:PROJECT[,PROJECT…]]
                           one more user (domain Default), member of the named projects (created when missing;
                           default demo); repeatable. The user demo (password secret, project demo) always exists
  --no-seed-rules          behave like upstream Neutron (several VPN services per router, names up to 255, …)
  --update-pending         PUT moves ACTIVE → PENDING_UPDATE → ACTIVE (services and site connections)
  --token-ttl-seconds N    Keystone token lifetime (default 3600)
  --region NAME            catalog region (default RegionOne)
  --clouds-yaml OUT        write a clouds.yaml to OUT: cloud 'simulator' (user demo/secret, project demo) and,
                           for each --user NAME, cloud 'simulator-NAME' (scoped to its first project)
  --help                   this text

Prints one JSON line {"url","authUrl","networkUrl"} to stdout once listening. Admin API: <url>/_sim/… (docs/simulator.md)
`;

const routersListSchema = z.array(seedRouterSchema);

function parseRouterFlag(v: string): SeedRouter {
  const [id = '', gw, project, ...rest] = v.split(':');
  if (id === '' || rest.length > 0 || project === '') throw new Error(`--router ${v}: expected ID[:GWV4[:PROJECT]]`);
  const r: SeedRouter = { id };
  if (gw !== undefined && gw !== 'auto') r.gatewayV4 = gw === 'none' || gw === '' ? null : gw;
  if (project !== undefined) r.project = project;
  return r;
}

function parseUserFlag(v: string): SimUser {
  const i = v.indexOf(':');
  if (i <= 0) throw new Error(`--user ${v.slice(0, Math.max(i, 0))}…: expected NAME:PASSWORD[:PROJECT[,PROJECT…]]`);
  const name = v.slice(0, i);
  const rest = v.slice(i + 1);
  // The password may not contain ':' (the projects follow the last one).
  const j = rest.indexOf(':');
  const password = j < 0 ? rest : rest.slice(0, j);
  const projects = j < 0 ? [] : rest.slice(j + 1).split(',');
  if (password === '' || projects.some((p) => p === '')) throw new Error(`--user ${name}:…: expected NAME:PASSWORD[:PROJECT[,PROJECT…]]`);
  return projects.length > 0 ? { name, password, projects } : { name, password };
}

function numberFlag(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name}: not a number: ${v}`);
  return n;
}

export interface CliIo {
  stdout?: (line: string) => void;
  /** Stops the simulator instead of a signal (tests). */
  signal?: AbortSignal;
}

export async function runSimulatorCli(argv: string[], io: CliIo = {}): Promise<void> {
  const out = io.stdout ?? ((line: string) => process.stdout.write(`${line}\n`));
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      'active-delay-ms': { type: 'string' },
      routers: { type: 'string' },
      router: { type: 'string', multiple: true },
      project: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      'no-seed-rules': { type: 'boolean' },
      'update-pending': { type: 'boolean' },
      'token-ttl-seconds': { type: 'string' },
      region: { type: 'string' },
      'clouds-yaml': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    out(HELP.trimEnd());
    return;
  }

  const routers: SeedRouter[] = [];
  if (values.routers !== undefined) {
    const text = await readFile(values.routers, 'utf8');
    const doc: unknown = parseYaml(text);
    // A list, or an object with a `routers` list.
    const list = typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'routers' in doc ? doc.routers : doc;
    const parsed = routersListSchema.safeParse(list);
    if (!parsed.success) throw new Error(`--routers ${values.routers}: ${z.prettifyError(parsed.error)}`);
    routers.push(...parsed.data);
  }
  for (const r of values.router ?? []) routers.push(parseRouterFlag(r));

  const extraUsers = (values.user ?? []).map(parseUserFlag);
  const names = new Set(['demo']);
  for (const u of extraUsers) {
    if (names.has(u.name)) throw new Error(`--user ${u.name}: given twice (or 'demo', which always exists)`);
    names.add(u.name);
  }
  const opts: SimulatorOptions = {
    routers,
    seedRules: !values['no-seed-rules'],
    updatePending: values['update-pending'] ?? false,
    projects: [{ name: 'demo' }, ...(values.project ?? []).map((name) => ({ name }))],
    users: [{ name: 'demo', password: 'secret', projects: ['demo'] }, ...extraUsers],
  };
  if (values.port !== undefined) opts.port = numberFlag('port', values.port);
  const delay = values['active-delay-ms'];
  if (delay !== undefined) opts.activeDelayMs = delay === 'never' ? null : numberFlag('active-delay-ms', delay);
  if (values['token-ttl-seconds'] !== undefined) opts.tokenTtlSeconds = numberFlag('token-ttl-seconds', values['token-ttl-seconds']);
  if (values.region !== undefined) opts.region = values.region;

  const sim = await startSimulator(opts);
  try {
    if (values['clouds-yaml'] !== undefined) {
      const clouds: Record<string, unknown> = {};
      const add = (cloud: string, user?: string) => Object.assign(clouds, (parseYaml(sim.cloudsYaml(cloud, user)) as { clouds: object }).clouds);
      add('simulator');
      for (const u of extraUsers) add(`simulator-${u.name}`, u.name);
      await writeFile(values['clouds-yaml'], stringifyYaml({ clouds }), { mode: 0o600 });
    }
    out(JSON.stringify({ url: sim.url, authUrl: sim.authUrl, networkUrl: sim.networkUrl }));
    let done = () => {};
    await new Promise<void>((resolve) => {
      done = () => resolve();
      process.once('SIGINT', done);
      process.once('SIGTERM', done);
      io.signal?.addEventListener('abort', done, { once: true });
      if (io.signal?.aborted) done();
    });
    process.off('SIGINT', done);
    process.off('SIGTERM', done);
  } finally {
    await sim.stop();
  }
}
