// Leader election on a coordination.k8s.io/v1 Lease against a real kube-apiserver: acquire and renew, followers
// that wait, release on stop(), takeover of a dead holder's lease (a SIGKILLed process, and a record with stale
// timestamps), and a leader that must give up in time (lease overwritten, API server gone). Short durations:
// lease 3 s, renew deadline 2 s, retry 0.5 s. Measured times are printed; the assertions check the protocol's
// bounds (with slack for two shared cores), above all the safety side: nobody takes over before the lease
// duration, and a leader stops before its lease can expire elsewhere.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { KubeApiError, KubeClient } from '../../src/kube/client.ts';
import { LeaderElector, microTime, type LeaderElectionOptions } from '../../src/runtime/leader.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';

const LEASE_MS = 3000;
const RENEW_MS = 2000;
const RETRY_MS = 500;
/** Request latency and timer lateness on two busy cores. */
const SLACK_MS = 1000;
const NS = 'default';

const mono = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const ms = (n: number): string => `${Math.round(n)} ms`;

let leaseSeq = 0;
const newLeaseName = (): string => `leader-test-${process.pid}-${++leaseSeq}`;
const leasePath = (name: string): string => `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${name}`;

const leaseSchema = z.object({
  metadata: z.object({ resourceVersion: z.string() }),
  spec: z.object({
    holderIdentity: z.string().nullish(),
    leaseDurationSeconds: z.number().nullish(),
    acquireTime: z.string().nullish(),
    renewTime: z.string().nullish(),
    leaseTransitions: z.number().nullish(),
  }),
});
type LeaseObj = z.infer<typeof leaseSchema>;

async function getLease(kube: KubeClient, name: string): Promise<LeaseObj> {
  return leaseSchema.parse(await kube.request('GET', leasePath(name)));
}

async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const deadline = mono() + timeoutMs;
  for (;;) {
    if (await pred()) return mono();
    if (mono() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

interface Candidate {
  identity: string;
  elector: LeaderElector;
  /** Monotonic times of onStartedLeading. */
  started: number[];
  /** Monotonic times at which the signals given to onStartedLeading fired. */
  aborted: number[];
  /** onStoppedLeading calls, with whether the signal had fired by then. */
  stopped: Array<{ at: number; signalAborted: boolean }>;
  leaders: string[];
  logs: string[];
  run: Promise<void>;
}

function candidate(kube: KubeClient, lease: string, identity: string, extra: Partial<LeaderElectionOptions> = {}): Candidate {
  const logs: string[] = [];
  const log = (level: string) => (msg: string, meta?: Record<string, unknown>) => logs.push(`${level} ${msg} ${JSON.stringify(meta ?? {})}`);
  const elector = new LeaderElector({
    kube,
    namespace: NS,
    name: lease,
    identity,
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    log: { info: log('info'), warn: log('warn') },
    ...extra,
  });
  const c: Candidate = { identity, elector, started: [], aborted: [], stopped: [], leaders: [], logs, run: Promise.resolve() };
  let current: AbortSignal | undefined;
  c.run = elector.run({
    onStartedLeading(signal) {
      c.started.push(mono());
      current = signal;
      signal.addEventListener('abort', () => c.aborted.push(mono()), { once: true });
    },
    onStoppedLeading() {
      c.stopped.push({ at: mono(), signalAborted: current?.aborted ?? false });
    },
    onNewLeader(id) {
      c.leaders.push(id);
    },
  });
  return c;
}

describe('leader election on a Lease', () => {
  let cp: ControlPlane;
  let kube: KubeClient;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    cp = await startControlPlane();
    kube = new KubeClient(cp.kubeConfig);
  });

  afterAll(async () => {
    for (const f of cleanup) await f().catch(() => undefined);
    await cp?.stop();
  });

  /** Starts a candidate and stops it (by its own stop()) after the test. */
  function start(lease: string, identity: string, extra: Partial<LeaderElectionOptions> = {}): Candidate {
    const c = candidate(kube, lease, identity, extra);
    cleanup.push(() => c.elector.stop());
    return c;
  }

  it('refuses inconsistent durations with a clear error', () => {
    const base = { kube, namespace: NS, name: 'x', identity: 'a' };
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 3000, renewDeadlineMs: 3000 })).toThrow(
      /renewDeadlineMs \(3000\) must be less than leaseDurationMs \(3000\)/,
    );
    expect(() => new LeaderElector({ ...base, renewDeadlineMs: 2000, retryPeriodMs: 2000 })).toThrow(
      /retryPeriodMs \(2000\) must be less than renewDeadlineMs \(2000\)/,
    );
    expect(() => new LeaderElector({ ...base, leaseDurationMs: 800, renewDeadlineMs: 500, retryPeriodMs: 100 })).toThrow(/at least 1000/);
    expect(() => new LeaderElector({ ...base, retryPeriodMs: -1 })).toThrow(/retryPeriodMs must be a positive number/);
    expect(() => new LeaderElector({ ...base, identity: '' })).toThrow(/identity must not be empty/);
    expect(() => new LeaderElector(base)).not.toThrow(); // defaults 15 s / 10 s / 2 s
  });

  it('acquires a missing lease, holds it and renews it; stop() releases it', async () => {
    const lease = newLeaseName();
    const a = start(lease, 'a');
    await waitFor('a to lead', () => a.elector.isLeader());
    expect(a.started).toHaveLength(1);
    expect(a.leaders).toEqual(['a']);

    const first = await getLease(kube, lease);
    expect(first.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 3, leaseTransitions: 0 });
    expect(first.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(first.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    await sleep(3 * RETRY_MS + 200);
    const later = await getLease(kube, lease);
    expect(later.spec.holderIdentity).toBe('a');
    expect(Date.parse(later.spec.renewTime ?? '')).toBeGreaterThan(Date.parse(first.spec.renewTime ?? ''));
    expect(later.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(later.spec.leaseTransitions).toBe(0);
    expect(a.elector.isLeader()).toBe(true);
    console.log(`[leader] renewTime advanced ${ms(Date.parse(later.spec.renewTime ?? '') - Date.parse(first.spec.renewTime ?? ''))} over ${ms(3 * RETRY_MS + 200)}`);

    await expect(a.elector.run({ onStartedLeading() {}, onStoppedLeading() {} })).rejects.toThrow(/already called/);

    await a.elector.stop();
    await a.run; // resolved
    expect(a.elector.isLeader()).toBe(false);
    expect(a.aborted).toHaveLength(1);
    expect(a.stopped).toHaveLength(1);
    expect(a.stopped[0]?.signalAborted).toBe(true);
    const released = await getLease(kube, lease);
    expect(released.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 0 });
    await a.elector.stop(); // idempotent
  });

  it('a second candidate stays a follower while the leader renews, even with its clock an hour ahead', async () => {
    const lease = newLeaseName();
    const a = start(lease, 'a');
    await waitFor('a to lead', () => a.elector.isLeader());
    // b judges expiry by when it saw the record change, not by the timestamps (which its clock would call stale).
    const b = start(lease, 'b', { now: () => Date.now() + 3_600_000 });
    await waitFor('b to see a as leader', () => b.leaders.includes('a'));
    const until = mono() + 2 * LEASE_MS;
    let samples = 0;
    while (mono() < until) {
      expect(b.elector.isLeader()).toBe(false);
      expect(a.elector.isLeader()).toBe(true);
      samples++;
      await sleep(50);
    }
    expect(samples).toBeGreaterThan(20);
    expect(b.started).toEqual([]);
    expect((await getLease(kube, lease)).spec.holderIdentity).toBe('a');

    // A follower's stop() neither calls onStoppedLeading nor releases the lease.
    await b.elector.stop();
    expect(b.stopped).toEqual([]);
    const after = await getLease(kube, lease);
    expect(after.spec.holderIdentity).toBe('a');
    expect(a.logs.filter((l) => l.startsWith('warn'))).toEqual([]);
  });

  it('stop() of the leader hands over to the follower within about one retry period', async () => {
    const lease = newLeaseName();
    const a = start(lease, 'a');
    await waitFor('a to lead', () => a.elector.isLeader());
    const b = start(lease, 'b');
    await waitFor('b to see a as leader', () => b.leaders.includes('a'));
    await sleep(RETRY_MS); // b somewhere in its poll cycle

    const t0 = mono();
    await a.elector.stop();
    const tReleased = mono();
    const tB = await waitFor('b to lead', () => b.elector.isLeader());
    console.log(
      `[leader] handover on stop(): stop() took ${ms(tReleased - t0)}; follower leading ${ms(tB - tReleased)} after the release (retry period ${RETRY_MS} ms)`,
    );
    expect(tB - tReleased).toBeLessThan(RETRY_MS + SLACK_MS);
    expect(a.aborted[0]).toBeLessThanOrEqual(tReleased);
    expect(a.stopped).toHaveLength(1);
    const got = await getLease(kube, lease);
    expect(got.spec).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 3, leaseTransitions: 1 });
    expect(b.leaders).toEqual(['a', 'b']);
  });

  it('stop() keeps renewing while the leader’s work winds down, then releases', async () => {
    const lease = newLeaseName();
    const a = new LeaderElector({ kube, namespace: NS, name: lease, identity: 'a', leaseDurationMs: LEASE_MS, renewDeadlineMs: RENEW_MS, retryPeriodMs: RETRY_MS });
    cleanup.push(() => a.stop());
    const DRAIN_MS = 1500;
    let aborted = 0;
    let drained = 0;
    const run = a.run({
      // Work that takes DRAIN_MS to finish once told to stop (longer than a retry period, shorter than the deadline).
      onStartedLeading: (signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = mono();
            setTimeout(() => {
              drained = mono();
              resolve();
            }, DRAIN_MS);
          });
        }),
      onStoppedLeading() {},
    });
    await waitFor('a to lead', () => a.isLeader());
    const t0 = mono();
    const stopping = a.stop();
    await waitFor('the signal to fire', () => aborted > 0);
    expect(a.isLeader()).toBe(false);
    const during = await getLease(kube, lease);
    await sleep(DRAIN_MS - 300);
    const lateDuring = await getLease(kube, lease);
    expect(lateDuring.spec.holderIdentity).toBe('a'); // still held (and renewed) while the work drains
    expect(Date.parse(lateDuring.spec.renewTime ?? '')).toBeGreaterThan(Date.parse(during.spec.renewTime ?? ''));
    await stopping;
    await run;
    const tStopped = mono();
    console.log(`[leader] stop() with ${DRAIN_MS} ms of draining work took ${ms(tStopped - t0)} (released ${ms(tStopped - drained)} after the work ended)`);
    expect(drained).toBeGreaterThan(0);
    expect(tStopped).toBeGreaterThanOrEqual(drained);
    expect((await getLease(kube, lease)).spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
  });

  it('takes over from a SIGKILLed leader only after the lease duration', async () => {
    const lease = newLeaseName();
    const child = spawnCandidate(cp.kubeconfigPath, lease, 'doomed');
    cleanup.push(async () => killChild(child));
    await waitForLine(child, 'LEADING');
    const b = start(lease, 'b');
    await waitFor('b to see the child as leader', () => b.leaders.includes('doomed'));
    await sleep(1500); // b has watched a few renewals

    killChild(child);
    const tKill = mono();
    // The dead leader's last renewal (it wrote renewTime before sending; the server stored it later).
    const lastRenew = Date.parse((await getLease(kube, lease)).spec.renewTime ?? '');
    const tB = await waitFor('b to take over', () => b.elector.isLeader());
    const wallB = Date.now();
    console.log(
      `[leader] SIGKILLed leader: follower took over ${ms(tB - tKill)} after the kill, ${ms(wallB - lastRenew)} after the last renewal (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`,
    );
    expect(wallB - lastRenew).toBeGreaterThanOrEqual(LEASE_MS);
    expect(tB - tKill).toBeLessThan(LEASE_MS + RETRY_MS + SLACK_MS);
    const got = await getLease(kube, lease);
    expect(got.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  it('takes over a dead holder’s lease only a lease duration after first seeing it, whatever its timestamps say', async () => {
    const lease = newLeaseName();
    const hourAgo = microTime(Date.now() - 3_600_000);
    await kube.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: lease, namespace: NS, labels: { keep: 'me' } },
      spec: { holderIdentity: 'ghost', leaseDurationSeconds: 3, acquireTime: hourAgo, renewTime: hourAgo, leaseTransitions: 4 },
    });
    const t0 = mono();
    const b = start(lease, 'b');
    const tB = await waitFor('b to take over', () => b.elector.isLeader());
    console.log(`[leader] dead holder (renewTime an hour old): follower took over ${ms(tB - t0)} after it started (lease ${LEASE_MS} ms)`);
    expect(tB - t0).toBeGreaterThanOrEqual(LEASE_MS);
    expect(tB - t0).toBeLessThan(LEASE_MS + RETRY_MS + SLACK_MS);
    expect(b.leaders).toEqual(['ghost', 'b']);
    const got = leaseSchema
      .extend({ metadata: z.object({ resourceVersion: z.string(), labels: z.record(z.string(), z.string()).optional() }) })
      .parse(await kube.request('GET', leasePath(lease)));
    expect(got.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 5 });
    expect(got.spec.acquireTime).not.toBe(hourAgo);
    expect(got.metadata.labels).toEqual({ keep: 'me' }); // the PUT kept what it does not own
  });

  it('a leader whose lease is taken by someone else stops leading within the renew deadline, then campaigns again', async () => {
    const lease = newLeaseName();
    const a = start(lease, 'a');
    await waitFor('a to lead', () => a.elector.isLeader());
    await sleep(RETRY_MS);

    // Someone else writes the record, with the current resourceVersion as a rival elector would (again if a
    // renewal slipped in between our GET and PUT).
    let tBeforeWrite = 0;
    for (let i = 0; ; i++) {
      const cur = await getLease(kube, lease);
      tBeforeWrite = mono();
      const now = microTime(Date.now());
      try {
        await kube.request('PUT', leasePath(lease), {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: lease, namespace: NS, resourceVersion: cur.metadata.resourceVersion },
          spec: { holderIdentity: 'intruder', leaseDurationSeconds: 3, acquireTime: now, renewTime: now, leaseTransitions: 1 },
        });
        break;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409) || i >= 5) throw err;
      }
    }
    const tWrite = mono();
    const tAbort = await waitFor('a’s signal to fire', () => a.aborted.length === 1);
    console.log(`[leader] lease overwritten by another holder: leader stopped ${ms(tAbort - tWrite)} after the write (renew deadline ${RENEW_MS} ms)`);
    expect(tAbort - tWrite).toBeLessThan(RENEW_MS);
    expect(a.elector.isLeader()).toBe(false);
    expect(a.stopped).toHaveLength(1);
    expect(a.stopped[0]?.signalAborted).toBe(true);
    expect(a.leaders).toEqual(['a', 'intruder']);

    // The intruder never renews: a campaigns on and takes the lease back once it has expired.
    const tAgain = await waitFor('a to lead again', () => a.started.length === 2);
    console.log(`[leader] ...and led again ${ms(tAgain - tWrite)} after the write (lease ${LEASE_MS} ms)`);
    expect(tAgain - tBeforeWrite).toBeGreaterThanOrEqual(LEASE_MS);
    expect(tAgain - tWrite).toBeLessThan(LEASE_MS + RETRY_MS + SLACK_MS);
    expect((await getLease(kube, lease)).spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 2 });
  });

  it('a leader that cannot reach the API server stops leading within the renew deadline', async () => {
    const cp2 = await startControlPlane();
    try {
      const kube2 = new KubeClient(cp2.kubeConfig);
      // Times of successful lease writes, as seen by the client (the elector's requests report through this hook).
      const writes: Array<{ start: number; end: number }> = [];
      kube2.onRequest = (r) => {
        if ((r.method === 'PUT' || r.method === 'POST') && r.status >= 200 && r.status < 300 && r.path.includes('/leases')) {
          writes.push({ start: mono() - r.durationMs, end: mono() });
        }
      };
      const a = candidate(kube2, newLeaseName(), 'a');
      await waitFor('a to lead', () => a.elector.isLeader());
      await sleep(3 * RETRY_MS);
      expect(writes.length).toBeGreaterThanOrEqual(3);

      const tDown = mono();
      await cp2.stop();
      const tGone = mono();
      const tAbort = await waitFor('a’s signal to fire', () => a.aborted.length === 1);
      const last = writes.at(-1);
      if (last === undefined) throw new Error('no write');
      console.log(
        `[leader] API server stopped: leader stopped ${ms(tAbort - last.end)} after its last successful renewal ` +
          `(${ms(tAbort - tDown)} after cp.stop() began, which took ${ms(tGone - tDown)}; renew deadline ${RENEW_MS} ms, lease ${LEASE_MS} ms)`,
      );
      // The deadline counts from the start of the last successful attempt (plus timer lateness); a standby's view of
      // the lease runs from after that write, so stopping before start + leaseDuration is the safety property.
      expect(tAbort - last.start).toBeLessThan(RENEW_MS + 500);
      expect(tAbort - last.start).toBeLessThan(LEASE_MS);
      expect(a.stopped).toHaveLength(1);
      expect(a.logs.some((l) => l.includes('lost leadership'))).toBe(true);

      const t0 = mono();
      await a.elector.stop(); // campaigning against a dead server: returns promptly, nothing to release
      await a.run;
      console.log(`[leader] stop() with the API server down took ${ms(mono() - t0)}`);
      expect(a.stopped).toHaveLength(1);
    } finally {
      await cp2.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A candidate in its own Node process, so that it can die by SIGKILL without releasing anything.

const CHILD_SCRIPT = `
import { KubeConfig } from '@kubernetes/client-node';
const { KubeClient } = await import(process.env.LEADER_TEST_CLIENT);
const { LeaderElector } = await import(process.env.LEADER_TEST_LEADER);
const kc = new KubeConfig();
kc.loadFromFile(process.env.LEADER_TEST_KUBECONFIG);
const e = new LeaderElector({
  kube: new KubeClient(kc), namespace: 'default', name: process.env.LEADER_TEST_LEASE, identity: process.env.LEADER_TEST_IDENTITY,
  leaseDurationMs: ${LEASE_MS}, renewDeadlineMs: ${RENEW_MS}, retryPeriodMs: ${RETRY_MS},
  log: { info: (m) => console.error(m), warn: (m) => console.error(m) },
});
await e.run({ onStartedLeading() { console.log('LEADING'); }, onStoppedLeading() { console.log('STOPPED'); } });
`;

function spawnCandidate(kubeconfigPath: string, lease: string, identity: string): ChildProcess {
  const env = {
    ...process.env,
    LEADER_TEST_CLIENT: new URL('../../src/kube/client.ts', import.meta.url).href,
    LEADER_TEST_LEADER: new URL('../../src/runtime/leader.ts', import.meta.url).href,
    LEADER_TEST_KUBECONFIG: kubeconfigPath,
    LEADER_TEST_LEASE: lease,
    LEADER_TEST_IDENTITY: identity,
  };
  const cwd = new URL('../..', import.meta.url).pathname;
  const args = ['--input-type=module', '-e', CHILD_SCRIPT];
  // setpriv --pdeathsig: the kernel kills the child if this test process dies first.
  const setpriv = fs.existsSync('/usr/bin/setpriv') ? '/usr/bin/setpriv' : undefined;
  return setpriv
    ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function killChild(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
}

function waitForLine(child: ChildProcess, line: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`child did not print ${line} within ${timeoutMs} ms; stderr:\n${err}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code ?? sig}) before printing ${line}; stderr:\n${err}`));
    });
  });
}
