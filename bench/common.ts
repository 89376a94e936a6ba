// Shared by the benchmarks.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Simulator } from '../src/simulator/index.ts';

/** Runs fn over items, at most n at a time. */
export async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** VmRSS and VmHWM (peak) of a process, in MB (0 when it is gone). */
export function memOf(pid: number | undefined): { rss: number; hwm: number } {
  if (!pid) return { rss: 0, hwm: 0 };
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
    return { rss: Math.round(kb('VmRSS') / 102.4) / 10, hwm: Math.round(kb('VmHWM') / 102.4) / 10 };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/** A router with an external gateway in the simulator, for object number i. */
export function addRouter(sim: Simulator, i: number): string {
  const id = randomUUID();
  sim.addRouter({ id, gatewayV4: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` });
  return id;
}
