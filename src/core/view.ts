// A bulk view of one kind of cloud resource: a snapshot of all of them, refreshed by one paginated LIST shared by
// every reconcile that needs news. Following 1,000 site connections costs one LIST round (a few pages) per poll,
// not 1,000 GETs. (The VPN service view, src/kinds/vpnservice/view.ts, adds a per-router index.)
export interface BulkSnapshot<T> {
  /** When the LIST that produced this snapshot started (ms since the epoch). */
  startedAt: number;
  byId: Map<string, T>;
}

export class BulkView<T extends { id: string; status?: string | undefined }> {
  private readonly listAll: () => Promise<T[]>;
  private readonly now: () => number;
  private current: BulkSnapshot<T> | undefined;
  private inflight: { startedAt: number; promise: Promise<BulkSnapshot<T>> } | undefined;
  private readonly waiters = new Map<string, { status: string | undefined; notify: () => void }>();
  /** Number of LIST rounds made. */
  rounds = 0;

  constructor(listAll: () => Promise<T[]>, now: () => number = Date.now) {
    this.listAll = listAll;
    this.now = now;
  }

  /** A snapshot whose LIST started at or after `notBefore`; concurrent callers share one LIST. */
  async fresh(notBefore: number): Promise<BulkSnapshot<T>> {
    for (;;) {
      if (this.current && this.current.startedAt >= notBefore) return this.current;
      const running = this.inflight;
      if (running) {
        if (running.startedAt >= notBefore) return running.promise;
        await running.promise.catch(() => undefined);
        continue;
      }
      return this.startRound();
    }
  }

  /** The resource from a snapshot no older than notBefore, confirmed by `get` before answering "gone". */
  async observe(id: string, notBefore: number, get: (id: string) => Promise<T | undefined>): Promise<{ resource: T | undefined; readAt: number }> {
    const snap = await this.fresh(notBefore);
    const seen = snap.byId.get(id);
    if (seen) return { resource: seen, readAt: snap.startedAt };
    const r = await get(id);
    if (r) this.remember(r);
    return { resource: r, readAt: snap.startedAt };
  }

  /** Calls `notify` once, after the first LIST round in which `id` no longer shows `status` (changed or gone). */
  waitForChange(id: string, status: string | undefined, notify: () => void): void {
    this.waiters.set(id, { status, notify });
  }

  stopWaiting(id: string): void {
    this.waiters.delete(id);
  }

  /** Records what our own write returned, so an older snapshot does not contradict it. */
  remember(r: T): void {
    this.current?.byId.set(r.id, r);
  }

  forget(id: string): void {
    this.current?.byId.delete(id);
  }

  private startRound(): Promise<BulkSnapshot<T>> {
    const startedAt = this.now();
    const promise = (async () => {
      const all = await this.listAll();
      this.rounds++;
      const snap: BulkSnapshot<T> = { startedAt, byId: new Map(all.map((r) => [r.id, r])) };
      if (!this.current || this.current.startedAt <= startedAt) this.current = snap;
      for (const [id, w] of this.waiters) {
        if (snap.byId.get(id)?.status === w.status) continue;
        this.waiters.delete(id);
        w.notify();
      }
      return snap;
    })();
    this.inflight = { startedAt, promise };
    const clear = () => {
      if (this.inflight?.promise === promise) this.inflight = undefined;
    };
    promise.then(clear, clear);
    return promise;
  }
}
