// deploy/argocd/resource_customizations/vpnaas.dev/VpnService/health.lua, run by a real Lua interpreter (Debian's lua5.4, installed when missing) on the statuses
// the operator itself computes for every Ready reason.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { REASONS, type Reason } from '../../src/core/conditions.ts';
import { nextStatus } from '../../src/core/status.ts';
import type { VpnService } from '../../src/api/vpnservice.ts';

const DIR = fileURLToPath(new URL('../../deploy/argocd/resource_customizations/vpnaas.dev/VpnService/', import.meta.url));
const SCRIPT = readFileSync(path.join(DIR, 'health.lua'), 'utf8');
const LUA = '/usr/bin/lua5.4';

beforeAll(() => {
  if (existsSync(LUA)) return;
  // Waits for the dpkg lock (the local OpenStack may be installing at the same time); updates the package lists
  // once if the first try finds none (a fresh machine).
  const apt = (...args: string[]) =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, encoding: 'utf8' });
  let r = apt('install', '-y', '--no-install-recommends', 'lua5.4');
  if (r.status !== 0) {
    apt('update');
    r = apt('install', '-y', '--no-install-recommends', 'lua5.4');
  }
  if (r.status !== 0 || !existsSync(LUA)) throw new Error(`this test needs ${LUA} (apt-get install lua5.4): ${r.stderr}`);
}, 300_000);

/** A JSON value as a Lua table constructor. */
function lua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(lua).join(',')}}`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${JSON.stringify(k)}]=${lua(x)}`).join(',')}}`;
}

function health(obj: unknown): { status: string; message: string } {
  const program = `obj = ${lua(obj)}\nlocal function check()\n${SCRIPT}\nend\nlocal hs = check()\nprint(hs.status)\nprint(hs.message or "")`;
  const out = execFileSync(LUA, ['-'], { input: program, encoding: 'utf8' }).split('\n');
  return { status: out[0]!, message: out[1]! };
}

const base: VpnService = {
  apiVersion: 'vpnaas.dev/v1alpha1',
  kind: 'VpnService',
  metadata: { name: 'v', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { routerId: '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa', adminStateUp: true, deletionPolicy: 'Delete' },
};

const expected: Record<Reason, string> = {
  Active: 'Healthy',
  Creating: 'Progressing',
  Waiting: 'Progressing',
  Provisioning: 'Progressing',
  Updating: 'Progressing',
  CloudUnavailable: 'Progressing',
  Deleting: 'Progressing',
  DeleteBlocked: 'Progressing',
  RouterConflict: 'Degraded',
  RouterInUse: 'Degraded',
  InvalidSpec: 'Degraded',
  AuthFailed: 'Degraded',
  CredentialsNotFound: 'Degraded',
  RouterNotFound: 'Degraded',
  Error: 'Degraded',
  Down: 'Degraded',
  UpdateBlocked: 'Degraded',
};

describe('Argo CD health of a VpnService', () => {
  it.each(Object.keys(REASONS) as Reason[])('Ready reason %s', (reason) => {
    const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason, message: `because ${reason}` }, '2026-01-01T00:00:01Z');
    const h = health({ ...base, status });
    expect(h.status).toBe(expected[reason]);
    expect(h.message).toContain(`because ${reason}`);
  });

  it('no status yet → Progressing', () => {
    expect(health(base).status).toBe('Progressing');
  });

  it('a status for an older generation → Progressing, even if it was Active', () => {
    const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason: 'Active', message: 'ok' }, '2026-01-01T00:00:01Z');
    expect(health({ ...base, metadata: { ...base.metadata, generation: 3 }, status }).status).toBe('Progressing');
  });
});

describe('Argo CD health_test.yaml, run by gopher-lua', () => {
  it('gives every case its expected status and message', () => {
    const tools = execFileSync('bash', [fileURLToPath(new URL('../cluster/tools/build.sh', import.meta.url))], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const bin = path.join(tools.trim().split('\n').at(-1) ?? '', 'luahealth');
    const r = spawnSync(bin, [DIR], { encoding: 'utf8' });
    const cases = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { inputPath: string; ok: boolean });
    expect(cases.filter((c) => !c.ok), r.stdout).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(7);
    expect(r.status, r.stderr).toBe(0);
    // The harness can fail: the same cases with one expectation changed.
    const tmp = mkdtempSync(path.join(tmpdir(), 'vpnaas-argocd-'));
    try {
      cpSync(DIR, tmp, { recursive: true });
      const file = path.join(tmp, 'health_test.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('status: Healthy', 'status: Degraded'));
      expect(spawnSync(bin, [tmp], { encoding: 'utf8' }).status).toBe(1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 600_000);
});
