// The IKEPolicy and IPsecPolicy adapters. Neutron updates every field of a policy in place (PUT), but not while an
// IPsec site connection uses it (409 IKEPolicyInUse / IPsecPolicyInUse: the core shows UpdateBlocked).
import { cloudName } from '../../api/common.ts';
import type { IKEPolicy, IPsecPolicy, PolicyStatus } from '../../api/policies.ts';
import type { IkePolicy, IkePolicyFields, IpsecPolicy, IpsecPolicyFields } from '../../cloud/vpnaas.ts';
import type { ResourceAdapter } from '../../core/adapter.ts';
import { listByNames, viewMembers } from '../shared/collection.ts';

type CommonSpec = IKEPolicy['spec'] | IPsecPolicy['spec'];
type CommonCloud = IkePolicy | IpsecPolicy;

function commonFields(obj: { metadata: { name: string }; spec: CommonSpec }) {
  const s = obj.spec;
  return {
    name: cloudName(obj),
    ...(s.description !== undefined ? { description: s.description } : {}),
    auth_algorithm: s.authAlgorithm,
    encryption_algorithm: s.encryptionAlgorithm,
    pfs: s.pfs,
    lifetime: { units: s.lifetime.units, value: s.lifetime.value },
  };
}

/** The fields of `want` whose value differs in `have` (lifetime compared by value). */
function diff<W extends Record<string, unknown>>(want: W, have: Record<string, unknown>): Partial<W> | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(v) !== JSON.stringify(have[k])) out[k] = v;
  }
  return Object.keys(out).length ? (out as Partial<W>) : undefined;
}

function observed(r: CommonCloud, endpoint: string): PolicyStatus {
  const st: PolicyStatus = { id: r.id, name: r.name, cloudEndpoint: endpoint };
  const tenant = r.tenant_id ?? r.project_id;
  if (tenant) st.tenantId = tenant;
  return st;
}

export const ikePolicyAdapter: ResourceAdapter<IKEPolicy, IkePolicy, IkePolicyFields> = {
  kind: 'IKEPolicy',
  noun: 'IKE policy',
  cloudName,
  busy: () => false,
  ...viewMembers<IkePolicy>('ikepolicies', (c) => c.cloud.ikePolicies),
  listCandidates: (cloud, obj) => listByNames(cloud.cloud.ikePolicies, obj, cloudName(obj)),
  isOurs: (_obj, r, names) => names.has(r.name),
  importProblem: () => undefined,
  create(cloud, obj) {
    return cloud.cloud.ikePolicies.create({
      ...commonFields(obj),
      ike_version: obj.spec.ikeVersion,
      phase1_negotiation_mode: obj.spec.phase1NegotiationMode,
      ...(obj.spec.tenantId !== undefined ? { tenant_id: obj.spec.tenantId } : {}),
    });
  },
  wantedUpdate(obj, r) {
    return diff({ ...commonFields(obj), ike_version: obj.spec.ikeVersion, phase1_negotiation_mode: obj.spec.phase1NegotiationMode }, r);
  },
  updateFields: (p) => Object.keys(p),
  update: (cloud, id, patch) => cloud.cloud.ikePolicies.update(id, patch),
  observedStatus: observed,
  outcome: (r) => ({ reason: 'Active', message: `IKE policy ${r.id} exists in the cloud (${r.ike_version}, ${r.encryption_algorithm}, ${r.auth_algorithm}, ${r.pfs}).` }),
};

export const ipsecPolicyAdapter: ResourceAdapter<IPsecPolicy, IpsecPolicy, IpsecPolicyFields> = {
  kind: 'IPsecPolicy',
  noun: 'IPsec policy',
  cloudName,
  busy: () => false,
  ...viewMembers<IpsecPolicy>('ipsecpolicies', (c) => c.cloud.ipsecPolicies),
  listCandidates: (cloud, obj) => listByNames(cloud.cloud.ipsecPolicies, obj, cloudName(obj)),
  isOurs: (_obj, r, names) => names.has(r.name),
  importProblem: () => undefined,
  create(cloud, obj) {
    return cloud.cloud.ipsecPolicies.create({
      ...commonFields(obj),
      transform_protocol: obj.spec.transformProtocol,
      encapsulation_mode: obj.spec.encapsulationMode,
      ...(obj.spec.tenantId !== undefined ? { tenant_id: obj.spec.tenantId } : {}),
    });
  },
  wantedUpdate(obj, r) {
    return diff({ ...commonFields(obj), transform_protocol: obj.spec.transformProtocol, encapsulation_mode: obj.spec.encapsulationMode }, r);
  },
  updateFields: (p) => Object.keys(p),
  update: (cloud, id, patch) => cloud.cloud.ipsecPolicies.update(id, patch),
  observedStatus: observed,
  outcome: (r) => ({ reason: 'Active', message: `IPsec policy ${r.id} exists in the cloud (${r.transform_protocol}, ${r.encryption_algorithm}, ${r.auth_algorithm}, ${r.pfs}).` }),
};
