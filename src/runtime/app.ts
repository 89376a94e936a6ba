// The operator process: Kubernetes and cloud clients, the controller, metrics and health endpoints, leader
// election and graceful shutdown, wired from a parsed configuration.
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { CloudConfigError, loadCloudConfig, type CloudConfig } from '../cloud/config.ts';
import type { HostPolicy } from '../cloud/hosts.ts';
import { CloudResolverImpl } from '../controller/clouds.ts';
import { Manager } from '../controller/manager.ts';
import { readyCondition } from '../core/conditions.ts';
import { KubeClient } from '../kube/client.ts';
import { loadKubeAccess } from '../kube/config.ts';
import { combineChecks, informerLiveness, informerNotReadyReason, logCrdHint } from './health.ts';
import { startHttpServer, type HttpServerHandle } from './http.ts';
import { LeaderElector } from './leader.ts';
import { createLogger, type LogLevel } from './log.ts';
import { createMetrics } from './metrics.ts';

export interface AppConfig {
  kubeconfig: string | undefined;
  cloud: string | undefined;
  namespace: string | undefined;
  /** The hosts clouds from tenant Secrets may send to (--tenant-cloud-hosts, or its default). */
  tenantCloudHosts: HostPolicy;
  workers: number;
  resyncMs: number;
  logLevel: LogLevel;
  metricsPort: number;
  metricsHost: string;
  leaderElect: boolean;
  leaseNamespace: string | undefined;
  leaseName: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  shutdownTimeoutMs: number;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function leaseNamespace(cfg: AppConfig): string {
  if (cfg.leaseNamespace) return cfg.leaseNamespace;
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return 'default';
  }
}

/** Runs until SIGTERM/SIGINT (exit 0) or lost leadership (exit 1). */
export async function runOperator(cfg: AppConfig): Promise<void> {
  const identity = `${os.hostname()}_${process.pid}`;
  const log = createLogger(cfg.logLevel, { component: 'vpnaas-operator' });
  const metrics = createMetrics();

  const access = await loadKubeAccess({ kubeconfig: cfg.kubeconfig });
  const kube = new KubeClient(access);
  kube.onRequest = metrics.kubeObserver;

  let defaultConfig: CloudConfig | undefined;
  let defaultProblem: string | undefined;
  try {
    defaultConfig = loadCloudConfig(cfg.cloud ? { cloudName: cfg.cloud } : {});
    log.info('default cloud', { cloud: defaultConfig.cloudName, source: defaultConfig.source });
  } catch (err) {
    if (!(err instanceof CloudConfigError)) throw err;
    defaultProblem = err.message;
    log.warn('no usable default cloud; only objects with spec.cloudCredentialsRef can work', { error: err.message });
  }
  const clouds = new CloudResolverImpl({
    defaultConfig,
    defaultProblem,
    kube,
    cloudOptions: { logger: log, onRequest: metrics.cloudObserver },
    tenantHosts: cfg.tenantCloudHosts,
  });
  log.info('hosts allowed for clouds from tenant Secrets', { tenantCloudHosts: cfg.tenantCloudHosts.description });

  const controller = new Manager({
    kubeConfig: access,
    kube,
    clouds,
    log,
    workers: cfg.workers,
    config: { resyncMs: cfg.resyncMs },
    identity,
    hooks: metrics.workerHooks(),
    ...(cfg.namespace ? { namespace: cfg.namespace } : {}),
  });
  for (const c of controller.controllers) logCrdHint(c.informer, log);
  controller.onStaleRead = () => metrics.staleRead();
  metrics.setObjectsSource(function* () {
    for (const c of controller.controllers) {
      for (const o of c.informer.list()) {
        yield { kind: c.kind, cloudStatus: o.status?.status, readyReason: readyCondition(o.status?.conditions)?.reason };
      }
    }
  });

  let server: HttpServerHandle | undefined;
  if (cfg.metricsPort >= 0) {
    server = await startHttpServer({
      port: cfg.metricsPort,
      host: cfg.metricsHost,
      metrics,
      log,
      healthy: combineChecks(controller.controllers.map((c) => [`informer ${c.kind}`, informerLiveness(c.informer)] as const)),
      ready: () => controller.synced(),
      notReadyReason: () => {
        for (const c of controller.controllers) {
          const why = informerNotReadyReason(c.informer);
          if (why) return `${c.kind}: ${why}`;
        }
        return undefined;
      },
    });
    log.info('serving /metrics, /healthz, /readyz', { port: server.port, host: cfg.metricsHost });
  } else {
    log.info('no /metrics, /healthz, /readyz: the server is disabled (--metrics-port -1)');
  }

  const elector = cfg.leaderElect
    ? new LeaderElector({
        kube,
        namespace: leaseNamespace(cfg),
        name: cfg.leaseName,
        identity,
        leaseDurationMs: cfg.leaseDurationMs,
        renewDeadlineMs: cfg.renewDeadlineMs,
        retryPeriodMs: cfg.retryPeriodMs,
        log,
      })
    : undefined;

  let stopping = false;
  const shutdown = async (signal: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    // Stop taking work and let in-flight reconciles finish, then hand the lease over at once.
    // A reconcile that did not end in time may have a cloud write (a POST) in flight: the Lease is then not
    // released but left to expire, so that no other replica acts before that request could have ended.
    const drained = await controller.stop(cfg.shutdownTimeoutMs);
    if (drained) await elector?.stop();
    else log.warn('reconciles still running at shutdown; leaving the Lease to expire instead of releasing it', { signal });
    metrics.setLeader(false);
    await clouds.close();
    await server?.close();
    log.info('stopped', { signal });
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.on('SIGINT', () => void shutdown('SIGINT', 0));

  log.info('starting', {
    identity,
    namespace: cfg.namespace ?? '(all)',
    workers: cfg.workers,
    resyncMs: cfg.resyncMs,
    leaderElection: cfg.leaderElect,
  });
  const synced = controller.startInformer().then((ok) => metrics.setSynced(ok));
  // Each kind starts reconciling once its own cache has synced (a kind whose CRD is missing holds up only itself;
  // /readyz says which).
  if (!elector) {
    void synced;
    metrics.setLeader(true);
    await controller.startWorkers();
    return;
  }
  void elector.run({
    onStartedLeading: async () => {
      log.info('became leader; reconciling', { identity });
      metrics.setLeader(true);
      await controller.startWorkers();
    },
    onStoppedLeading: () => {
      metrics.setLeader(false);
      if (stopping) return;
      // Like controller-runtime: a replica that lost its lease exits at once, before another one can act;
      // the Deployment restarts it as a standby.
      log.error('lost leadership; exiting', { identity });
      process.exit(1);
    },
    onNewLeader: (leader: string) => {
      if (leader !== identity) log.info('standing by', { leader });
    },
  });
}
