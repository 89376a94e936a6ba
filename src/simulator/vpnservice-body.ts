// The vpnservice request body as neutron-server checks it (`prepare_request_body`, src/simulator/body.ts), then
// the seed cloud's extra rules.
import { NeutronFault } from './http.ts';
import type { SimRequest } from './http.ts';
import type { SimState } from './state.ts';
import {
  badRequest,
  charCount,
  convertToBoolean,
  prepareResourceBody,
  validateString,
  validateUuid,
  validateUuidOrNone,
} from './body.ts';
import type { AttrSpec, AuthContext } from './body.ts';

export type { AuthContext } from './body.ts';
export { badRequest, charCount, convertToBoolean, isUuidLike } from './body.ts';

// The vpnservice attribute map, in Neutron's order (neutron-lib vpn definition + vpn-flavors + project_id).
export const ATTRS: Record<string, AttrSpec> = {
  id: { post: false, put: false },
  tenant_id: { post: true, put: false, validate: validateString(255) },
  name: { post: true, put: true, default: '', validate: validateString(255) },
  description: { post: true, put: true, default: '', validate: validateString(255) },
  subnet_id: { post: true, put: false, default: null, validate: validateUuidOrNone },
  router_id: { post: true, put: false, validate: validateUuid },
  admin_state_up: { post: true, put: true, default: true, convert: convertToBoolean },
  external_v4_ip: { post: false, put: false },
  external_v6_ip: { post: false, put: false },
  status: { post: false, put: false },
  flavor_id: { post: true, put: false, default: null, validate: validateUuidOrNone },
  project_id: { post: true, put: false, validate: validateString(255) },
};

export function serviceNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'VPNServiceNotFound', `VPNService ${id} could not be found`);
}
export function routerNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'RouterNotFound', `Router ${id} could not be found`);
}

/** `prepare_request_body` for one vpnservice: returns the resource dict, filled and converted. */
export function prepareBody(state: SimState, req: SimRequest, ctx: AuthContext, isCreate: boolean): Record<string, unknown> {
  const { dict, raw } = prepareResourceBody(state, req, ctx, isCreate, { singular: 'vpnservice', plural: 'vpnservices', attrs: ATTRS });
  if (state.seedRules) {
    if (typeof dict.name === 'string' && 'name' in raw) {
      if (dict.name.length === 0) throw badRequest("Invalid input for name. Reason: '' is too short, minimum length is 1.");
      if (charCount(dict.name) > 64) throw badRequest(`Invalid input for name. Reason: '${dict.name}' exceeds maximum length of 64.`);
    }
    if (dict.admin_state_up === false) throw badRequest('Invalid input for admin_state_up. Reason: only True is supported.');
  }
  return dict;
}
