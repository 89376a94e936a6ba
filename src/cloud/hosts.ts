// Which hosts the clouds of tenant Secrets may name (issue 17): the operator flag `--tenant-cloud-hosts`. A tenant's
// clouds.yaml is untrusted input: its auth_url, its network_endpoint_override and the network endpoint that its own
// Keystone writes into the catalog decide where the operator sends requests (a JSON body, a token) and whose answer
// it quotes into the object's status. Every request of a tenant's cloud is checked here before it is sent
// (src/cloud/http.ts); the operator's own mounted cloud is the admin's and is not checked.
//
// A host is what the WHATWG URL parser makes of it (URL.hostname): names lower case and in punycode (IDN), IPv4 in
// dotted-quad form (`127.1`, `0x7f.1` and `2130706433` are 127.0.0.1), IPv6 in brackets and compressed. Patterns go
// through the same parser, so a pattern and a host are compared in one canonical form. Only names made of
// letters, digits, `-` and `_` in non-empty labels are ever allowed by a name pattern (anything else fails closed).
// The check is on the name in the URL, not on the address it resolves to.
import { BlockList, isIP } from 'node:net';
import { CloudError } from './errors.ts';

export const TENANT_CLOUD_HOSTS_FLAG = '--tenant-cloud-hosts';

export interface HostPolicy {
  /** Whether a request may go to this host (URL.hostname: IPv6 in brackets). */
  allows(host: string): boolean;
  /** How the policy was given, for logs: the flag's value, or `default`. */
  readonly description: string;
}

/** A wrong `--tenant-cloud-hosts` entry. */
export class HostPatternError extends Error {
  constructor(pattern: string, why: string) {
    super(`${JSON.stringify(pattern)}: ${why}`);
    this.name = 'HostPatternError';
  }
}

type Host = { kind: 'ip'; address: string; family: 'ipv4' | 'ipv6' } | { kind: 'name'; name: string } | { kind: 'invalid' };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** A DNS name in canonical form (lower case, punycode, no trailing dot), or undefined when it is not one. */
function canonicalName(s: string): string | undefined {
  const name = s.endsWith('.') ? s.slice(0, -1) : s;
  if (name === '' || name.length > 253) return undefined;
  return name.split('.').every((l) => LABEL.test(l)) ? name : undefined;
}

/** Classifies URL.hostname. */
export function parseHost(hostname: string): Host {
  const h = hostname.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    const a = h.slice(1, -1);
    return isIP(a) === 6 ? { kind: 'ip', address: a, family: 'ipv6' } : { kind: 'invalid' };
  }
  if (isIP(h) === 4) return { kind: 'ip', address: h, family: 'ipv4' };
  if (isIP(h) === 6) return { kind: 'ip', address: h, family: 'ipv6' };
  const name = canonicalName(h);
  return name === undefined ? { kind: 'invalid' } : { kind: 'name', name };
}

/** The host of a URL as the transport will connect to it (URL.hostname), or undefined for an unparsable URL. */
export function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}

/** A pattern's name part through the URL parser (IDN to punycode, case), refusing what is not a plain host. */
function patternName(pattern: string, s: string): string {
  if (s === '' || /[\s/\\@:?#%[\]*]/.test(s)) throw new HostPatternError(pattern, 'not a host name');
  let h: string;
  try {
    h = new URL(`http://${s}/`).hostname;
  } catch {
    throw new HostPatternError(pattern, 'not a host name');
  }
  if (isIP(h) !== 0) throw new HostPatternError(pattern, `read as the IP address ${h}: write addresses in their usual form (dotted quad, or IPv6)`);
  const name = canonicalName(h);
  if (name === undefined) throw new HostPatternError(pattern, 'not a host name (labels of letters, digits, - and _)');
  return name;
}

function ipFamily(a: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(a);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

class Rules {
  any = false;
  readonly names = new Set<string>();
  /** `*.suffix`: names strictly below suffix. */
  readonly suffixes: string[] = [];
  readonly ips = new BlockList();
  singleLabel = false;

  matches(host: Host): boolean {
    if (this.any) return true;
    if (host.kind === 'ip') return this.ips.check(host.address, host.family);
    if (host.kind === 'invalid') return false;
    const n = host.name;
    if (this.names.has(n)) return true;
    if (this.singleLabel && !n.includes('.')) return true;
    return this.suffixes.some((s) => n.endsWith(`.${s}`));
  }
}

/** Adds one pattern: `*`, a name, `*.suffix`, an IPv4/IPv6 address (IPv6 with or without brackets) or a CIDR. */
function addPattern(rules: Rules, raw: string): void {
  const p = raw.trim();
  if (p === '') throw new HostPatternError(raw, 'an empty entry');
  if (p === '*') {
    rules.any = true;
    return;
  }
  if (p.includes('://')) throw new HostPatternError(raw, 'a host, not a URL (keystone.example.com)');
  const slash = p.indexOf('/');
  if (slash >= 0) {
    const addr = p.slice(0, slash).replace(/^\[(.*)\]$/, '$1');
    const bitsText = p.slice(slash + 1);
    const family = ipFamily(addr);
    const max = family === 'ipv4' ? 32 : 128;
    if (!family || !/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) {
      throw new HostPatternError(raw, 'not a CIDR (such as 10.0.0.0/8 or 2001:db8::/32)');
    }
    rules.ips.addSubnet(addr, Number(bitsText), family);
    return;
  }
  const bare = p.replace(/^\[(.*)\]$/, '$1');
  const family = ipFamily(bare);
  if (family) {
    rules.ips.addAddress(bare, family);
    return;
  }
  if (p.startsWith('*.')) {
    const suffix = patternName(raw, p.slice(2));
    if (/^\d+$/.test(suffix.split('.').at(-1) ?? '')) throw new HostPatternError(raw, 'a wildcard over IP addresses: use a CIDR such as 10.0.0.0/8');
    rules.suffixes.push(suffix);
    return;
  }
  if (p.includes('*')) throw new HostPatternError(raw, 'a * only as a whole first label (*.example.com) or alone (any host)');
  rules.names.add(patternName(raw, p));
}

/** An allow-list from `--tenant-cloud-hosts` (comma-separated). Throws HostPatternError for a wrong entry. */
export function parseHostAllowList(list: string): HostPolicy {
  const rules = new Rules();
  for (const entry of list.split(',')) addPattern(rules, entry);
  return { allows: (host) => rules.matches(parseHost(host)), description: list };
}

/**
 * Hosts refused by default (no `--tenant-cloud-hosts`): never a tenant's cloud, and the classic targets of a request
 * forged through a URL. Loopback (the operator pod itself) and unspecified addresses; link-local addresses, where
 * clouds serve instance metadata and credentials (169.254.169.254 on AWS, GCP, Azure, OpenStack; fe80::/10; AWS's
 * IPv6 fd00:ec2::254; Alibaba's 100.100.100.200); metadata names; names that only the cluster's DNS resolves
 * (a single label, through the pod's search path, and `*.svc`, `*.pod`, `*.cluster.local`, `*.localhost`). IPv4-mapped
 * IPv6 forms (::ffff:127.0.0.1) are refused as their IPv4 address.
 */
export const DEFAULT_REFUSED_HOSTS = [
  '0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '100.100.100.200',
  '::/128', '::1/128', 'fe80::/10', 'fd00:ec2::254',
  'localhost', '*.localhost', 'metadata.google.internal', '*.svc', '*.pod', '*.cluster.local',
] as const;

/** The policy without `--tenant-cloud-hosts`: any host except DEFAULT_REFUSED_HOSTS and single-label names. */
export function defaultHostPolicy(): HostPolicy {
  const refused = new Rules();
  for (const p of DEFAULT_REFUSED_HOSTS) addPattern(refused, p);
  refused.singleLabel = true;
  return {
    allows: (host) => {
      const h = parseHost(host);
      return h.kind !== 'invalid' && !refused.matches(h);
    },
    description: `default: any host except ${DEFAULT_REFUSED_HOSTS.join(', ')} and single-label names`,
  };
}

/** A request of a tenant's cloud to a host the policy does not allow: nothing was sent. */
export class HostNotAllowedError extends CloudError {
  readonly host: string;
  constructor(opts: { host: string; what: string; method: string; path: string }) {
    super({
      status: 0,
      code: 'HostNotAllowed',
      cloudMessage: `${opts.what} names host ${opts.host}, which is not allowed for clouds from tenant Secrets: the cluster admin sets the allowed hosts (operator flag ${TENANT_CLOUD_HOSTS_FLAG}). Nothing was sent to it`,
      method: opts.method,
      path: opts.path,
      kind: 'terminal',
    });
    this.name = 'HostNotAllowedError';
    this.host = opts.host;
  }
}
