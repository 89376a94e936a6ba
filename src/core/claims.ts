// Exclusive claims: at most one object may own a cloud scope (for VpnService: one VPN service per router). Pure
// functions over what every replica can read from the objects themselves, so that any replica, before or after a
// restart or a leader change, reaches the same verdict.
//
// The rule (SPEC §3.2). The claim key is (cloud endpoint, scope), the scope compared canonically. Claimants are the
// objects with that key that are not being deleted, ranked:
//   1. an object whose status shows a cloud resource on the scope (it holds the scope),
//   2. then an object with a recorded create intent on the key (it may have POSTed),
//   3. then by creationTimestamp, then namespace/name.
// Durable possession (1, 2) wins over age: an object seen late never takes the scope from one that already made
// (or may have made) its resource. An object without an intent counts only while it may still become a claimant:
// until it shows that it cannot use the scope (refused credentials, missing Secret, scope not visible) or for
// `graceMs` after its creation, whichever comes first; so an object that can never use the scope blocks nobody,
// and same-second objects still meet the documented tie-break.
//
// "May POST" needs more than ranking first: no other claimant may hold or intend (rank 1 or 2) at all. The
// reconciler re-reads the claimants with a quorum read after its own intent is stored and right before the POST;
// since intents are stored before that read, two objects cannot both see "nobody else intends" (the later writer's
// read sees the earlier one's intent). Ranking only decides who yields.

export interface Claimant {
  /** namespace/name */
  key: string;
  /** Canonical scope (lower-case router id). */
  scope: string;
  /** The cloud endpoint the object is known to use: from its intent or status; undefined when not known yet. */
  endpoint: string | undefined;
  /** creationTimestamp in ms. */
  createdAt: number;
  deleting: boolean;
  /** Its status shows a cloud resource on the scope (on `endpoint`). */
  holds: boolean;
  /** It has a recorded create intent on the scope (on `endpoint`). */
  intends: boolean;
  /** It showed that it cannot use the scope (for its current generation). */
  ineligible: boolean;
}

export type ClaimVerdict =
  /** Nobody else holds or intends: this object may create (after storing its intent, and re-checking). */
  | { kind: 'free' }
  /** Another object owns the scope: make no cloud call (and give up an intent of our own). */
  | { kind: 'taken'; owner: Claimant }
  /** This object ranks first but must wait for `others` to give up their intents or become claimants. */
  | { kind: 'wait'; others: Claimant[]; untilMs: number | undefined };

export const DEFAULT_GRACE_MS = 30_000;

function rank(c: Claimant): number {
  return c.holds ? 0 : c.intends ? 1 : 2;
}

/** Orders claimants: possession, then intent, then age, then namespace/name. */
export function compareClaimants(a: Claimant, b: Claimant): number {
  const r = rank(a) - rank(b);
  if (r !== 0) return r;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function sameCloud(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/** Whether `c` competes with `me` at time `now`. */
function competes(me: Claimant, c: Claimant, now: number, graceMs: number): boolean {
  if (c.key === me.key || c.deleting || c.scope !== me.scope) return false;
  if (c.holds || c.intends) return sameCloud(c.endpoint, me.endpoint);
  // Not a claimant yet: counts only while it may still become one, and only if it would rank before us.
  if (c.ineligible || now >= c.createdAt + graceMs) return false;
  return sameCloud(c.endpoint, me.endpoint);
}

/**
 * The verdict for `me` among `all` (which may include `me`). `me` must be eligible (its cloud resolved and the scope
 * is visible to its credentials) and not being deleted.
 */
export function claimVerdict(me: Claimant, all: Iterable<Claimant>, now: number, graceMs = DEFAULT_GRACE_MS): ClaimVerdict {
  const rivals = [...all].filter((c) => competes(me, c, now, graceMs));
  let best: Claimant = me;
  for (const c of rivals) if (compareClaimants(c, best) < 0) best = c;
  if (best !== me) {
    // Only objects that are not claimants yet rank before us (by age): wait for them, bounded by their grace.
    if (!best.holds && !best.intends) {
      const before = rivals.filter((c) => compareClaimants(c, me) < 0);
      return { kind: 'wait', others: before, untilMs: Math.min(...before.map((c) => c.createdAt + graceMs)) };
    }
    return { kind: 'taken', owner: best };
  }
  const blocking = rivals.filter((c) => c.holds || c.intends);
  if (blocking.length) return { kind: 'wait', others: blocking, untilMs: undefined };
  return { kind: 'free' };
}

/** The canonical form of a scope id (UUIDs compare case-insensitively). */
export function canonicalScope(id: string): string {
  return id.trim().toLowerCase();
}
