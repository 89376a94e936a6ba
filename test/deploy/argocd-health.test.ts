// deploy/argocd/resource_customizations/vpnaas.dev/<Kind>/health.lua of every kind, run by a real Lua interpreter
// (Debian's lua5.4, installed when missing) on the statuses the operator itself computes for every Ready reason, and
// by gopher-lua (Argo CD's interpreter) on the cases of each health_test.yaml; kstatus (sigs.k8s.io/cli-utils, what
// Flux uses) on the same statuses.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { REASONS, type Reason } from '../../src/core/conditions.ts';
import { nextStatus } from '../../src/core/status.ts';
import type { ManagedObject } from '../../src/core/types.ts';
import { VpnServiceSpec } from '../../src/api/vpnservice.ts';
import { IKEPolicySpec, IPsecPolicySpec } from '../../src/api/policies.ts';
import { EndpointGroupSpec } from '../../src/api/endpointgroup.ts';
import { IPsecSiteConnectionSpec } from '../../src/api/siteconnection.ts';

const ROOT = fileURLToPath(new URL('../../deploy/argocd/resource_customizations/vpnaas.dev/', import.meta.url));
const LUA = '/usr/bin/lua5.4';

/** Every kind, with a spec as the API server would store it. */
const KINDS: Array<{ kind: string; spec: ManagedObject['spec'] }> = [
  { kind: 'VpnService', spec: VpnServiceSpec.parse({ routerId: '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa' }) },
  { kind: 'IKEPolicy', spec: IKEPolicySpec.parse({}) },
  { kind: 'IPsecPolicy', spec: IPsecPolicySpec.parse({}) },
  { kind: 'EndpointGroup', spec: EndpointGroupSpec.parse({ type: 'cidr', endpoints: ['10.2.0.0/24'] }) },
  {
    kind: 'IPsecSiteConnection',
    spec: IPsecSiteConnectionSpec.parse({
      vpnServiceRef: { name: 'vpn' },
      ikePolicyRef: { name: 'ike' },
      ipsecPolicyRef: { name: 'ipsec' },
      peerCidrs: ['10.2.0.0/24'],
      peerAddress: '203.0.113.7',
      pskSecretRef: { name: 'psk' },
    }),
  },
];
const dirOf = (kind: string): string => path.join(ROOT, kind);

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

function health(kind: string, obj: unknown): { status: string; message: string } {
  const SCRIPT = readFileSync(path.join(dirOf(kind), 'health.lua'), 'utf8');
  const program = `obj = ${lua(obj)}\nlocal function check()\n${SCRIPT}\nend\nlocal hs = check()\nprint(hs.status)\nprint(hs.message or "")`;
  const out = execFileSync(LUA, ['-'], { input: program, encoding: 'utf8' }).split('\n');
  return { status: out[0]!, message: out[1]! };
}

const baseOf = (k: (typeof KINDS)[number]): ManagedObject => ({
  apiVersion: 'vpnaas.dev/v1alpha1',
  kind: k.kind,
  metadata: { name: 'v', namespace: 'ns', uid: 'u', resourceVersion: '1', generation: 2, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: k.spec,
});

/** Argo CD's verdict for each reason (a reason added to REASONS without a line here fails the test below). */
const expected: Record<string, string> = {
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

/**
 * What kstatus says for each reason: Stalled=True → Failed (also Down: a tunnel that is down needs a person, so Flux
 * stops waiting for it; Argo CD: Degraded), Reconciling=True → InProgress, Ready=True → Current.
 */
const expectedKstatus: Record<Reason, string> = Object.fromEntries(
  (Object.keys(REASONS) as Reason[]).map((r) => [r, REASONS[r].phase === 'stalled' ? 'Failed' : REASONS[r].ready === 'True' ? 'Current' : 'InProgress']),
) as Record<Reason, string>;

let tools = '';
function toolsDir(): string {
  tools ||= execFileSync('bash', [fileURLToPath(new URL('../cluster/tools/build.sh', import.meta.url))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .at(-1) ?? '';
  return tools;
}

it('every reason of the operator has an expected Argo CD verdict', () => {
  expect(Object.keys(REASONS).filter((r) => expected[r] === undefined)).toEqual([]);
});

describe.each(KINDS)('Argo CD health of a $kind', (k) => {
  const base = baseOf(k);
  it.each(Object.keys(REASONS) as Reason[])('Ready reason %s', (reason) => {
    const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason, message: `because ${reason}` }, '2026-01-01T00:00:01Z');
    const h = health(k.kind, { ...base, status });
    expect(h.status).toBe(expected[reason]);
    expect(h.message).toContain(`because ${reason}`);
  });

  it('no status yet → Progressing', () => {
    expect(health(k.kind, base).status).toBe('Progressing');
  });

  it('a status for an older generation → Progressing, even if it was Active', () => {
    const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason: 'Active', message: 'ok' }, '2026-01-01T00:00:01Z');
    expect(health(k.kind, { ...base, metadata: { ...base.metadata, generation: 3 }, status }).status).toBe('Progressing');
  });
});

describe.each(KINDS)('Argo CD health_test.yaml of $kind, run by gopher-lua', (k) => {
  it('gives every case its expected status and message, and the harness can fail', () => {
    const dir = dirOf(k.kind);
    const bin = path.join(toolsDir(), 'luahealth');
    const r = spawnSync(bin, [dir], { encoding: 'utf8' });
    const cases = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { inputPath: string; ok: boolean; status: string });
    expect(cases.filter((c) => !c.ok), r.stdout).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(6);
    expect(r.status, r.stderr).toBe(0);
    // The states the task names, each with a case: Healthy, Progressing and Degraded at least.
    expect(new Set(cases.map((c) => c.status))).toEqual(new Set(['Healthy', 'Progressing', 'Degraded']));
    // The harness can fail: the same cases with one expectation changed.
    const tmp = mkdtempSync(path.join(tmpdir(), 'vpnaas-argocd-'));
    try {
      cpSync(dir, tmp, { recursive: true });
      const file = path.join(tmp, 'health_test.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('status: Healthy', 'status: Degraded'));
      expect(spawnSync(bin, [tmp], { encoding: 'utf8' }).status).toBe(1);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 600_000);
});

describe('kstatus (Flux) of every kind, by cli-utils', () => {
  it('reads the statuses the operator computes for every reason, and being deleted as Terminating', () => {
    type Verdict = { name: string; kind: string; status: string };
    const items: unknown[] = [];
    const want = new Map<string, string>();
    for (const k of KINDS) {
      const base = baseOf(k);
      for (const reason of Object.keys(REASONS) as Reason[]) {
        const name = `${k.kind.toLowerCase()}-${reason.toLowerCase()}`;
        const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason, message: `because ${reason}` }, '2026-01-01T00:00:01Z');
        items.push({ ...base, metadata: { ...base.metadata, name }, status });
        want.set(`${k.kind}/${name}`, expectedKstatus[reason]);
      }
      // Being deleted, its cloud resource still in use: Terminating (Argo CD: Progressing, above).
      const name = `${k.kind.toLowerCase()}-deleting`;
      const status = nextStatus(base, { id: 'x', status: 'ACTIVE' }, { reason: 'DeleteBlocked', message: 'in use' }, '2026-01-01T00:00:01Z');
      items.push({ ...base, metadata: { ...base.metadata, name, deletionTimestamp: '2026-01-01T00:00:02Z', finalizers: ['vpnaas.dev/cleanup'] }, status });
      want.set(`${k.kind}/${name}`, 'Terminating');
      // No status yet: InProgress (kstatus reads a missing observedGeneration on a generation > 1 as not observed).
      const fresh = `${k.kind.toLowerCase()}-fresh`;
      items.push({ ...base, metadata: { ...base.metadata, name: fresh }, status: { observedGeneration: 1 } });
      want.set(`${k.kind}/${fresh}`, 'InProgress');
    }
    const r = spawnSync(path.join(toolsDir(), 'kstatus'), [], { input: JSON.stringify({ items }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Verdict);
    const table = got.map((v) => `${v.kind}/${v.name}: ${v.status}`);
    console.log(`kstatus verdicts (${got.length} objects):\n  ${table.join('\n  ')}`);
    expect(Object.fromEntries(got.map((v) => [`${v.kind}/${v.name}`, v.status]))).toEqual(Object.fromEntries(want));
  }, 600_000);
});
