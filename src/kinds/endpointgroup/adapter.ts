// The EndpointGroup adapter. Neutron changes only the name and description of a group; a change of `type` or
// `endpoints` replaces the group, new one first: site connections move to it (they follow the new id), then the
// old one is deleted by the core once none uses it (terraform-provider-openstack #906 fails here).
import { cloudName } from '../../api/common.ts';
import type { EndpointGroup, EndpointGroupStatus } from '../../api/endpointgroup.ts';
import type { EndpointGroup as CloudGroup, UpdateEndpointGroupRequest } from '../../cloud/vpnaas.ts';
import type { ResourceAdapter } from '../../core/adapter.ts';
import { listByNames, viewMembers } from '../shared/collection.ts';

/** Endpoints compared as sets, CIDRs and UUIDs in lower case. */
function sameEndpoints(a: readonly string[], b: readonly string[]): boolean {
  const norm = (l: readonly string[]) => [...new Set(l.map((e) => e.toLowerCase()))].sort().join(',');
  return norm(a) === norm(b);
}

export const endpointGroupAdapter: ResourceAdapter<EndpointGroup, CloudGroup, UpdateEndpointGroupRequest> = {
  kind: 'EndpointGroup',
  noun: 'endpoint group',
  cloudName,
  busy: () => false,
  ...viewMembers<CloudGroup>('endpointgroups', (c) => c.cloud.endpointGroups),
  listCandidates: (cloud, obj) => listByNames(cloud.cloud.endpointGroups, obj, cloudName(obj)),
  isOurs: (obj, r, names) => names.has(r.name) && r.type === obj.spec.type && sameEndpoints(r.endpoints, obj.spec.endpoints),
  importProblem(obj, r) {
    if (r.type !== obj.spec.type) return `spec.importId ${r.id} is an endpoint group of type ${r.type}, not ${obj.spec.type}. Set spec.type: ${r.type} to import it.`;
    return undefined;
  },
  create(cloud, obj) {
    return cloud.cloud.endpointGroups.create({
      name: cloudName(obj),
      ...(obj.spec.description !== undefined ? { description: obj.spec.description } : {}),
      type: obj.spec.type,
      endpoints: [...obj.spec.endpoints],
      ...(obj.spec.tenantId !== undefined ? { tenant_id: obj.spec.tenantId } : {}),
    });
  },
  replaceReason(obj, r) {
    if (r.type !== obj.spec.type) return `spec.type changed from ${r.type} to ${obj.spec.type}`;
    if (!sameEndpoints(r.endpoints, obj.spec.endpoints)) return `spec.endpoints changed from [${r.endpoints.join(', ')}] to [${obj.spec.endpoints.join(', ')}]`;
    return undefined;
  },
  replaceOrder: 'createFirst',
  wantedUpdate(obj, r) {
    const patch: UpdateEndpointGroupRequest = {};
    const name = cloudName(obj);
    if (r.name !== name) patch.name = name;
    if (obj.spec.description !== undefined && r.description !== obj.spec.description) patch.description = obj.spec.description;
    return Object.keys(patch).length ? patch : undefined;
  },
  updateFields: (p) => Object.keys(p),
  update: (cloud, id, patch) => cloud.cloud.endpointGroups.update(id, patch),
  observedStatus(r, endpoint): EndpointGroupStatus {
    const st: EndpointGroupStatus = { id: r.id, name: r.name, cloudEndpoint: endpoint, type: r.type, endpoints: [...r.endpoints] };
    const tenant = r.tenant_id ?? r.project_id;
    if (tenant) st.tenantId = tenant;
    return st;
  },
  outcome: (r) => ({ reason: 'Active', message: `Endpoint group ${r.id} (${r.type}: ${r.endpoints.join(', ')}) exists in the cloud.` }),
};
