// What the generic resource core needs from one kind: an adapter that knows only its cloud resource. The core
// (./reconciler.ts) owns everything else: finalizer, create intent, adoption after a crash, import, deletion
// policy, claims, dependencies and deletion guards, retry classes, conditions, events and status writes.
//
// Contracts are stated in MUST/SHOULD words; the crash-safety argument rests on them.
import type { CloudHandle } from './cloud.ts';
import type { Ref } from './deps.ts';
import type { ManagedObject, Outcome } from './types.ts';

/** A resource as the cloud shows it: at least an id and the cloud's status string. */
export interface CloudResource {
  id: string;
  status?: string | undefined;
  name?: string | undefined;
}

/** An exclusive scope: at most one object may own it per cloud (VpnService: one VPN service per router). */
export interface ExclusivePolicy<O extends ManagedObject, R extends CloudResource> {
  /** What the scope is called in messages ("router"). */
  noun: string;
  /** The scope of an object, canonical (lower case). MUST depend only on immutable spec fields. */
  scopeOf(obj: O): string;
  /** The scope of a cloud resource, canonical. */
  scopeOfResource(r: R): string;
  /**
   * Whether this object's credentials can see the scope in the cloud (e.g. GET the router). An object that cannot
   * see it is not a claimant and blocks nobody. Returns undefined when visible, else what to tell the user.
   */
  visible(cloud: CloudHandle, obj: O): Promise<Outcome | undefined>;
  /** The same verdict from a refused create (e.g. 404 RouterNotFound): the outcome to show, or undefined. */
  refusedAsInvisible(obj: O, err: unknown): Outcome | undefined;
}

/** What an object's create and updates take from outside its spec: references' cloud ids and Secret values. */
export interface Inputs {
  /** Cloud ids of the references that resolved, by Ref.field (all of them before a create). */
  ids: Readonly<Record<string, string>>;
  /** Secret values by SecretInput.field. They MUST NOT reach a log line, event, status, error or metric. */
  secrets: Readonly<Record<string, string>>;
  /** resourceVersion of the Secret each value came from, by field (to show which version was applied). */
  secretVersions: Readonly<Record<string, string>>;
}

export const NO_INPUTS: Inputs = { ids: {}, secrets: {}, secretVersions: {} };

/** A value the object takes from a key of a Secret in its namespace (an IPsec site connection's PSK). */
export interface SecretInput {
  field: string;
  name: string;
  key: string;
}

export interface ResourceAdapter<O extends ManagedObject, R extends CloudResource, P> {
  /** The kind, as in `kind:` (VpnService). */
  kind: string;
  /** What the cloud resource is called in messages ("VPN service"). */
  noun: string;

  /** The name this object's resource has (or gets) in the cloud. */
  cloudName(obj: O): string;

  /** Whether the cloud is still working on the resource (PENDING_*, BUILD): updates wait, status is polled. */
  busy(status: string | undefined): boolean;

  /**
   * The resource with this id, read fresh. MUST return undefined when the cloud says it does not exist (404) and
   * throw for any other failure (a failed read is never taken for "gone").
   */
  get(cloud: CloudHandle, id: string): Promise<R | undefined>;

  /**
   * The resource with this id from a bulk view no older than `notBefore` (ms since the epoch), so that following
   * many resources costs O(pages) calls. SHOULD confirm with get() before answering undefined.
   */
  observe(cloud: CloudHandle, id: string, notBefore: number): Promise<{ resource: R | undefined; readAt: number }>;

  /**
   * Cloud resources this object may have created, read fresh: called immediately before every create, and when
   * deleting an object that has an intent but no confirmed id. OpenStack does not prevent duplicate names, so the
   * core matches them with `isOurs`. MUST list at least every resource `create` could have made for this object.
   */
  listCandidates(cloud: CloudHandle, obj: O): Promise<R[]>;

  /** Whether `r` is the resource a create of this object (under one of `names`) made. */
  isOurs(obj: O, r: R, names: ReadonlySet<string>): boolean;

  /** For spec.importId: why `r` cannot be adopted by this object (undefined: it can). */
  importProblem(obj: O, r: R): string | undefined;

  /**
   * Creates the resource. Called only after the create intent is stored and the claims re-checked, at most once per
   * intent. MUST NOT perform any action which can fail after the cloud created the resource: the core records the
   * id; a crash or lost response after the cloud acted is recovered by listCandidates + isOurs.
   */
  create(cloud: CloudHandle, obj: O, inputs: Inputs): Promise<R>;

  /** What must change in the cloud for `r` to match the spec and inputs (undefined: nothing). */
  wantedUpdate(obj: O, r: R, inputs: Inputs): P | undefined;

  /**
   * Why `r` cannot be made to match in place (fields the cloud never updates), or undefined. The core then
   * replaces it, in `replaceOrder`: 'deleteFirst' (default: delete, then create) or 'createFirst' (create the new
   * one, let dependents move to it, delete the old one once no dependent uses it: see usedIds).
   */
  replaceReason?(obj: O, r: R, inputs: Inputs): string | undefined;
  replaceOrder?: 'createFirst' | 'deleteFirst';
  /** Cloud ids of other resources this object's resource uses now (from its status), for createFirst targets. */
  usedIds?(obj: O): string[];
  /** Values taken from Secrets, read fresh before every create and update. */
  secretInputs?(obj: O): SecretInput[];
  /** Why a Secret value cannot be used (the cloud's rules), or undefined. MUST NOT quote the value. */
  checkSecret?(field: string, value: string): string | undefined;
  /** How often a settled resource is re-read (default: the reconciler's resyncMs), e.g. a tunnel's state. */
  followMs?: number;
  /** Field names of an update, for events and messages. */
  updateFields(patch: P): string[];
  /** Applies an update (PUT). A 404 MUST be thrown as a CloudError classified notFound (the core recreates). */
  update(cloud: CloudHandle, id: string, patch: P): Promise<R>;

  /** Deletes the resource. SHOULD NOT throw when it no longer exists (404). */
  delete(cloud: CloudHandle, id: string): Promise<void>;

  /** The status fields that mirror the cloud's view of `r`. */
  observedStatus(r: R, endpoint: string, inputs: Inputs): NonNullable<O['status']>;
  /** The Ready outcome of a resource that exists and matches the spec. */
  outcome(r: R): Outcome;

  /** Optional exclusive scope (claims). */
  exclusive?: ExclusivePolicy<O, R>;

  /**
   * Other objects of the namespace this one depends on (Secrets are handled by the core). The core waits until each
   * is Ready, gives their cloud ids to create() by field, and keeps a target from being deleted in the cloud while
   * dependents exist. MUST depend only on the spec.
   */
  references?(obj: O): Ref[];

  /** Tells the bulk view to wake `notify` when `r` leaves its current status (see CloudView.waitForChange). */
  watchPending?(cloud: CloudHandle, r: R, notify: () => void): void;
  /** Drops what the adapter's caches hold about `id` (after a delete or when settled). */
  settle?(cloud: CloudHandle, id: string, gone: boolean): void;
  /** Records what a write returned in the adapter's bulk view. */
  remember?(cloud: CloudHandle, r: R): void;
}
