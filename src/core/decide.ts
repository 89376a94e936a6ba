// The core's decisions, as pure functions: what is known (the object, what the cloud showed, the claims, the
// clock) in, one verdict out. The reconciler gathers the inputs, calls these, and performs the verdict. Each is
// unit-tested by tables (test/unit/core-decide.test.ts).
import type { CloudResource } from './adapter.ts';
import { readyCondition } from './conditions.ts';
import type { Intent } from './intent.ts';
import type { ManagedObject } from './types.ts';

/**
 * Ready reasons that say "this object cannot use its scope": such an object is no claimant and blocks nobody.
 * InvalidSpec: the cloud refused its create (its intent was removed then), or the object cannot be read; neither
 * holds a claim without a cloud resource or an intent (issue 17: a refused object squatted a router).
 */
export const INELIGIBLE_REASONS: ReadonlySet<string> = new Set(['CredentialsNotFound', 'AuthFailed', 'RouterNotFound', 'InvalidSpec']);

/** Whether the object's status shows, for its current generation, that it cannot use its scope. */
export function showsIneligible(obj: ManagedObject): boolean {
  const r = readyCondition(obj.status?.conditions);
  return r !== undefined && INELIGIBLE_REASONS.has(r.reason) && r.observedGeneration === obj.metadata.generation;
}

export interface Timing {
  /** How long an intent may be used for a POST after it was stored; older intents are stored again first. */
  intentFreshMs: number;
  /** The cloud's request timeout: a POST may land up to this long after it was sent. */
  cloudTimeoutMs: number;
  /** Extra margin for clocks and in-flight requests. */
  marginMs: number;
}

/**
 * How long after `intent.at` a POST made under that intent may still land in the cloud. A POST is only ever sent
 * within intentFreshMs of the intent being stored, and a sent request ends within the cloud timeout.
 */
export function settleMs(t: Timing): number {
  return t.intentFreshMs + t.cloudTimeoutMs + t.marginMs;
}

/**
 * The moment from which a new object may claim its scope: once the second of its creationTimestamp (which has
 * one-second resolution) is over, plus a margin, every object created in the same second is visible to a quorum
 * read, so the documented tie-break (oldest, then namespace/name) can be applied among them.
 */
export function claimGateAt(createdAt: number, marginMs: number): number {
  return Math.floor(createdAt / 1000) * 1000 + 1000 + marginMs;
}

/** What we know about POSTs this process made under an intent (lost on restart; then the cloud decides). */
export type PostKnowledge =
  /** This process stored the intent and has sent no POST under it. */
  | 'none-sent'
  /** A POST under it got an answer (success or a refusal): nothing more can land. */
  | 'answered'
  /** A POST under it got no answer (timeout, connection reset): it may still land until the settle time. */
  | 'unanswered'
  /** Nothing known (another process, or before a restart). */
  | 'unknown';

export type CreateStep =
  /** A resource this object created is in the cloud: take it (no POST). */
  | { kind: 'adopt'; resource: CloudResource }
  /** Another resource is on the scope (exclusive kinds): do not create. */
  | { kind: 'occupied'; resource: CloudResource }
  /** An earlier POST may still land: look again at `untilMs`, do not POST. */
  | { kind: 'settle'; untilMs: number }
  /** The intent is too old to cover a POST now: store it again (new `at`), then POST. */
  | { kind: 'renew' }
  | { kind: 'post' };

/**
 * The create step, given the fresh candidates read right before (`mine`: those isOurs() matched; `others`: other
 * resources on the object's exclusive scope), the stored intent and what this process knows about POSTs under it.
 */
export function decideCreate(input: {
  mine: readonly CloudResource[];
  others: readonly CloudResource[];
  intent: Intent;
  knowledge: PostKnowledge;
  now: number;
  timing: Timing;
}): CreateStep {
  const { mine, others, intent, knowledge, now, timing } = input;
  const first = mine[0];
  if (first) return { kind: 'adopt', resource: first };
  const other = others[0];
  if (other) return { kind: 'occupied', resource: other };
  const at = intent.at;
  if (knowledge !== 'none-sent' && knowledge !== 'answered' && at !== undefined && now < at + settleMs(timing)) {
    return { kind: 'settle', untilMs: at + settleMs(timing) };
  }
  if (at === undefined || now >= at + timing.intentFreshMs) return { kind: 'renew' };
  return { kind: 'post' };
}

export type YieldStep =
  /** Our create landed after all: keep it (we hold the scope now). */
  | { kind: 'adopt'; resource: CloudResource }
  /** Nothing of ours can be in flight: remove the intent. */
  | { kind: 'clear' }
  | { kind: 'settle'; untilMs: number };

/** An object that lost its claim while holding an intent gives it up only when no POST of its can still land. */
export function decideYield(input: {
  mine: readonly CloudResource[] | undefined;
  intent: Intent;
  knowledge: PostKnowledge;
  now: number;
  timing: Timing;
}): YieldStep | { kind: 'lookup' } {
  const { mine, intent, knowledge, now, timing } = input;
  if (knowledge === 'none-sent') return { kind: 'clear' };
  if (mine === undefined) return { kind: 'lookup' };
  const first = mine[0];
  if (first) return { kind: 'adopt', resource: first };
  if (knowledge === 'answered' || intent.at === undefined || now >= intent.at + settleMs(timing)) return { kind: 'clear' };
  return { kind: 'settle', untilMs: intent.at + settleMs(timing) };
}

export type DeleteTarget =
  /** Delete (or confirm the deletion of) this id. */
  | { kind: 'delete'; id: string }
  /** The candidates must be read to know (an intent without a confirmed id). */
  | { kind: 'lookup' }
  /** Nothing in the cloud belongs to this object. */
  | { kind: 'nothing'; why: string };

/**
 * Which cloud resource a deleting object may delete. The cloud decides, never status alone: status.id is used only
 * when the resource with that id is this object's (`statusResourceOurs`, checked by the adapter against scope and
 * recorded names); an import deletes what importId names; otherwise the candidates found by the intent.
 */
export function decideDeleteTarget(input: {
  importId: string | undefined;
  statusId: string | undefined;
  /** The resource at status.id: undefined when not read yet, null when the cloud says it does not exist. */
  statusResource: CloudResource | null | undefined;
  statusResourceOurs: boolean;
  intent: Intent | undefined;
  /** Fresh candidates matched by isOurs (undefined: not read yet). */
  mine: readonly CloudResource[] | undefined;
}): DeleteTarget {
  const { importId, statusId, statusResource, statusResourceOurs, intent, mine } = input;
  if (importId !== undefined) return { kind: 'delete', id: importId };
  if (intent === undefined) {
    return { kind: 'nothing', why: statusId ? `status.id ${statusId} was not created by this object (it has no create intent)` : 'nothing was created' };
  }
  if (statusId !== undefined && statusResource === undefined) return { kind: 'lookup' };
  if (statusId !== undefined && statusResource && statusResourceOurs) return { kind: 'delete', id: statusId };
  if (mine === undefined) return { kind: 'lookup' };
  const first = mine[0];
  if (first) return { kind: 'delete', id: first.id };
  return { kind: 'nothing', why: 'no resource of this object is in the cloud' };
}

/** When a transient read failure of a settled object becomes visible as a condition. */
export function staleVerdict(input: { lastGoodReadAt: number | undefined; now: number; staleAfterMs: number }): 'keep' | 'show' {
  const { lastGoodReadAt, now, staleAfterMs } = input;
  if (lastGoodReadAt === undefined) return 'show';
  return now - lastGoodReadAt >= staleAfterMs ? 'show' : 'keep';
}
