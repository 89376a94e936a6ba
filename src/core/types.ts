// The shape every managed kind shares: Kubernetes metadata, the spec fields the core acts on (deletion policy,
// import, credentials) and the status fields it writes (cloud id and status, endpoint, conditions).
import type { CloudCredentialsRef, Condition, DeletionPolicy, ObjectMeta } from '../api/common.ts';
import type { Outcome, Reason } from './conditions.ts';

export type { Outcome, Reason };

export interface ManagedSpec {
  deletionPolicy: DeletionPolicy;
  importId?: string | undefined;
  cloudCredentialsRef?: CloudCredentialsRef | undefined;
}

export interface ManagedStatus {
  id?: string | undefined;
  status?: string | undefined;
  cloudEndpoint?: string | undefined;
  /** Cloud resources this object replaced and still has to delete once nothing uses them. */
  retiredIds?: string[] | undefined;
  observedGeneration?: number | undefined;
  lastSyncTime?: string | undefined;
  conditions?: Condition[] | undefined;
}

export interface ManagedObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ManagedSpec;
  status?: ManagedStatus | undefined;
}

export function objectKey(o: { metadata: { namespace: string; name: string } }): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}
