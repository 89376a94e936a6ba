// Liveness and readiness of the operator process (SPEC §3.12), from what its parts expose.
//
// /healthz (liveness: a failure makes the kubelet restart the pod) must only fail when a restart helps: a loop that
// is wedged, not a cloud or an API server that is down. Checks are named functions combined in order; the first
// failing one answers, with its reason. Today there is one, the informer's list/watch loop: every wait it makes is
// bounded (request timeouts, the watch watchdog, the backoff), so it is live while its current phase is within its
// own deadline, also while it retries against an unreachable or refusing API server. Answering at all shows the
// event loop runs; a wedged event loop answers nothing and the probe's timeoutSeconds catches it. More checks (the
// controller's workers) are added to the list in app.ts.
//
// /readyz (readiness) is true once the cache has synced; until then it says why not, most usefully when the
// VpnService CRD is not installed (the LIST answers 404).
import type { Informer, InformerErrorInfo, InformerHealth } from '../controller/informer.ts';
import type { Logger } from '../controller/logger.ts';

export interface HealthResult {
  ok: boolean;
  reason?: string;
}

export type HealthCheck = () => HealthResult;

export const CRD_MISSING_HINT = 'the VpnService CRD is not installed: kubectl apply -k crds/';

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}

/** Liveness of an informer's list/watch loop: false once its phase is past its deadline, or the loop ended. */
export function informerLiveness(informer: Pick<Informer<unknown>, 'health'>, now: () => number = Date.now): HealthCheck {
  return () => {
    const h: InformerHealth = informer.health();
    if (h.phase === 'ended') return { ok: false, reason: 'the list/watch loop ended' };
    const t = now();
    if (h.deadline !== null && t > h.deadline) {
      return {
        ok: false,
        reason: `${h.phase} for ${seconds(t - h.since)} with no progress for ${seconds(t - h.deadline)} past its bound`,
      };
    }
    return { ok: true };
  };
}

/** The first failing check answers, prefixed with its name; all passing is ok. A throwing check fails. */
export function combineChecks(checks: ReadonlyArray<readonly [name: string, check: HealthCheck]>): HealthCheck {
  return () => {
    for (const [name, check] of checks) {
      let r: HealthResult;
      try {
        r = check();
      } catch (err) {
        r = { ok: false, reason: `check failed: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (!r.ok) return { ok: false, reason: `${name}: ${r.reason ?? 'unhealthy'}` };
    }
    return { ok: true };
  };
}

/** Why the VpnService cache is not synced yet (undefined once it is). */
export function informerNotReadyReason(informer: Pick<Informer<unknown>, 'health'>): string | undefined {
  const h = informer.health();
  if (h.synced) return undefined;
  const e = h.lastError;
  if (e === undefined) return 'cache not synced';
  if (e.status === 404) return CRD_MISSING_HINT;
  if (e.status === 401 || e.status === 403)
    return `cache not synced: the API server refuses to list VpnServices (HTTP ${e.status}): check the kubeconfig or RBAC (deploy/rbac.yaml); retrying`;
  return `cache not synced: ${e.message}; retrying`;
}

/**
 * Logs CRD_MISSING_HINT (at error) once per run of failures whose LIST answers 404, instead of leaving only the
 * informer's "list failed … HTTP 404" lines. The informer keeps retrying with its backoff.
 */
export function logCrdHint(informer: Pick<Informer<unknown>, 'onError'>, log: Logger): () => void {
  let hinted = false;
  return informer.onError((e: InformerErrorInfo) => {
    if (e.consecutiveErrors === 1) hinted = false;
    if (hinted || e.status !== 404 || !e.listing) return;
    hinted = true;
    log.error(CRD_MISSING_HINT, { path: e.path, status: e.status, retryInMs: e.retryInMs });
  });
}
