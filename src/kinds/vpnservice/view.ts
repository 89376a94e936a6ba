// What one cloud holds, read in bulk: a snapshot of all VPN services of the project, refreshed by a paginated
// LIST that is shared by every reconcile waiting for news. Following 1,000 PENDING_CREATE services to ACTIVE
// costs one LIST (a few pages) per poll round, not 1,000 GETs.
import type { VpnService as CloudVpn } from '../../cloud/vpnservices.ts';

/** The calls the view needs (the VPN service client has them). */
export interface VpnApi {
  list(filter: { routerId?: string }): Promise<CloudVpn[]>;
}

export interface Snapshot {
  /** When the LIST that produced this snapshot started (ms since the epoch). */
  startedAt: number;
  byId: Map<string, CloudVpn>;
  byRouter: Map<string, CloudVpn[]>;
}

export class CloudView {
  private readonly api: VpnApi;
  private readonly now: () => number;
  private current: Snapshot | undefined;
  private inflight: { startedAt: number; promise: Promise<Snapshot> } | undefined;
  /** Number of LIST rounds made. */
  rounds = 0;
  /** Services somebody waits on to leave a status: id -> the status seen and whom to tell. */
  private readonly waiters = new Map<string, { status: string; notify: () => void }>();

  constructor(api: VpnApi, now: () => number = Date.now) {
    this.api = api;
    this.now = now;
  }

  /**
   * A snapshot whose LIST started at or after `notBefore`. Callers that arrive while a suitable LIST is running
   * share it; callers that need something newer wait for the running one and share the next.
   */
  async fresh(notBefore: number): Promise<Snapshot> {
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

  /**
   * Calls `notify` once, after the first LIST round in which service `id` no longer shows `status` (changed or
   * gone). A poll round made for one object thus wakes every object whose service moved, instead of each finding
   * out at its own next poll. One waiter per id: a later call replaces the earlier one.
   */
  waitForChange(id: string, status: string, notify: () => void): void {
    this.waiters.set(id, { status, notify });
  }

  /** Drops the waiter of `id`, if any. */
  stopWaiting(id: string): void {
    this.waiters.delete(id);
  }

  /** The last snapshot, however old (undefined before the first LIST). */
  last(): Snapshot | undefined {
    return this.current;
  }

  /** Records what our own write returned, so a snapshot taken before it does not contradict it. */
  remember(svc: CloudVpn): void {
    const s = this.current;
    if (!s) return;
    this.forget(svc.id);
    s.byId.set(svc.id, svc);
    const list = s.byRouter.get(svc.router_id) ?? [];
    list.push(svc);
    s.byRouter.set(svc.router_id, list);
  }

  forget(id: string): void {
    const s = this.current;
    const old = s?.byId.get(id);
    if (!s || !old) return;
    s.byId.delete(id);
    const list = (s.byRouter.get(old.router_id) ?? []).filter((v) => v.id !== id);
    if (list.length) s.byRouter.set(old.router_id, list);
    else s.byRouter.delete(old.router_id);
  }

  private startRound(): Promise<Snapshot> {
    const startedAt = this.now();
    const promise = (async () => {
      const all = await this.api.list({});
      this.rounds++;
      const snap: Snapshot = { startedAt, byId: new Map(), byRouter: new Map() };
      for (const v of all) {
        snap.byId.set(v.id, v);
        const list = snap.byRouter.get(v.router_id);
        if (list) list.push(v);
        else snap.byRouter.set(v.router_id, [v]);
      }
      if (!this.current || this.current.startedAt <= startedAt) this.current = snap;
      this.notifyWaiters(snap);
      return snap;
    })();
    this.inflight = { startedAt, promise };
    promise.then(
      () => this.clear(promise),
      () => this.clear(promise),
    );
    return promise;
  }

  private notifyWaiters(snap: Snapshot): void {
    for (const [id, w] of this.waiters) {
      if (snap.byId.get(id)?.status === w.status) continue;
      this.waiters.delete(id);
      w.notify();
    }
  }

  private clear(p: Promise<Snapshot>): void {
    if (this.inflight?.promise === p) this.inflight = undefined;
  }
}
