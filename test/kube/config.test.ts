// The kubeconfig / in-cluster loader (src/kube/config.ts) against a real kube-apiserver: client certificates
// (inline and as files relative to the kubeconfig), ServiceAccount tokens (inline, tokenFile with rotation,
// in-cluster), TLS verification (a foreign CA, tls-server-name), the client-node fallback for exec users, errors
// that name the file and the field but no secret, and that a plain kubeconfig never loads client-node.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { KubeClient, KubeApiError } from '../../src/kube/client.ts';
import { KubeConfigError, kubeAccessFromKubeConfig, loadKubeAccess, type KubeAccess } from '../../src/kube/config.ts';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';

let cp: ControlPlane;
let tmp: string;
let caPem: string;
const opened: KubeAccess[] = [];

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

/** Keeps the access to close it at the end. */
function keep(a: KubeAccess): KubeAccess {
  opened.push(a);
  return a;
}

interface UserInfo {
  username: string;
  groups?: string[];
}

/** Who the API server thinks we are (SelfSubjectReview: any authenticated user may ask). */
async function whoami(src: KubeAccess, timeoutMs = 10_000): Promise<UserInfo> {
  const kube = new KubeClient(src, { timeoutMs });
  try {
    const r = (await kube.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    })) as { status: { userInfo: UserInfo } };
    return r.status.userInfo;
  } finally {
    await kube.close();
  }
}

/** A ServiceAccount token (TokenRequest, through the control plane helper). */
async function saToken(ns: string, name: string): Promise<string> {
  const file = await cp.serviceAccountKubeconfig(ns, name);
  const doc = YAML.parse(fs.readFileSync(file, 'utf8')) as { users: Array<{ user: { token: string } }> };
  return doc.users[0]!.user.token;
}

function kubeconfig(file: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: cp.server, ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
    { mode: 0o600 },
  );
  return file;
}

/** The error message of a rejected promise. */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  cp = await startControlPlane();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vpnaas-kubeconfig-'));
  caPem = fs.readFileSync(path.join(cp.dir, 'pki/ca.crt'), 'utf8');
});

afterAll(async () => {
  await Promise.all(opened.map((a) => a.close().catch(() => undefined)));
  await cp?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('kubeconfig files', () => {
  it('authenticates with the admin client certificate (inline data)', async () => {
    const access = keep(await loadKubeAccess({ kubeconfig: cp.kubeconfigPath }));
    expect(access.mode).toBe('kubeconfig');
    expect(access.server).toBe(cp.server);
    expect(access.description).toContain(cp.kubeconfigPath);
    const me = await whoami(access);
    expect(me.groups).toContain('system:masters');
  });

  it('takes the first path of a colon-separated list, and KUBECONFIG when no path is given', async () => {
    const a = keep(await loadKubeAccess({ kubeconfig: `${cp.kubeconfigPath}:/nonexistent/other` }));
    expect((await whoami(a)).groups).toContain('system:masters');
    const b = keep(await loadKubeAccess({ env: { KUBECONFIG: cp.kubeconfigPath, HOME: tmp } }));
    expect(b.description).toContain(cp.kubeconfigPath);
  });

  it('reads certificate files relative to the kubeconfig folder; tls-server-name is checked', async () => {
    const dir = path.join(tmp, 'files');
    fs.mkdirSync(path.join(dir, 'pki'), { recursive: true });
    for (const f of ['ca.crt', 'admin.crt', 'admin.key']) fs.copyFileSync(path.join(cp.dir, 'pki', f), path.join(dir, 'pki', f));
    const user = { 'client-certificate': 'pki/admin.crt', 'client-key': 'pki/admin.key' };
    const good = kubeconfig(path.join(dir, 'good.yaml'), { 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'localhost' }, user);
    expect((await whoami(keep(await loadKubeAccess({ kubeconfig: good })))).groups).toContain('system:masters');

    const wrongName = kubeconfig(path.join(dir, 'wrong-name.yaml'), { 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'other.invalid' }, user);
    const err = await failure(whoami(keep(await loadKubeAccess({ kubeconfig: wrongName }))));
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(0);
    expect(err.message).toMatch(/other\.invalid|altnames|hostname/i);
  });

  it('authenticates with a ServiceAccount token', async () => {
    const file = await cp.serviceAccountKubeconfig('cfg-test', 'token-user');
    const access = keep(await loadKubeAccess({ kubeconfig: file }));
    expect((await whoami(access)).username).toBe('system:serviceaccount:cfg-test:token-user');
    expect(await access.headers()).toEqual({ Authorization: expect.stringMatching(/^Bearer ey/) });
  });

  it('re-reads a tokenFile, at most once per refresh interval, and picks up a rotated token', async () => {
    const one = await saToken('cfg-test', 'rotate-one');
    const two = await saToken('cfg-test', 'rotate-two');
    const tokenFile = path.join(tmp, 'rotate', 'token');
    fs.mkdirSync(path.dirname(tokenFile), { recursive: true });
    fs.writeFileSync(tokenFile, `${one}\n`);
    const file = kubeconfig(path.join(tmp, 'rotate', 'config'), { 'certificate-authority-data': b64(caPem) }, { tokenFile: 'token' });

    const fast = keep(await loadKubeAccess({ kubeconfig: file, tokenRefreshMs: 100 }));
    const slow = keep(await loadKubeAccess({ kubeconfig: file })); // the default: 60 s
    expect((await whoami(fast)).username).toBe('system:serviceaccount:cfg-test:rotate-one');
    expect((await whoami(slow)).username).toBe('system:serviceaccount:cfg-test:rotate-one');

    // The kubelet replaces the file atomically.
    fs.writeFileSync(`${tokenFile}.new`, two);
    fs.renameSync(`${tokenFile}.new`, tokenFile);
    await new Promise((r) => setTimeout(r, 150));
    expect((await whoami(fast)).username).toBe('system:serviceaccount:cfg-test:rotate-two');
    expect((await whoami(slow)).username).toBe('system:serviceaccount:cfg-test:rotate-one');

    // A file that disappears keeps the last token.
    fs.rmSync(tokenFile);
    await new Promise((r) => setTimeout(r, 150));
    expect((await whoami(fast)).username).toBe('system:serviceaccount:cfg-test:rotate-two');
  });

  it('refuses a server certificate from another CA; insecure-skip-tls-verify accepts it', async () => {
    const dir = path.join(tmp, 'other-ca');
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=other-ca',
      '-keyout', path.join(dir, 'ca.key'), '-out', path.join(dir, 'ca.crt'), '-days', '1'], { stdio: 'ignore' });
    const token = await saToken('cfg-test', 'tls-user');
    const bad = kubeconfig(path.join(dir, 'bad.yaml'), { 'certificate-authority': 'ca.crt' }, { token });
    const err = await failure(whoami(keep(await loadKubeAccess({ kubeconfig: bad }))));
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(0);
    expect(err.message).toMatch(/certificate/i);
    expect(err.message).not.toContain(token);

    // No CA at all: the system roots do not know the test CA either.
    const none = kubeconfig(path.join(dir, 'none.yaml'), {}, { token });
    expect(await failure(whoami(keep(await loadKubeAccess({ kubeconfig: none }))))).toBeInstanceOf(KubeApiError);

    const insecure = kubeconfig(path.join(dir, 'insecure.yaml'), { 'insecure-skip-tls-verify': true }, { token });
    expect((await whoami(keep(await loadKubeAccess({ kubeconfig: insecure })))).username).toBe('system:serviceaccount:cfg-test:tls-user');
  });

  it('selects another context by name', async () => {
    const token = await saToken('cfg-test', 'ctx-user');
    const file = path.join(tmp, 'contexts.yaml');
    fs.writeFileSync(file, YAML.stringify({
      clusters: [{ name: 'c', cluster: { server: cp.server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: 'nobody', user: {} }, { name: 'sa', user: { token } }],
      contexts: [{ name: 'anon', context: { cluster: 'c', user: 'nobody' } }, { name: 'sa', context: { cluster: 'c', user: 'sa' } }],
      'current-context': 'anon',
    }));
    const sa = keep(await loadKubeAccess({ kubeconfig: file, context: 'sa' }));
    expect((await whoami(sa)).username).toBe('system:serviceaccount:cfg-test:ctx-user');
    const anon = keep(await loadKubeAccess({ kubeconfig: file }));
    expect(await anon.headers()).toEqual({});
    const err = await failure(whoami(anon));
    expect((err as KubeApiError).status).toBeGreaterThanOrEqual(401);
  });

  it('builds a basic-auth header from username/password', async () => {
    const file = kubeconfig(path.join(tmp, 'basic.yaml'), { 'certificate-authority-data': b64(caPem) }, { username: 'alice', password: 's3cret' });
    const access = keep(await loadKubeAccess({ kubeconfig: file }));
    expect(await access.headers()).toEqual({ Authorization: `Basic ${b64('alice:s3cret')}` });
  });
});

describe('in-cluster', () => {
  it('uses KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount folder, re-reading the token', async () => {
    const saDir = path.join(tmp, 'serviceaccount');
    fs.mkdirSync(saDir, { recursive: true });
    fs.writeFileSync(path.join(saDir, 'ca.crt'), caPem);
    fs.writeFileSync(path.join(saDir, 'token'), await saToken('cfg-test', 'pod-one'));
    fs.writeFileSync(path.join(saDir, 'namespace'), 'cfg-test');
    const port = new URL(cp.server).port;

    const saved = { ...process.env };
    try {
      delete process.env.KUBECONFIG;
      process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
      process.env.KUBERNETES_SERVICE_PORT = port;
      process.env.HOME = path.join(tmp, 'empty-home'); // no ~/.kube/config to fall back to
      const access = keep(await loadKubeAccess({ serviceAccountDir: saDir, tokenRefreshMs: 100 }));
      expect(access.mode).toBe('in-cluster');
      expect(access.server).toBe(`https://127.0.0.1:${port}`);
      expect((await whoami(access)).username).toBe('system:serviceaccount:cfg-test:pod-one');

      fs.writeFileSync(path.join(saDir, 'token'), await saToken('cfg-test', 'pod-two'));
      await new Promise((r) => setTimeout(r, 150));
      expect((await whoami(access)).username).toBe('system:serviceaccount:cfg-test:pod-two');

      // An explicit kubeconfig wins over in-cluster.
      const explicit = keep(await loadKubeAccess({ kubeconfig: cp.kubeconfigPath, serviceAccountDir: saDir }));
      expect(explicit.mode).toBe('kubeconfig');

      // Without the token file it is not in-cluster, and with no ~/.kube/config there is nothing.
      const err = await failure(loadKubeAccess({ serviceAccountDir: path.join(tmp, 'no-such-dir') }));
      expect(err).toBeInstanceOf(KubeConfigError);
      expect(err.message).toMatch(/no Kubernetes configuration/);
    } finally {
      for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'HOME']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('falls back to ~/.kube/config outside a cluster', async () => {
    const home = path.join(tmp, 'home');
    fs.mkdirSync(path.join(home, '.kube'), { recursive: true });
    fs.copyFileSync(cp.kubeconfigPath, path.join(home, '.kube', 'config'));
    const access = keep(await loadKubeAccess({ env: { HOME: home } }));
    expect(access.description).toContain(path.join(home, '.kube', 'config'));
    expect((await whoami(access)).groups).toContain('system:masters');
  });
});

describe('client-node fallback', () => {
  it('runs an exec credential plugin through client-node', async () => {
    const token = await saToken('cfg-test', 'exec-user');
    const dir = path.join(tmp, 'exec');
    fs.mkdirSync(dir, { recursive: true });
    const marker = path.join(dir, 'ran');
    const plugin = path.join(dir, 'plugin.sh');
    const credential = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token } });
    fs.writeFileSync(plugin, `#!/bin/sh\necho run >> '${marker}'\ncat <<'EOF'\n${credential}\nEOF\n`, { mode: 0o755 });
    const file = kubeconfig(path.join(dir, 'config'), { 'certificate-authority-data': b64(caPem) }, {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' },
    });
    const access = keep(await loadKubeAccess({ kubeconfig: file }));
    expect(access.mode).toBe('client-node');
    expect((await whoami(access)).username).toBe('system:serviceaccount:cfg-test:exec-user');
    expect(fs.existsSync(marker)).toBe(true);
  });

  it('wraps a client-node KubeConfig, and KubeClient still takes one', async () => {
    const access = keep(await kubeAccessFromKubeConfig(cp.kubeConfig));
    expect(access.mode).toBe('client-node');
    expect(access.server).toBe(cp.server);
    expect((await whoami(access)).groups).toContain('system:masters');
    const kube = new KubeClient(cp.kubeConfig);
    expect(await kube.request('GET', '/api/v1/namespaces/default')).toMatchObject({ metadata: { name: 'default' } });
    await kube.close();
  });

  it('is not loaded for a plain kubeconfig: the operator modules and a request without client-node', () => {
    const src = (p: string): string => new URL(`../../src/${p}`, import.meta.url).href;
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { if (specifier.includes('@kubernetes/client-node')) seen.push(specifier); return next(specifier, context); } });
      const { loadKubeAccess } = await import(${JSON.stringify(src('kube/config.ts'))});
      const { KubeClient } = await import(${JSON.stringify(src('kube/client.ts'))});
      const { createInformer } = await import(${JSON.stringify(src('controller/informer.ts'))});
      await import(${JSON.stringify(src('runtime/app.ts'))});
      const access = await loadKubeAccess({ kubeconfig: process.env.TEST_KUBECONFIG });
      const ns = await new KubeClient(access).request('GET', '/api/v1/namespaces/default');
      const inf = createInformer({ access, path: '/api/v1/namespaces', schema: { safeParse: (v) => ({ success: true, data: v }) } });
      inf.start();
      await inf.waitForSync();
      await inf.stop();
      console.log(JSON.stringify({ name: ns.metadata.name, namespaces: inf.size(), seen }));
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TEST_KUBECONFIG: cp.kubeconfigPath },
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { name: string; namespaces: number; seen: string[] };
    expect(out.name).toBe('default');
    expect(out.namespaces).toBeGreaterThan(0);
    expect(out.seen).toEqual([]);
  });
});

describe('errors name the file and the field, never a secret', () => {
  const SECRET = 'sekr3t-t0ken-value';

  it('a missing file', async () => {
    const err = await failure(loadKubeAccess({ kubeconfig: path.join(tmp, 'missing.yaml') }));
    expect(err).toBeInstanceOf(KubeConfigError);
    expect(err.message).toBe(`kubeconfig ${path.join(tmp, 'missing.yaml')}: cannot read the file (ENOENT)`);
  });

  it('invalid YAML does not quote the line', async () => {
    const file = path.join(tmp, 'broken.yaml');
    fs.writeFileSync(file, `users:\n- name: u\n  user:\n    token: ${SECRET}\n   bad: [\n`);
    const err = await failure(loadKubeAccess({ kubeconfig: file }));
    expect(err.message).toMatch(new RegExp(`^kubeconfig ${file}: not valid YAML at line \\d+`));
    expect(err.message).not.toContain(SECRET);
  });

  it('a field of the wrong type, a missing key, conflicting methods, unknown names', async () => {
    const cases: Array<[Record<string, unknown>, Record<string, unknown>, RegExp]> = [
      [{}, { token: 12345 }, /: users\[0\]\.user\.token: .*expected string/],
      [{}, { 'client-certificate-data': b64(caPem) }, /: users\[0\]\.user: client-certificate without client-key/],
      [{}, { token: SECRET, username: 'a', password: SECRET }, /: users\[0\]\.user: a token and username\/password/],
      [{}, { tokenFile: 'nope' }, /: users\[0\]\.user\.tokenFile: cannot read .*nope \(ENOENT\)/],
      [{}, { token: SECRET, as: 'someone' }, /: users\[0\]\.user\.as: impersonation is not supported/],
      [{ 'certificate-authority': 'missing-ca.crt' }, { token: SECRET }, /: clusters\[0\]\.cluster\.certificate-authority: cannot read .*missing-ca\.crt/],
      [{ 'certificate-authority-data': 'not base64!' }, { token: SECRET }, /: clusters\[0\]\.cluster\.certificate-authority-data: not base64/],
      [{ 'certificate-authority-data': b64('garbage') }, { token: SECRET }, /: clusters\[0\]\.cluster\.certificate-authority: /],
      [{ 'certificate-authority-data': b64(caPem), 'insecure-skip-tls-verify': true }, { token: SECRET }, /: clusters\[0\]\.cluster: insecure-skip-tls-verify and a certificate authority/],
      [{ server: 'ftp://x' }, { token: SECRET }, /: clusters\[0\]\.cluster\.server: not an http\(s\) URL/],
    ];
    for (const [i, [cluster, user, re]] of cases.entries()) {
      const file = kubeconfig(path.join(tmp, 'errors', `${i}.yaml`), cluster, user);
      const err = await failure(loadKubeAccess({ kubeconfig: file }));
      expect(err, re.source).toBeInstanceOf(KubeConfigError);
      expect(err.message.startsWith(`kubeconfig ${file}: `), err.message).toBe(true);
      expect(err.message).toMatch(re);
      expect(err.message).not.toContain(SECRET);
    }
    const err = await failure(loadKubeAccess({ kubeconfig: cp.kubeconfigPath, context: 'nope' }));
    expect(err.message).toBe(`kubeconfig ${cp.kubeconfigPath}: contexts: no context named "nope"`);
  });
});
