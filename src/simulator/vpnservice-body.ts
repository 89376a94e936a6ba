// The vpnservice request body as neutron-server checks it (`prepare_request_body`): body → project info →
// unknown attributes → required and read-only attributes → value validation, with its messages and types; then
// the seed cloud's extra rules.
import { isRecord, NeutronFault, pyStr } from './http.ts';
import type { SimRequest } from './http.ts';
import type { SimState } from './state.ts';

export interface AuthContext {
  projectId: string | null;
  admin: boolean;
}

interface AttrSpec {
  post: boolean;
  put: boolean;
  /** Absent: required on POST. */
  default?: unknown;
  validate?: (v: unknown) => string | undefined;
  convert?: (v: unknown) => unknown;
}

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export function isUuidLike(v: unknown): boolean {
  return typeof v === 'string' && UUID_RE.test(v.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1'));
}
const validateUuid = (v: unknown) => (isUuidLike(v) ? undefined : `'${pyStr(v)}' is not a valid UUID`);
const validateUuidOrNone = (v: unknown) => (v === null ? undefined : validateUuid(v));
/** A string's length as Python's `len` (Neutron) and the API server's `maxLength` count it: Unicode code points,
 * not UTF-16 code units (an emoji is one character, not two). */
export function charCount(v: string): number {
  let n = 0;
  for (const _ of v) n++;
  return n;
}
const validateString = (max: number) => (v: unknown) => {
  if (typeof v !== 'string') return `'${pyStr(v)}' is not a valid string`;
  if (charCount(v) > max) return `'${v}' exceeds maximum length of ${max}`;
  return undefined;
};
export function convertToBoolean(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const l = v.toLowerCase();
    if (l === 'true' || l === '1') return true;
    if (l === 'false' || l === '0') return false;
  }
  if (v === 0 || v === 1) return v === 1;
  throw new NeutronFault(400, 'InvalidInput', `Invalid input for operation: '${pyStr(v)}' cannot be converted to boolean.`);
}

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
const ATTR_NAMES = Object.keys(ATTRS);

export function badRequest(message: string): NeutronFault {
  return new NeutronFault(400, 'HTTPBadRequest', message);
}
export function serviceNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'VPNServiceNotFound', `VPNService ${id} could not be found`);
}
export function routerNotFound(id: string): NeutronFault {
  return new NeutronFault(404, 'RouterNotFound', `Router ${id} could not be found`);
}

/** The JSON body as neutron-server's deserializer sees it: undefined when empty. */
function parseJson(req: SimRequest): unknown {
  const text = req.body.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new NeutronFault(400, 'MalformedRequestBody', 'Malformed request body: Cannot understand JSON.');
  }
}

/** `prepare_request_body` for one vpnservice: returns the resource dict, filled and converted. */
export function prepareBody(state: SimState, req: SimRequest, ctx: AuthContext, isCreate: boolean): Record<string, unknown> {
  const body = parseJson(req);
  if (body === undefined || body === null || body === false || (isRecord(body) && Object.keys(body).length === 0))
    throw badRequest('Resource body required');
  if (!isRecord(body)) throw badRequest('Body contains invalid data');
  if ('vpnservices' in body) throw badRequest('Bulk operation not supported');
  const res = body.vpnservice;
  if (res === undefined || res === null) throw badRequest("Unable to find 'vpnservice' in request body");
  if (!isRecord(res)) throw badRequest("Object 'vpnservice' contains invalid data");
  const dict: Record<string, unknown> = { ...res };

  // The seed cloud does not accept project_id at all.
  if (state.seedRules && 'project_id' in dict) throw badRequest("Unrecognized attribute(s) 'project_id'");

  // populate_project_id
  if ('tenant_id' in dict && !('project_id' in dict)) dict.project_id = dict.tenant_id;
  else if ('project_id' in dict && !('tenant_id' in dict)) dict.tenant_id = dict.project_id;
  if (dict.project_id !== dict.tenant_id) throw badRequest("'project_id' and 'tenant_id' do not match");
  if ('project_id' in dict && dict.project_id !== ctx.projectId && !ctx.admin)
    throw badRequest(
      "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request is not allowed for current user.",
    );
  if (isCreate && !('project_id' in dict)) {
    if (ctx.projectId === null) throw badRequest('Running without keystone AuthN requires that tenant_id is specified');
    dict.project_id = ctx.projectId;
    dict.tenant_id = ctx.projectId;
  }

  const unknown = Object.keys(dict).filter((k) => !(k in ATTRS));
  if (unknown.length > 0) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);

  if (isCreate) {
    for (const name of ATTR_NAMES) {
      const spec = ATTRS[name] as AttrSpec;
      if (spec.post) {
        if (!('default' in spec) && !(name in dict))
          throw badRequest(`Failed to parse request. Required attribute '${name}' not specified`);
        if (!(name in dict)) dict[name] = spec.default;
      } else if (name in dict) {
        throw badRequest(`Attribute '${name}' not allowed in POST`);
      }
    }
  } else {
    for (const name of ATTR_NAMES) {
      if (name in dict && !(ATTRS[name] as AttrSpec).put) throw badRequest(`Cannot update read-only attribute ${name}`);
    }
  }

  for (const name of ATTR_NAMES) {
    if (!(name in dict)) continue;
    const spec = ATTRS[name] as AttrSpec;
    if (spec.convert) dict[name] = spec.convert(dict[name]);
    const reason = spec.validate?.(dict[name]);
    if (reason !== undefined) throw badRequest(`Invalid input for ${name}. Reason: ${reason}.`);
  }

  if (state.seedRules) {
    if (typeof dict.name === 'string' && 'name' in res) {
      if (dict.name.length === 0) throw badRequest("Invalid input for name. Reason: '' is too short, minimum length is 1.");
      if (charCount(dict.name) > 64) throw badRequest(`Invalid input for name. Reason: '${dict.name}' exceeds maximum length of 64.`);
    }
    if (dict.admin_state_up === false) throw badRequest('Invalid input for admin_state_up. Reason: only True is supported.');
  }
  return dict;
}
