// EndpointGroup (vpnaas.dev/v1alpha1): a list of subnets (local side) or CIDRs (peer side) for IPsec site
// connections. Neutron never changes `type` or `endpoints` of a group: the operator replaces the group (a new one,
// the site connections pointed at it, then the old one deleted), so both may be edited in the spec.
import { z } from 'zod';
import { managedSpecFields, managedStatusFields, objectSchema } from './common.ts';

export const EG_KIND = 'EndpointGroup';
export const EG_PLURAL = 'endpointgroups';

export const EndpointGroupSpec = z.object({
  name: z.string().min(1).max(255).optional(),
  description: z.string().max(255).optional(),
  type: z.enum(['subnet', 'cidr']),
  /** Subnet IDs (type subnet) or CIDRs (type cidr). */
  endpoints: z.array(z.string().min(1).max(64)).min(1).max(100),
  tenantId: z.string().max(255).optional(),
  ...managedSpecFields,
});
export type EndpointGroupSpec = z.infer<typeof EndpointGroupSpec>;

export const EndpointGroupStatus = z.object({
  ...managedStatusFields,
  type: z.string().optional(),
  endpoints: z.array(z.string()).optional(),
});
export type EndpointGroupStatus = z.infer<typeof EndpointGroupStatus>;

export const EndpointGroup = objectSchema(EG_KIND, EndpointGroupSpec, EndpointGroupStatus);
export type EndpointGroup = z.infer<typeof EndpointGroup>;
