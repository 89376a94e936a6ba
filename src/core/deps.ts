// Dependencies between objects of a namespace (SPEC §3.13): an object names others (an IPsecSiteConnection its
// VpnService, policies and endpoint groups); it waits until they are Ready and uses their cloud ids, and what
// others still use is not deleted in the cloud. The index maps each target to its dependents so that a change of
// a target wakes exactly its dependents (the controllers feed it from their informers); the decisions are pure.
import type { Outcome } from './conditions.ts';

/** A reference from one object to another of its namespace. */
export interface Ref {
  kind: string;
  namespace: string;
  name: string;
  /** The spec field that names it (`spec.vpnServiceRef`), for messages and for the resolved ids. */
  field: string;
}

/** What a dependent sees of a target. */
export type TargetState =
  | { state: 'missing' }
  | { state: 'deleting' }
  | { state: 'notReady'; reason: string }
  | { state: 'ready'; id: string };

/** `ids` holds the references that resolved (all of them when ready). */
export type Resolution = { kind: 'ready'; ids: Record<string, string> } | { kind: 'waiting'; outcome: Outcome; ids: Record<string, string> };

function targetKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** Dependents by target: who must be woken when a target changes, who still uses a target being deleted. */
export class DependencyIndex {
  private readonly byTarget = new Map<string, Set<string>>();
  private readonly byDependent = new Map<string, string[]>();

  /** Records the references of `dependent` (a kind/namespace/name key), replacing earlier ones. */
  set(dependent: string, refs: readonly Ref[]): void {
    this.remove(dependent);
    const targets = [...new Set(refs.map((r) => targetKey(r.kind, r.namespace, r.name)))];
    if (targets.length === 0) return;
    this.byDependent.set(dependent, targets);
    for (const t of targets) {
      const set = this.byTarget.get(t) ?? new Set<string>();
      set.add(dependent);
      this.byTarget.set(t, set);
    }
  }

  remove(dependent: string): void {
    for (const t of this.byDependent.get(dependent) ?? []) {
      const set = this.byTarget.get(t);
      set?.delete(dependent);
      if (set?.size === 0) this.byTarget.delete(t);
    }
    this.byDependent.delete(dependent);
  }

  dependentsOf(kind: string, namespace: string, name: string): string[] {
    return [...(this.byTarget.get(targetKey(kind, namespace, name)) ?? [])].sort();
  }
}

/** The ids of an object's references, or what it waits for (every missing or unready reference is named). */
export function resolveDependencies(refs: readonly Ref[], stateOf: (r: Ref) => TargetState): Resolution {
  const ids: Record<string, string> = {};
  const waits: string[] = [];
  for (const r of refs) {
    const s = stateOf(r);
    const what = `${r.kind} ${r.name} (${r.field})`;
    if (s.state === 'ready') ids[r.field] = s.id;
    else if (s.state === 'missing') waits.push(`${what} does not exist`);
    else if (s.state === 'deleting') waits.push(`${what} is being deleted`);
    else waits.push(`${what} is not created in the cloud yet (${s.reason})`);
  }
  if (waits.length === 0) return { kind: 'ready', ids };
  return {
    kind: 'waiting',
    ids,
    outcome: { reason: 'Waiting', message: `${capitalFirst(waits.join('; '))}. This object proceeds by itself when they exist in the cloud.` },
  };
}

/** A target being deleted waits while other objects still use it (dependents that are not being deleted themselves
 * still count: they need it until they are gone). */
export function deletionGuard(noun: string, id: string | undefined, dependents: readonly string[]): Outcome | undefined {
  if (dependents.length === 0) return undefined;
  const shown = dependents.slice(0, 5).join(', ') + (dependents.length > 5 ? ` and ${dependents.length - 5} more` : '');
  return {
    reason: 'DeleteBlocked',
    message: `The ${noun}${id ? ` ${id}` : ''} is not deleted in the cloud while other objects use it (${shown} when this was written); delete ${dependents.length > 1 ? 'them' : 'it'} first (the operator continues by itself).`,
  };
}

function capitalFirst(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
