// Every request path of the Kubernetes API is built here, and nowhere else (test/unit/paths.test.ts greps src/ for
// paths assembled by hand). A name taken from an object is untrusted input: the schemas of src/api/ check it as
// Kubernetes does (a DNS-1123 subdomain), and here every segment is percent-encoded and '', '.' and '..' are refused,
// so no name can climb out of its namespace ("../../b/secrets/psk") or into another resource, whatever slipped past
// validation (an object stored before a CRD's rules existed, a caller that forgot to validate).
export interface Resource {
  /** '' for the core group (/api/v1), else the API group (/apis/<group>/<version>). */
  group: string;
  version: string;
  plural: string;
}

export const SECRETS: Resource = { group: '', version: 'v1', plural: 'secrets' };
export const EVENTS: Resource = { group: '', version: 'v1', plural: 'events' };
export const LEASES: Resource = { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' };

/** A segment that cannot be put into a path: refused before any request is made. */
export class UnsafePathSegmentError extends Error {
  constructor(what: string, value: string) {
    super(`refused to request a Kubernetes API path with ${what} ${JSON.stringify(value.slice(0, 64))}: not a valid name`);
    this.name = 'UnsafePathSegmentError';
  }
}

/** One path segment, percent-encoded; '', '.', '..' and over-long values are refused. */
export function segment(value: string, what = 'the segment'): string {
  if (value === '' || value === '.' || value === '..' || value.length > 253) throw new UnsafePathSegmentError(what, value);
  return encodeURIComponent(value);
}

/**
 * The path of a resource: its collection (all namespaces, or one), one object, or one object's subresource.
 * resourcePath(SECRETS, 'a', 'psk') is /api/v1/namespaces/a/secrets/psk.
 */
export function resourcePath(r: Resource, namespace?: string, name?: string, subresource?: string): string {
  const parts = r.group === '' ? ['api', segment(r.version, 'the version')] : ['apis', segment(r.group, 'the group'), segment(r.version, 'the version')];
  if (namespace !== undefined) parts.push('namespaces', segment(namespace, 'the namespace'));
  parts.push(segment(r.plural, 'the resource'));
  if (name !== undefined) parts.push(segment(name, 'the name'));
  if (subresource !== undefined) {
    if (name === undefined) throw new UnsafePathSegmentError('a subresource without a name', subresource);
    parts.push(segment(subresource, 'the subresource'));
  }
  return `/${parts.join('/')}`;
}
