// IKEPolicy and IPsecPolicy (vpnaas.dev/v1alpha1): Neutron's fields, allowed values and defaults
// (neutron_lib.api.definitions.vpn). crds/vpnaas.dev_ikepolicies.yaml and _ipsecpolicies.yaml are the source of
// truth for admission; test/admission proves these schemas agree with them.
import { z } from 'zod';
import { AuthAlgorithm, EncryptionAlgorithm, Lifetime, Pfs, managedSpecFields, managedStatusFields, objectSchema } from './common.ts';

const common = {
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(255).optional(),
  authAlgorithm: AuthAlgorithm.default('sha1'),
  encryptionAlgorithm: EncryptionAlgorithm.default('aes-128'),
  pfs: Pfs.default('group5'),
  lifetime: Lifetime.default({ units: 'seconds', value: 3600 }),
  tenantId: z.string().max(255).optional(),
  ...managedSpecFields,
};

export const IKE_KIND = 'IKEPolicy';
export const IKE_PLURAL = 'ikepolicies';
export const IKEPolicySpec = z.object({
  ...common,
  ikeVersion: z.enum(['v1', 'v2']).default('v1'),
  phase1NegotiationMode: z.enum(['main', 'aggressive']).default('main'),
});
export type IKEPolicySpec = z.infer<typeof IKEPolicySpec>;

export const PolicyStatus = z.object({ ...managedStatusFields });
export type PolicyStatus = z.infer<typeof PolicyStatus>;

export const IKEPolicy = objectSchema(IKE_KIND, IKEPolicySpec, PolicyStatus);
export type IKEPolicy = z.infer<typeof IKEPolicy>;

export const IPSEC_KIND = 'IPsecPolicy';
export const IPSEC_PLURAL = 'ipsecpolicies';
export const IPsecPolicySpec = z.object({
  ...common,
  transformProtocol: z.enum(['esp', 'ah', 'ah-esp']).default('esp'),
  encapsulationMode: z.enum(['tunnel', 'transport']).default('tunnel'),
});
export type IPsecPolicySpec = z.infer<typeof IPsecPolicySpec>;

export const IPsecPolicy = objectSchema(IPSEC_KIND, IPsecPolicySpec, PolicyStatus);
export type IPsecPolicy = z.infer<typeof IPsecPolicy>;
