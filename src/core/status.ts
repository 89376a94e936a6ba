// The status an object shows: the observed fields (or the previous ones when the cloud was not read), the
// conditions of an outcome, and the minimal merge patch. Pure functions, for every kind.
import { conditionsFor, mergeConditions, type Outcome } from './conditions.ts';
import type { ManagedObject, ManagedStatus } from './types.ts';

/** The complete status to show. lastSyncTime moves when what the cloud shows changed (a steady state writes nothing). */
export function nextStatus(obj: ManagedObject, observed: ManagedStatus | undefined, outcome: Outcome, now: string): ManagedStatus {
  const prev = obj.status ?? {};
  const base: ManagedStatus = observed ?? pickObserved(prev);
  const conditions = mergeConditions(prev.conditions, conditionsFor(outcome, obj.metadata.generation), now);
  const next: ManagedStatus = { ...base, observedGeneration: obj.metadata.generation, conditions };
  if (observed && !sameStatus({ ...next, lastSyncTime: undefined }, { ...prev, lastSyncTime: undefined })) {
    next.lastSyncTime = now;
  } else if (prev.lastSyncTime) {
    next.lastSyncTime = prev.lastSyncTime;
  }
  return next;
}

function pickObserved(prev: ManagedStatus): ManagedStatus {
  const { conditions: _c, observedGeneration: _g, lastSyncTime: _t, ...rest } = prev;
  return rest;
}

/** Deep equality of two statuses, ignoring key order and undefined values. */
export function sameStatus(a: object | undefined, b: object | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(
        Object.entries(val as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
      );
    }
    return val;
  });
}

/** A JSON merge patch turning `prev` into `next` (keys that disappear are set to null). */
export function statusMergePatch(prev: object | undefined, next: object): Record<string, unknown> {
  const patch: Record<string, unknown> = { ...next };
  const n = next as Record<string, unknown>;
  for (const k of Object.keys(prev ?? {})) if (!(k in n) || n[k] === undefined) patch[k] = null;
  return patch;
}
