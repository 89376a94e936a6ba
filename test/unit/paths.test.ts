// Request paths of the Kubernetes API (src/kube/paths.ts): a name taken from an object can never leave its namespace
// or its resource, whatever it holds; and no path of src/ is assembled by hand (the rule this file enforces by grep).
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENTS, LEASES, SECRETS, UnsafePathSegmentError, resourcePath } from '../../src/kube/paths.ts';
import { CloudCredentialsRef, DNS1123_SUBDOMAIN, SecretKeyRef } from '../../src/api/common.ts';

const root = path.resolve(import.meta.dirname, '../..');
const VPN = { group: 'vpnaas.dev', version: 'v1alpha1', plural: 'vpnservices' };

describe('resourcePath', () => {
  it.each([
    [SECRETS, 'a', 'psk', undefined, '/api/v1/namespaces/a/secrets/psk'],
    [SECRETS, 'a', undefined, undefined, '/api/v1/namespaces/a/secrets'],
    [EVENTS, 'team-b', 'x.1', undefined, '/api/v1/namespaces/team-b/events/x.1'],
    [LEASES, 'ops', 'vpnaas-operator', undefined, '/apis/coordination.k8s.io/v1/namespaces/ops/leases/vpnaas-operator'],
    [VPN, undefined, undefined, undefined, '/apis/vpnaas.dev/v1alpha1/vpnservices'],
    [VPN, 'a', 'vpn', 'status', '/apis/vpnaas.dev/v1alpha1/namespaces/a/vpnservices/vpn/status'],
    // encoded, never interpreted: the API server looks for a Secret of exactly that name (and finds none)
    [SECRETS, 'a', '%2e%2e', undefined, '/api/v1/namespaces/a/secrets/%252e%252e'],
    [SECRETS, 'a', '../../b/secrets/psk', undefined, '/api/v1/namespaces/a/secrets/..%2F..%2Fb%2Fsecrets%2Fpsk'],
    [SECRETS, 'a', 'psk?watch=1#x', undefined, '/api/v1/namespaces/a/secrets/psk%3Fwatch%3D1%23x'],
  ])('%j ns=%s name=%s sub=%s → %s', (r, ns, name, sub, want) => {
    expect(resourcePath(r, ns, name, sub)).toBe(want);
  });

  it.each([['..'], ['.'], [''], ['x'.repeat(254)]])('refuses the name %j before any request', (name) => {
    expect(() => resourcePath(SECRETS, 'a', name)).toThrow(UnsafePathSegmentError);
    expect(() => resourcePath(SECRETS, name, 'psk')).toThrow(UnsafePathSegmentError);
  });

  it('for any namespace and name, the path a server sees has exactly its segments, in its namespace (property)', () => {
    let runs = 0;
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: 'grapheme' }), fc.string({ maxLength: 40, unit: 'grapheme' }), (ns, name) => {
        runs++;
        let p: string;
        try {
          p = resourcePath(SECRETS, ns, name);
        } catch (err) {
          expect(err).toBeInstanceOf(UnsafePathSegmentError);
          expect(['', '.', '..']).toContain(ns === '' || ns === '.' || ns === '..' ? ns : name);
          return;
        }
        // What an HTTP client and the API server make of it: no dot-segment removal, no extra separators.
        const u = new URL(p, 'https://kube.invalid');
        expect(u.pathname).toBe(p);
        expect(u.search).toBe('');
        const segs = u.pathname.split('/').slice(1).map(decodeURIComponent);
        expect(segs).toEqual(['api', 'v1', 'namespaces', ns, 'secrets', name]);
      }),
      { numRuns: 2000 },
    );
    expect(runs).toBeGreaterThanOrEqual(2000);
  });
});

describe('names in the schemas', () => {
  const hostile = ['../../b/secrets/psk', '%2e%2e/%2e%2e/b/secrets/psk', '..', '.', 'PSK', 'psk/x', 'psk\u00e9', ' psk', '-psk', 'psk.', 'a'.repeat(254)];
  it.each(hostile)('a Secret name %j is refused by zod as by the CRD', (name) => {
    expect(SecretKeyRef.safeParse({ name }).success).toBe(false);
    expect(CloudCredentialsRef.safeParse({ secretName: name, cloudName: 'c' }).success).toBe(false);
  });
  it.each(['psk', 'team-a.cloud', 'a', '0', 'a-b.c-d', 'a'.repeat(253)])('%j is a valid name', (name) => {
    expect(SecretKeyRef.safeParse({ name }).success).toBe(true);
  });
  it.each(['..', '.', '../psk', 'a/b', 'clé', ''])('a Secret key %j is refused', (key) => {
    expect(SecretKeyRef.safeParse({ name: 'psk', key }).success).toBe(false);
  });
  it('every name zod accepts is a path segment that stays one (property)', () => {
    const re = new RegExp(DNS1123_SUBDOMAIN);
    fc.assert(
      fc.property(fc.stringMatching(re, { maxLength: 253 }), (name) => {
        fc.pre(name.length <= 253);
        expect(SecretKeyRef.safeParse({ name }).success).toBe(true);
        expect(resourcePath(SECRETS, 'a', name)).toBe(`/api/v1/namespaces/a/secrets/${name}`);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the rule: no path of the Kubernetes API is assembled by hand in src/', () => {
  it('every /api/ or /apis/ path and every namespaces/<x> segment goes through src/kube/paths.ts', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) {
          if (e.name !== 'simulator') walk(f); // the simulator is a cloud, not a Kubernetes client
          continue;
        }
        if (!f.endsWith('.ts') || f.endsWith(path.join('kube', 'paths.ts'))) continue;
        fs.readFileSync(f, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // comments may show a path
            // A template or string literal that starts an API path, or puts anything after namespaces/ or a resource.
            if (/[`'"]\/apis?\//.test(line) || /namespaces\/\$\{/.test(line) || /\/(secrets|events|leases|status)\/\$\{/.test(line)) {
              offenders.push(`${path.relative(root, f)}:${i + 1}: ${line.trim()}`);
            }
          });
      }
    };
    walk(path.join(root, 'src'));
    expect(offenders).toEqual([]);
  });
});
