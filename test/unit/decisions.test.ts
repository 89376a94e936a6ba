// The core's pure decisions (claims, create, yield, delete target, staleness) and the VpnService adapter's mapping
// (status, conditions, spec diff, status patches), by tables.
import { describe, expect, it } from 'vitest';
import { claimVerdict, compareClaimants, type Claimant } from '../../src/core/claims.ts';
import { conditionsFor, mergeConditions } from '../../src/core/conditions.ts';
import { claimGateAt, decideCreate, decideDeleteTarget, decideYield, settleMs, staleVerdict, type Timing } from '../../src/core/decide.ts';
import { encodeIntent, readIntent } from '../../src/core/intent.ts';
import { nextStatus, sameStatus, statusMergePatch } from '../../src/core/status.ts';
import { outcomeOfCloudStatus, wantedUpdate, type CloudVpn } from '../../src/kinds/vpnservice/adapter.ts';
import type { VpnService } from '../../src/api/vpnservice.ts';

const R = '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa';
const T0 = Date.parse('2026-01-01T00:00:00Z');
const EP = 'https://net/v2.0';
const c = (key: string, ageS: number, extra: Partial<Claimant> = {}): Claimant => ({
  key,
  scope: R,
  endpoint: EP,
  createdAt: T0 + ageS * 1000,
  deleting: false,
  holds: false,
  intends: false,
  ineligible: false,
  ...extra,
});
const NOW = T0 + 5_000; // within the 30 s grace of objects created at T0..T0+5s
const verdict = (me: Claimant, all: Claimant[], now = NOW) => {
  const v = claimVerdict(me, all, now);
  return v.kind === 'taken' ? `taken by ${v.owner.key}` : v.kind === 'wait' ? `wait for ${v.others.map((o) => o.key).join(',')}` : 'free';
};

describe('claims: one object per (cloud, router)', () => {
  it.each([
    ['alone', c('ns/a', 0), [], 'free'],
    ['an older non-claimant within its grace is waited for', c('ns/b', 1), [c('ns/a', 0)], 'wait for ns/a'],
    ['same second: the lexically first is waited for', c('ns/b', 0), [c('ns/a', 0)], 'wait for ns/a'],
    ['same second, seen from the first: it is free', c('ns/a', 0), [c('ns/b', 0)], 'free'],
    ['an older intent takes it', c('ns/b', 0, { intends: true }), [c('ns/a', 0, { intends: true })], 'taken by ns/a'],
    ['a younger intent makes the older one wait (it yields)', c('ns/a', 0, { intends: true }), [c('ns/b', 0, { intends: true })], 'wait for ns/b'],
    ['an intent beats age', c('ns/a', 0), [c('ns/b', 3, { intends: true })], 'taken by ns/b'],
    ['possession beats an intent and age', c('ns/a', 0, { intends: true }), [c('ns/z', 9, { holds: true })], 'taken by ns/z'],
    ['an ineligible older object blocks nobody', c('ns/b', 1), [c('ns/a', 0, { ineligible: true })], 'free'],
    ['an older non-claimant past its grace blocks nobody', c('ns/b', 1), [c('ns/a', 0)], 'free'],
    ['a deleting holder blocks nobody', c('ns/b', 1), [c('ns/a', 0, { holds: true, deleting: true })], 'free'],
    ['another router does not compete', c('ns/b', 1), [c('ns/a', 0, { holds: true, scope: 'other' })], 'free'],
    ['another cloud does not compete', c('ns/b', 1), [c('ns/a', 0, { holds: true, endpoint: 'https://elsewhere/v2.0' })], 'free'],
    ['an unknown endpoint is the same cloud (can only delay)', c('ns/b', 1), [c('ns/a', 0, { intends: true, endpoint: undefined })], 'taken by ns/a'],
  ] as const)('%s', (_name, me, others, want) => {
    const now = _name.includes('past its grace') ? T0 + 31_000 : NOW;
    expect(verdict(me, [me, ...others], now)).toBe(want);
  });

  it('both sides of every pair agree on one owner, in any order', () => {
    const kinds: Partial<Claimant>[] = [{}, { intends: true }, { holds: true }];
    for (const ka of kinds) {
      for (const kb of kinds) {
        for (const [ta, tb] of [[0, 0], [0, 1], [1, 0]] as const) {
          const a = c('ns/a', ta, ka);
          const b = c('ns/b', tb, kb);
          const va = claimVerdict(a, [b, a], NOW);
          const vb = claimVerdict(b, [a, b], NOW);
          // Never both free; a "taken" on one side names the other.
          expect(va.kind === 'free' && vb.kind === 'free').toBe(false);
          const first = compareClaimants(a, b) < 0 ? a : b;
          const second = first === a ? vb : va;
          if (second.kind === 'taken') expect(second.owner.key).toBe(first.key);
        }
      }
    }
  });

  it('the claim gate is the end of the creation second plus a margin', () => {
    expect(claimGateAt(T0 + 999, 1000)).toBe(T0 + 2000);
    expect(claimGateAt(T0, 500)).toBe(T0 + 1500);
  });
});

const timing: Timing = { intentFreshMs: 10_000, cloudTimeoutMs: 30_000, marginMs: 5_000 };
const res = (id: string) => ({ id, status: 'ACTIVE', name: 'n' });

describe('create: adopt, wait for a POST that may still land, renew, post', () => {
  const at = T0;
  it.each([
    ['ours is there: adopt', [res('mine')], [], 'none-sent', at + 1, 'adopt'],
    ['another on the scope: occupied', [], [res('x')], 'unknown', at + 1, 'occupied'],
    ['fresh intent, nothing sent yet: post', [], [], 'none-sent', at + 1, 'post'],
    ['unknown (restart) and young: settle', [], [], 'unknown', at + 1_000, 'settle'],
    ['unanswered POST and young: settle', [], [], 'unanswered', at + 20_000, 'settle'],
    ['unknown but past the settle time: renew then post', [], [], 'unknown', at + settleMs(timing), 'renew'],
    ['answered (refused) and stale: renew', [], [], 'answered', at + 11_000, 'renew'],
    ['answered and fresh: post again', [], [], 'answered', at + 2_000, 'post'],
  ] as const)('%s', (_n, mine, others, knowledge, now, want) => {
    expect(decideCreate({ mine, others, intent: { name: 'n', at }, knowledge, now, timing }).kind).toBe(want);
  });
  it('an intent from an older version (no time) is old', () => {
    expect(decideCreate({ mine: [], others: [], intent: { name: 'n' }, knowledge: 'unknown', now: T0, timing }).kind).toBe('renew');
  });
});

describe('yield: a loser gives up its intent only when nothing of its can still land', () => {
  it.each([
    ['nothing sent by this process: clear at once', undefined, 'none-sent', T0 + 1, 'clear'],
    ['otherwise look first', undefined, 'unknown', T0 + 1, 'lookup'],
    ['found ours: adopt (we hold now)', [res('m')], 'unknown', T0 + 1, 'adopt'],
    ['nothing found, young: settle', [], 'unknown', T0 + 1, 'settle'],
    ['nothing found, old: clear', [], 'unknown', T0 + 60_000, 'clear'],
    ['nothing found, answered: clear', [], 'answered', T0 + 1, 'clear'],
  ] as const)('%s', (_n, mine, knowledge, now, want) => {
    expect(decideYield({ mine, intent: { name: 'n', at: T0 }, knowledge, now, timing }).kind).toBe(want);
  });
});

describe('delete: the cloud decides which resource, never status alone', () => {
  const base = { importId: undefined, statusId: undefined, statusResource: undefined, statusResourceOurs: false, intent: { name: 'n' }, mine: undefined };
  it.each([
    ['import: the imported id', { importId: 'imp' }, 'delete imp'],
    ['no intent, no import: nothing (a forged status.id is not ours)', { intent: undefined, statusId: 'other' }, 'nothing'],
    ['status.id not read yet: look', { statusId: 's' }, 'lookup'],
    ['status.id is ours: delete it', { statusId: 's', statusResource: res('s'), statusResourceOurs: true }, 'delete s'],
    ['status.id names a resource that is not ours: look for ours', { statusId: 's', statusResource: res('s'), statusResourceOurs: false }, 'lookup'],
    ['status.id not ours, ours found: delete ours', { statusId: 's', statusResource: res('s'), mine: [res('m')] }, 'delete m'],
    ['status.id gone, none found: nothing', { statusId: 's', statusResource: null, mine: [] }, 'nothing'],
    ['intent without id: look, then delete what was found', { mine: [res('m')] }, 'delete m'],
  ] as const)('%s', (_n, over, want) => {
    const t = decideDeleteTarget({ ...base, ...over });
    expect(t.kind === 'delete' ? `delete ${t.id}` : t.kind).toBe(want);
  });
});

describe('a settled object keeps Ready through a transient read failure', () => {
  it.each([
    [T0, T0 + 60_000, 'keep'],
    [T0, T0 + 30 * 60_000, 'show'],
    [undefined, T0, 'show'],
  ] as const)('last read %s, now %s: %s', (last, now, want) => {
    expect(staleVerdict({ lastGoodReadAt: last, now, staleAfterMs: 30 * 60_000 })).toBe(want);
  });
});

describe('the create intent annotation', () => {
  it('round-trips; a plain name from an older version reads as a name without time', () => {
    const o = (v: string) => ({ metadata: { annotations: { 'vpnaas.dev/create-intent': v } } }) as unknown as VpnService;
    const enc = encodeIntent({ name: 'vpn', scope: R, endpoint: EP, at: T0 });
    expect(readIntent(o(enc))).toEqual({ name: 'vpn', scope: R, endpoint: EP, at: T0 });
    expect(readIntent(o('vpn'))).toEqual({ name: 'vpn' });
    expect(readIntent(o('{not json'))).toEqual({ name: '{not json' });
  });
});

const svc = (over: Partial<CloudVpn> = {}): CloudVpn => ({
  id: 'id-1',
  name: 'vpn',
  description: '',
  router_id: R,
  subnet_id: null,
  admin_state_up: true,
  status: 'ACTIVE',
  external_v4_ip: '203.0.113.5',
  external_v6_ip: null,
  ...over,
});

describe('cloud status → Ready reason', () => {
  it.each([
    ['ACTIVE', 'Active'],
    ['PENDING_CREATE', 'Provisioning'],
    ['PENDING_UPDATE', 'Provisioning'],
    ['BUILD', 'Provisioning'],
    ['DOWN', 'Down'],
    ['ERROR', 'Error'],
  ])('%s → %s', (status, reason) => {
    expect(outcomeOfCloudStatus(svc({ status })).reason).toBe(reason);
  });
  it('Active names the external IP', () => {
    expect(outcomeOfCloudStatus(svc()).message).toContain('203.0.113.5');
  });
});

describe('conditions (kstatus)', () => {
  it('Active: Ready=True only; Provisioning: Reconciling=True; refusals: Stalled=True', () => {
    expect(conditionsFor({ reason: 'Active', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=True']);
    expect(conditionsFor({ reason: 'Provisioning', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=False', 'Reconciling=True']);
    expect(conditionsFor({ reason: 'InvalidSpec', message: 'm' }, 3).map((x) => `${x.type}=${x.status}`)).toEqual(['Ready=False', 'Stalled=True']);
    expect(conditionsFor({ reason: 'RouterConflict', message: 'm' }, 3)[0]!.observedGeneration).toBe(3);
  });
  it('an unchanged status keeps lastTransitionTime, a changed one takes the new time', () => {
    const first = mergeConditions(undefined, conditionsFor({ reason: 'Provisioning', message: 'm' }, 1), 'T1');
    const same = mergeConditions(first, conditionsFor({ reason: 'Provisioning', message: 'm' }, 1), 'T2');
    expect(same).toEqual(first);
    const flipped = mergeConditions(first, conditionsFor({ reason: 'Active', message: 'ok' }, 1), 'T3');
    expect(flipped[0]!.lastTransitionTime).toBe('T3');
  });
});

const obj = (spec: Partial<VpnService['spec']> = {}, status?: VpnService['status']): VpnService => ({
  apiVersion: 'vpnaas.dev/v1alpha1',
  kind: 'VpnService',
  metadata: { name: 'vpn', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { routerId: R, adminStateUp: true, deletionPolicy: 'Delete', ...spec },
  ...(status ? { status } : {}),
});

describe('spec → cloud update', () => {
  it('nothing when the cloud matches; name defaults to metadata.name', () => {
    expect(wantedUpdate(obj(), svc())).toBeUndefined();
  });
  it('name and description changes; an absent description is left alone', () => {
    expect(wantedUpdate(obj({ name: 'new' }), svc({ description: 'theirs' }))).toEqual({ name: 'new' });
    expect(wantedUpdate(obj({ description: 'ours' }), svc({ description: 'theirs' }))).toEqual({ description: 'ours' });
  });
  it('a service administratively down is brought up', () => {
    expect(wantedUpdate(obj(), svc({ admin_state_up: false }))).toEqual({ admin_state_up: true });
  });
});

describe('status writes only when something changed', () => {
  it('the same observation twice gives an identical status (no write)', () => {
    const o = obj();
    const s1 = nextStatus(o, { id: 'id-1', status: 'ACTIVE' }, { reason: 'Active', message: 'm' }, '2026-01-01T00:00:01Z');
    const s2 = nextStatus(obj({}, s1), { id: 'id-1', status: 'ACTIVE' }, { reason: 'Active', message: 'm' }, '2026-01-01T00:09:00Z');
    expect(sameStatus(s1, s2)).toBe(true);
    expect(s2.lastSyncTime).toBe('2026-01-01T00:00:01Z');
  });
  it('a merge patch removes fields that disappeared', () => {
    expect(statusMergePatch({ id: 'a', externalV6Ip: 'x' }, { id: 'a' })).toEqual({ id: 'a', externalV6Ip: null });
  });
});
