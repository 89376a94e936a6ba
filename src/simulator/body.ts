// A Neutron request body as neutron-server checks it (`prepare_request_body`), for any resource of an attribute
// map: body → project info → unknown attributes → required and read-only attributes → conversion and validation,
// with neutron-lib's messages; and the validators and converters the VPNaaS attribute maps use
// (neutron_lib/api/validators, converters).
import { isIPv4, isIPv6 } from 'node:net';
import { isRecord, NeutronFault, pyStr } from './http.ts';
import type { SimRequest } from './http.ts';
import type { SimState } from './state.ts';

export interface AuthContext {
  projectId: string | null;
  admin: boolean;
}

/** A validator returns the reason a value is refused (neutron-lib's message), or undefined. */
export type Validator = (v: unknown) => string | undefined;

export interface AttrSpec {
  post: boolean;
  put: boolean;
  /** Absent: required on POST. */
  default?: unknown;
  validate?: Validator;
  /** May throw a NeutronFault (neutron-lib converters raise InvalidInput). */
  convert?: (v: unknown) => unknown;
}

export interface ResourceDef {
  /** The body key of one resource, e.g. `ikepolicy`. */
  singular: string;
  /** The body key of a list (bulk), e.g. `ikepolicies`. */
  plural: string;
  /** In Neutron's order (the order defaults are filled in). */
  attrs: Record<string, AttrSpec>;
}

export function badRequest(message: string): NeutronFault {
  return new NeutronFault(400, 'HTTPBadRequest', message);
}

export function internalError(): NeutronFault {
  return new NeutronFault(500, 'HTTPInternalServerError', 'Request Failed: internal server error while processing your request.');
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

/**
 * `prepare_request_body` for one resource: returns the resource dict, filled with defaults (POST) and converted.
 * `raw` receives the resource object as sent (before defaults), for rules that look at what was given.
 */
export function prepareResourceBody(
  state: SimState,
  req: SimRequest,
  ctx: AuthContext,
  isCreate: boolean,
  def: ResourceDef,
): { dict: Record<string, unknown>; raw: Record<string, unknown> } {
  const body = parseJson(req);
  if (body === undefined || body === null || body === false || (isRecord(body) && Object.keys(body).length === 0))
    throw badRequest('Resource body required');
  if (!isRecord(body)) throw badRequest('Body contains invalid data');
  if (def.plural in body) throw badRequest('Bulk operation not supported');
  const res = body[def.singular];
  if (res === undefined || res === null) throw badRequest(`Unable to find '${def.singular}' in request body`);
  if (!isRecord(res)) throw badRequest(`Object '${def.singular}' contains invalid data`);
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

  const attrs = def.attrs;
  const names = Object.keys(attrs);
  const known = (k: string) => k in attrs || k === 'project_id';
  const unknown = Object.keys(dict).filter((k) => !known(k));
  if (unknown.length > 0) throw badRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);

  if (isCreate) {
    for (const name of names) {
      const spec = attrs[name] as AttrSpec;
      if (spec.post) {
        if (!('default' in spec) && !(name in dict))
          throw badRequest(`Failed to parse request. Required attribute '${name}' not specified`);
        if (!(name in dict)) dict[name] = structuredClone(spec.default);
      } else if (name in dict) {
        throw badRequest(`Attribute '${name}' not allowed in POST`);
      }
    }
  } else {
    for (const name of names) {
      if (name in dict && !(attrs[name] as AttrSpec).put) throw badRequest(`Cannot update read-only attribute ${name}`);
    }
  }

  for (const name of names) {
    if (!(name in dict)) continue;
    const spec = attrs[name] as AttrSpec;
    if (spec.convert) dict[name] = spec.convert(dict[name]);
    const reason = spec.validate?.(dict[name]);
    if (reason !== undefined) throw badRequest(`Invalid input for ${name}. Reason: ${reason}.`);
  }
  return { dict, raw: res };
}

// ---- validators (neutron_lib.api.validators)

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export function isUuidLike(v: unknown): boolean {
  return typeof v === 'string' && UUID_RE.test(v.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1'));
}
export const validateUuid: Validator = (v) => (isUuidLike(v) ? undefined : `'${pyStr(v)}' is not a valid UUID`);
export const validateUuidOrNone: Validator = (v) => (v === null ? undefined : validateUuid(v));

/** A string's length as Python's `len` (Neutron) and the API server's `maxLength` count it: Unicode code points,
 * not UTF-16 code units (an emoji is one character, not two). */
export function charCount(v: string): number {
  let n = 0;
  for (const _ of v) n++;
  return n;
}

export const validateString =
  (max?: number): Validator =>
  (v) => {
    if (typeof v !== 'string') return `'${pyStr(v)}' is not a valid string`;
    if (max !== undefined && charCount(v) > max) return `'${v}' exceeds maximum length of ${max}`;
    return undefined;
  };

export const validateValues =
  (values: readonly string[]): Validator =>
  (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${pyStr(v)} is not in valid_values`;

/** Python's `int(x)` for a JSON value; undefined when it raises. */
export function pyInt(v: unknown): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return undefined;
}

export const validateNonNegative: Validator = (v) => {
  const n = pyInt(v);
  if (n === undefined) return `'${pyStr(v)}' is not an integer`;
  if (n < 0) return `'${pyStr(v)}' should be non-negative`;
  return undefined;
};

export const validateRange =
  (min: number): Validator =>
  (v) => {
    const n = pyInt(v);
    if (n === undefined) return `'${pyStr(v)}' is not an integer`;
    if (n < min) return `'${n}' is too small - must be at least '${min}'`;
    return undefined;
  };

/** `type:dict_or_empty` with key specs: {} passes; unknown keys are refused; present keys validated in order. */
export const validateDictOrEmpty =
  (keys: Record<string, Validator>): Validator =>
  (v) => {
    if (isRecord(v) && Object.keys(v).length === 0) return undefined;
    if (!isRecord(v)) return `'${pyStr(v)}' is not a dictionary`;
    const unexpected = Object.keys(v).filter((k) => !(k in keys));
    if (unexpected.length > 0) return `Unexpected keys supplied: ${unexpected.join(', ')}`;
    for (const [k, validate] of Object.entries(keys)) {
      if (!(k in v)) continue;
      const reason = validate(v[k]);
      if (reason !== undefined) return reason;
    }
    return undefined;
  };

const V4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** `validate_subnet`: an IPv4/IPv6 network in CIDR notation (host bits allowed, as netaddr allows them). */
export function subnetReason(v: unknown): string | undefined {
  if (typeof v !== 'string' || /\s/.test(v)) return `'${pyStr(v)}' is not a valid IP subnet`;
  const slash = v.indexOf('/');
  const addr = slash < 0 ? v : v.slice(0, slash);
  const prefix = slash < 0 ? undefined : v.slice(slash + 1);
  const v4 = V4_RE.test(addr);
  const v6 = !v4 && isIPv6(addr);
  if (!v4 && !v6) return `'${v}' is not a valid IP subnet`;
  if (prefix === undefined) return `'${v}' isn't a recognized IP subnet cidr, '${addr}/${v4 ? 32 : 128}' is recommended`;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > (v4 ? 32 : 128)) return `'${v}' is not a valid IP subnet`;
  return undefined;
}

export const validateSubnetListOrNone: Validator = (v) => {
  if (v === null) return undefined;
  if (!Array.isArray(v)) return `'${pyStr(v)}' is not a list`;
  const seen = new Set<unknown>();
  const dups: unknown[] = [];
  for (const x of v) {
    if (seen.has(x) && !dups.includes(x)) dups.push(x);
    seen.add(x);
  }
  if (dups.length > 0) return `Duplicate items in the list: '${dups.map(pyStr).join(', ')}'`;
  for (const x of v) {
    const reason = subnetReason(x);
    if (reason !== undefined) return reason;
  }
  return undefined;
};

export function ipVersion(addressOrCidr: string): 4 | 6 {
  const addr = addressOrCidr.split('/')[0] ?? '';
  return isIPv4(addr) || V4_RE.test(addr) ? 4 : 6;
}

export function isIpAddress(v: string): boolean {
  return isIPv4(v) || isIPv6(v);
}

// ---- converters (neutron_lib.api.converters)

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

export function convertToInt(v: unknown): number {
  const n = pyInt(v);
  if (n === undefined) throw new NeutronFault(400, 'InvalidInput', `Invalid input for operation: '${pyStr(v)}' is not an integer.`);
  return n;
}

export function convertToList(v: unknown): unknown {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (isRecord(v)) return Object.keys(v);
  return [v];
}

export function convertNoneToEmptyDict(v: unknown): unknown {
  return v === null || v === undefined ? {} : v;
}

/** How Python's `repr` shows a JSON value (Neutron puts a dict's repr in some messages). */
export function pyRepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isRecord(v)) return `{${Object.entries(v).map(([k, x]) => `'${k}': ${pyRepr(x)}`).join(', ')}}`;
  return String(v);
}
