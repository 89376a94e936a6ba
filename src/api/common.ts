// What every kind of vpnaas.dev/v1alpha1 shares: group and version, metadata, conditions, the core's spec fields
// (deletion policy, import, credentials), references between objects of a namespace.
import { z } from 'zod';

export const GROUP = 'vpnaas.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const FINALIZER = 'vpnaas.dev/cleanup';

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const UUID_MESSAGE = 'must be a UUID such as 1f0e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b';
export const uuid = z.string().max(36).regex(UUID_RE, UUID_MESSAGE);

export const DeletionPolicy = z.enum(['Delete', 'Orphan']);
export type DeletionPolicy = z.infer<typeof DeletionPolicy>;

// Names as Kubernetes validates them (k8s.io/apimachinery validation: IsDNS1123Subdomain, IsConfigMapKey). A name
// taken from an object ends up in a request path: it is checked here (zod) and at admission (the CRDs' CEL rules
// with the same patterns), and every path is built by src/kube/paths.ts, which refuses '.' and '..' segments.
export const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const DNS1123_SUBDOMAIN_MESSAGE =
  "must be a lower-case DNS-1123 subdomain: a-z, 0-9, '-' and '.', starting and ending with a letter or digit (the name of an object of this namespace)";
export const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
export const SECRET_KEY_MESSAGE = "must consist of letters, digits, '-', '_' or '.' (a key of the Secret's data)";
/** The name of an object of the namespace (a Secret, another vpnaas object). */
export const objectName = z.string().min(1).max(253).regex(new RegExp(DNS1123_SUBDOMAIN), DNS1123_SUBDOMAIN_MESSAGE);
/** A key of a Secret's data ('.' and '..' are not keys Kubernetes accepts). */
export const secretKey = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(SECRET_KEY), SECRET_KEY_MESSAGE)
  .refine((k) => k !== '.' && k !== '..', { message: SECRET_KEY_MESSAGE });

export const CloudCredentialsRef = z.object({
  secretName: objectName,
  cloudName: z.string().min(1).max(255),
});
export type CloudCredentialsRef = z.infer<typeof CloudCredentialsRef>;

export const ConditionStatus = z.enum(['True', 'False', 'Unknown']);
export const Condition = z.object({
  type: z.string(),
  status: ConditionStatus,
  reason: z.string(),
  message: z.string(),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string(),
});
export type Condition = z.infer<typeof Condition>;

export const ObjectMeta = z.object({
  name: z.string().min(1),
  namespace: z.string().min(1),
  uid: z.string(),
  resourceVersion: z.string(),
  generation: z.number().int(),
  creationTimestamp: z.string(),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** The spec fields the core acts on, in every kind. */
export const managedSpecFields = {
  deletionPolicy: DeletionPolicy.default('Delete'),
  importId: uuid.optional(),
  cloudCredentialsRef: CloudCredentialsRef.optional(),
};

/** The status fields the core writes, in every kind. */
export const managedStatusFields = {
  id: z.string().optional(),
  status: z.string().optional(),
  name: z.string().optional(),
  tenantId: z.string().optional(),
  cloudEndpoint: z.string().optional(),
  /** Cloud resources this object replaced and still has to delete once nothing uses them (EndpointGroup). */
  retiredIds: z.array(z.string()).optional(),
  observedGeneration: z.number().int().optional(),
  lastSyncTime: z.string().optional(),
  conditions: z.array(Condition).optional(),
};

/** A reference to another object of the same namespace, by name. */
export const LocalRef = z.object({ name: objectName });
export type LocalRef = z.infer<typeof LocalRef>;

/** A key of a Secret in the same namespace. */
export const SecretKeyRef = z.object({ name: objectName, key: secretKey.default('psk') });
export type SecretKeyRef = z.infer<typeof SecretKeyRef>;

/** Neutron's lifetime of a policy: {units: seconds, value >= 60}. */
export const Lifetime = z.object({
  units: z.enum(['seconds']).default('seconds'),
  value: z.number().int().min(60).max(2_147_483_647).default(3600),
});
export type Lifetime = z.infer<typeof Lifetime>;

export const AuthAlgorithm = z.enum(['sha1', 'sha256', 'sha384', 'sha512']);
export const EncryptionAlgorithm = z.enum(['3des', 'aes-128', 'aes-192', 'aes-256']);
export const Pfs = z.enum(['group2', 'group5', 'group14']);

/** The name a resource has in the cloud: spec.name, defaulting to metadata.name. */
export function cloudName(o: { metadata: { name: string }; spec: { name?: string | undefined } }): string {
  return o.spec.name ?? o.metadata.name;
}

export function objectKey(o: { metadata: { namespace: string; name: string } }): string {
  return `${o.metadata.namespace}/${o.metadata.name}`;
}

/** Builds the zod schema of a whole object of a kind (as the API server returns it). */
export function objectSchema<K extends string, S extends z.ZodTypeAny, T extends z.ZodTypeAny>(kind: K, spec: S, status: T) {
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: ObjectMeta,
    spec,
    status: status.optional(),
  });
}
