// Bounds on what a cloud can make the operator read (issue 17): every cloud's answers are bounded per response,
// and every paginated listing per call, whatever the cloud sends (a tenant's cloud is a server the tenant may run).
// The numbers are sized on the benchmarks (README, "Operations"): a page of 1,000 objects is ~0.4 MB (VPN services)
// to ~1 MB (site connections), and a listing of 10,000 VPN services (bench/memory.ts) is 10 pages, ~4 MB.
import { CloudError } from './errors.ts';

export interface CloudLimits {
  /** The largest response body read, in bytes: a larger one is an error (ResponseTooLarge), not read further. */
  maxResponseBytes: number;
  /** Pages one listing call may read (following next links). */
  maxListPages: number;
  /** Objects one listing call may return. */
  maxListItems: number;
  /** Response bytes one listing call may read, all pages together. */
  maxListBytes: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: Readonly<CloudLimits> = {
  maxResponseBytes: 4 * MiB,
  maxListPages: 1_000,
  maxListItems: 50_000,
  maxListBytes: 32 * MiB,
};

/** The defaults with the given overrides (tests); each must be a positive integer. */
export function cloudLimits(given: Partial<CloudLimits> = {}): CloudLimits {
  const out = { ...DEFAULT_LIMITS, ...given };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`cloud limit ${k} must be a positive integer, not ${String(v)}`);
  }
  return out;
}

/** Bytes for messages: `4 MiB`, `1.5 KiB`, `900 bytes`. */
export function formatBytes(n: number): string {
  if (n >= MiB) return `${Number((n / MiB).toFixed(1))} MiB`;
  if (n >= 1024) return `${Number((n / 1024).toFixed(1))} KiB`;
  return `${n} bytes`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * The budget of one listing call: ask before each page (`beforePage`), account each page read (`afterPage`). Each
 * throws a CloudError `ListingTooLarge` (retryable: the cloud may shrink; nothing is written from a partial list)
 * naming the limit, instead of reading on.
 */
export class ListingBudget {
  readonly #limits: CloudLimits;
  readonly #route: string;
  #pages = 0;
  #items = 0;
  #bytes = 0;

  constructor(limits: CloudLimits, route: string) {
    this.#limits = limits;
    this.#route = route;
  }

  beforePage(): void {
    if (this.#pages >= this.#limits.maxListPages) {
      this.#fail(`the cloud still had a next page after ${count(this.#limits.maxListPages, 'page')} (${count(this.#items, 'object')}), the operator's limit per listing`);
    }
    this.#pages++;
  }

  afterPage(text: string, items: number): void {
    this.#bytes += Buffer.byteLength(text, 'utf8');
    this.#items += items;
    if (this.#items > this.#limits.maxListItems) {
      this.#fail(`more than ${count(this.#limits.maxListItems, 'object')} in ${count(this.#pages, 'page')}, the operator's limit per listing`);
    }
    if (this.#bytes > this.#limits.maxListBytes) {
      this.#fail(`more than ${formatBytes(this.#limits.maxListBytes)} in ${count(this.#pages, 'page')}, the operator's limit per listing`);
    }
  }

  #fail(what: string): never {
    throw new CloudError({
      status: 0,
      code: 'ListingTooLarge',
      cloudMessage: `listing stopped: ${what}`,
      method: 'GET',
      path: this.#route,
      kind: 'retryable',
    });
  }
}
