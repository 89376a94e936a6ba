// One VPN service per VPC (router): who owns a router among the VpnService objects. Pure functions.
//
// The claim key is (cloud endpoint, routerId). Among the objects with the same key that are not being deleted,
// the oldest (creationTimestamp, then namespace/name) owns the router, except that an object that already holds a
// cloud service on the router keeps it. An object whose cloud endpoint is not
// known yet (credentials not resolved) is assumed to be on the same cloud: a conservative choice that can only
// delay, never duplicate.

export interface Claimant {
  key: string; // namespace/name
  routerId: string;
  endpoint: string | undefined;
  creationTimestamp: string;
  deleting: boolean;
  /** Already holds a cloud service on the router (status.id) or is creating one right now: possession wins. */
  holds: boolean;
}

function sameCloud(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/**
 * Orders claimants: one that already holds the router first (creationTimestamp has one-second resolution, so an
 * object created in the same second but seen later must not take the router from one that already created its
 * service), then oldest first, then by namespace/name.
 */
export function compareClaimants(a: Claimant, b: Claimant): number {
  if (a.holds !== b.holds) return a.holds ? -1 : 1;
  const ta = Date.parse(a.creationTimestamp);
  const tb = Date.parse(b.creationTimestamp);
  if (ta !== tb) return ta - tb;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The owner of `me`'s router among `all` (which may include `me`), or undefined when `me` is being deleted.
 * Returns `me.key` when `me` owns it.
 */
export function ownerOf(me: Claimant, all: Iterable<Claimant>): string | undefined {
  if (me.deleting) return undefined;
  let best: Claimant = me;
  for (const c of all) {
    if (c.key === me.key || c.deleting || c.routerId !== me.routerId || !sameCloud(c.endpoint, me.endpoint)) continue;
    if (compareClaimants(c, best) < 0) best = c;
  }
  return best.key;
}
