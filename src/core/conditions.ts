// Conditions (kstatus conventions): Ready, Reconciling, Stalled. Pure functions.
import type { Condition } from '../api/vpnservice.ts';

/** Every reason of SPEC §2, and what it means for Reconciling/Stalled. */
export const REASONS = {
  Active: { ready: 'True', phase: 'done' },
  Creating: { ready: 'False', phase: 'reconciling' },
  Waiting: { ready: 'False', phase: 'reconciling' },
  Provisioning: { ready: 'False', phase: 'reconciling' },
  Updating: { ready: 'False', phase: 'reconciling' },
  UpdateBlocked: { ready: 'False', phase: 'stalled' },
  RouterConflict: { ready: 'False', phase: 'stalled' },
  RouterInUse: { ready: 'False', phase: 'stalled' },
  RouterNotFound: { ready: 'False', phase: 'stalled' },
  InvalidSpec: { ready: 'False', phase: 'stalled' },
  AuthFailed: { ready: 'False', phase: 'stalled' },
  CredentialsNotFound: { ready: 'False', phase: 'stalled' },
  CloudUnavailable: { ready: 'False', phase: 'reconciling' },
  // A tunnel (or service) the cloud reports DOWN needs a person: Stalled, so kstatus says Failed and Flux stops
  // waiting for it (Argo CD: Degraded). The operator keeps watching and shows Active when it comes up.
  Down: { ready: 'False', phase: 'stalled' },
  Error: { ready: 'False', phase: 'stalled' },
  Deleting: { ready: 'False', phase: 'reconciling' },
  DeleteBlocked: { ready: 'False', phase: 'reconciling' },
} as const satisfies Record<string, { ready: 'True' | 'False'; phase: 'done' | 'reconciling' | 'stalled' }>;

export type Reason = keyof typeof REASONS;

export interface Outcome {
  reason: Reason;
  message: string;
}

/**
 * The three conditions for an outcome. Ready carries the reason; Reconciling is True while the operator is
 * still working towards the spec; Stalled is True when it cannot progress without a change (in the spec, the
 * cloud, or another object). Argo CD / kstatus read these: Progressing while Reconciling, Degraded when Stalled.
 */
export function conditionsFor(o: Outcome, generation: number): Array<Omit<Condition, 'lastTransitionTime'>> {
  const r = REASONS[o.reason];
  const mk = (type: string, status: 'True' | 'False', reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    observedGeneration: generation,
  });
  const out = [mk('Ready', r.ready, o.reason, o.message)];
  if (r.phase === 'reconciling') out.push(mk('Reconciling', 'True', o.reason, o.message));
  if (r.phase === 'stalled') out.push(mk('Stalled', 'True', o.reason, o.message));
  return out;
}

/**
 * Merges wanted conditions into the current list: a condition whose status did not change keeps its
 * lastTransitionTime, so an unchanged outcome yields an identical list (and no write).
 */
export function mergeConditions(
  current: Condition[] | undefined,
  wanted: Array<Omit<Condition, 'lastTransitionTime'>>,
  now: string,
): Condition[] {
  return wanted.map((w) => {
    const cur = current?.find((c) => c.type === w.type);
    const lastTransitionTime = cur && cur.status === w.status ? cur.lastTransitionTime : now;
    return { ...w, lastTransitionTime };
  });
}

export function readyCondition(conds: Condition[] | undefined): Condition | undefined {
  return conds?.find((c) => c.type === 'Ready');
}
