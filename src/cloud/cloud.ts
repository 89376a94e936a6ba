// The factory the operator uses: one Cloud per clouds.yaml entry, with its own undici Agent, token cache and
// endpoint. `endpoint()` is the resolved network endpoint, the first half of the "one VPN service per VPC" claim key.
import type { Authenticator } from './auth.ts';
import { KeystoneAuth } from './auth.ts';
import type { CloudConfig } from './config.ts';
import type { CloudGateOptions, GateState } from './gate.ts';
import type { HostPolicy } from './hosts.ts';
import type { CloudLogger, RequestObserver } from './http.ts';
import { HttpTransport, tlsSettingsFrom } from './http.ts';
import { cloudLimits, type CloudLimits } from './limits.ts';
import { NetworkSession } from './session.ts';
import { RouterClient } from './routers.ts';
import { VpnServiceClient } from './vpnservices.ts';
import { vpnaasClients, type VpnaasClients } from './vpnaas.ts';

export interface CreateCloudOptions {
  /** Per-request timeout; `api_timeout` in clouds.yaml wins; default 30 s. */
  timeoutMs?: number;
  onRequest?: RequestObserver;
  logger?: CloudLogger;
  /** Page size for list calls (`limit`), default 1000. */
  pageSize?: number;
  /** Connections per origin, default 16. */
  connections?: number;
  /** Clock (token expiry, the fail-fast cool-down), for tests. */
  now?: () => number;
  /**
   * Per-cloud concurrency limit and fail-fast (src/cloud/gate.ts): at most `maxInFlight` (default 4) requests at
   * once, the rest in a bounded FIFO; after `failureThreshold` (3) timeouts/connection errors in a row, requests
   * fail at once (retryable CloudError) for `coolDownMs` (15 s), then one probe goes through.
   */
  gate?: CloudGateOptions;
  /** Response and listing bounds (src/cloud/limits.ts); default DEFAULT_LIMITS. */
  limits?: Partial<CloudLimits>;
  /** For a tenant's cloud: the hosts its requests may go to (src/cloud/hosts.ts), checked before each is sent. */
  hosts?: HostPolicy;
}

export interface Cloud extends VpnaasClients {
  readonly name: string;
  readonly config: CloudConfig;
  /** The network endpoint URL, ending in /v2.0 (from the override or the catalog). */
  endpoint(): Promise<string>;
  readonly auth: Authenticator;
  readonly vpnServices: VpnServiceClient;
  readonly routers: RouterClient;
  /** The longest a request can take from the call to its end (the wait for a slot of the gate, then the timeout):
   * a create may land in the cloud up to this long after it was called. */
  readonly maxRequestMs: number;
  /** Requests in flight and waiting, and whether the cloud is failing fast (gate.ts). */
  gateState(): GateState;
  /** Closes the connections (waits for requests in flight). */
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Builds a Cloud. Reads cacert/cert/key files now: a missing file is a CloudConfigError here, not at first use. */
export function createCloud(config: CloudConfig, opts: CreateCloudOptions = {}): Cloud {
  const limits = cloudLimits(opts.limits);
  const http = new HttpTransport({
    cloudName: config.cloudName,
    tls: tlsSettingsFrom(config),
    timeoutMs: config.apiTimeoutMs ?? opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    connections: opts.connections ?? 16,
    onRequest: opts.onRequest,
    logger: opts.logger,
    userAgent: 'vpnaas-operator',
    gate: opts.gate,
    now: opts.now,
    maxResponseBytes: limits.maxResponseBytes,
    hosts: opts.hosts,
  });
  const authOpts: { logger?: CloudLogger; now?: () => number } = {};
  if (opts.logger) authOpts.logger = opts.logger;
  if (opts.now) authOpts.now = opts.now;
  const auth = new KeystoneAuth(config, http, authOpts);
  const session = new NetworkSession(http, auth, opts.logger);
  const clientOpts = { limits, ...(opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {}) };
  const vpnServices = new VpnServiceClient(session, clientOpts);
  return {
    name: config.cloudName,
    config,
    endpoint: () => auth.networkEndpoint(),
    auth,
    vpnServices,
    ...vpnaasClients(session, clientOpts),
    routers: new RouterClient(session),
    maxRequestMs: http.maxRequestMs,
    gateState: () => http.gateState(),
    close: () => http.close(),
  };
}
