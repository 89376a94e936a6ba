// Request counters keyed by `METHOD TEMPLATE STATUS` and a bounded log of recent requests.

/** A status, or what happened instead of one: `reset` (connection dropped unanswered), `lost` (performed, then
 * the connection dropped), `hang` (performed, never answered), `aborted` (the client went away first). */
export type Outcome = number | 'reset' | 'lost' | 'hang' | 'aborted';

export interface RequestLogEntry {
  method: string;
  path: string;
  /** Route template, e.g. `/v2.0/vpn/vpnservices/{id}`; the path itself when no route matched. */
  route: string;
  status: Outcome;
  /** Epoch ms when the request arrived. */
  at: number;
  durationMs: number;
  requestId: string;
}

export interface CountFilter {
  method?: string;
  route?: string;
  status?: Outcome;
}

export class Counters {
  private readonly counts = new Map<string, { method: string; route: string; status: Outcome; n: number }>();
  private log: RequestLogEntry[] = [];
  private logStart = 0;
  private readonly logLimit: number;

  constructor(logLimit: number) {
    this.logLimit = logLimit;
  }

  record(e: RequestLogEntry): void {
    const key = `${e.method} ${e.route} ${e.status}`;
    const c = this.counts.get(key);
    if (c) c.n++;
    else this.counts.set(key, { method: e.method, route: e.route, status: e.status, n: 1 });
    if (this.logLimit <= 0) return;
    if (this.log.length < this.logLimit) this.log.push(e);
    else {
      this.log[this.logStart] = e;
      this.logStart = (this.logStart + 1) % this.logLimit;
    }
  }

  /** `{"POST /v2.0/vpn/vpnservices 201": 3, …}` */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.counts) out[k] = c.n;
    return out;
  }

  /** Sum of the counts matching every given part of the filter. */
  count(f: CountFilter = {}): number {
    let n = 0;
    for (const c of this.counts.values()) {
      if (f.method !== undefined && c.method !== f.method.toUpperCase()) continue;
      if (f.route !== undefined && c.route !== f.route) continue;
      if (f.status !== undefined && c.status !== f.status) continue;
      n += c.n;
    }
    return n;
  }

  /** Oldest first. */
  entries(): RequestLogEntry[] {
    return [...this.log.slice(this.logStart), ...this.log.slice(0, this.logStart)];
  }

  reset(): void {
    this.counts.clear();
    this.log = [];
    this.logStart = 0;
  }
}
