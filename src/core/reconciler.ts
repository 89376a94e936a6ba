// The generic reconciler: one idempotent pass over one object of any kind, given the kind's adapter (./adapter.ts).
// It gathers (the object, its cloud, the claims, what the cloud shows), decides (./decide.ts, ./claims.ts: pure),
// acts (one cloud call or one write at a time) and reports progress as conditions. Where each behaviour of SPEC §3
// lives:
//   §3.1 finalizer, §3.3 create intent + adoption     ensure() / createOrAdopt()
//   §3.2 claims                                         claim() (rule: ./claims.ts)
//   §3.4 follow status, drift                           observe() / converge()
//   §3.5 updates                                        converge()
//   §3.6 deletion, deletion guards                      finalize()
//   §3.7 retry classes                                  failure() / refuse()
//   §3.8 write only on change                           show()
//   §3.9 events                                         the Writer, called from the steps above
// Per-key memory here is only an optimisation that a restart rebuilds conservatively: our own writes until the
// cache has them, refusal holds (a restart retries once), what this process knows of its own POSTs (unknown after
// a restart: the cloud and the intent's age decide).
import { CloudError, classify, retryAfterMs } from '../cloud/errors.ts';
import { HostNotAllowedError } from '../cloud/hosts.ts';
import { KubeApiError } from '../kube/client.ts';
import { NO_INPUTS, type CloudResource, type Inputs, type ResourceAdapter } from './adapter.ts';
import { canonicalScope, claimVerdict, type Claimant, type ClaimVerdict } from './claims.ts';
import { CredentialsError, type CloudHandle } from './cloud.ts';
import { readyCondition, type Outcome } from './conditions.ts';
import {
  claimGateAt,
  decideCreate,
  decideDeleteTarget,
  decideYield,
  showsIneligible,
  staleVerdict,
  type PostKnowledge,
  type Timing,
} from './decide.ts';
import { deletionGuard, resolveDependencies, type Ref, type TargetState } from './deps.ts';
import { CREATE_INTENT_ANNOTATION, candidateNames, encodeIntent, readIntent, type Intent } from './intent.ts';
import type { Logger } from './logger.ts';
import { nextStatus, sameStatus } from './status.ts';
import { objectKey, type ManagedObject, type ManagedStatus } from './types.ts';
import type { Writer } from './writer.ts';

import { FINALIZER } from '../api/vpnservice.ts';

export { FINALIZER };

export interface ReconcilerConfig {
  /** Period of the drift check for settled objects (jittered by up to +10 %). */
  resyncMs: number;
  /** How long a refusal (4xx, bad credentials) waits before being tried again for the same generation. */
  terminalRetryMs: number;
  /** Poll interval bounds while the cloud is PENDING_* / BUILD. */
  pollMinMs: number;
  pollMaxMs: number;
  /** A settled object shows CloudUnavailable only when the cloud could not be read for this long. */
  staleAfterMs: number;
  /** Margin after the creation second before a new object claims its scope. */
  claimMarginMs: number;
  /** How long an older object that is no claimant yet is waited for. */
  claimGraceMs: number;
  /** How long an intent covers a POST (older ones are stored again before POSTing). */
  intentFreshMs: number;
}

export const DEFAULT_CONFIG: ReconcilerConfig = {
  resyncMs: 10 * 60_000,
  terminalRetryMs: 5 * 60_000,
  pollMinMs: 250,
  pollMaxMs: 30_000,
  staleAfterMs: 30 * 60_000,
  claimMarginMs: 500,
  claimGraceMs: 30_000,
  intentFreshMs: 5_000,
};

/** How often an object stalled on credentials from a Secret looks at the Secret again. */
const SECRET_RECHECK_MS = 15_000;

export interface ObjectSource<O extends ManagedObject> {
  get(key: string): O | undefined;
  /** Cached objects on an exclusive scope (canonical), from an index. */
  onScope(scope: string): Iterable<O>;
  /** The objects on an exclusive scope read with a quorum read (not the cache), merged with the cache. */
  freshOnScope(scope: string, like: O): Promise<O[]>;
  /** Cached objects of the kind, in every namespace, whose status.id or spec.importId is `id`, from an index. */
  holding(id: string): Iterable<O>;
}

export interface CloudResolver {
  /** The cloud of an object (default or from its cloudCredentialsRef). Throws CredentialsError. */
  resolve(obj: ManagedObject): Promise<CloudHandle>;
  /**
   * Guards what the object's cloud credentials come from (a Secret) against deletion until the object's cleanup is
   * done; a no-op for the default cloud. Throws CredentialsError when the Secret is gone or being deleted.
   */
  guard(obj: ManagedObject): Promise<void>;
  /** Lifts the guard (after the object's cloud cleanup). Idempotent. */
  unguard(obj: ManagedObject): Promise<void>;
  /** The longest a request to this cloud can take from the call to its end (a POST may land until then). */
  timeoutMs(cloud: CloudHandle): number;
}

/** What the reconciler reads of other objects (fed by the controllers' caches and their dependency index). */
export interface DependencySource {
  stateOf(ref: Ref): TargetState;
  /** Objects (kind namespace/name) that reference this one and may have something in the cloud. */
  dependentsOf(obj: ManagedObject): string[];
  /** Of those, the ones whose cloud resource still uses cloud id `id` (from their status). */
  usersOf(obj: ManagedObject, id: string): string[];
}

/** A Secret's data as the reconciler reads it (values decoded). */
export interface SecretData {
  resourceVersion: string;
  data: Readonly<Record<string, string>>;
}

/** Reads Secrets of an object's namespace (cached by the caller). undefined: the Secret does not exist. */
export interface SecretSource {
  read(namespace: string, name: string): Promise<SecretData | undefined>;
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

interface Ctx<O> {
  key: string;
  obj: O;
  log: Logger;
  cloud?: CloudHandle;
  /** The resourceVersions of the Secrets this pass read its inputs from (a PSK), by field. */
  secretVersions?: Readonly<Record<string, string>>;
}

type Got<R> = { resource: R } | { result: ReconcileResult };

function versionsKey(v: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(Object.entries(v ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class Reconciler<O extends ManagedObject, R extends CloudResource, P> {
  private readonly a: ResourceAdapter<O, R, P>;
  private readonly source: ObjectSource<O>;
  private readonly writer: Writer<O>;
  private readonly clouds: CloudResolver;
  private readonly log: Logger;
  private readonly cfg: ReconcilerConfig;
  private readonly now: () => number;
  private readonly deps: DependencySource | undefined;
  private readonly secrets: SecretSource | undefined;
  /** Objects as we last wrote them, until the informer catches up (so a quick requeue never acts on stale data). */
  private readonly written = new Map<string, O>();
  /** resourceVersions of our own writes not yet seen by the informer. */
  private readonly ownVersions = new Map<string, Set<string>>();
  /** Objects whose finalizer we removed, by uid: a stale cached copy is not acted on again. */
  private readonly released = new Map<string, number>();
  /** Last refusal per key: the generation refused, when, and on which cloud handle. */
  private readonly refused = new Map<string, { generation: number; at: number; cloud: CloudHandle | undefined; secrets: string }>();
  /** Poll attempts per key while the cloud is pending. */
  private readonly polls = new Map<string, number>();
  /** When the cloud's data for a key was last taken (a poll needs a newer snapshot to make progress). */
  private readonly seenAt = new Map<string, number>();
  /** Last successful cloud read per key (staleness of settled objects). */
  private readonly lastGoodRead = new Map<string, number>();
  /** What this process knows of its POSTs, by uid: the intent's `at` and the knowledge. */
  private readonly posts = new Map<string, { at: number | undefined; knowledge: PostKnowledge }>();
  /** Keys that hold a scope now (to wake the others when they let go). */
  onScopeReleased?: (scope: string) => void;
  /** Called with the key of an object whose pending resource moved in a LIST round made for any object. */
  onCloudNews?: (key: string) => void;
  /** Called when a settled object could not be read (staleness, for a metric). */
  onStaleRead?: (key: string) => void;

  constructor(opts: {
    adapter: ResourceAdapter<O, R, P>;
    source: ObjectSource<O>;
    writer: Writer<O>;
    clouds: CloudResolver;
    log: Logger;
    config?: Partial<ReconcilerConfig>;
    now?: () => number;
    deps?: DependencySource;
    secrets?: SecretSource;
  }) {
    this.a = opts.adapter;
    this.deps = opts.deps;
    this.secrets = opts.secrets;
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
  observed(obj: O): boolean {
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

  /** The object is gone from the cache. */
  forget(key: string, uid?: string): void {
    this.written.delete(key);
    this.ownVersions.delete(key);
    this.refused.delete(key);
    this.polls.delete(key);
    this.seenAt.delete(key);
    this.lastGoodRead.delete(key);
    if (uid !== undefined) {
      this.released.delete(uid);
      this.posts.delete(uid);
    }
  }

  private current(key: string): O | undefined {
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
    // Our finalizer is gone (we removed it): a cached copy from before that must not act again (a second DELETE).
    if (this.released.has(obj.metadata.uid)) return {};
    const ctx: Ctx<O> = { key, obj, log: this.log.child({ key }) };
    // Deleting an object that cannot have anything in the cloud needs no cloud (nor working credentials).
    if (obj.metadata.deletionTimestamp && obj.metadata.finalizers?.includes(FINALIZER)) {
      if (obj.spec.deletionPolicy === 'Orphan' || (!obj.spec.importId && !readIntent(obj))) {
        await this.release(ctx, obj.spec.deletionPolicy === 'Orphan' && obj.status?.id ? `Left ${this.a.noun} ${obj.status.id} in the cloud (deletionPolicy Orphan).` : 'Nothing to delete in the cloud (nothing was created).');
        return {};
      }
    }
    let cloud: CloudHandle;
    try {
      cloud = await this.clouds.resolve(obj);
    } catch (err) {
      if (err instanceof CredentialsError) return this.credentialsMissing(ctx, err);
      return this.failure(ctx, err);
    }
    ctx.cloud = cloud;
    if (obj.metadata.deletionTimestamp) return this.finalize(ctx, cloud);
    return this.ensure(ctx, cloud);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Present: make the cloud match the spec.

  private async ensure(ctx: Ctx<O>, cloud: CloudHandle): Promise<ReconcileResult> {
    const obj = ctx.obj;
    // A refusal is not retried for the same generation and credentials until terminalRetryMs has passed. Credentials
    // from a Secret are looked at again every SECRET_RECHECK_MS meanwhile (a cached GET, no cloud call): a changed
    // Secret resolves to a new cloud handle and the object is retried at once.
    const refused = this.refused.get(ctx.key);
    if (refused && refused.generation === obj.metadata.generation && refused.cloud === cloud) {
      const wait = refused.at + this.cfg.terminalRetryMs - this.now();
      // A Secret the object takes an input from (a PSK) that changed since the refusal is retried at once too.
      if (wait > 0 && !(await this.secretInputsChanged(obj, refused.secrets))) return { requeueAfterMs: this.hasSecrets(obj) ? Math.min(wait, SECRET_RECHECK_MS) : wait };
    }
    try {
      // References and Secret inputs first: an object that has nothing in the cloud yet waits, naming what it waits
      // for, until what it uses exists.
      const got = await this.inputs(ctx);
      if ('result' in got) return got.result;
      const inputs = got.inputs;
      ctx.secretVersions = inputs.secretVersions;
      const intent = readIntent(obj);
      const needsCreate = !obj.status?.id && !obj.spec.importId;
      const ex = this.a.exclusive;
      if (ex) {
        const claimed = await this.claim(ctx, cloud, intent, needsCreate);
        if (claimed) return claimed;
      }
      // The credentials' Secret is guarded, and the finalizer (with the intent when a create may follow) stored,
      // before any cloud write.
      await this.clouds.guard(ctx.obj);
      const hasFinalizer = ctx.obj.metadata.finalizers?.includes(FINALIZER) ?? false;
      const writeIntent = needsCreate && !readIntent(ctx.obj);
      if (!hasFinalizer || writeIntent) {
        const annotations: Record<string, string> = {};
        if (writeIntent) annotations[CREATE_INTENT_ANNOTATION] = encodeIntent(this.newIntent(ctx, cloud));
        await this.patchMeta(ctx, {
          ...(hasFinalizer ? {} : { finalizers: [...(ctx.obj.metadata.finalizers ?? []), FINALIZER] }),
          ...(writeIntent ? { annotations } : {}),
        });
        if (writeIntent) this.posts.set(ctx.obj.metadata.uid, { at: readIntent(ctx.obj)?.at, knowledge: 'none-sent' });
        // Storing an intent on an exclusive scope ends the pass: the next one re-reads the claimants (quorum) with it
        // stored and only then may POST. Checking before the intent was stored let two objects that were both past
        // the claim grace (the operator down for a while, two waiters woken together) both create (issue 17).
        if (writeIntent && ex) return { requeueAfterMs: 0 };
      }

      let r = await this.observe(ctx, cloud);
      if (r === 'stale') return { requeueAfterMs: this.resyncDelay() };
      if (!r) {
        const made = ctx.obj.spec.importId ? await this.adopt(ctx, cloud) : await this.createOrAdopt(ctx, cloud, inputs);
        if ('result' in made) return made.result;
        r = made.resource;
      }
      return await this.converge(ctx, cloud, r, inputs);
    } catch (err) {
      return this.failure(ctx, err);
    }
  }

  /**
   * The references' cloud ids and the Secret values. An object with nothing in the cloud yet waits for every one of
   * them; one that exists goes on with what resolved (a reference being deleted does not make it Waiting), but a
   * Secret value that breaks the cloud's rules is never sent.
   */
  private async inputs(ctx: Ctx<O>): Promise<{ inputs: Inputs } | { result: ReconcileResult }> {
    const obj = ctx.obj;
    const exists = obj.status?.id !== undefined || obj.spec.importId !== undefined;
    const refs = this.a.references?.(obj) ?? [];
    const secretInputs = this.a.secretInputs?.(obj) ?? [];
    if (!refs.length && !secretInputs.length) return { inputs: NO_INPUTS };
    let ids: Record<string, string> = {};
    if (refs.length) {
      const got = resolveDependencies(refs, (r) => this.deps?.stateOf(r) ?? { state: 'missing' });
      if (got.kind === 'waiting' && !exists) return { result: await this.showResult(ctx, got.outcome, this.resyncDelay()) };
      ids = got.ids;
    }
    const secrets: Record<string, string> = {};
    const secretVersions: Record<string, string> = {};
    for (const si of secretInputs) {
      const data = await this.secrets?.read(obj.metadata.namespace, si.name);
      const value = data?.data[si.key];
      if (data === undefined || value === undefined) {
        if (exists) continue; // keeps what the cloud has; shown again when the Secret is back
        const message = data === undefined
          ? `Secret ${si.name} (spec.${si.field}) does not exist in namespace ${obj.metadata.namespace}. Create it; this object proceeds by itself.`
          : `Secret ${si.name} (spec.${si.field}) has no key ${si.key}. Add it; this object proceeds by itself.`;
        return { result: await this.showResult(ctx, { reason: 'Waiting', message }, SECRET_RECHECK_MS) };
      }
      const problem = this.a.checkSecret?.(si.field, value);
      if (problem) {
        return {
          result: await this.showResult(ctx, { reason: 'InvalidSpec', message: `Secret ${si.name} key ${si.key} (spec.${si.field}): ${problem} Fix the Secret; the operator looks again within seconds.` }, SECRET_RECHECK_MS),
        };
      }
      secrets[si.field] = value;
      secretVersions[si.field] = data.resourceVersion;
    }
    return { inputs: { ids, secrets, secretVersions } };
  }

  private newIntent(ctx: Ctx<O>, cloud: CloudHandle): Intent {
    const ex = this.a.exclusive;
    return { name: this.a.cloudName(ctx.obj), scope: ex?.scopeOf(ctx.obj), endpoint: cloud.endpoint, at: this.now() };
  }

  /**
   * The exclusive-scope claim (SPEC §3.2). Returns a result when the object must not go on (it lost, waits, or
   * cannot use the scope), undefined when it may. A new object waits for the end of its creation second; an object
   * about to create re-reads the claimants with a quorum read after its intent is stored.
   */
  private async claim(ctx: Ctx<O>, cloud: CloudHandle, intent: Intent | undefined, needsCreate: boolean): Promise<ReconcileResult | undefined> {
    const ex = this.a.exclusive!;
    const obj = ctx.obj;
    const scope = ex.scopeOf(obj);
    const holds = this.holds(obj, scope, cloud.endpoint);
    if (!holds && !intent) {
      // Not a claimant yet: wait for the creation second to be over, then check that the scope is usable at all.
      const gate = claimGateAt(Date.parse(obj.metadata.creationTimestamp), this.cfg.claimMarginMs);
      if (this.now() < gate) return { requeueAfterMs: gate - this.now() };
      // Only when others are on the scope does it matter now (an object that cannot use the scope must block
      // nobody): alone, the create itself proves it (a refusal as "not found" is handled like this check).
      const others = [...this.source.onScope(scope)].some((o) => objectKey(o) !== ctx.key);
      const invisible = others ? await ex.visible(cloud, obj) : undefined;
      if (invisible) {
        await this.show(ctx, undefined, invisible);
        return { requeueAfterMs: this.slowRetry(obj) };
      }
    }
    const me = this.claimant(obj, cloud.endpoint, scope);
    let verdict = claimVerdict(me, this.claimantsOf(scope, this.source.onScope(scope)), this.now(), this.cfg.claimGraceMs);
    // About to create: re-check with a quorum read (the cache may lag behind another object's intent). Only once our
    // own intent is stored (a pass that stores it ends there): each object writes its intent, then reads the others',
    // so of two objects racing for one scope at least one sees the other's intent, whatever their ages.
    if (verdict.kind === 'free' && needsCreate && !holds && intent) {
      const fresh = await this.source.freshOnScope(scope, obj);
      verdict = claimVerdict(me, this.claimantsOf(scope, fresh), this.now(), this.cfg.claimGraceMs);
    }
    if (verdict.kind === 'free') return undefined;
    return this.notOwner(ctx, cloud, verdict, intent);
  }

  private async notOwner(
    ctx: Ctx<O>,
    cloud: CloudHandle,
    verdict: Exclude<ClaimVerdict, { kind: 'free' }>,
    intent: Intent | undefined,
  ): Promise<ReconcileResult> {
    const ex = this.a.exclusive!;
    const obj = ctx.obj;
    const scopeId = ex.scopeOf(obj);
    if (verdict.kind === 'wait') {
      const names = verdict.others.map((c) => this.describe(c, obj)).join(', ');
      const msg = `Waiting before creating on ${ex.noun} ${scopeId}: ${names} ${verdict.others.length > 1 ? 'have' : 'has'} a claim on it that is not settled yet.`;
      if (intent || obj.status?.conditions) await this.show(ctx, undefined, { reason: 'Creating', message: msg });
      const until = verdict.untilMs !== undefined ? Math.max(250, verdict.untilMs - this.now()) : 1_000;
      return { requeueAfterMs: Math.min(until, 5_000) };
    }
    // Lost. An intent of ours is given up only when nothing we may have POSTed can still land.
    if (intent && !obj.status?.id) {
      const knowledge = this.knowledge(obj, intent);
      let step = decideYield({ mine: undefined, intent, knowledge, now: this.now(), timing: this.timing(cloud) });
      if (step.kind === 'lookup') {
        const names = candidateNames(intent, this.a.cloudName(obj));
        const mine = (await this.a.listCandidates(cloud, obj)).filter((r) => this.isMine(obj, r, names));
        step = decideYield({ mine, intent, knowledge, now: this.now(), timing: this.timing(cloud) });
      }
      if (step.kind === 'adopt') {
        // Our create landed: we hold the scope now; the others yield to possession.
        return this.withResource(ctx, cloud, step.resource as R, 'Created');
      }
      if (step.kind === 'settle') {
        await this.show(ctx, undefined, {
          reason: 'Creating',
          message: `An earlier create attempt may still land in the cloud; looking again before giving up the ${ex.noun}.`,
        });
        return { requeueAfterMs: Math.max(250, step.untilMs - this.now()) };
      }
      if (step.kind === 'clear') {
        await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: null } });
        this.posts.delete(obj.metadata.uid);
      }
    }
    const owner = verdict.owner;
    const message = `${capital(ex.noun)} ${scopeId} is already claimed by ${this.describe(owner, obj)}; only one ${this.a.noun} per VPC (${ex.noun}) is allowed. This object waits and proceeds by itself when the other one is deleted.`;
    await this.show(ctx, undefined, { reason: 'RouterConflict', message });
    return { requeueAfterMs: this.resyncDelay() };
  }

  /**
   * Names another claimant for a message shown on `to`. Only objects whose credentials can see the scope (checked
   * before they claim) ever get such a message, so naming the holder reveals nothing to a tenant that cannot see
   * the router (SPEC §3.2); objects that cannot see it are told RouterNotFound and nothing about other objects.
   */
  private describe(c: Claimant, _to: O): string {
    return `${this.a.kind} ${c.key}`;
  }

  private holds(obj: O, scope: string, endpoint: string | undefined): boolean {
    const st = obj.status as (ManagedStatus & { routerId?: string }) | undefined;
    if (!st?.id || st.routerId === undefined) return false;
    return canonicalScope(st.routerId) === scope && (endpoint === undefined || st.cloudEndpoint === undefined || st.cloudEndpoint === endpoint);
  }

  private claimant(o: O, endpoint: string | undefined, scope: string): Claimant {
    const intent = readIntent(o);
    const intentHere = intent !== undefined && (intent.scope === undefined || intent.scope === scope);
    const ep = intent?.endpoint ?? o.status?.cloudEndpoint ?? endpoint;
    return {
      key: objectKey(o),
      scope,
      endpoint: ep,
      createdAt: Date.parse(o.metadata.creationTimestamp),
      deleting: o.metadata.deletionTimestamp !== undefined,
      holds: this.holds(o, scope, ep),
      intends: intentHere && !o.status?.id,
      ineligible: showsIneligible(o),
    };
  }

  private claimantsOf(scope: string, objs: Iterable<O>): Claimant[] {
    const out: Claimant[] = [];
    for (const o of objs) {
      // Whichever copy is newer: our cache (with our own writes) or the one given (a quorum read).
      const cur = this.current(objectKey(o)) ?? o;
      out.push(this.claimant(rvOlder(cur.metadata.resourceVersion, o.metadata.resourceVersion) ? o : cur, undefined, scope));
    }
    return out;
  }

  /**
   * The cloud's resource for this object, if it has one: undefined when status.id is gone from the cloud, 'stale'
   * when a settled object could not be read and keeps what it shows.
   */
  private async observe(ctx: Ctx<O>, cloud: CloudHandle): Promise<R | undefined | 'stale'> {
    const id = ctx.obj.status?.id;
    if (!id) return undefined;
    const pending = this.a.busy(ctx.obj.status?.status);
    // Pending: a snapshot newer than what we saw last time (shared by every object polled meanwhile). Settled: a
    // snapshot up to half a resync period old will do, so the drift check of every object costs at most two LIST
    // rounds per period, and drift shows within 1.5 periods.
    const notBefore = pending ? (this.seenAt.get(ctx.key) ?? 0) + 1 : this.now() - Math.min(this.a.followMs ?? this.cfg.resyncMs, this.cfg.resyncMs) / 2;
    try {
      const { resource, readAt } = await this.a.observe(cloud, id, notBefore);
      this.seenAt.set(ctx.key, readAt);
      this.lastGoodRead.set(ctx.key, this.now());
      return resource;
    } catch (err) {
      // A settled, Ready object keeps Ready through a transient read failure (no write, no event): staleness shows
      // in the log and a metric, and as a condition only past staleAfterMs.
      const settled = readyCondition(ctx.obj.status?.conditions)?.status === 'True';
      if (!settled || classify(err) !== 'retryable') throw err;
      this.onStaleRead?.(ctx.key);
      const last = this.lastGoodRead.get(ctx.key) ?? Date.parse(ctx.obj.status?.lastSyncTime ?? '');
      if (staleVerdict({ lastGoodReadAt: Number.isNaN(last) ? undefined : last, now: this.now(), staleAfterMs: this.cfg.staleAfterMs }) === 'show') throw err;
      ctx.log.warn('cloud read failed; keeping the last known state', { decision: 'stale', error: err instanceof Error ? err.message : String(err) });
      return 'stale';
    }
  }

  private async adopt(ctx: Ctx<O>, cloud: CloudHandle): Promise<Got<R>> {
    const obj = ctx.obj;
    const id = obj.spec.importId!;
    const r = await this.a.get(cloud, id);
    if (!r) {
      return this.refuse(ctx, {
        reason: 'InvalidSpec',
        message: `spec.importId ${id}: the cloud has no ${this.a.noun} with this ID. Fix importId (it is immutable: create a new ${this.a.kind}) or remove the object.`,
      });
    }
    const problem = this.a.importProblem(obj, r);
    if (problem) return this.refuse(ctx, { reason: 'InvalidSpec', message: problem });
    const holder = this.otherHolder(obj, id);
    if (holder) {
      return this.refuse(ctx, {
        reason: 'InvalidSpec',
        message: `spec.importId ${id}: ${this.a.kind} ${objectKey(holder)} already manages this ${this.a.noun}; one object per cloud resource. Remove the object, or import another ${this.a.noun}.`,
      });
    }
    this.a.remember?.(cloud, r);
    ctx.log.info('adopted existing cloud resource', { decision: 'adopt', id });
    this.writer.event(obj, 'Normal', 'Adopted', `Adopted existing ${this.a.noun} ${id} (spec.importId).`);
    return { resource: r };
  }

  /** Create, or adopt what an earlier attempt of this object created (SPEC §3.3). */
  private async createOrAdopt(ctx: Ctx<O>, cloud: CloudHandle, inputs: Inputs = NO_INPUTS, replacing = false): Promise<Got<R>> {
    const obj = ctx.obj;
    if (obj.status?.id && !replacing && !obj.status.retiredIds?.includes(obj.status.id)) {
      ctx.log.warn('cloud resource deleted out of band; recreating', { decision: 'recreate', id: obj.status.id });
      this.writer.event(obj, 'Warning', 'Recreated', `${capital(this.a.noun)} ${obj.status.id} was deleted outside the operator; creating a new one.`);
    }
    let intent = readIntent(ctx.obj);
    if (!intent) {
      // Recreating after drift: a new intent first.
      await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: encodeIntent(this.newIntent(ctx, cloud)) } });
      intent = readIntent(ctx.obj)!;
      this.posts.set(obj.metadata.uid, { at: intent.at, knowledge: 'none-sent' });
    }
    // Before any POST, read the candidates fresh (one filtered GET): a resource with one of our names is the one an
    // earlier attempt made.
    const ex = this.a.exclusive;
    const names = candidateNames(intent, this.a.cloudName(ctx.obj));
    const candidates = await this.a.listCandidates(cloud, ctx.obj);
    // A resource this object replaced (retired, waiting to be deleted) has our name too: it is not the new one.
    const retired = new Set(ctx.obj.status?.retiredIds ?? []);
    // Nor is one that another object manages (same name in another namespace): it is never adopted by look-up.
    // With nothing sent under the intent (this process stored it and has not POSTed), no resource can be ours: one
    // with our name is another object's (same manifest in another namespace) and is never adopted by look-up.
    const sentNothing = this.knowledge(ctx.obj, intent) === 'none-sent';
    const mine = sentNothing ? [] : candidates.filter((r) => !retired.has(r.id) && this.isMine(ctx.obj, r, names));
    const others = ex ? candidates.filter((r) => !mine.includes(r) && ex.scopeOfResource(r) === ex.scopeOf(ctx.obj)) : [];
    const step = decideCreate({ mine, others, intent, knowledge: this.knowledge(ctx.obj, intent), now: this.now(), timing: this.timing(cloud) });
    switch (step.kind) {
      case 'adopt': {
        const r = step.resource as R;
        this.a.remember?.(cloud, r);
        ctx.log.info('found the resource an interrupted create made; adopting it', { decision: 'recover', id: r.id });
        this.writer.event(ctx.obj, 'Normal', 'Created', `Created ${this.a.noun} ${r.id}.`);
        return { resource: r };
      }
      case 'occupied': {
        const other = step.resource;
        const holder = this.holderOf(ctx.obj, other.id);
        if (holder) {
          return {
            result: await this.showResult(ctx, {
              reason: 'RouterConflict',
              message: `${capital(ex!.noun)} ${ex!.scopeOf(ctx.obj)} holds ${this.a.noun} ${other.id} of ${holder}; only one ${this.a.noun} per VPC (${ex!.noun}) is allowed. This object proceeds by itself when the other one and its service are gone.`,
            }, 5_000),
          };
        }
        return {
          result: await this.showResult(ctx, {
            reason: 'RouterInUse',
            message: `The cloud already has ${this.a.noun} ${other.id} on ${ex!.noun} ${ex!.scopeOf(ctx.obj)}, not created by this object. To manage it with the operator, create a ${this.a.kind} with spec.importId: ${other.id}; or delete it in the cloud and this object will create its own.`,
          }, Math.min(this.cfg.terminalRetryMs, 120_000)),
        };
      }
      case 'settle':
        return {
          result: await this.showResult(ctx, {
            reason: 'Creating',
            message: `An earlier create request may still land in the cloud; looking again in ${Math.ceil((step.untilMs - this.now()) / 1000)} s before creating.`,
          }, Math.max(250, step.untilMs - this.now())),
        };
      case 'renew':
        await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: encodeIntent(this.newIntent(ctx, cloud)) } });
        intent = readIntent(ctx.obj)!;
        this.posts.set(obj.metadata.uid, { at: intent.at, knowledge: 'none-sent' });
        // The claim is re-checked with the renewed intent stored.
        if (ex) {
          const again = await this.claim(ctx, cloud, intent, true);
          if (again) return { result: again };
        }
        break;
      case 'post':
        break;
    }
    const uid = ctx.obj.metadata.uid;
    const started = this.now();
    let r: R;
    try {
      this.posts.set(uid, { at: intent.at, knowledge: 'unanswered' });
      r = await this.a.create(cloud, ctx.obj, inputs);
      this.posts.set(uid, { at: intent.at, knowledge: 'answered' });
    } catch (err) {
      if (err instanceof CloudError && err.status !== 0) this.posts.set(uid, { at: intent.at, knowledge: 'answered' });
      const invisible = ex?.refusedAsInvisible(ctx.obj, err);
      if (invisible) {
        // The credentials cannot see the scope: no claimant; nothing was created, so the intent goes at once.
        await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: null } });
        this.posts.delete(uid);
        this.refused.set(ctx.key, { generation: ctx.obj.metadata.generation, at: this.now(), cloud, secrets: versionsKey(ctx.secretVersions) });
        return { result: await this.showResult(ctx, invisible, this.slowRetry(ctx.obj)) };
      }
      const refusal = classify(err);
      if (ex && err instanceof CloudError && err.status >= 400 && (refusal === 'terminal' || refusal === 'auth' || refusal === 'notFound')) {
        // The cloud refused the create: nothing was made, so the intent goes too. A refused object holds no claim
        // (it showed InvalidSpec or AuthFailed while its intent kept every other object off the scope); a retry
        // stores a new intent first, as any create does.
        await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: null } });
        this.posts.delete(uid);
      }
      if (refusal === 'conflict' && ex) {
        // The seed cloud refuses a second service on a router: someone else's service appeared meanwhile.
        return {
          result: await this.showResult(ctx, {
            reason: 'RouterInUse',
            message: `The cloud refused to create a ${this.a.noun} on ${ex.noun} ${ex.scopeOf(ctx.obj)}: ${cloudText(err)}. Another ${this.a.noun} exists there; import it with spec.importId or delete it in the cloud.`,
          }, Math.min(this.cfg.terminalRetryMs, 120_000)),
        };
      }
      throw err;
    }
    this.seenAt.set(ctx.key, this.now());
    this.a.remember?.(cloud, r);
    ctx.log.info('created cloud resource', { decision: 'create', id: r.id, durationMs: this.now() - started });
    this.writer.event(ctx.obj, 'Normal', 'Created', `Created ${this.a.noun} ${r.id}.`);
    return { resource: r };
  }

  private async withResource(ctx: Ctx<O>, cloud: CloudHandle, r: R, event: string): Promise<ReconcileResult> {
    this.a.remember?.(cloud, r);
    this.writer.event(ctx.obj, 'Normal', event, `Created ${this.a.noun} ${r.id}.`);
    return this.converge(ctx, cloud, r);
  }

  /** With the resource in hand: apply spec changes, show its state, decide when to look again. */
  private async converge(ctx: Ctx<O>, cloud: CloudHandle, r: R, inputs: Inputs = NO_INPUTS): Promise<ReconcileResult> {
    const why = this.a.replaceReason?.(ctx.obj, r, inputs);
    if (why) return this.replace(ctx, cloud, r, inputs, why);
    const patch = this.a.wantedUpdate(ctx.obj, r, inputs);
    if (patch) {
      const fields = this.a.updateFields(patch).join(', ');
      if (this.a.busy(r.status)) {
        return this.showAndPoll(ctx, cloud, r, {
          reason: 'Updating',
          message: `Waiting for ${this.a.noun} ${r.id} to leave ${r.status} before applying the spec change (${fields}).`,
        });
      }
      try {
        r = await this.a.update(cloud, r.id, patch);
      } catch (err) {
        const kind = classify(err);
        if (kind === 'notFound') {
          // A 404 may be about something the PUT names (a referenced endpoint group deleted out of band), not about
          // this resource: only a read that also answers 404 means it is gone.
          const still = await this.a.get(cloud, r.id);
          if (still) {
            return this.showResult(ctx, {
              reason: 'Waiting',
              message: `The cloud refused to apply ${fields} to ${this.a.noun} ${r.id}: ${cloudText(err)}. Something it references is not in the cloud (deleted outside the operator?); waiting for its object to recreate it.`,
            }, 5_000);
          }
          // Gone between our read and the PUT: recreate.
          this.a.settle?.(cloud, r.id, true);
          const got = await this.createOrAdopt(ctx, cloud, inputs);
          if ('result' in got) return got.result;
          return this.converge(ctx, cloud, got.resource, inputs);
        }
        if (kind === 'conflict') {
          // Neutron never changes a policy that site connections use (IKEPolicyInUse): say so, and who uses it.
          const users = this.deps?.dependentsOf(ctx.obj) ?? [];
          const outcome: Outcome = {
            reason: 'UpdateBlocked',
            message: `The cloud refuses to change ${this.a.noun} ${r.id} (${fields}): ${cloudText(err)}.${users.length ? ` It is used by ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''}.` : ''} To apply the change, create a new ${this.a.kind} and point its users at it, or delete them first; the operator tries again when they change and every few minutes.`,
          };
          const changed = await this.show(ctx, this.observedOf(ctx, r, cloud, inputs), outcome);
          if (changed) this.writer.event(ctx.obj, 'Warning', 'UpdateBlocked', outcome.message);
          return { requeueAfterMs: this.cfg.terminalRetryMs };
        }
        if (kind !== 'pendingState') throw err;
        return this.showAndPoll(ctx, cloud, r, {
          reason: 'Updating',
          message: `The cloud is busy with ${this.a.noun} ${r.id} (${cloudText(err)}); the spec change is applied when it is done.`,
        });
      }
      this.a.remember?.(cloud, r);
      ctx.log.info('updated cloud resource', { decision: 'update', id: r.id, fields });
      this.writer.event(ctx.obj, 'Normal', 'Updated', `Updated ${this.a.noun} ${r.id}: ${fields}.`);
    }
    let outcome = this.a.outcome(r);
    if (this.a.busy(r.status)) return this.showAndPoll(ctx, cloud, r, outcome, inputs);
    this.a.settle?.(cloud, r.id, false);
    this.polls.delete(ctx.key);
    this.refused.delete(ctx.key);
    // What this object replaced goes once nothing uses it any more.
    const retiring = await this.retire(ctx, cloud, r);
    if (retiring && outcome.reason === 'Active') outcome = retiring.outcome;
    const wasActive = readyCondition(ctx.obj.status?.conditions)?.reason === 'Active';
    await this.show(ctx, this.observedOf(ctx, r, cloud, inputs), outcome);
    if (outcome.reason === 'Active' && !wasActive) this.writer.event(ctx.obj, 'Normal', 'Active', outcome.message);
    return { requeueAfterMs: retiring ? retiring.requeueAfterMs : this.settledDelay() };
  }

  /** The observed status fields of `r`, with the core's own bookkeeping (retired ids) kept. */
  private observedOf(ctx: Ctx<O>, r: R, cloud: CloudHandle, inputs: Inputs): ManagedStatus {
    const st: ManagedStatus = { ...this.a.observedStatus(r, cloud.endpoint, inputs) };
    const retired = (ctx.obj.status?.retiredIds ?? []).filter((id) => id !== r.id);
    if (retired.length) st.retiredIds = retired;
    else delete st.retiredIds;
    return st;
  }

  /**
   * Replaces `r` (fields the cloud never updates changed). deleteFirst: delete, confirm, create anew. createFirst:
   * record `r` as retired, create the new one (dependents move to it when they see the new id), and delete the
   * retired one later, when no dependent uses it (retire()).
   */
  private async replace(ctx: Ctx<O>, cloud: CloudHandle, r: R, inputs: Inputs, why: string): Promise<ReconcileResult> {
    if (this.a.busy(r.status)) {
      return this.showAndPoll(ctx, cloud, r, { reason: 'Updating', message: `Waiting for ${this.a.noun} ${r.id} to leave ${r.status} before replacing it (${why}).` }, inputs);
    }
    const obj = ctx.obj;
    if (obj.spec.importId !== undefined && obj.spec.importId === r.id) {
      // An imported resource is the user's: it is never deleted to be replaced.
      return (await this.refuse(ctx, { reason: 'InvalidSpec', message: `spec.importId ${r.id} cannot be changed in place: ${why}. An imported ${this.a.noun} is not replaced; make the spec match it, or remove importId to have the operator create its own.` })).result;
    }
    if (this.a.replaceOrder === 'createFirst') {
      if (!obj.status?.retiredIds?.includes(r.id)) {
        ctx.log.info('replacing cloud resource (new one first)', { decision: 'replace', id: r.id, why });
        this.writer.event(obj, 'Normal', 'Replacing', `Replacing ${this.a.noun} ${r.id}: ${why}. A new one is created first; the old one is deleted when nothing uses it.`);
        const next: ManagedStatus = { ...(obj.status ?? {}), retiredIds: [...(obj.status?.retiredIds ?? []), r.id] };
        ctx.obj = this.remember(await this.writer.patchStatus(obj, next as NonNullable<O['status']>));
      }
    } else {
      ctx.log.info('replacing cloud resource (old one first)', { decision: 'replace', id: r.id, why });
      this.writer.event(obj, 'Normal', 'Replacing', `Replacing ${this.a.noun} ${r.id}: ${why}.`);
      try {
        await this.a.delete(cloud, r.id);
      } catch (err) {
        if (classify(err) !== 'conflict') throw err;
        const outcome: Outcome = { reason: 'DeleteBlocked', message: `The cloud refuses to delete ${this.a.noun} ${r.id} to replace it (${why}): ${cloudText(err)}. The operator keeps trying.` };
        await this.show(ctx, undefined, outcome);
        throw new RetryLater(outcome.message, retryAfterMs(err));
      }
      const still = await this.a.get(cloud, r.id);
      if (still) return this.showAndPoll(ctx, cloud, still, { reason: 'Updating', message: `Waiting for the cloud to delete ${this.a.noun} ${r.id} before creating its replacement (${why}).` }, inputs);
      this.a.settle?.(cloud, r.id, true);
    }
    // A new intent: the create that follows is covered like any first create.
    await this.patchMeta(ctx, { annotations: { [CREATE_INTENT_ANNOTATION]: encodeIntent(this.newIntent(ctx, cloud)) } });
    this.posts.set(ctx.obj.metadata.uid, { at: readIntent(ctx.obj)?.at, knowledge: 'none-sent' });
    const got = await this.createOrAdopt(ctx, cloud, inputs, true);
    if ('result' in got) return got.result;
    this.a.remember?.(cloud, got.resource);
    return this.converge(ctx, cloud, got.resource, inputs);
  }

  /**
   * Deletes the resources this object replaced once no dependent uses them. Returns what to show while some are
   * still used (or refused), undefined when none is left.
   */
  private async retire(ctx: Ctx<O>, cloud: CloudHandle, current: R): Promise<{ outcome: Outcome; requeueAfterMs: number } | undefined> {
    const retired = (ctx.obj.status?.retiredIds ?? []).filter((id) => id !== current.id);
    if (!retired.length) return undefined;
    const left: string[] = [];
    const waits: string[] = [];
    for (const id of retired) {
      const users = this.deps?.usersOf(ctx.obj, id) ?? [];
      if (users.length) {
        left.push(id);
        waits.push(`${id} (still used by ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''})`);
        continue;
      }
      try {
        await this.a.delete(cloud, id);
        this.a.settle?.(cloud, id, true);
        ctx.log.info('deleted the replaced cloud resource', { decision: 'retire', id });
        this.writer.event(ctx.obj, 'Normal', 'Deleted', `Deleted the replaced ${this.a.noun} ${id}.`);
      } catch (err) {
        if (classify(err) !== 'conflict') throw err;
        left.push(id);
        waits.push(`${id} (the cloud refuses: ${cloudText(err)}; something outside the operator uses it)`);
      }
    }
    ctx.obj.status = { ...(ctx.obj.status ?? {}), retiredIds: left.length ? left : undefined } as O['status'];
    if (!left.length) return undefined;
    return {
      outcome: { reason: 'Updating', message: `${capital(this.a.noun)} ${current.id} replaces ${waits.join('; ')}; the old one is deleted when nothing uses it.` },
      requeueAfterMs: 30_000,
    };
  }

  private async showAndPoll(ctx: Ctx<O>, cloud: CloudHandle, r: R, outcome: Outcome, inputs: Inputs = NO_INPUTS): Promise<ReconcileResult> {
    await this.show(ctx, this.observedOf(ctx, r, cloud, inputs), outcome);
    const n = (this.polls.get(ctx.key) ?? 0) + 1;
    this.polls.set(ctx.key, n);
    // Whichever object's poll makes the next LIST round, this one hears at once if its resource moved.
    const key = ctx.key;
    this.a.watchPending?.(cloud, r, () => this.onCloudNews?.(key));
    // Polls are cheap (all pending objects share one LIST round), so start fast and back off gently.
    return { requeueAfterMs: Math.round(Math.min(this.cfg.pollMaxMs, this.cfg.pollMinMs * 1.5 ** Math.min(n - 1, 30))) };
  }

  // ------------------------------------------------------------------------------------------------------------
  // Deleting: honour the deletion policy, then let the object go (SPEC §3.6).

  private async finalize(ctx: Ctx<O>, cloud: CloudHandle): Promise<ReconcileResult> {
    const obj = ctx.obj;
    if (!obj.metadata.finalizers?.includes(FINALIZER)) return {};
    if (obj.spec.deletionPolicy === 'Orphan') {
      await this.release(ctx, obj.status?.id ? `Left ${this.a.noun} ${obj.status.id} in the cloud (deletionPolicy Orphan).` : 'Nothing to delete in the cloud.');
      return {};
    }
    // What others still use is not deleted in the cloud (no 409 storm): wait until they are gone.
    const guard = deletionGuard(this.a.noun, obj.status?.id, this.deps?.dependentsOf(obj) ?? []);
    if (guard) {
      // Shown once: while users go away one by one the message is not rewritten for each (1,000 connections going
      // made ~270 status writes per policy); it names the users as they were when the delete was first blocked.
      const shown = readyCondition(obj.status?.conditions);
      if (shown?.reason === 'DeleteBlocked' && shown.message.includes(' when this was written')) return { requeueAfterMs: 5_000 };
      return this.showResult(ctx, guard, 5_000);
    }
    try {
      // Resources this object replaced and had not deleted yet go first (nothing of ours uses them any more).
      for (const id of obj.status?.retiredIds ?? []) {
        if (id === obj.status?.id) continue;
        try {
          await this.a.delete(cloud, id);
          this.a.settle?.(cloud, id, true);
        } catch (err) {
          if (classify(err) !== 'conflict') throw err;
          const outcome: Outcome = { reason: 'DeleteBlocked', message: `The cloud refuses to delete the replaced ${this.a.noun} ${id}: ${cloudText(err)}. Delete what still uses it first; the operator keeps trying.` };
          await this.show(ctx, undefined, outcome);
          throw new RetryLater(outcome.message, retryAfterMs(err));
        }
      }
      const intent = readIntent(obj);
      const names = candidateNames(intent, this.a.cloudName(obj));
      const statusId = obj.status?.id;
      let statusResource: R | null | undefined;
      let mine: R[] | undefined;
      const ours = (r: R) => this.isMine(obj, r, names);
      for (;;) {
        const target = decideDeleteTarget({
          importId: obj.spec.importId,
          statusId,
          statusResource,
          statusResourceOurs: statusResource ? ours(statusResource) : false,
          intent,
          mine,
        });
        if (target.kind === 'lookup') {
          if (statusId !== undefined && statusResource === undefined) statusResource = (await this.a.get(cloud, statusId)) ?? null;
          else mine = (await this.a.listCandidates(cloud, obj)).filter(ours);
          continue;
        }
        if (target.kind === 'nothing') {
          if (statusId && statusResource && !ours(statusResource)) {
            ctx.log.warn('status.id names a resource this object did not create; not deleting it', { decision: 'refuse-delete', id: statusId });
          }
          await this.release(ctx, `Nothing to delete in the cloud (${target.why}).`);
          return {};
        }
        const holder = this.otherHolder(obj, target.id);
        if (holder) {
          // A copied finalizer and intent, or another object's id as importId, must not delete what it manages.
          ctx.log.warn('another object manages this cloud resource; not deleting it', { decision: 'refuse-delete', id: target.id, holder: objectKey(holder) });
          await this.release(ctx, `Nothing deleted in the cloud: ${this.a.noun} ${target.id} is managed by ${this.a.kind} ${objectKey(holder)}.`);
          return {};
        }
        return await this.deleteInCloud(ctx, cloud, target.id);
      }
    } catch (err) {
      if (err instanceof RetryLater) throw err;
      return this.failure(ctx, err);
    }
  }

  private async deleteInCloud(ctx: Ctx<O>, cloud: CloudHandle, id: string): Promise<ReconcileResult> {
    const obj = ctx.obj;
    // Already being deleted by the cloud (an earlier DELETE was accepted): only confirm.
    const alreadyDeleting = obj.status?.id === id && obj.status.status === 'PENDING_DELETE';
    try {
      if (!alreadyDeleting) await this.a.delete(cloud, id);
    } catch (err) {
      const kind = classify(err);
      if (kind === 'conflict') {
        const outcome: Outcome = {
          reason: 'DeleteBlocked',
          message: `The cloud refuses to delete ${this.a.noun} ${id}: ${cloudText(err)}. Delete what still uses it (IPsec site connections) first; the operator keeps trying.`,
        };
        const changed = await this.show(ctx, undefined, outcome);
        if (changed) this.writer.event(obj, 'Warning', 'DeleteBlocked', outcome.message);
        throw new RetryLater(outcome.message, retryAfterMs(err));
      }
      if (kind !== 'notFound') throw err;
    }
    // The finalizer goes only once the cloud confirms the resource is gone (a cloud may delete asynchronously).
    const still = await this.a.get(cloud, id);
    if (still) {
      return this.showAndPoll(ctx, cloud, still, { reason: 'Deleting', message: `Waiting for the cloud to delete ${this.a.noun} ${id} (status ${still.status}).` });
    }
    this.a.settle?.(cloud, id, true);
    ctx.log.info('deleted cloud resource', { decision: 'delete', id });
    await this.release(ctx, `Deleted ${this.a.noun} ${id}.`);
    return {};
  }

  /** Cleanup is done: lift the Secret guard, then remove the finalizer. */
  private async release(ctx: Ctx<O>, message: string): Promise<void> {
    const obj = ctx.obj;
    await this.clouds.unguard(obj);
    const finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    try {
      await this.writer.patchMeta(obj, { finalizers });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return;
      throw err;
    }
    this.released.set(obj.metadata.uid, this.now());
    if (this.released.size > 10_000) for (const k of this.released.keys()) { this.released.delete(k); break; }
    ctx.log.info('finalizer removed', { decision: 'release', message });
    this.writer.event(obj, 'Normal', 'Deleted', message);
    this.forget(ctx.key);
    const ex = this.a.exclusive;
    if (ex) this.onScopeReleased?.(ex.scopeOf(obj));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Errors and status.

  private async failure(ctx: Ctx<O>, err: unknown): Promise<ReconcileResult> {
    if (err instanceof CredentialsError) return this.credentialsMissing(ctx, err);
    // A tenant's cloud naming a host the admin does not allow (its catalog, or a check at send time): nothing was
    // sent; what to fix is in the Secret (or the admin's list), as for any unusable credentials.
    if (err instanceof HostNotAllowedError) return this.credentialsMissing(ctx, hostRefusal(ctx.obj, err));
    if (err instanceof KubeApiError || !(err instanceof CloudError)) throw err;
    const kind = classify(err);
    ctx.log.warn('cloud request failed', { decision: kind, status: err.status, code: err.code, requestId: err.requestId, error: err.message });
    if (kind === 'auth') {
      ctx.cloud?.noteFailure?.(err);
      return (
        await this.refuse(ctx, {
          reason: 'AuthFailed',
          message: `The cloud refused the credentials (HTTP ${err.status}${err.code ? ` ${err.code}` : ''}). ${ctx.obj.spec.cloudCredentialsRef ? `Fix the clouds.yaml in Secret ${ctx.obj.spec.cloudCredentialsRef.secretName}; the operator tries again within seconds of the change, and every few minutes.` : 'Fix the clouds.yaml mounted into the operator and restart it; the operator tries again every few minutes.'}${ctx.obj.metadata.deletionTimestamp ? ` The object is being deleted: its ${this.a.noun} is deleted once the credentials work again; to leave it in the cloud instead, set spec.deletionPolicy: Orphan.` : ''}`,
        })
      ).result;
    }
    if (kind === 'terminal' || kind === 'notFound' || kind === 'conflict') {
      return (
        await this.refuse(ctx, {
          reason: 'InvalidSpec',
          message: `The cloud refused the request: ${cloudText(err)}. Fix the spec (or what the cloud names, e.g. the router); the operator tries again when the spec changes and every few minutes.`,
        })
      ).result;
    }
    const outcome: Outcome = {
      reason: 'CloudUnavailable',
      message: `The cloud did not answer as expected (${err.status ? `HTTP ${err.status}${err.code ? ` ${err.code}` : ''}` : cloudText(err)}); retrying with backoff.`,
    };
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(ctx.obj, 'Warning', 'CloudError', outcome.message);
    throw new RetryLater(outcome.message, err.retryAfterMs);
  }

  private async refuse(ctx: Ctx<O>, outcome: Outcome): Promise<{ result: ReconcileResult }> {
    this.refused.set(ctx.key, { generation: ctx.obj.metadata.generation, at: this.now(), cloud: ctx.cloud, secrets: versionsKey(ctx.secretVersions) });
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(ctx.obj, 'Warning', 'CloudError', outcome.message);
    return { result: { requeueAfterMs: this.slowRetry(ctx.obj) } };
  }

  /** Credentials from a Secret are looked at again soon (a fixed Secret is picked up within seconds). */
  private slowRetry(obj: O): number {
    return this.hasSecrets(obj) ? Math.min(SECRET_RECHECK_MS, this.cfg.terminalRetryMs) : this.cfg.terminalRetryMs;
  }

  /** Whether the object takes anything from Secrets (credentials or an input such as a PSK): they can change any time. */
  private hasSecrets(obj: O): boolean {
    return obj.spec.cloudCredentialsRef !== undefined || (this.a.secretInputs?.(obj) ?? []).length > 0;
  }

  /** Whether the Secrets of the object's inputs are at other versions than `before` (a cached read each). */
  private async secretInputsChanged(obj: O, before: string): Promise<boolean> {
    const inputs = this.a.secretInputs?.(obj) ?? [];
    if (!inputs.length || !this.secrets) return false;
    const now: Record<string, string> = {};
    for (const si of inputs) {
      const data = await this.secrets.read(obj.metadata.namespace, si.name);
      if (data) now[si.field] = data.resourceVersion;
    }
    return versionsKey(now) !== before;
  }

  private async credentialsMissing(ctx: Ctx<O>, err: CredentialsError): Promise<ReconcileResult> {
    const obj = ctx.obj;
    if (obj.metadata.deletionTimestamp && obj.metadata.finalizers?.includes(FINALIZER)) {
      // Deletion always ends. The Secret is guarded by each object that used it until that object's cleanup is
      // done; so a Secret that is gone means this object's cleanup was done (or it never made a cloud call).
      if (err.secretMissing || obj.spec.deletionPolicy === 'Orphan' || (!obj.status?.id && !readIntent(obj))) {
        await this.release(ctx, err.secretMissing ? 'The credentials Secret is gone; nothing left to clean up in the cloud.' : 'Nothing to delete in the cloud.');
        return {};
      }
    }
    const outcome: Outcome = { reason: 'CredentialsNotFound', message: err.message };
    const changed = await this.show(ctx, undefined, outcome);
    if (changed) this.writer.event(obj, 'Warning', 'CloudError', outcome.message);
    // A Secret can be created or fixed at any time: look again soon. The operator's own default cloud only changes
    // with a restart: look again slowly.
    return { requeueAfterMs: this.slowRetry(obj) };
  }

  private async showResult(ctx: Ctx<O>, outcome: Outcome, requeueAfterMs: number): Promise<ReconcileResult> {
    await this.show(ctx, undefined, outcome);
    return { requeueAfterMs };
  }

  /** Writes the status if it differs from what the object shows. Returns whether it wrote. */
  private async show(ctx: Ctx<O>, observed: ManagedStatus | undefined, outcome: Outcome): Promise<boolean> {
    const prevReason = readyCondition(ctx.obj.status?.conditions)?.reason;
    const next = nextStatus(ctx.obj, observed, outcome, new Date(this.now()).toISOString());
    if (sameStatus(next, ctx.obj.status)) return false;
    if (outcome.reason === 'RouterConflict' && prevReason !== 'RouterConflict') {
      this.writer.event(ctx.obj, 'Warning', 'RouterConflict', outcome.message);
    }
    ctx.log.info('status', { decision: outcome.reason, status: next.status, id: next.id });
    ctx.obj = this.remember(await this.writer.patchStatus(ctx.obj, next as NonNullable<O['status']>));
    return true;
  }

  private async patchMeta(ctx: Ctx<O>, change: { finalizers?: string[]; annotations?: Record<string, string | null> }): Promise<void> {
    ctx.obj = this.remember(await this.writer.patchMeta(ctx.obj, change));
  }

  private remember(obj: O): O {
    const key = objectKey(obj);
    this.written.set(key, obj);
    const own = this.ownVersions.get(key) ?? new Set<string>();
    own.add(obj.metadata.resourceVersion);
    this.ownVersions.set(key, own);
    return obj;
  }

  private knowledge(obj: O, intent: Intent): PostKnowledge {
    const k = this.posts.get(obj.metadata.uid);
    return k && k.at === intent.at ? k.knowledge : 'unknown';
  }

  private timing(cloud: CloudHandle): Timing {
    return { intentFreshMs: this.cfg.intentFreshMs, cloudTimeoutMs: this.clouds.timeoutMs(cloud), marginMs: 3_000 };
  }

  /** The other object whose status names this cloud resource, if any (by key, as it may be shown to `to`). */
  /** A cloud resource this object may have made: the adapter's match, unless another object manages it. */
  private isMine(obj: O, r: R, names: Set<string>): boolean {
    return this.a.isOurs(obj, r, names) && !this.otherHolder(obj, r.id);
  }

  /**
   * Another live object (any namespace, not being deleted) that manages cloud resource `id`: it shows the id in its
   * status, or imports it (an importer without the id in its status yet counts when it is older: the first one
   * keeps it). What proves a claim is the object that got there first, never metadata another object copied.
   */
  private otherHolder(me: O, id: string): O | undefined {
    for (const cached of this.source.holding(id)) {
      const o = this.current(objectKey(cached)) ?? cached;
      if (o.metadata.uid === me.metadata.uid || o.metadata.deletionTimestamp) continue;
      if (o.status?.id === id) return o;
      if (o.spec.importId === id && me.spec.importId === id && me.status?.id !== id) {
        const [a, b] = [Date.parse(o.metadata.creationTimestamp), Date.parse(me.metadata.creationTimestamp)];
        if (a < b || (a === b && objectKey(o) < objectKey(me))) return o;
      }
    }
    return undefined;
  }

  private holderOf(to: O, id: string): string | undefined {
    const ex = this.a.exclusive;
    if (!ex) return undefined;
    const me = objectKey(to);
    for (const o of this.source.onScope(ex.scopeOf(to))) {
      const key = objectKey(o);
      if (key === me || (this.current(key) ?? o).status?.id !== id) continue;
      return `${this.a.kind} ${key}`;
    }
    return undefined;
  }

  private resyncDelay(): number {
    return Math.round(this.cfg.resyncMs * (1 + Math.random() * 0.1));
  }

  /** When a settled object looks again: its kind's follow period (a tunnel's state) or the resync period. */
  private settledDelay(): number {
    const ms = Math.min(this.a.followMs ?? this.cfg.resyncMs, this.cfg.resyncMs);
    return Math.round(ms * (1 + Math.random() * 0.1));
  }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function hostRefusal(obj: ManagedObject, err: HostNotAllowedError): CredentialsError {
  const ref = obj.spec.cloudCredentialsRef;
  const whose = ref ? `The cloud ${ref.cloudName} of Secret ${obj.metadata.namespace}/${ref.secretName}: ` : '';
  return new CredentialsError(`${whose}${err.cloudMessage}.`);
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
