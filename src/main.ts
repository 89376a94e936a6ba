#!/usr/bin/env node
// vpnaas-operator: `run` (the operator), `simulator` (a local cloud for demos and tests), `--help`.
import { parseArgs } from 'node:util';
import os from 'node:os';
import { z } from 'zod';
import { KubeConfig } from '@kubernetes/client-node';
import { CloudConfigError, loadCloudConfig } from './cloud/config.ts';
import { DefaultCloudResolver } from './controller/clouds.ts';
import { Controller } from './controller/controller.ts';
import { KubeClient } from './kube/client.ts';
import { createLogger, type LogLevel } from './runtime/log.ts';

const HELP = `vpnaas-operator: VpnService custom resources -> Neutron VPNaaS VPN services

Usage:
  vpnaas-operator run [flags]         run the operator
  vpnaas-operator simulator [flags]   run the cloud simulator (Keystone + Neutron VPNaaS); see 'simulator --help'
  vpnaas-operator --help

Flags of 'run' (each also as an environment variable):
  --kubeconfig PATH        kubeconfig file (KUBECONFIG; default: in-cluster, then ~/.kube/config)
  --cloud NAME             cloud in clouds.yaml (OS_CLOUD). clouds.yaml is found as openstack tools find it:
                           OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml,
                           /etc/openstack/clouds.yaml
  --namespace NS           watch only this namespace (VPNAAS_NAMESPACE; default: all namespaces)
  --workers N              concurrent reconciles (VPNAAS_WORKERS; default 8)
  --resync DURATION        drift check period of settled objects, e.g. 10m, 90s (VPNAAS_RESYNC; default 10m)
  --log-level LEVEL        error|warn|info|debug (VPNAAS_LOG_LEVEL; default info)
`;

const Duration = z.string().regex(/^\d+(ms|s|m|h)$/, 'a duration such as 500ms, 90s, 10m or 1h');

function parseDuration(s: string): number {
  const n = Number.parseInt(s, 10);
  const unit = s.replace(/^\d+/, '');
  return n * ({ ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as Record<string, number>)[unit]!;
}

const RunFlags = z.object({
  kubeconfig: z.string().optional(),
  cloud: z.string().optional(),
  namespace: z.string().optional(),
  workers: z.coerce.number().int().min(1).max(256).default(8),
  resync: Duration.default('10m').transform(parseDuration),
  'log-level': z.enum(['error', 'warn', 'info', 'debug']).default('info'),
});

async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      kubeconfig: { type: 'string' },
      cloud: { type: 'string' },
      namespace: { type: 'string' },
      workers: { type: 'string' },
      resync: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const env = process.env;
  const parsed = RunFlags.safeParse({
    kubeconfig: values.kubeconfig ?? env.KUBECONFIG,
    cloud: values.cloud ?? env.OS_CLOUD,
    namespace: values.namespace ?? env.VPNAAS_NAMESPACE,
    workers: values.workers ?? env.VPNAAS_WORKERS,
    resync: values.resync ?? env.VPNAAS_RESYNC,
    'log-level': values['log-level'] ?? env.VPNAAS_LOG_LEVEL,
  });
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  const flags = parsed.data;
  const identity = `${os.hostname()}_${process.pid}`;
  const log = createLogger(flags['log-level'] as LogLevel, { component: 'vpnaas-operator' });

  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig.split(':')[0]!);
  else kc.loadFromDefault();
  const kube = new KubeClient(kc);

  let resolver: DefaultCloudResolver;
  try {
    const config = loadCloudConfig(flags.cloud ? { cloudName: flags.cloud } : {});
    resolver = new DefaultCloudResolver(config, { logger: log });
    log.info('default cloud', { cloud: config.cloudName });
  } catch (err) {
    if (!(err instanceof CloudConfigError)) throw err;
    log.warn('no usable default cloud; only objects with cloudCredentialsRef can work', { error: err.message });
    resolver = new DefaultCloudResolver(undefined, {}, err.message);
  }

  const controller = new Controller({
    kubeConfig: kc,
    kube,
    clouds: resolver,
    log,
    workers: flags.workers,
    config: { resyncMs: flags.resync },
    identity,
    ...(flags.namespace ? { namespace: flags.namespace } : {}),
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    await controller.stop();
    await resolver.close();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  log.info('starting', { namespace: flags.namespace ?? '(all)', workers: flags.workers, resyncMs: flags.resync, identity });
  await controller.start();
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
