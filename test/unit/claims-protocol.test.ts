// The claim protocol of src/core/reconciler.ts, as a model over the pure verdict of src/core/claims.ts, checked by
// fast-check over random claimants (ages within and beyond the grace, intents already stored or not, ineligible
// objects, deletions, router spellings) and random interleavings of their steps: never two objects past "may POST"
// on one scope (SPEC §3.2, issue 17 item 6).
//
// Each object runs the reconciler's passes, one atomic step at a time, against one linearizable store of objects
// (what the API server holds):
//   pass without an intent: read the cache (any earlier state of the store: a cache lags), verdict; free → store the
//     intent (one write) and END THE PASS;
//   pass with an intent: read the cache, verdict; free → quorum read (the store now), verdict; free → POST, then the
//     object holds the scope; taken → give the intent up (nothing was sent); wait → another pass later.
// The same model with the order before the fix (the quorum read before the intent was stored, and the POST in the
// same pass) is shown to break the property: fast-check finds two POSTs, which is what a tenant found on main.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalScope, claimVerdict, DEFAULT_GRACE_MS, type Claimant } from '../../src/core/claims.ts';

const ROUTER = '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa';
const T0 = Date.parse('2026-01-01T00:00:00Z');

interface Obj {
  key: string;
  scopeSpelling: string;
  createdAt: number;
  ineligible: boolean;
  deleting: boolean;
  intends: boolean;
  holds: boolean;
}
type Store = Map<string, Obj>;

function claimant(o: Obj): Claimant {
  return {
    key: o.key,
    scope: canonicalScope(o.scopeSpelling),
    endpoint: 'https://net/v2.0',
    createdAt: o.createdAt,
    deleting: o.deleting,
    holds: o.holds,
    intends: o.intends && !o.holds,
    ineligible: o.ineligible,
  };
}

const snapshot = (s: Store): Obj[] => [...s.values()].map((o) => ({ ...o }));

/** One object's reconciler, as a generator: each `yield` is a point where others may run. */
function* reconciler(me: string, store: Store, history: Obj[][], now: () => number, pickCache: () => number, posts: string[], fixed: boolean): Generator<void, void, void> {
  for (let pass = 0; pass < 6; pass++) {
    const self = store.get(me)!;
    if (self.holds || self.deleting || self.ineligible) return;
    // The cache: some earlier state of the store (it may lag), with our own writes (the reconciler keeps them).
    const cached = history[Math.min(history.length - 1, pickCache() % history.length)]!.map((o) => (o.key === me ? { ...store.get(me)! } : o));
    const v = claimVerdict(claimant(store.get(me)!), cached.map(claimant), now(), DEFAULT_GRACE_MS);
    yield;
    if (v.kind !== 'free') {
      if (v.kind === 'taken' && store.get(me)!.intends) store.get(me)!.intends = false; // nothing sent: give it up
      yield;
      continue;
    }
    if (!store.get(me)!.intends) {
      if (fixed) {
        store.get(me)!.intends = true; // store the intent; the pass ends
        yield;
        continue;
      }
      // Before the fix: quorum read, then the intent, then the POST, all in this pass.
      const fresh = snapshot(store);
      const v2 = claimVerdict(claimant(store.get(me)!), fresh.map(claimant), now(), DEFAULT_GRACE_MS);
      yield;
      if (v2.kind !== 'free') continue;
      store.get(me)!.intends = true;
      yield;
      posts.push(me);
      store.get(me)!.holds = true;
      yield;
      return;
    }
    // With the intent stored: the quorum read, then the POST.
    const fresh = snapshot(store);
    const v2 = claimVerdict(claimant(store.get(me)!), fresh.map(claimant), now(), DEFAULT_GRACE_MS);
    yield;
    if (v2.kind === 'taken') {
      store.get(me)!.intends = false;
      yield;
      continue;
    }
    if (v2.kind !== 'free') continue;
    posts.push(me);
    store.get(me)!.holds = true;
    yield;
    return;
  }
}

const objArb = fc.record({
  ns: fc.constantFrom('a', 'b', 'team-x'),
  name: fc.constantFrom('vpn', 'to-hq', 'x'),
  ageS: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 31, max: 600 })), // within and beyond the grace
  intends: fc.boolean(),
  ineligible: fc.boolean(),
  deleting: fc.boolean(),
  spelling: fc.constantFrom(ROUTER, ROUTER.toUpperCase(), ` ${ROUTER}`),
});

type ObjIn = typeof objArb extends fc.Arbitrary<infer T> ? T : never;

function run(fixed: boolean, objs: ObjIn[], order: number[], caches: number[]): string[] {
  const store: Store = new Map();
  const now = T0 + 700_000;
  for (const o of objs) {
    const key = `${o.ns}/${o.name}`;
    if (store.has(key)) continue; // one object per namespace/name
    store.set(key, { key, scopeSpelling: o.spelling, createdAt: now - o.ageS * 1000, ineligible: o.ineligible, deleting: o.deleting, intends: o.intends, holds: false });
  }
  const history: Obj[][] = [snapshot(store)];
  const posts: string[] = [];
  let c = 0;
  const procs = [...store.keys()].map((k) => reconciler(k, store, history, () => now, () => caches[c++ % Math.max(1, caches.length)] ?? 0, posts, fixed));
  const live = new Set(procs.keys());
  for (let i = 0; live.size > 0 && i < 400; i++) {
    const live1 = [...live];
    const p = live1[(order[i % Math.max(1, order.length)] ?? 0) % live1.length]!;
    if (procs[p]!.next().done) live.delete(p);
    history.push(snapshot(store));
  }
  return posts;
}

describe('the claim protocol (model over claimVerdict)', () => {
  const args = [fc.array(objArb, { minLength: 2, maxLength: 5 }), fc.array(fc.nat(), { minLength: 1, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 50 })] as const;

  it('never lets two objects POST on one scope, for any ages, intents and interleaving (fixed order)', () => {
    let runs = 0;
    fc.assert(
      fc.property(...args, (objs, order, caches) => {
        runs++;
        expect(run(true, objs, order, caches).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 10_000 },
    );
    console.log(`claim protocol: ${runs} random runs, never two POSTs`);
  });

  it('the order before the fix (quorum read before the intent is stored) lets two objects POST: fast-check finds it', () => {
    const r = fc.check(
      fc.property(...args, (objs, order, caches) => run(false, objs, order, caches).length <= 1),
      { numRuns: 3000, seed: 17 },
    );
    expect(r.failed).toBe(true);
    console.log(`old order: counterexample after ${r.numRuns} runs, shrunk ${r.numShrinks} times: ${JSON.stringify(r.counterexample?.[0])}`);
  });
});
