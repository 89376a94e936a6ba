import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_JITTER, WorkQueue, backoffDelay, runWorkers } from '../../src/controller/queue.ts';

const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Takes every ready key without waiting (the queue resolves ready keys immediately). */
async function takeReady(q: WorkQueue): Promise<string[]> {
  const out: string[] = [];
  while (q.len() > 0) {
    const k = await q.get();
    if (k === undefined) break;
    out.push(k);
  }
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    const d = [0, 1, 2, 3, 8, 9, 10].map((a) => backoffDelay(a, 1_000, 300_000));
    expect(d).toEqual([1_000, 2_000, 4_000, 8_000, 256_000, 300_000, 300_000]);
  });

  it('survives huge and odd attempt numbers', () => {
    expect(backoffDelay(5_000, 1_000, 60_000)).toBe(60_000);
    expect(backoffDelay(Number.POSITIVE_INFINITY, 1_000, 60_000)).toBe(1_000);
    expect(backoffDelay(-3, 1_000, 60_000)).toBe(1_000);
    expect(backoffDelay(2, 0, 60_000)).toBe(0);
  });

  it('spreads the delay downwards with jitter and never exceeds the cap', () => {
    expect(backoffDelay(3, 1_000, 300_000, 0.5, () => 0)).toBe(8_000);
    expect(backoffDelay(3, 1_000, 300_000, 0.5, () => 1)).toBe(4_000);
    expect(backoffDelay(3, 1_000, 300_000, 0.5, () => 0.5)).toBe(6_000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(20, 1_000, 300_000, 1);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(300_000);
    }
  });
});

describe('WorkQueue', () => {
  it('holds a waiting key once and keeps order', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('c');
    q.add('b');
    expect(q.len()).toBe(3);
    expect(await takeReady(q)).toEqual(['a', 'b', 'c']);
  });

  it('re-queues a key added while it is processed, on done, and not before', async () => {
    const q = new WorkQueue();
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(0); // not handed out while in flight
    q.done('a');
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.len()).toBe(0);
    q.done('a'); // done of a key not in flight is harmless
    expect(q.len()).toBe(0);
  });

  it('wakes a waiting get when a key arrives', async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.add('x');
    expect(await pending).toBe('x');
    q.add('x'); // in flight: marked dirty only
    expect(q.len()).toBe(0);
    q.done('x');
    expect(await q.get()).toBe('x');
  });

  it('never gives one key to two workers at once', async () => {
    const q = new WorkQueue();
    const keys = ['k0', 'k1', 'k2', 'k3'];
    const active = new Set<string>();
    let overlaps = 0;
    let runs = 0;
    const handle = runWorkers(q, 8, async (key) => {
      if (active.has(key)) overlaps++;
      active.add(key);
      runs++;
      await tick(Math.random() * 3);
      active.delete(key);
    });
    for (let round = 0; round < 50; round++) {
      for (const k of keys) q.add(k);
      await tick(Math.random() * 2);
    }
    while (q.len() > 0 || q.lenProcessing() > 0) await tick(5);
    await handle.stop();
    expect(overlaps).toBe(0);
    expect(runs).toBeGreaterThanOrEqual(keys.length);
    // Dedup: far fewer runs than adds.
    expect(runs).toBeLessThan(50 * keys.length);
  });

  it('addAfter delivers in due order and the earliest pending time wins', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    q.addAfter('late', 300);
    q.addAfter('early', 100);
    q.addAfter('mid', 200);
    q.addAfter('early', 250); // later than pending: ignored
    q.addAfter('late', 50); // earlier than pending: wins
    expect(q.lenDelayed()).toBe(3);
    expect(q.len()).toBe(0);

    await vi.advanceTimersByTimeAsync(49);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(await takeReady(q)).toEqual(['late']);
    await vi.advanceTimersByTimeAsync(50);
    expect(await takeReady(q)).toEqual(['early']);
    await vi.advanceTimersByTimeAsync(100);
    expect(await takeReady(q)).toEqual(['mid']);
    // The superseded 300 ms entry for 'late' and the 250 ms one for 'early' fire nothing.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(q.len()).toBe(0);
    expect(q.lenDelayed()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('uses one timer for many delayed keys', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    for (let i = 0; i < 10_000; i++) q.addAfter(`k${i}`, 1 + ((i * 7919) % 5_000));
    for (let i = 0; i < 10_000; i += 3) q.addAfter(`k${i}`, 1); // move a third earlier
    expect(vi.getTimerCount()).toBe(1);
    expect(q.lenDelayed()).toBe(10_000);
    await vi.advanceTimersByTimeAsync(5_001);
    expect(q.len()).toBe(10_000);
    expect(q.lenDelayed()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a delayed key that comes due while waiting is not queued twice', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    q.add('a');
    q.addAfter('a', 10);
    await vi.advanceTimersByTimeAsync(10);
    expect(q.len()).toBe(1);
  });

  it('addRateLimited backs off exponentially up to the cap; forget resets', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1_000, jitter: 0 });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      delays.push(q.addRateLimited('a'));
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await q.get()).toBe('a');
      q.done('a');
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(q.numRequeues('a')).toBe(6);
    expect(q.numRequeues('b')).toBe(0);

    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.addRateLimited('a')).toBe(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(q.len()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(q.len()).toBe(1);
    // A minimum delay (e.g. Retry-After) wins over a shorter backoff.
    expect(q.addRateLimited('b', 5_000)).toBe(5_000);
  });

  it('shutDown resolves waiting and later gets with undefined and ignores adds', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue();
    const w1 = q.get();
    const w2 = q.get();
    q.addAfter('d', 100);
    q.shutDown();
    expect(await w1).toBeUndefined();
    expect(await w2).toBeUndefined();
    q.add('a');
    q.addAfter('b', 1);
    q.addRateLimited('c');
    expect(await q.get()).toBeUndefined();
    expect(q.len()).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('drain waits for in-flight keys, or reports a timeout', async () => {
    const q = new WorkQueue();
    expect(await q.drain(10)).toBe(true);
    q.add('a');
    q.add('b');
    const a = await q.get();
    const b = await q.get();
    expect([a, b]).toEqual(['a', 'b']);
    q.shutDown();
    expect(await q.drain(5)).toBe(false);
    const drained = q.drain(5_000);
    q.done('a');
    await tick(1);
    q.done('b');
    expect(await drained).toBe(true);
  });
});

describe('addRateLimited jitter (default on)', () => {
  /** A seeded generator (mulberry32), so the table below is exact and reproducible. */
  function seeded(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it.each([
    // random draw r → delay d * (1 - 0.2 r) for attempts 0..5 of base 1 s, cap 10 s
    { name: 'r = 0: the plain exponential', random: () => 0, want: [1_000, 2_000, 4_000, 8_000, 10_000, 10_000] },
    { name: 'r = 0.5: 10 % shorter', random: () => 0.5, want: [900, 1_800, 3_600, 7_200, 9_000, 9_000] },
    { name: 'r = 1: 20 % shorter at most', random: () => 1, want: [800, 1_600, 3_200, 6_400, 8_000, 8_000] },
  ])('uses DEFAULT_JITTER (0.2) downwards: $name', ({ random, want }) => {
    expect(DEFAULT_JITTER).toBe(0.2);
    const q = new WorkQueue({ baseDelayMs: 1_000, maxDelayMs: 10_000, random });
    const got = want.map(() => q.addRateLimited('k'));
    got.forEach((d, i) => expect(d).toBeCloseTo(want[i] as number, 6));
    q.shutDown();
  });

  it('spreads keys that failed at the same moment (seeded), within [0.8 d, d], never above the cap', () => {
    const q = new WorkQueue({ baseDelayMs: 1_000, maxDelayMs: 10_000, random: seeded(42) });
    const first = Array.from({ length: 100 }, (_, i) => q.addRateLimited(`k${i}`));
    expect(Math.min(...first)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...first)).toBeLessThanOrEqual(1_000);
    expect(new Set(first.map((d) => Math.round(d))).size).toBeGreaterThan(50); // not one herd
    // The same seed gives the same delays.
    const again = new WorkQueue({ baseDelayMs: 1_000, maxDelayMs: 10_000, random: seeded(42) });
    expect(Array.from({ length: 100 }, (_, i) => again.addRateLimited(`k${i}`))).toEqual(first);
    for (let i = 0; i < 20; i++) expect(q.addRateLimited('k0')).toBeLessThanOrEqual(10_000);
    // A Retry-After minimum is not shortened by the jitter.
    expect(q.addRateLimited('r', 5_000)).toBe(5_000);
    q.shutDown();
    again.shutDown();
  });
});

describe('runWorkers', () => {
  it('forgets on success and re-queues after requeueAfterMs', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0 });
    const seen: string[] = [];
    const outcomes: string[] = [];
    const handle = runWorkers(
      q,
      2,
      async (key) => {
        seen.push(key);
        return seen.length === 1 ? { requeueAfterMs: 30_000 } : undefined;
      },
      { onReconcile: (_k, outcome) => outcomes.push(outcome) },
    );
    q.addRateLimited('a'); // a previous failure counted
    await vi.advanceTimersByTimeAsync(1_000);
    expect(seen).toEqual(['a']);
    expect(q.numRequeues('a')).toBe(0); // forgotten on success
    await vi.advanceTimersByTimeAsync(29_999);
    expect(seen).toEqual(['a']);
    await vi.advanceTimersByTimeAsync(1);
    expect(seen).toEqual(['a', 'a']);
    expect(outcomes).toEqual(['success', 'success']); // a scheduled requeue after a pass is a success
    await handle.stop();
  });

  it('retries a failing key with backoff, honouring retryAfterMs, and keeps other keys going', async () => {
    vi.useFakeTimers();
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 10_000, jitter: 0 });
    const calls: Array<[string, number]> = [];
    const retries: Array<[string, number, number]> = [];
    let failuresLeft = 3;
    const handle = runWorkers(
      q,
      1,
      async (key) => {
        calls.push([key, Date.now()]);
        if (key === 'bad' && failuresLeft-- > 0) {
          // The second failure carries a server's Retry-After of 5 s.
          throw Object.assign(new Error('cloud says no'), failuresLeft === 1 ? { retryAfterMs: 5_000 } : {});
        }
      },
      { onRetry: (key, attempt, delay) => retries.push([key, attempt, delay]) },
    );
    const t0 = Date.now();
    q.add('bad');
    q.add('good');
    await vi.advanceTimersByTimeAsync(20_000);
    await handle.stop();
    expect(calls.filter(([k]) => k === 'good')).toHaveLength(1);
    const bad = calls.filter(([k]) => k === 'bad').map(([, t]) => t - t0);
    expect(bad).toEqual([0, 100, 5_100, 5_500]);
    expect(retries).toEqual([
      ['bad', 1, 100],
      ['bad', 2, 5_000], // max(5 s, 200 ms)
      ['bad', 3, 400],
    ]);
    expect(q.numRequeues('bad')).toBe(0);
  });

  it('stop waits for in-flight reconciles, and a throwing hook does not kill a worker', async () => {
    const q = new WorkQueue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let finished = 0;
    const handle = runWorkers(
      q,
      3,
      async () => {
        await gate;
        finished++;
      },
      {
        onDepth: () => {
          throw new Error('metrics broke');
        },
      },
    );
    q.add('a');
    q.add('b');
    await tick(1);
    expect(q.lenProcessing()).toBe(2);
    let stopped = false;
    const stopping = handle.stop().then(() => (stopped = true));
    await tick(5);
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(2);
    expect(q.lenProcessing()).toBe(0);
  });
});
