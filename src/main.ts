#!/usr/bin/env node
// vpnaas-operator: `run` (the operator), `simulator` (a local cloud for demos and tests), `--help`.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { defaultHostPolicy, HostPatternError, parseHostAllowList } from './cloud/hosts.ts';
import { runOperator } from './runtime/app.ts';

const HELP = `vpnaas-operator: VpnService custom resources -> Neutron VPNaaS VPN services

Usage:
  vpnaas-operator run [flags]         run the operator
  vpnaas-operator simulator [flags]   run the cloud simulator (Keystone + Neutron VPNaaS); see 'simulator --help'
  vpnaas-operator --help

Flags of 'run' (each also as an environment variable):
  --kubeconfig PATH             kubeconfig file (KUBECONFIG; default: in-cluster, then ~/.kube/config)
  --cloud NAME                  default cloud in clouds.yaml (OS_CLOUD). clouds.yaml is found as openstack tools
                                find it: OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml,
                                /etc/openstack/clouds.yaml. Objects may name their own with spec.cloudCredentialsRef.
  --namespace NS                watch only this namespace (VPNAAS_NAMESPACE; default: all namespaces)
  --tenant-cloud-hosts LIST     the hosts that clouds from tenant Secrets (spec.cloudCredentialsRef) may send to: their
                                auth_url, network_endpoint_override and the network endpoint of their Keystone's
                                catalog; each request is checked before it is sent (VPNAAS_TENANT_CLOUD_HOSTS).
                                Comma-separated entries: a host name (keystone.example.com; case, a trailing dot
                                and IDN spelling do not matter), *.example.com (any name below example.com, not
                                example.com itself), an IPv4/IPv6 address or CIDR (192.0.2.10, 10.0.0.0/8,
                                2001:db8::/32), or * (any host). Ports are not part of it. Default: any host except
                                loopback, link-local (169.254.0.0/16, the clouds' metadata service; fe80::/10),
                                unspecified addresses, metadata names and cluster-internal names (single-label,
                                *.svc, *.pod, *.cluster.local, *.localhost). The operator's own cloud is not checked.
  --workers N                   concurrent reconciles (VPNAAS_WORKERS; default 8)
  --resync DURATION             drift check period of settled objects, e.g. 10m, 90s (VPNAAS_RESYNC; default 10m)
  --log-level LEVEL             error|warn|info|debug (VPNAAS_LOG_LEVEL; default info)
  --metrics-port PORT           /metrics, /healthz, /readyz (VPNAAS_METRICS_PORT; default 8080; -1 disables)
  --metrics-bind-address ADDR   (VPNAAS_METRICS_BIND_ADDRESS; default 0.0.0.0)
  --leader-elect                only the holder of a Lease reconciles (VPNAAS_LEADER_ELECT=true; default off)
  --leader-election-namespace NS  the Lease's namespace (default: POD_NAMESPACE, the in-cluster namespace, default)
  --leader-election-id NAME     the Lease's name (default vpnaas-operator)
  --lease-duration DURATION     (default 15s)   --renew-deadline DURATION (default 10s)   --retry-period DURATION (default 2s)
  --shutdown-timeout DURATION   how long in-flight reconciles may finish on SIGTERM (default 20s)
`;

const Duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'a duration such as 500ms, 90s, 10m or 1h');

function parseDuration(s: string): number {
  const n = Number.parseInt(s, 10);
  const unit = s.replace(/^\d+/, '');
  return n * ({ ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as Record<string, number>)[unit]!;
}

const Bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');

const RunFlags = z
  .object({
    kubeconfig: z.string().optional(),
    cloud: z.string().optional(),
    namespace: z.string().optional(),
    'tenant-cloud-hosts': z.string().optional(),
    workers: z.coerce.number().int().min(1).max(256).default(8),
    resync: Duration.default('10m').transform(parseDuration),
    'log-level': z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    'metrics-port': z.coerce
      .number({ error: 'a port number (0-65535), or -1 to disable the server' })
      .int('a port number (0-65535), or -1 to disable the server')
      .min(-1, 'a port number (0-65535), or -1 to disable the server')
      .max(65535, 'a port number (0-65535), or -1 to disable the server')
      .default(8080),
    'metrics-bind-address': z.string().default('0.0.0.0'),
    'leader-elect': Bool.default(false),
    'leader-election-namespace': z.string().optional(),
    'leader-election-id': z.string().default('vpnaas-operator'),
    'lease-duration': Duration.default('15s').transform(parseDuration),
    'renew-deadline': Duration.default('10s').transform(parseDuration),
    'retry-period': Duration.default('2s').transform(parseDuration),
    'shutdown-timeout': Duration.default('20s').transform(parseDuration),
  })
  .refine((f) => f['renew-deadline'] < f['lease-duration'] && f['retry-period'] < f['renew-deadline'], {
    message: 'need retry-period < renew-deadline < lease-duration',
    path: ['lease-duration'],
  });

const STRING_FLAGS = [
  'kubeconfig', 'cloud', 'namespace', 'tenant-cloud-hosts', 'workers', 'resync', 'log-level', 'metrics-port', 'metrics-bind-address',
  'leader-election-namespace', 'leader-election-id', 'lease-duration', 'renew-deadline', 'retry-period', 'shutdown-timeout',
] as const;

/**
 * `--flag -1` as `--flag=-1`: node's parseArgs takes a value that starts with a dash for a forgotten value
 * ("ambiguous") and refuses it, but `--metrics-port -1` is how the help says to disable the server.
 */
export function joinNegativeValues(argv: readonly string[], stringFlags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = argv[i + 1];
    if (a.startsWith('--') && stringFlags.includes(a.slice(2)) && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

async function run(argv: string[]): Promise<void> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' }, 'leader-elect': { type: 'boolean' } };
  for (const f of STRING_FLAGS) options[f] = { type: 'string' };
  const { values } = parseArgs({ args: joinNegativeValues(argv, STRING_FLAGS), options, strict: true });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const env = process.env;
  const fromEnv = (flag: string): string | undefined =>
    ({ kubeconfig: env.KUBECONFIG, cloud: env.OS_CLOUD })[flag] ?? env[`VPNAAS_${flag.toUpperCase().replaceAll('-', '_')}`];
  const raw: Record<string, unknown> = {};
  for (const f of [...STRING_FLAGS, 'leader-elect']) {
    const v = values[f] ?? fromEnv(f);
    if (v !== undefined && v !== '') raw[f] = v;
  }
  const parsed = RunFlags.safeParse(raw);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  const f = parsed.data;
  let tenantCloudHosts;
  try {
    tenantCloudHosts = f['tenant-cloud-hosts'] === undefined ? defaultHostPolicy() : parseHostAllowList(f['tenant-cloud-hosts']);
  } catch (e) {
    if (e instanceof HostPatternError) throw new UsageError(`--tenant-cloud-hosts: ${e.message}`);
    throw e;
  }
  await runOperator({
    kubeconfig: f.kubeconfig,
    cloud: f.cloud,
    namespace: f.namespace,
    tenantCloudHosts,
    workers: f.workers,
    resyncMs: f.resync,
    logLevel: f['log-level'],
    metricsPort: f['metrics-port'],
    metricsHost: f['metrics-bind-address'],
    leaderElect: f['leader-elect'],
    leaseNamespace: f['leader-election-namespace'],
    leaseName: f['leader-election-id'],
    leaseDurationMs: f['lease-duration'],
    renewDeadlineMs: f['renew-deadline'],
    retryPeriodMs: f['retry-period'],
    shutdownTimeoutMs: f['shutdown-timeout'],
  });
}

class UsageError extends Error {}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'simulator': {
      const { runSimulatorCli } = await import('./simulator/index.ts');
      return runSimulatorCli(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)}`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof UsageError || (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`vpnaas-operator: ${err.message}\n\n${HELP}`);
    process.exit(2);
  }
  process.stderr.write(`vpnaas-operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
