import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  authRequestBody,
  identityBaseUrl,
  networkBaseUrl,
  parseKeystoneTime,
  refreshMarginMs,
  selectEndpoint,
} from '../../src/cloud/auth.ts';
import type { CatalogEntry } from '../../src/cloud/auth.ts';
import {
  CloudConfigError,
  cloudsYamlCandidates,
  loadCloudConfig,
  loadCloudConfigFromString,
} from '../../src/cloud/config.ts';
import { tlsSettingsFrom } from '../../src/cloud/http.ts';
import { Secret } from '../../src/cloud/secret.ts';

const PASSWORD = 'Sup3r-S3cret-pa55';

const basic = `
clouds:
  mycloud:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: demo
      password: ${PASSWORD}
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
`;

function configError(fn: () => unknown): CloudConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CloudConfigError);
    return e as CloudConfigError;
  }
  throw new Error('expected a CloudConfigError');
}

describe('loadCloudConfigFromString', () => {
  it('reads a password cloud by names', () => {
    const c = loadCloudConfigFromString(basic, 'mycloud');
    expect(c.cloudName).toBe('mycloud');
    expect(c.source).toBe('clouds.yaml');
    expect(c.authType).toBe('password');
    expect(c.auth.authUrl).toBe('https://keystone.example.com:5000/v3');
    expect(c.auth.username).toBe('demo');
    expect(c.auth.password).toBeInstanceOf(Secret);
    expect(c.auth.password?.reveal()).toBe(PASSWORD);
    expect(c.auth.projectName).toBe('demo');
    expect(c.auth.userDomainName).toBe('Default');
    expect(c.auth.projectDomainName).toBe('Default');
    expect(c.regionName).toBe('RegionOne');
    expect(c.interface).toBe('public');
    expect(c.verify).toBe(true);
    expect(c.identityApiVersion).toBe('3');
    expect(c.networkEndpointOverride).toBeUndefined();
  });

  it('takes the only cloud when no name is given', () => {
    expect(loadCloudConfigFromString(basic).cloudName).toBe('mycloud');
  });

  it('requires a name when several clouds are defined, and names the missing one', () => {
    const two = `${basic}  other:\n    auth_type: none\n    network_endpoint_override: http://127.0.0.1:9696\n`;
    expect(loadCloudConfigFromString(two, 'other').authType).toBe('none');
    expect(configError(() => loadCloudConfigFromString(two)).message).toMatch(/several clouds are defined \(mycloud, other\)/);
    expect(configError(() => loadCloudConfigFromString(two, 'nope')).message).toBe(
      'clouds.yaml: cloud "nope" not found (defined: mycloud, other)',
    );
  });

  it('reports a missing field with the file and the field path', () => {
    const text = basic.replace(/ +auth_url: .*\n/, '');
    const e = configError(() => loadCloudConfigFromString(text, 'mycloud'));
    expect(e.message).toBe('clouds.yaml: clouds.mycloud.auth.auth_url: Required');
    expect(e.fieldPath).toBe('clouds.mycloud.auth.auth_url');
    const e2 = configError(() =>
      loadCloudConfigFromString(basic.replace(/ +password: .*\n/, ''), 'mycloud', { source: 'secret ns/creds' }),
    );
    expect(e2.message).toBe('secret ns/creds: clouds.mycloud.auth.password: Required');
    expect(configError(() => loadCloudConfigFromString('foo: 1\n')).message).toBe('clouds.yaml: clouds: Required');
    expect(configError(() => loadCloudConfigFromString('')).message).toBe('clouds.yaml: clouds: Required');
  });

  it('reports wrong types and values with the field path', () => {
    expect(configError(() => loadCloudConfigFromString(`${basic}    api_timeout: soon\n`)).message).toBe(
      'clouds.yaml: clouds.mycloud.api_timeout: expected a number of seconds',
    );
    // A tenant's api_timeout is bounded (issue 17): 0.0004 was "no response within 0 ms", 3000000 overflowed the timer.
    for (const [v, says] of [
      ['0.0004', 'must be at least 1 second (seconds, not milliseconds)'],
      ['0', 'must be at least 1 second (seconds, not milliseconds)'],
      ['-5', 'must be at least 1 second (seconds, not milliseconds)'],
      ['3000000', 'must be at most 600 seconds'],
      ['601', 'must be at most 600 seconds'],
    ] as const) {
      expect(configError(() => loadCloudConfigFromString(`${basic}    api_timeout: ${v}\n`)).message).toBe(`clouds.yaml: clouds.mycloud.api_timeout: ${says}`);
    }
    expect(loadCloudConfigFromString(`${basic}    api_timeout: 1\n`).apiTimeoutMs).toBe(1000);
    expect(loadCloudConfigFromString(`${basic}    api_timeout: 600\n`).apiTimeoutMs).toBe(600_000);
    expect(configError(() => loadCloudConfigFromString(`${basic}    interface: sideways\n`)).message).toBe(
      'clouds.yaml: clouds.mycloud.interface: expected public, internal or admin',
    );
    expect(configError(() => loadCloudConfigFromString(`${basic}    auth_type: saml2\n`)).message).toMatch(
      /^clouds\.yaml: clouds\.mycloud\.auth_type: unsupported auth_type/,
    );
    expect(configError(() => loadCloudConfigFromString(`${basic}    identity_api_version: 2\n`)).message).toBe(
      'clouds.yaml: clouds.mycloud.identity_api_version: only Keystone v3 is supported',
    );
    expect(
      configError(() => loadCloudConfigFromString(basic.replace('https://keystone.example.com:5000/v3', 'keystone'))).message,
    ).toBe('clouds.yaml: clouds.mycloud.auth.auth_url: expected an http(s) URL');
    expect(configError(() => loadCloudConfigFromString(basic.replace('username: demo', 'username: [a, b]'))).message).toBe(
      'clouds.yaml: clouds.mycloud.auth.username: expected a string',
    );
    expect(configError(() => loadCloudConfigFromString('clouds:\n  x: 3\n')).message).toBe(
      'clouds.yaml: clouds.x: expected a mapping',
    );
  });

  it('requires the user and project domains for names', () => {
    const noUserDomain = basic.replace(/ +user_domain_name: .*\n/, '');
    expect(configError(() => loadCloudConfigFromString(noUserDomain)).fieldPath).toBe('clouds.mycloud.auth.user_domain_name');
    const noProjectDomain = basic.replace(/ +project_domain_name: .*\n/, '');
    expect(configError(() => loadCloudConfigFromString(noProjectDomain)).fieldPath).toBe(
      'clouds.mycloud.auth.project_domain_name',
    );
  });

  it('uses domain_name as the default user and project domain when project-scoped, as the domain scope otherwise', () => {
    const projectScoped = `
clouds:
  c:
    auth: {auth_url: "http://k:5000", username: u, password: p, project_name: demo, domain_name: Dom}
`;
    const c = loadCloudConfigFromString(projectScoped);
    expect(c.auth.userDomainName).toBe('Dom');
    expect(c.auth.projectDomainName).toBe('Dom');
    expect(c.auth.domainName).toBeUndefined();
    const domainScoped = `
clouds:
  c:
    auth: {auth_url: "http://k:5000", username: u, user_domain_id: default, password: p, domain_id: d1}
`;
    const d = loadCloudConfigFromString(domainScoped);
    expect(d.auth.domainId).toBe('d1');
    expect(d.auth.userDomainId).toBe('default');
    expect(d.auth.projectName).toBeUndefined();
  });

  it('accepts the backwards-compatible spellings openstacksdk accepts', () => {
    const text = `
clouds:
  old:
    auth:
      auth-url: http://keystone:5000/
      user_id: 0123abcd
      password: p
      tenant_name: legacy
      project-domain-id: default
      auth_plugin: ignored-here
    auth_plugin: v3password
    endpoint_type: internalURL
    region_name: R2
    insecure: true
    network_timeout: 12.5
`;
    const c = loadCloudConfigFromString(text);
    expect(c.authType).toBe('password');
    expect(c.auth.authUrl).toBe('http://keystone:5000');
    expect(c.auth.userId).toBe('0123abcd');
    expect(c.auth.projectName).toBe('legacy');
    expect(c.auth.projectDomainId).toBe('default');
    expect(c.interface).toBe('internal');
    expect(c.verify).toBe(false);
    expect(c.apiTimeoutMs).toBe(12_500);
  });

  it('keeps numeric-looking ids and passwords exactly as written', () => {
    const text = `
clouds:
  c:
    auth:
      auth_url: http://k:5000/v3
      user_id: 12345678901234567890123456789012
      password: True
      project_id: 1234e567
`;
    const c = loadCloudConfigFromString(text);
    expect(c.auth.userId).toBe('12345678901234567890123456789012');
    expect(c.auth.projectId).toBe('1234e567');
    expect(c.auth.password?.reveal()).toBe('True');
  });

  it('reads application credentials (id, or name with a user) and infers the auth type', () => {
    const byId = loadCloudConfigFromString(`
clouds:
  c:
    auth_type: v3applicationcredential
    auth: {auth_url: "http://k:5000/v3", application_credential_id: ac1, application_credential_secret: s3cr3t}
`);
    expect(byId.authType).toBe('v3applicationcredential');
    expect(byId.auth.applicationCredentialId).toBe('ac1');
    expect(byId.auth.applicationCredentialSecret?.reveal()).toBe('s3cr3t');
    const inferred = loadCloudConfigFromString(`
clouds:
  c:
    auth: {auth_url: "http://k:5000/v3", application_credential_name: ac, application_credential_secret: s, username: u, user_domain_name: Default}
`);
    expect(inferred.authType).toBe('v3applicationcredential');
    expect(inferred.auth.applicationCredentialName).toBe('ac');
    const noUser = `
clouds:
  c:
    auth_type: v3applicationcredential
    auth: {auth_url: "http://k:5000/v3", application_credential_name: ac, application_credential_secret: s}
`;
    expect(configError(() => loadCloudConfigFromString(noUser)).fieldPath).toBe('clouds.c.auth.user_id');
    const noSecret = `
clouds:
  c:
    auth_type: v3applicationcredential
    auth: {auth_url: "http://k:5000/v3", application_credential_id: ac1}
`;
    expect(configError(() => loadCloudConfigFromString(noSecret)).message).toBe(
      'clouds.yaml: clouds.c.auth.application_credential_secret: Required',
    );
  });

  it('reads a static token (auth_token spelling too) and requires an auth_url or an endpoint override', () => {
    const t = loadCloudConfigFromString(`
clouds:
  c:
    auth_type: v3token
    auth: {auth_url: "http://k:5000", auth_token: tok123}
`);
    expect(t.authType).toBe('token');
    expect(t.auth.token?.reveal()).toBe('tok123');
    const o = loadCloudConfigFromString(`
clouds:
  c:
    auth_type: token
    auth: {token: tok}
    network_endpoint_override: http://127.0.0.1:9696/
`);
    expect(o.networkEndpointOverride).toBe('http://127.0.0.1:9696');
    expect(
      configError(() => loadCloudConfigFromString('clouds:\n  c:\n    auth_type: token\n    auth: {token: t}\n')).message,
    ).toBe('clouds.yaml: clouds.c.auth.auth_url: Required (or network_endpoint_override)');
  });

  it('admin_token / none need an endpoint (network_endpoint_override or auth.endpoint)', () => {
    const a = loadCloudConfigFromString(`
clouds:
  c:
    auth_type: admin_token
    auth: {endpoint: "http://127.0.0.1:9696", token: t0k}
`);
    expect(a.authType).toBe('none');
    expect(a.networkEndpointOverride).toBe('http://127.0.0.1:9696');
    expect(a.auth.token?.reveal()).toBe('t0k');
    expect(configError(() => loadCloudConfigFromString('clouds:\n  c:\n    auth_type: none\n')).message).toBe(
      'clouds.yaml: clouds.c.network_endpoint_override: Required with auth_type none',
    );
  });

  it('reads TLS settings: cacert path (relative to baseDir), verify as a CA path, PEM from a Secret', () => {
    const own = { allowFilePaths: true } as const;
    const c = loadCloudConfigFromString(`${basic}    cacert: certs/ca.pem\n    verify: false\n`, 'mycloud', {
      baseDir: '/cfg',
      ...own,
    });
    expect(c.cacert).toBe('/cfg/certs/ca.pem');
    expect(c.verify).toBe(false);
    const v = loadCloudConfigFromString(`${basic}    verify: /etc/ssl/my-ca.pem\n`, undefined, own);
    expect(v.cacert).toBe('/etc/ssl/my-ca.pem');
    expect(v.verify).toBe(true);
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const s = loadCloudConfigFromString(`${basic}    cacert: /not/in/the/pod.pem\n`, undefined, { cacert: pem });
    expect(s.cacert).toBe(pem);
    expect(tlsSettingsFrom(s)).toEqual({ ca: pem, rejectUnauthorized: true });
    const missing = loadCloudConfigFromString(`${basic}    cacert: /nonexistent/ca.pem\n`, undefined, own);
    expect(() => tlsSettingsFrom(missing)).toThrow('clouds.yaml: clouds.mycloud.cacert: cannot read /nonexistent/ca.pem (ENOENT)');
  });

  it("refuses file paths in a tenant's clouds.yaml (a Secret): cacert, verify as a CA path, cert, key", () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const source = { source: 'Secret team-a/creds key clouds.yaml' };
    // Existing files and missing ones get the same answer, and nothing is read: no file-existence oracle.
    for (const [extra, field] of [
      ['cacert: /etc/passwd', 'cacert'],
      ['cacert: /nonexistent/ca.pem', 'cacert'],
      ['cacert: certs/ca.pem', 'cacert'],
      ['cacert: ~/ca.pem', 'cacert'],
      ['verify: /etc/ssl/certs/ca-certificates.crt', 'cacert'],
      ['cert: /var/run/secrets/kubernetes.io/serviceaccount/token', 'cert'],
      ['key: /etc/shadow', 'key'],
    ] as const) {
      const e = configError(() => loadCloudConfigFromString(`${basic}    ${extra}\n`, 'mycloud', source));
      expect(e.fieldPath).toBe(`clouds.mycloud.${field}`);
      expect(e.message).toMatch(/^Secret team-a\/creds key clouds\.yaml: clouds\.mycloud\.(cacert|cert|key): a clouds\.yaml from a Secret cannot name a file on the operator's filesystem/);
      expect(e.message).not.toContain(extra.slice(extra.indexOf(' ') + 1));
    }
    expect(configError(() => loadCloudConfigFromString(`${basic}    cacert: /x.pem\n`)).message).toContain("put the PEM CA bundle in the Secret's cacert key");
    // The Secret's cacert key is the way; PEM text inline works too; a path the cacert key replaces is never read.
    expect(loadCloudConfigFromString(basic, 'mycloud', { ...source, cacert: pem }).cacert).toBe(pem);
    const inline = loadCloudConfigFromString(`${basic}    cacert: |\n${pem.replace(/^/gm, '      ').trimEnd()}\n`, 'mycloud', source);
    expect(inline.cacert).toContain('-----BEGIN CERTIFICATE-----');
    expect(loadCloudConfigFromString(`${basic}    cacert: /etc/passwd\n`, 'mycloud', { ...source, cacert: pem }).cacert).toBe(pem);
    expect(configError(() => loadCloudConfigFromString(`${basic}    key: /etc/shadow\n`, 'mycloud', { ...source, cacert: pem })).fieldPath).toBe('clouds.mycloud.key');
  });

  it('reads region lists, network_interface, api_timeout and the endpoint override', () => {
    const c = loadCloudConfigFromString(`
clouds:
  c:
    auth: {auth_url: "http://k:5000/v3", user_id: u1, password: p, project_id: p1}
    regions: [RegionTwo, RegionThree]
    interface: public
    network_interface: admin
    api_timeout: 7
    network_endpoint_override: "http://neutron.example.com:9696/v2.0/"
`);
    expect(c.regionName).toBe('RegionTwo');
    expect(c.interface).toBe('admin');
    expect(c.apiTimeoutMs).toBe(7000);
    expect(c.networkEndpointOverride).toBe('http://neutron.example.com:9696/v2.0');
  });

  it('never shows a secret: not in errors, JSON, inspect or string conversion', () => {
    const c = loadCloudConfigFromString(`${basic.replace('demo\n      password', 'demo\n      password')}`);
    const dumped = [JSON.stringify(c), inspect(c, { depth: 10, showHidden: true }), String(c.auth.password), `${c.auth.password}`];
    for (const d of dumped) expect(d).not.toContain(PASSWORD);
    expect(JSON.stringify(c.auth.password)).toBe('"***"');
    expect(inspect(c.auth.password)).toBe('Secret(***)');
    // A YAML syntax error quotes nothing from the offending line.
    const broken = `clouds:\n  c:\n    auth:\n      password: "${PASSWORD}\n      username: [x\n`;
    const e = configError(() => loadCloudConfigFromString(broken));
    expect(e.message).toMatch(/^clouds\.yaml: YAML syntax error at line \d+, column \d+ \(\w+\)$/);
    expect(e.message).not.toContain(PASSWORD);
    // A wrongly typed secret is reported by path only.
    const typed = configError(() => loadCloudConfigFromString(basic.replace(`password: ${PASSWORD}`, `password: {x: ${PASSWORD}}`)));
    expect(typed.message).toBe('clouds.yaml: clouds.mycloud.auth.password: expected a string');
  });
});

describe('loadCloudConfig (search path)', () => {
  let dir: string;
  let home: string;
  let cwd: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cloudcfg-'));
    home = path.join(dir, 'home');
    cwd = path.join(dir, 'work');
    mkdirSync(path.join(home, '.config', 'openstack'), { recursive: true });
    mkdirSync(cwd, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const cloud = (name: string, region: string): string =>
    `clouds:\n  ${name}:\n    auth_type: none\n    network_endpoint_override: http://127.0.0.1:9696\n    region_name: ${region}\n`;

  it('looks at OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml in order', () => {
    const list = cloudsYamlCandidates({ env: { OS_CLIENT_CONFIG_FILE: '/x/my.yaml' }, cwd, homeDir: home });
    expect(list[0]).toBe('/x/my.yaml');
    const idx = (f: string): number => list.indexOf(f);
    expect(idx(path.join(cwd, 'clouds.yaml'))).toBeGreaterThan(0);
    expect(idx(path.join(home, '.config/openstack/clouds.yaml'))).toBeGreaterThan(idx(path.join(cwd, 'clouds.yaml')));
    expect(idx('/etc/openstack/clouds.yaml')).toBeGreaterThan(idx(path.join(home, '.config/openstack/clouds.yaml')));

    writeFileSync(path.join(home, '.config/openstack/clouds.yaml'), cloud('home', 'H'));
    expect(loadCloudConfig({ env: {}, cwd, homeDir: home }).cloudName).toBe('home');
    writeFileSync(path.join(cwd, 'clouds.yaml'), cloud('local', 'L'));
    const local = loadCloudConfig({ env: {}, cwd, homeDir: home });
    expect(local.cloudName).toBe('local');
    expect(local.source).toBe(path.join(cwd, 'clouds.yaml'));
    const explicit = path.join(dir, 'explicit.yaml');
    writeFileSync(explicit, cloud('explicit', 'E'));
    expect(loadCloudConfig({ env: { OS_CLIENT_CONFIG_FILE: explicit }, cwd, homeDir: home }).cloudName).toBe('explicit');
  });

  it("the operator's own clouds.yaml (a mounted file) may name files: cacert, cert, key", () => {
    writeFileSync(path.join(cwd, 'clouds.yaml'), `${basic}    cacert: certs/ca.pem\n    cert: /etc/tls/client.pem\n    key: /etc/tls/client.key\n`);
    const c = loadCloudConfig({ env: {}, cwd, homeDir: home });
    expect(c).toMatchObject({ cacert: path.join(cwd, 'certs/ca.pem'), cert: '/etc/tls/client.pem', key: '/etc/tls/client.key' });
  });

  it('selects the cloud by argument, then OS_CLOUD', () => {
    writeFileSync(path.join(cwd, 'clouds.yaml'), `${cloud('a', 'A')}${cloud('b', 'B').replace('clouds:\n', '')}`);
    expect(loadCloudConfig({ env: { OS_CLOUD: 'b' }, cwd, homeDir: home }).regionName).toBe('B');
    expect(loadCloudConfig({ cloudName: 'a', env: { OS_CLOUD: 'b' }, cwd, homeDir: home }).regionName).toBe('A');
    expect(() => loadCloudConfig({ env: {}, cwd, homeDir: home })).toThrow(/several clouds/);
  });

  it('merges secure.yaml (passwords kept apart) and names the file in errors', () => {
    const file = path.join(cwd, 'clouds.yaml');
    writeFileSync(file, basic.replace(/ +password: .*\n/, ''));
    expect(() => loadCloudConfig({ env: {}, cwd, homeDir: home })).toThrow(
      `${file}: clouds.mycloud.auth.password: Required`,
    );
    writeFileSync(path.join(home, '.config/openstack/secure.yaml'), `clouds:\n  mycloud:\n    auth:\n      password: ${PASSWORD}\n`);
    const c = loadCloudConfig({ env: {}, cwd, homeDir: home });
    expect(c.auth.password?.reveal()).toBe(PASSWORD);
    expect(c.auth.username).toBe('demo');
  });

  it('says where it looked when there is no clouds.yaml', () => {
    const e = configError(() => loadCloudConfig({ env: {}, cwd, homeDir: home }));
    expect(e.message).toContain('no clouds.yaml found');
    expect(e.message).toContain(path.join(cwd, 'clouds.yaml'));
  });
});

describe('endpoint and auth helpers', () => {
  const catalog: CatalogEntry[] = [
    { type: 'identity', endpoints: [{ url: 'http://k:5000/v3', interface: 'public', region_id: 'R1' }] },
    {
      type: 'network',
      name: 'neutron',
      endpoints: [
        { url: 'http://int-r1:9696', interface: 'internal', region_id: 'R1', region: 'R1' },
        { url: 'http://pub-r1:9696', interface: 'public', region_id: 'R1', region: 'R1' },
        { url: 'http://pub-r2:9696/', interface: 'public', region_id: 'R2', region: 'R2' },
        { url: 'http://adm-r2:9696/$(tenant_id)s', interface: 'adminURL', region: 'R2' },
      ],
    },
  ];

  it('selects by type, interface and region', () => {
    expect(selectEndpoint(catalog, { type: 'network', interface: 'public' })).toBe('http://pub-r1:9696');
    expect(selectEndpoint(catalog, { type: 'network', interface: 'public', region: 'R2' })).toBe('http://pub-r2:9696/');
    expect(selectEndpoint(catalog, { type: 'network', interface: 'internal', region: 'R1' })).toBe('http://int-r1:9696');
    expect(selectEndpoint(catalog, { type: 'network', interface: 'admin', region: 'R2', projectId: 'p9' })).toBe(
      'http://adm-r2:9696/p9',
    );
    expect(selectEndpoint(catalog, { type: 'network', interface: 'internal', region: 'R2' })).toBeUndefined();
    expect(selectEndpoint(catalog, { type: 'compute', interface: 'public' })).toBeUndefined();
  });

  it('appends /v2.0 to the network endpoint and /v3 to the auth URL when missing', () => {
    expect(networkBaseUrl('http://127.0.0.1:9696')).toBe('http://127.0.0.1:9696/v2.0');
    expect(networkBaseUrl('http://127.0.0.1:9696/')).toBe('http://127.0.0.1:9696/v2.0');
    expect(networkBaseUrl('https://cloud/network/v2.0/')).toBe('https://cloud/network/v2.0');
    expect(identityBaseUrl('http://k:5000')).toBe('http://k:5000/v3');
    expect(identityBaseUrl('http://k:5000/v3/')).toBe('http://k:5000/v3');
    expect(identityBaseUrl('http://k:5000/identity/v2.0')).toBe('http://k:5000/identity/v3');
  });

  it('builds the Keystone request for each credential kind', () => {
    const byNames = loadCloudConfigFromString(basic);
    expect(authRequestBody(byNames)).toEqual({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'demo', domain: { name: 'Default' }, password: PASSWORD } },
        },
        scope: { project: { name: 'demo', domain: { name: 'Default' } } },
      },
    });
    const byIds = loadCloudConfigFromString(
      'clouds:\n  c:\n    auth: {auth_url: "http://k", user_id: u1, password: p, project_id: p1}\n',
    );
    expect(authRequestBody(byIds)).toEqual({
      auth: {
        identity: { methods: ['password'], password: { user: { id: 'u1', password: 'p' } } },
        scope: { project: { id: 'p1' } },
      },
    });
    const domain = loadCloudConfigFromString(
      'clouds:\n  c:\n    auth: {auth_url: "http://k", user_id: u1, password: p, domain_name: D}\n',
    );
    expect(authRequestBody(domain)).toMatchObject({ auth: { scope: { domain: { name: 'D' } } } });
    const unscoped = loadCloudConfigFromString('clouds:\n  c:\n    auth: {auth_url: "http://k", user_id: u1, password: p}\n');
    expect(authRequestBody(unscoped)).not.toHaveProperty('auth.scope');
    const appcred = loadCloudConfigFromString(
      'clouds:\n  c:\n    auth: {auth_url: "http://k", application_credential_name: n, application_credential_secret: s, username: u, user_domain_id: default}\n',
    );
    expect(authRequestBody(appcred)).toEqual({
      auth: {
        identity: {
          methods: ['application_credential'],
          application_credential: { name: 'n', secret: 's', user: { name: 'u', domain: { id: 'default' } } },
        },
      },
    });
  });

  it('renews tokens 5 minutes or 10% of the lifetime before expiry, whichever is smaller', () => {
    expect(refreshMarginMs(3600_000)).toBe(300_000);
    expect(refreshMarginMs(60_000)).toBe(6_000);
    expect(parseKeystoneTime('2026-11-25T19:09:00.000000Z')).toBe(Date.UTC(2026, 10, 25, 19, 9, 0));
    expect(parseKeystoneTime('2026-11-25T19:09:00')).toBe(Date.UTC(2026, 10, 25, 19, 9, 0));
    expect(parseKeystoneTime('2026-11-25T20:09:00+01:00')).toBe(Date.UTC(2026, 10, 25, 19, 9, 0));
    expect(parseKeystoneTime(undefined)).toBeUndefined();
    expect(parseKeystoneTime('garbage')).toBeUndefined();
  });
});
