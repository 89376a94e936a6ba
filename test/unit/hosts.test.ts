// The host policy of tenant clouds (src/cloud/hosts.ts, `--tenant-cloud-hosts`): a table of what each kind of
// pattern allows, and properties: a host never matches a pattern of another domain, whatever its spelling (case, a
// trailing dot, IDN, a glued prefix, a suffix after the domain), and no spelling of a refused address gets through.
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HostPatternError, defaultHostPolicy, parseHostAllowList, type HostPolicy } from '../../src/cloud/hosts.ts';

/** Whether the policy allows the host of `http://<spelling>/`, as the transport sees it (URL.hostname). */
function allowsUrlHost(policy: HostPolicy, spelling: string): boolean {
  let host: string;
  try {
    host = new URL(`http://${spelling}/`).hostname;
  } catch {
    return false; // no URL, no request
  }
  return policy.allows(host);
}

describe('--tenant-cloud-hosts patterns', () => {
  const policy = parseHostAllowList('keystone.example.com, *.cloud.example.com,192.0.2.10,10.20.0.0/16,[2001:db8::1],2001:db8:100::/48,*.bücher.example');
  it.each([
    // exact names: case, trailing dot
    ['keystone.example.com', true],
    ['KEYSTONE.Example.COM', true],
    ['keystone.example.com.', true],
    ['keystone.example.com..', false],
    ['x.keystone.example.com', false],
    ['example.com', false],
    ['keystone.example.com.evil.com', false],
    ['keystone-example.com', false],
    // *.domain: any name strictly below it
    ['iam.cloud.example.com', true],
    ['a.b.cloud.example.com', true],
    ['IAM.CLOUD.EXAMPLE.COM.', true],
    ['cloud.example.com', false],
    ['evilcloud.example.com', false],
    ['cloud.example.com.evil.com', false],
    ['iam.cloud.example.com.evil.com', false],
    ['iam.cloud.example.co', false],
    ['evil.com', false],
    // IDN: the pattern and the host compared in punycode
    ['shop.bücher.example', true],
    ['shop.BÜCHER.example', true],
    ['shop.xn--bcher-kva.example', true],
    ['shop.bucher.example', false],
    ['shop.xn--bcher-kva.example.evil', false],
    // a look-alike (Cyrillic а) is another name
    ['iam.cloud.exаmple.com', false],
    // IPv4: exact and CIDR, in any spelling the URL parser accepts
    ['192.0.2.10', true],
    ['3221225994', true],
    ['0xc0.0.2.10', true],
    ['192.0.2.11', false],
    ['10.20.255.1', true],
    ['10.21.0.1', false],
    // IPv6: exact and CIDR; an IPv4 pattern allows its IPv4-mapped form (the same destination)
    ['[2001:db8::1]', true],
    ['[2001:DB8:0:0:0:0:0:1]', true],
    ['[2001:db8::2]', false],
    ['[2001:db8:100:ffff::1]', true],
    ['[2001:db8:101::1]', false],
    ['[::ffff:192.0.2.10]', true],
    // a name never matches an address pattern, an address never a name pattern
    ['10.20.0.1.cloud.example.com', true],
    ['10.20.0.1.nip.io', false],
    ['[::1]', false],
    ['127.0.0.1', false],
    ['localhost', false],
  ])('%s → %s', (host, want) => {
    expect(allowsUrlHost(policy, host)).toBe(want);
  });

  it('* allows any host, also loopback and link-local (an explicit choice)', () => {
    const any = parseHostAllowList('*');
    for (const h of ['127.0.0.1', '169.254.169.254', '[::1]', 'kubernetes.default.svc', 'localhost']) expect(allowsUrlHost(any, h)).toBe(true);
  });

  it.each([
    ['', 'an empty entry'],
    ['a.com,,b.com', 'an empty entry'],
    ['*example.com', 'a * only'],
    ['a.*.example.com', 'a * only'],
    ['*.*.example.com', 'not a host name'],
    ['*.', 'not a host name'],
    ['*.10.0.0', 'read as the IP address 10.0.0.0'],
    ['http://keystone.example.com', 'a host, not a URL'],
    ['keystone.example.com:5000', 'not a host name'],
    ['user@keystone.example.com', 'not a host name'],
    ['keystone.example.com/v3', 'not a CIDR'],
    ['10.0.0.0/33', 'not a CIDR'],
    ['2001:db8::/129', 'not a CIDR'],
    ['10.0.0.0/x', 'not a CIDR'],
    ['127.1', 'read as the IP address 127.0.0.1'],
    ['2130706433', 'read as the IP address 127.0.0.1'],
    ['a..b', 'not a host name'],
    ['exa mple.com', 'not a host name'],
    ['%65xample.com', 'not a host name'],
  ])('refuses the pattern %j (%s)', (list, says) => {
    expect(() => parseHostAllowList(list)).toThrow(HostPatternError);
    expect(() => parseHostAllowList(list)).toThrow(says);
  });
});

describe('the default policy (no --tenant-cloud-hosts)', () => {
  const policy = defaultHostPolicy();
  it.each([
    ['keystone.example.com', true],
    ['iam.eu-de.otc.t-systems.com', true],
    ['203.0.113.5', true],
    ['10.0.0.5', true],
    ['[2001:db8::5]', true],
    // loopback, in every spelling
    ['127.0.0.1', false],
    ['127.0.0.2', false],
    ['127.1', false],
    ['2130706433', false],
    ['0x7f000001', false],
    ['[::1]', false],
    ['[::ffff:127.0.0.1]', false],
    ['localhost', false],
    ['LOCALHOST.', false],
    ['api.localhost', false],
    ['0.0.0.0', false],
    ['[::]', false],
    // link-local: the metadata service of the clouds
    ['169.254.169.254', false],
    ['2852039166', false],
    ['[::ffff:169.254.169.254]', false],
    ['[::ffff:a9fe:a9fe]', false],
    ['[fe80::1]', false],
    ['[fd00:ec2::254]', false],
    ['100.100.100.200', false],
    ['metadata.google.internal', false],
    // names only the cluster's DNS resolves
    ['metadata', false],
    ['kubernetes', false],
    ['kubernetes.default.svc', false],
    ['kubernetes.default.svc.cluster.local.', false],
    ['10-0-0-1.default.pod', false],
    ['prometheus.monitoring.svc.cluster.local', false],
  ])('%s → %s', (host, want) => {
    expect(allowsUrlHost(policy, host)).toBe(want);
  });

  it('refuses every spelling of a loopback or link-local IPv4 address (property)', () => {
    const refusedV4 = fc.oneof(
      fc.tuple(fc.constant(127), fc.nat(255), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(169), fc.constant(254), fc.nat(255), fc.nat(255)),
      fc.tuple(fc.constant(0), fc.nat(255), fc.nat(255), fc.nat(255)),
    );
    fc.assert(
      fc.property(refusedV4, fc.integer({ min: 0, max: 3 }), ([a, b, c, d], form) => {
        const n = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
        const spelling = [
          `${a}.${b}.${c}.${d}`,
          String(n),
          `0x${n.toString(16)}`,
          `[::ffff:${((a << 8) + b).toString(16)}:${((c << 8) + d).toString(16)}]`,
        ][form]!;
        expect(allowsUrlHost(policy, spelling), spelling).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

// Properties of `*.domain` and exact names over generated domains.
// No label the URL parser reads as a number (all digits, or 0x and hex digits: "0x0" as the last label makes the
// whole host an IPv4 address, which a `*.` pattern rightly refuses).
const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/).filter((l) => !/^\d+$/.test(l) && !/^0x[0-9a-f]*$/.test(l) && !l.startsWith('xn--'));
const unicodeLabel = fc.constantFrom('bücher', 'münchen', 'köln', 'straße', 'пример', '例え', 'exаmple', 'ドメイン');
const domain = fc.array(fc.oneof({ weight: 4, arbitrary: label }, { weight: 1, arbitrary: unicodeLabel }), { minLength: 1, maxLength: 3 }).map((ls) => ls.join('.'));
/** Spellings of one host that are the same DNS name: case (of ASCII letters: `ß` upper-cased is `SS`, another name
 * in IDNA 2008) and a trailing dot. */
const spelling = (host: string, upper: boolean, dot: boolean): string => `${upper ? host.replace(/[a-z]/g, (c) => c.toUpperCase()) : host}${dot ? '.' : ''}`;
const ascii = (d: string): string => domainToASCII(d);

describe('--tenant-cloud-hosts properties', () => {
  it('a host under D matches *.D in any spelling; a host of another domain never does (property)', () => {
    fc.assert(
      fc.property(domain, domain, fc.array(label, { minLength: 1, maxLength: 2 }), fc.boolean(), fc.boolean(), (d, other, prefix, upper, dot) => {
        const policy = parseHostAllowList(`*.${d}`);
        const p = prefix.join('.');
        // Below D: allowed.
        expect(allowsUrlHost(policy, spelling(`${p}.${d}`, upper, dot))).toBe(true);
        // D itself, D with a glued prefix, D followed by another domain, another domain: refused, unless the other
        // domain really is below D.
        expect(allowsUrlHost(policy, spelling(d, upper, dot))).toBe(false);
        expect(allowsUrlHost(policy, spelling(`${p}${d}`, upper, dot))).toBe(false);
        const below = (h: string): boolean => ascii(h).endsWith(`.${ascii(d)}`);
        expect(allowsUrlHost(policy, spelling(`${p}.${d}.${other}`, upper, dot))).toBe(below(`${p}.${d}.${other}`));
        expect(allowsUrlHost(policy, spelling(`${p}.${other}`, upper, dot))).toBe(below(`${p}.${other}`));
      }),
      { numRuns: 1_000 },
    );
  });

  it('an exact name matches only itself (case and trailing dot aside) (property)', () => {
    fc.assert(
      fc.property(domain, domain, fc.boolean(), fc.boolean(), (d, other, upper, dot) => {
        const policy = parseHostAllowList(d);
        expect(allowsUrlHost(policy, spelling(d, upper, dot))).toBe(true);
        expect(allowsUrlHost(policy, spelling(other, upper, dot))).toBe(ascii(other) === ascii(d));
        expect(allowsUrlHost(policy, `x.${d}`)).toBe(false);
        expect(allowsUrlHost(policy, `${d}.x`)).toBe(false);
      }),
      { numRuns: 1_000 },
    );
  });

  it('an IP address never matches a name pattern, and a name never an address pattern (property)', () => {
    fc.assert(
      fc.property(domain, fc.ipV4(), fc.ipV6(), (d, v4, v6) => {
        const names = parseHostAllowList(`${d},*.${d}`);
        expect(allowsUrlHost(names, v4)).toBe(false);
        expect(allowsUrlHost(names, `[${v6}]`)).toBe(false);
        const addresses = parseHostAllowList(`${v4},${v6},0.0.0.0/0,::/0`);
        expect(allowsUrlHost(addresses, d)).toBe(false);
        expect(allowsUrlHost(addresses, `${v4}.${d}`)).toBe(false);
        expect(allowsUrlHost(addresses, v4)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
