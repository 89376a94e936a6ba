// The VpnService custom resource (vpnaas.dev/v1alpha1): constants and zod schemas.
// crds/vpnaas.dev_vpnservices.yaml is the source of truth; test/admission proves this file agrees with it.
import { z } from 'zod';

import {
  API_VERSION,
  CloudCredentialsRef,
  Condition,
  ConditionStatus,
  DeletionPolicy,
  FINALIZER,
  GROUP,
  ObjectMeta,
  UUID_MESSAGE,
  VERSION,
  cloudName,
  objectKey,
  uuid,
} from './common.ts';

export { API_VERSION, CloudCredentialsRef, Condition, ConditionStatus, DeletionPolicy, FINALIZER, GROUP, ObjectMeta, UUID_MESSAGE, VERSION, cloudName, objectKey, uuid };

export const KIND = 'VpnService';
export const PLURAL = 'vpnservices';
/**
 * Written with the finalizer before any create: "this object may have POSTed a VPN service named <value>". After a
 * crash or a lost response, a service with that name on the router is the one this object created.
 */
export const CREATE_INTENT_ANNOTATION = 'vpnaas.dev/create-intent';

const NAME_RULE_MESSAGE =
  "metadata.name must be at most 64 characters when spec.name is not set (the cloud's name limit); set spec.name or use a shorter name";

export const VpnServiceSpec = z.object({
  routerId: uuid,
  subnetId: uuid.nullable().optional(),
  name: z.string().min(1).max(64).optional(),
  description: z.string().max(255).optional(),
  adminStateUp: z
    .literal(true, {
      error: 'only true is supported: the cloud does not allow a VPN service that is administratively down',
    })
    .default(true),
  tenantId: z.string().max(255).optional(),
  deletionPolicy: DeletionPolicy.default('Delete'),
  importId: uuid.optional(),
  cloudCredentialsRef: CloudCredentialsRef.optional(),
});
export type VpnServiceSpec = z.infer<typeof VpnServiceSpec>;

export const VpnServiceStatus = z.object({
  id: z.string().optional(),
  status: z.string().optional(),
  externalV4Ip: z.string().optional(),
  externalV6Ip: z.string().optional(),
  routerId: z.string().optional(),
  subnetId: z.string().optional(),
  tenantId: z.string().optional(),
  name: z.string().optional(),
  cloudEndpoint: z.string().optional(),
  observedGeneration: z.number().int().optional(),
  lastSyncTime: z.string().optional(),
  conditions: z.array(Condition).optional(),
});
export type VpnServiceStatus = z.infer<typeof VpnServiceStatus>;

/** A VpnService as the API server returns it (server-side defaults applied). */
export const VpnService = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    metadata: ObjectMeta,
    spec: VpnServiceSpec,
    status: VpnServiceStatus.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.spec.name === undefined && o.metadata.name.length > 64) {
      ctx.addIssue({
        code: 'custom',
        path: ['metadata', 'name'],
        message: NAME_RULE_MESSAGE,
      });
    }
  });
export type VpnService = z.infer<typeof VpnService>;

/** A manifest as a person writes it (before the API server fills in metadata). */
const Manifest = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(KIND),
    metadata: z.object({ name: z.string().min(1).max(253), namespace: z.string().optional() }),
    spec: VpnServiceSpec,
  })
  .superRefine((o, ctx) => {
    if (o.spec.name === undefined && o.metadata.name.length > 64) {
      ctx.addIssue({ code: 'custom', path: ['metadata', 'name'], message: NAME_RULE_MESSAGE });
    }
  });

export type ManifestVerdict = { ok: true; value: z.infer<typeof Manifest> } | { ok: false; paths: string[]; message: string };

/** Validates a manifest as the CRD's schema and rules do; on refusal gives the field paths, like the API server. */
export function validateManifest(obj: unknown): ManifestVerdict {
  const r = Manifest.safeParse(obj);
  if (r.success) return { ok: true, value: r.data };
  const paths = r.error.issues.map((i) => i.path.join('.'));
  return { ok: false, paths, message: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
}

/** The fields that may not change after creation, with the CRD's rule for each. */
export const IMMUTABLE_SPEC_FIELDS = ['routerId', 'subnetId', 'importId', 'cloudCredentialsRef'] as const;

/** Checks an update the way the CRD's transition rules do; returns the field paths that changed illegally. */
export function immutableViolations(oldSpec: VpnServiceSpec, newSpec: VpnServiceSpec): string[] {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  return IMMUTABLE_SPEC_FIELDS.filter((f) => !same(oldSpec[f], newSpec[f])).map(
    (f) => `spec.${f}`,
  );
}

