// What the adapters of the VPNaaS kinds other than VPN services share: reads that turn 404 into "gone", deletes
// that take 404 as done, candidates listed by name, and one bulk view per kind and cloud.
import { classify } from '../../cloud/errors.ts';
import type { CloudHandle } from '../../core/cloud.ts';
import { candidateNames, readIntent } from '../../core/intent.ts';
import type { ManagedObject } from '../../core/types.ts';
import { BulkView } from '../../core/view.ts';

/** The calls of one collection the adapters use (NeutronCollection has them). */
export interface CollectionApi<T> {
  get(id: string): Promise<T>;
  list(filters?: Record<string, string | undefined>): Promise<T[]>;
  delete(id: string): Promise<void>;
}

export async function getOrUndefined<T>(api: CollectionApi<T>, id: string): Promise<T | undefined> {
  try {
    return await api.get(id);
  } catch (err) {
    if (classify(err) === 'notFound') return undefined;
    throw err;
  }
}

export async function deleteIfExists<T>(api: CollectionApi<T>, id: string): Promise<void> {
  try {
    await api.delete(id);
  } catch (err) {
    if (classify(err) !== 'notFound') throw err;
  }
}

/** Resources named like any name this object's create intent (or its current name) may have used. */
export async function listByNames<T extends { id: string }>(api: CollectionApi<T>, obj: ManagedObject, current: string): Promise<T[]> {
  const names = [...candidateNames(readIntent(obj), current)];
  const out = new Map<string, T>();
  for (const name of names) for (const r of await api.list({ name })) out.set(r.id, r);
  return [...out.values()];
}

/** The bulk view of `kind` on this cloud (one per cloud handle). */
export function bulkView<T extends { id: string; status?: string | undefined }>(cloud: CloudHandle, kind: string, api: CollectionApi<T>): BulkView<T> {
  return cloud.view(`bulk:${kind}`, () => new BulkView<T>(() => api.list({})));
}

/** The adapter members that follow a kind through its bulk view. */
export function viewMembers<T extends { id: string; status?: string | undefined }>(kind: string, apiOf: (cloud: CloudHandle) => CollectionApi<T>) {
  const view = (cloud: CloudHandle) => bulkView(cloud, kind, apiOf(cloud));
  return {
    get: (cloud: CloudHandle, id: string) => getOrUndefined(apiOf(cloud), id),
    observe: (cloud: CloudHandle, id: string, notBefore: number) => view(cloud).observe(id, notBefore, (i) => getOrUndefined(apiOf(cloud), i)),
    delete: (cloud: CloudHandle, id: string) => deleteIfExists(apiOf(cloud), id),
    watchPending(cloud: CloudHandle, r: T, notify: () => void) {
      view(cloud).waitForChange(r.id, r.status, notify);
    },
    settle(cloud: CloudHandle, id: string, gone: boolean) {
      const v = view(cloud);
      v.stopWaiting(id);
      if (gone) v.forget(id);
    },
    remember(cloud: CloudHandle, r: T) {
      view(cloud).remember(r);
    },
  };
}

export function pending(status: string | undefined): boolean {
  return status !== undefined && status.startsWith('PENDING_');
}
