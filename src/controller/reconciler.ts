// The reconciler: one idempotent pass over one VpnService (SPEC §3.1–3.9). It reads the object (informer cache
// plus what it wrote itself), the cloud (bulk snapshot or a precise lookup), decides, acts, and writes status only
// when it changed. Decisions live in small pure functions (claims.ts, status.ts, conditions.ts); HTTP lives in
// src/cloud and src/kube.
import {
  CREATE_INTENT_ANNOTATION,
  FINALIZER,
  cloudName,
  objectKey,
  type VpnService,
  type VpnServiceStatus,
} from '../api/vpnservice.ts';
import { CloudError, classify, retryAfterMs } from '../cloud/errors.ts';
import { KubeApiError } from '../kube/client.ts';
import { ownerOf, type Claimant } from './claims.ts';
import { readyCondition, type Outcome, type Reason } from './conditions.ts';
import type { Logger } from './logger.ts';
import { CredentialsError, type CloudHandle, type CloudVpn, type CreateVpn } from './ports.ts';
import { isPending, nextStatus, observedFields, outcomeOfCloudStatus, sameStatus, wantedUpdate } from './status.ts';
import type { Writer } from './writer.ts';

export interface ReconcilerConfig {
  /** Period of the drift check for settled objects (jittered by up to +10 %). */
  resyncMs: number;
  /** How long a refusal (4xx, bad credentials) waits before being tried again for the same generation. */
  terminalRetryMs: number;
  /** Poll interval bounds while the cloud is PENDING_* / BUILD. */
  pollMinMs: number;
  pollMaxMs: number;
}

export const DEFAULT_CONFIG: ReconcilerConfig = {
  resyncMs: 10 * 60_000,
  terminalRetryMs: 5 * 60_000,
  pollMinMs: 250,
  pollMaxMs: 30_000,
};

export interface ObjectSource {
  get(key: string): VpnService | undefined;
  /** The objects that name this router (an index: claims must not scan every object). */
  onRouter(routerId: string): Iterable<VpnService>;
}

export interface CloudResolver {
  /** The cloud of an object (default or from its cloudCredentialsRef). Throws CredentialsError. */
  resolve(obj: VpnService): Promise<CloudHandle>;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** Thrown to have the key retried with backoff after the status was written. */
export class RetryLater extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'RetryLater';
    this.retryAfterMs = retryAfterMs;
  }
}

interface Ctx {
  key: string;
  obj: VpnService;
  log: Logger;
  cloud?: CloudHandle;
}

/** How often an object stalled on credentials from a Secret looks at the Secret again. */
const SECRET_RECHECK_MS = 15_000;

export class Reconciler {
  private readonly source: ObjectSource;
  private readonly writer: Writer;
  private readonly clouds: CloudResolver;
  private readonly log: Logger;
  private readonly cfg: ReconcilerConfig;
  private readonly now: () => number;
  /** Objects as we last wrote them, until the informer catches up (so a quick requeue never acts on stale data). */
  private readonly written = new Map<string, VpnService>();
  /** resourceVersions of our own writes not yet seen by the informer. */
  private readonly ownVersions = new Map<string, Set<string>>();
  /** Resolved cloud endpoint per key (claim keys of objects not reconciled yet come from status.cloudEndpoint). */
  private readonly endpoints = new Map<string, string>();
  /** Keys creating a cloud service right now: they hold their router even before status.id is written. */
  private readonly creating = new Set<string>();
  /** Last refusal per key: the generation refused and when. */
  private readonly refused = new Map<string, { generation: number; at: number; cloud: CloudHandle | undefined }>();
  /** Poll attempts per key while the cloud is pending. */
  private readonly polls = new Map<string, number>();
  /** When the cloud's data for a key was last taken (a poll needs a newer snapshot to make progress). */
  private readonly seenAt = new Map<string, number>();
  /** Called with the keys that wait on a router that was just released. */
  onRouterReleased?: (routerId: string) => void;
  /** Called with the key of an object whose pending cloud service moved in a LIST round made for any object. */
  onCloudNews?: (key: string) => void;

  constructor(opts: {
    source: ObjectSource;
    writer: Writer;
    clouds: CloudResolver;
    log: Logger;
    config?: Partial<ReconcilerConfig>;
    now?: () => number;
  }) {
    this.source = opts.source;
    this.writer = opts.writer;
    this.clouds = opts.clouds;
    this.log = opts.log;
    this.cfg = { ...DEFAULT_CONFIG, ...opts.config };
    this.now = opts.now ?? Date.now;
  }

  /**
   * The informer saw a version of the object: our own copy is dropped once the cache has caught up with it.
   * Returns true when this version is one we wrote ourselves (its change needs no new reconcile).
   */
  observed(obj: VpnService): boolean {
    const key = objectKey(obj);
    const w = this.written.get(key);
    if (!w) return false;
    const ours = w.metadata.uid === obj.metadata.uid && (this.ownVersions.get(key)?.has(obj.metadata.resourceVersion) ?? false);
    if (w.metadata.uid !== obj.metadata.uid || !rvOlder(obj.metadata.resourceVersion, w.metadata.resourceVersion)) {
      this.written.delete(key);
      this.ownVersions.delete(key);
    }
    return ours;
  }

  forget(key: string): void {
    this.written.delete(key);
    this.ownVersions.delete(key);
    this.endpoints.delete(key);
    this.refused.delete(key);
    this.polls.delete(key);
    this.seenAt.delete(key);
    this.creating.delete(key);
  }

  private current(key: string): VpnService | undefined {
    const fromStore = this.source.get(key);
    if (!fromStore) return undefined;
    const w = this.written.get(key);
    if (w && w.metadata.uid === fromStore.metadata.uid && rvOlder(fromStore.metadata.resourceVersion, w.metadata.resourceVersion)) {
      return w;
    }
    return fromStore;
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const obj = this.current(key);
    if (!obj) {
      this.forget(key);
      return {};
    }
    const ctx: Ctx = { key, obj, log: this.log.child({ key }) };
    let cloud: CloudHandle;
    try {
      cloud = await this.clouds.resolve(obj);
    } catch (err) {
      if (err instanceof CredentialsError) return this.credentialsMissing(ctx, err);
      return this.cloudFailure(ctx, err);
    }
    ctx.cloud = cloud;
    this.endpoints.set(key, cloud.endpoint);
    if (obj.metadata.deletionTimestamp) return this.finalize(ctx, cloud);
    return this.ensure(ctx, cloud);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Present: make the cloud match the spec.

  private async ensure(ctx: Ctx, cloud: CloudHandle): Promise<ReconcileResult> {
    const { obj } = ctx;
    // One VPN service per VPC: losers make no cloud call.
    const owner = ownerOf(this.claimant(obj, cloud.endpoint), this.claimants(obj.spec.routerId));
    if (owner !== ctx.key) {
      await this.show(ctx, undefined, {
        reason: 'RouterConflict',
        message: `Router ${obj.spec.routerId} is already claimed by VpnService ${owner}; only one VPN service per VPC (router) is allowed. This object waits and proceeds by itself when ${owner} is deleted.`,
      });
      return { requeueAfterMs: this.resyncDelay() };
    }

    // A refusal is not retried for the same generation and credentials until terminalRetryMs has passed. Credentials
    // from a Secret are looked at again every SECRET_RECHECK_MS meanwhile (a cached GET, no cloud call): a changed
    // Secret resolves to a new cloud handle and the object is retried at once, while the same bad password is not
    // sent to Keystone again (which could lock the account) before terminalRetryMs.
    const refused = this.refused.get(ctx.key);
    if (refused && refused.generation === obj.metadata.generation && refused.cloud === cloud) {
      const wait = refused.at + this.cfg.terminalRetryMs - this.now();
      if (wait > 0) return { requeueAfterMs: obj.spec.cloudCredentialsRef ? Math.min(wait, SECRET_RECHECK_MS) : wait };
    }

    // Finalizer before any cloud call; the create intent with it when a create may follow.
    const intentAtStart = obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION] !== undefined;
    const mayCreate = !obj.status?.id && !obj.spec.importId;
    const hasFinalizer = obj.metadata.finalizers?.includes(FINALIZER) ?? false;
    if (!hasFinalizer || (mayCreate && !intentAtStart)) {
      const change: { finalizers?: string[]; annotations?: Record<string, string> } = {};
      if (!hasFinalizer) change.finalizers = [...(obj.metadata.finalizers ?? []), FINALIZER];
      if (mayCreate && !intentAtStart) change.annotations = { [CREATE_INTENT_ANNOTATION]: cloudName(obj) };
      ctx.obj = await this.remember(await this.writer.patchMeta(obj, change));
    }

    try {
      let svc = await this.observe(ctx, cloud);
      if (!svc) {
        if (ctx.obj.status?.id && !ctx.obj.spec.importId) {
          ctx.log.warn('cloud service deleted out of band; recreating', { decision: 'recreate', id: ctx.obj.status.id });
          this.writer.event(ctx.obj, 'Warning', 'Recreated', `VPN service ${ctx.obj.status.id} was deleted outside the operator; creating a new one.`);
          if (ctx.obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION] === undefined) {
            ctx.obj = await this.remember(
              await this.writer.patchMeta(ctx.obj, { annotations: { [CREATE_INTENT_ANNOTATION]: cloudName(ctx.obj) } }),
            );
          }
        }
        const got = ctx.obj.spec.importId ? await this.adopt(ctx, cloud) : await this.create(ctx, cloud, intentAtStart);
        if ('outcome' in got) {
          await this.show(ctx, undefined, got.outcome);
          return { requeueAfterMs: got.requeueAfterMs };
        }
        svc = got.svc;
      }
      return await this.converge(ctx, cloud, svc);
    } catch (err) {
      return this.cloudFailure(ctx, err);
    }
  }

  /** The cloud's service for this object, if it has one (undefined when status.id is gone from the cloud). */
  private async observe(ctx: Ctx, cloud: CloudHandle): Promise<CloudVpn | undefined> {
    const id = ctx.obj.status?.id;
    if (!id) return undefined;
    const pending = isPending(ctx.obj.status?.status);
    // Pending: a snapshot newer than what we saw last time (shared by every object polled meanwhile). Settled: a
    // snapshot up to half a resync period old will do, so the drift check of every object costs at most two LIST
    // rounds per period, and drift shows within 1.5 periods.
    const notBefore = pending ? (this.seenAt.get(ctx.key) ?? 0) + 1 : this.now() - this.cfg.resyncMs / 2;
    const snap = await cloud.view.fresh(notBefore);
    this.seenAt.set(ctx.key, snap.startedAt);
    const seen = snap.byId.get(id);
    if (seen) return seen;
    // Not in the bulk view: confirm with a direct read before concluding it is gone.
    try {
      const svc = await cloud.api.get(id);
      cloud.view.remember(svc);
      return svc;
    } catch (err) {
      if (classify(err) === 'notFound') return undefined;
      throw err;
    }
  }

  private async adopt(ctx: Ctx, cloud: CloudHandle): Promise<{ svc: CloudVpn } | { outcome: Outcome; requeueAfterMs: number }> {
    const { obj } = ctx;
    const id = obj.spec.importId!;
    let svc: CloudVpn;
    try {
      svc = await cloud.api.get(id);
    } catch (err) {
      if (classify(err) !== 'notFound') throw err;
      return this.refuse(ctx, {
        reason: 'InvalidSpec',
        message: `spec.importId ${id}: the cloud has no VPN service with this ID. Fix importId (it is immutable: create a new VpnService) or remove the object.`,
      });
    }
    if (svc.router_id !== obj.spec.routerId) {
      return this.refuse(ctx, {
        reason: 'InvalidSpec',
        message: `spec.importId ${id} is on router ${svc.router_id}, not on spec.routerId ${obj.spec.routerId}. Create a VpnService with the matching routerId to import it.`,
      });
    }
    cloud.view.remember(svc);
    ctx.log.info('adopted existing cloud service', { decision: 'adopt', id });
    this.writer.event(obj, 'Normal', 'Adopted', `Adopted existing VPN service ${id} (spec.importId).`);
    return { svc };
  }

  private async create(
    ctx: Ctx,
    cloud: CloudHandle,
    intentAtStart: boolean,
  ): Promise<{ svc: CloudVpn } | { outcome: Outcome; requeueAfterMs: number }> {
    const { obj } = ctx;
    const routerId = obj.spec.routerId;
    const name = cloudName(obj);
    // Before any POST, read the router's VPN services (one filtered GET, always fresh). If an earlier attempt may
    // have POSTed (the intent was already there), a service with our name on the router is the one it made.
    const onRouter = await cloud.api.list({ routerId });
    if (intentAtStart) {
      const mine = onRouter.find((s) => ourNames(obj).has(s.name));
      if (mine) {
        cloud.view.remember(mine);
        ctx.log.info('found the service an interrupted create made; adopting it', { decision: 'recover', id: mine.id });
        this.writer.event(obj, 'Normal', 'Created', `Created VPN service ${mine.id} on router ${routerId}.`);
        return { svc: mine };
      }
    }
    const other = onRouter[0];
    if (other) {
      const holder = this.holderOf(routerId, other.id, ctx.key);
      if (holder) {
        return {
          outcome: {
            reason: 'RouterConflict',
            message: `Router ${routerId} holds VPN service ${other.id} of VpnService ${holder}; only one VPN service per VPC (router) is allowed. This object proceeds by itself when ${holder} and its service are gone.`,
          },
          requeueAfterMs: 5_000,
        };
      }
      return {
        outcome: {
          reason: 'RouterInUse',
          message: `The cloud already has VPN service ${other.id} on router ${routerId}, not created by this object. To manage it with the operator, create a VpnService with spec.importId: ${other.id}; or delete it in the cloud and this object will create its own.`,
        },
        requeueAfterMs: Math.min(this.cfg.terminalRetryMs, 120_000),
      };
    }
    const body: CreateVpn = { router_id: routerId, name, admin_state_up: obj.spec.adminStateUp };
    if (obj.spec.subnetId) body.subnet_id = obj.spec.subnetId;
    if (obj.spec.description !== undefined) body.description = obj.spec.description;
    if (obj.spec.tenantId !== undefined) body.tenant_id = obj.spec.tenantId;
    this.creating.add(ctx.key);
    try {
      const started = this.now();
      const svc = await cloud.api.create(body);
      this.seenAt.set(ctx.key, this.now());
      cloud.view.remember(svc);
      ctx.log.info('created cloud service', { decision: 'create', id: svc.id, durationMs: this.now() - started });
      this.writer.event(obj, 'Normal', 'Created', `Created VPN service ${svc.id} on router ${routerId}.`);
      return { svc };
    } catch (err) {
      if (classify(err) === 'conflict') {
        // The seed cloud refuses a second service on a router: someone else's service appeared meanwhile.
        return {
          outcome: {
            reason: 'RouterInUse',
            message: `The cloud refused to create a VPN service on router ${routerId}: ${cloudText(err)}. Another VPN service exists on this router; import it with spec.importId or delete it in the cloud.`,
          },
          requeueAfterMs: Math.min(this.cfg.terminalRetryMs, 120_000),
        };
      }
      throw err;
    } finally {
      this.creating.delete(ctx.key);
    }
  }

  /** With the service in hand: apply spec changes, show its state, decide when to look again. */
  private async converge(ctx: Ctx, cloud: CloudHandle, svc: CloudVpn): Promise<ReconcileResult> {
    const patch = wantedUpdate(ctx.obj, svc);
    if (patch) {
      if (isPending(svc.status)) {
        return this.showAndPoll(ctx, cloud, svc, {
          reason: 'Updating',
          message: `Waiting for VPN service ${svc.id} to leave ${svc.status} before applying the spec change (${Object.keys(patch).join(', ')}).`,
        });
      }
      try {
        svc = await cloud.api.update(svc.id, patch);
      } catch (err) {
        if (classify(err) !== 'pendingState') throw err;
        return this.showAndPoll(ctx, cloud, svc, {
          reason: 'Updating',
          message: `The cloud is busy with VPN service ${svc.id} (${cloudText(err)}); the spec change is applied when it is done.`,
        });
      }
      cloud.view.remember(svc);
      ctx.log.info('updated cloud service', { decision: 'update', id: svc.id, fields: Object.keys(patch) });
      this.writer.event(ctx.obj, 'Normal', 'Updated', `Updated VPN service ${svc.id}: ${Object.keys(patch).join(', ')}.`);
    }
    const outcome = outcomeOfCloudStatus(svc);
    if (isPending(svc.status)) return this.showAndPoll(ctx, cloud, svc, outcome);
    cloud.view.stopWaiting(svc.id);
    this.polls.delete(ctx.key);
    this.refused.delete(ctx.key);
    const wasActive = readyCondition(ctx.obj.status?.conditions)?.reason === 'Active';
    await this.show(ctx, observedFields(svc, cloud.endpoint), outcome);
    if (outcome.reason === 'Active' && !wasActive) this.writer.event(ctx.obj, 'Normal', 'Active', outcome.message);
    return { requeueAfterMs: this.resyncDelay() };
  }

  private async showAndPoll(ctx: Ctx, cloud: CloudHandle, svc: CloudVpn, outcome: Outcome): Promise<ReconcileResult> {
    await this.show(ctx, observedFields(svc, cloud.endpoint), outcome);
    const n = (this.polls.get(ctx.key) ?? 0) + 1;
    this.polls.set(ctx.key, n);
    // Whichever object's poll makes the next LIST round, this one hears at once if its service moved.
    const key = ctx.key;
    cloud.view.waitForChange(svc.id, svc.status, () => this.onCloudNews?.(key));
    // Polls are cheap (all pending objects share one LIST round), so start fast and back off gently.
    return { requeueAfterMs: Math.round(Math.min(this.cfg.pollMaxMs, this.cfg.pollMinMs * 1.5 ** Math.min(n - 1, 30))) };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Deleting: honour the deletion policy, then let the object go.

  private async finalize(ctx: Ctx, cloud: CloudHandle): Promise<ReconcileResult> {
    const { obj } = ctx;
    if (!obj.metadata.finalizers?.includes(FINALIZER)) return {};
    let id = obj.status?.id;
    if (obj.spec.deletionPolicy === 'Orphan') {
      await this.release(ctx, id ? `Left VPN service ${id} in the cloud (deletionPolicy Orphan).` : 'Nothing to delete in the cloud.');
      return {};
    }
    try {
      if (!id && obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION] !== undefined && !this.isConflictLoser(obj)) {
        // A create may have happened without its ID reaching the status: look before letting go.
        const mine = (await cloud.api.list({ routerId: obj.spec.routerId })).find((s) => ourNames(obj).has(s.name));
        id = mine?.id;
      }
      if (!id) {
        await this.release(ctx, 'Nothing to delete in the cloud.');
        return {};
      }
      // Already being deleted by the cloud (an earlier DELETE was accepted): only confirm.
      const alreadyDeleting = obj.status?.id === id && obj.status.status === 'PENDING_DELETE';
      try {
        if (!alreadyDeleting) await cloud.api.delete(id);
      } catch (err) {
        const kind = classify(err);
        if (kind === 'conflict') {
          const outcome: Outcome = {
            reason: 'DeleteBlocked',
            message: `The cloud refuses to delete VPN service ${id}: ${cloudText(err)}. Delete its IPsec site connections first; the operator keeps trying.`,
          };
          const changed = await this.show(ctx, undefined, outcome);
          if (changed) this.writer.event(obj, 'Warning', 'DeleteBlocked', outcome.message);
          throw new RetryLater(outcome.message, retryAfterMs(err));
        }
        if (kind !== 'notFound') throw err;
      }
      // The finalizer goes only once the cloud confirms the service is gone (a cloud may delete asynchronously).
      const still = await cloud.api.get(id).catch((err: unknown) => {
        if (classify(err) === 'notFound') return undefined;
        throw err;
      });
      if (still) {
        return this.showAndPoll(ctx, cloud, still, {
          reason: 'Deleting',
          message: `Waiting for the cloud to delete VPN service ${id} (status ${still.status}).`,
        });
      }
      cloud.view.forget(id);
      ctx.log.info('deleted cloud service', { decision: 'delete', id });
      await this.release(ctx, `Deleted VPN service ${id}.`);
      return {};
    } catch (err) {
      if (err instanceof RetryLater) throw err;
      return this.cloudFailure(ctx, err);
    }
  }

  private async release(ctx: Ctx, message: string): Promise<void> {
    const { obj } = ctx;
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    try {
      await this.writer.patchMeta(obj, { finalizers });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
    ctx.log.info('finalizer removed', { decision: 'release', message });
    this.writer.event(obj, 'Normal', 'Deleted', message);
    this.forget(ctx.key);
    this.onRouterReleased?.(obj.spec.routerId);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Errors and status.

  private async cloudFailure(ctx: Ctx, err: unknown): Promise<ReconcileResult> {
    if (err instanceof KubeApiError || !(err instanceof CloudError)) throw err;
    const kind = classify(err);
    ctx.log.warn('cloud request failed', {
      decision: kind,
      status: err.status,
      code: err.code,
      requestId: err.requestId,
      error: err.message,
    });
    if (kind === 'auth') {
      return this.refuse(ctx, {
        reason: 'AuthFailed',
        message: `The cloud refused the credentials (HTTP ${err.status}${err.code ? ` ${err.code}` : ''}). ${ctx.obj.spec.cloudCredentialsRef ? `Fix the clouds.yaml in Secret ${ctx.obj.spec.cloudCredentialsRef.secretName}; the operator tries again within seconds of the change, and every few minutes.` : 'Fix the clouds.yaml mounted into the operator and restart it; the operator tries again every few minutes.'}`,
      });
    }
    if (kind === 'terminal' || kind === 'notFound' || kind === 'conflict') {
      return this.refuse(ctx, {
        reason: 'InvalidSpec',
        message: `The cloud refused the request: ${cloudText(err)}. Fix the spec (or what the cloud names, e.g. the router); the operator tries again when the spec changes and every few minutes.`,
      });
    }
    const outcome: Outcome = {
      reason: 'CloudUnavailable',
      message: `The cloud did not answer as expected (${err.status ? `HTTP ${err.status}${err.code ? ` ${err.code}` : ''}` : cloudText(err)}); retrying with backoff.`,
    };
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(ctx.obj, 'Warning', 'CloudError', outcome.message);
    throw new RetryLater(outcome.message, err.retryAfterMs);
  }

  private async refuse(ctx: Ctx, outcome: Outcome & { reason: Reason }): Promise<{ outcome: Outcome; requeueAfterMs: number }> {
    this.refused.set(ctx.key, { generation: ctx.obj.metadata.generation, at: this.now(), cloud: ctx.cloud });
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(ctx.obj, 'Warning', 'CloudError', outcome.message);
    // Credentials from a Secret are looked at again soon (see the refusal guard): a fixed Secret is picked up
    // within SECRET_RECHECK_MS plus the Secret cache's lifetime.
    const again = ctx.obj.spec.cloudCredentialsRef ? Math.min(SECRET_RECHECK_MS, this.cfg.terminalRetryMs) : this.cfg.terminalRetryMs;
    return { outcome, requeueAfterMs: again };
  }

  private async credentialsMissing(ctx: Ctx, err: CredentialsError): Promise<ReconcileResult> {
    const { obj } = ctx;
    if (obj.metadata.deletionTimestamp) {
      if (obj.spec.deletionPolicy === 'Orphan' || (!obj.status?.id && obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION] === undefined)) {
        if (obj.metadata.finalizers?.includes(FINALIZER)) await this.release(ctx, 'Nothing to delete in the cloud.');
        return {};
      }
    }
    const outcome: Outcome = { reason: 'CredentialsNotFound', message: `${err.message}` };
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(obj, 'Warning', 'CloudError', outcome.message);
    // A Secret can be created or fixed at any time: look again soon. The operator's own default cloud only changes
    // with a restart: look again slowly.
    return { requeueAfterMs: obj.spec.cloudCredentialsRef ? Math.min(SECRET_RECHECK_MS, this.cfg.terminalRetryMs) : this.cfg.terminalRetryMs };
  }

  /** Writes the status if it differs from what the object shows. Returns whether it wrote. */
  private async show(ctx: Ctx, observed: VpnServiceStatus | undefined, outcome: Outcome): Promise<boolean> {
    const prevReason = readyCondition(ctx.obj.status?.conditions)?.reason;
    const next = nextStatus(ctx.obj, observed, outcome, new Date(this.now()).toISOString());
    if (sameStatus(next, ctx.obj.status)) return false;
    if (outcome.reason === 'RouterConflict' && prevReason !== 'RouterConflict') {
      this.writer.event(ctx.obj, 'Warning', 'RouterConflict', outcome.message);
    }
    ctx.log.info('status', { decision: outcome.reason, status: next.status, id: next.id });
    ctx.obj = await this.remember(await this.writer.patchStatus(ctx.obj, next));
    return true;
  }

  private async remember(obj: VpnService): Promise<VpnService> {
    const key = objectKey(obj);
    this.written.set(key, obj);
    const own = this.ownVersions.get(key) ?? new Set<string>();
    own.add(obj.metadata.resourceVersion);
    this.ownVersions.set(key, own);
    return obj;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Claims.

  private claimant(obj: VpnService, endpoint: string | undefined): Claimant {
    const key = objectKey(obj);
    return {
      key,
      routerId: obj.spec.routerId,
      endpoint,
      creationTimestamp: obj.metadata.creationTimestamp,
      deleting: obj.metadata.deletionTimestamp !== undefined,
      holds: this.creating.has(key) || (obj.status?.id !== undefined && obj.status.routerId === obj.spec.routerId),
    };
  }

  private *claimants(routerId: string): Iterable<Claimant> {
    for (const o of this.source.onRouter(routerId)) {
      const key = objectKey(o);
      const cur = this.current(key) ?? o;
      yield this.claimant(cur, this.endpoints.get(key) ?? cur.status?.cloudEndpoint);
    }
  }

  private isConflictLoser(obj: VpnService): boolean {
    return readyCondition(obj.status?.conditions)?.reason === 'RouterConflict';
  }

  /** The other object whose status names this cloud service, if any. */
  private holderOf(routerId: string, id: string, except: string): string | undefined {
    for (const o of this.source.onRouter(routerId)) {
      const key = objectKey(o);
      if (key !== except && (this.current(key) ?? o).status?.id === id) return key;
    }
    return undefined;
  }

  private resyncDelay(): number {
    return Math.round(this.cfg.resyncMs * (1 + Math.random() * 0.1));
  }
}

/**
 * The names a create of this object may have used: the one recorded with the intent (the name at the time of the
 * POST) and the current one (the object may have been renamed since).
 */
function ourNames(obj: VpnService): Set<string> {
  const names = new Set([cloudName(obj)]);
  const recorded = obj.metadata.annotations?.[CREATE_INTENT_ANNOTATION];
  if (recorded) names.add(recorded);
  return names;
}

function cloudText(err: unknown): string {
  if (err instanceof CloudError) {
    const what = err.status ? `HTTP ${err.status}${err.code ? ` ${err.code}` : ''}` : 'no answer';
    return err.cloudMessage ? `${what}: "${err.cloudMessage}"` : what;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Whether resourceVersion a is older than b. Kubernetes resourceVersions are etcd revisions (integers). */
function rvOlder(a: string, b: string): boolean {
  try {
    return BigInt(a) < BigInt(b);
  } catch {
    return false;
  }
}
