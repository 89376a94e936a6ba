// The CRDs of IKEPolicy, IPsecPolicy, EndpointGroup and IPsecSiteConnection on a real kube-apiserver: names and the
// vpnaas category, descriptions (also as `kubectl explain` shows them), defaults, every CEL rule refusing with its
// message, accepted valid objects, immutable fields, the PSK only by Secret reference (a spec.psk is never stored),
// the status subresource, printer columns; and the zod schemas of src/api/ agreeing with the CRDs (the same fields,
// enums, limits and defaults; what the API server accepts parses with zod to the same spec).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds, startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { repoRoot } from '../support/cluster.ts';
import { KubeClient, kubeError } from '../support/kube.ts';
import { API_VERSION, GROUP, VERSION } from '../../src/api/common.ts';
import { IKEPolicy, IKEPolicySpec, IKE_KIND, IKE_PLURAL, IPSEC_KIND, IPSEC_PLURAL, IPsecPolicy, IPsecPolicySpec, PolicyStatus } from '../../src/api/policies.ts';
import { EG_KIND, EG_PLURAL, EndpointGroup, EndpointGroupSpec, EndpointGroupStatus } from '../../src/api/endpointgroup.ts';
import {
  CONN_KIND,
  CONN_PLURAL,
  IPsecSiteConnection,
  IPsecSiteConnectionSpec,
  IPsecSiteConnectionStatus,
} from '../../src/api/siteconnection.ts';

type Json = Record<string, unknown>;
const NS = 'kinds';
const UUID1 = '0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9';
const UUID2 = '1a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9';
const IMPORT = '5c561d9d-eaea-45f6-ae3e-08d1a7080828';
const IMPORT2 = '6c561d9d-eaea-45f6-ae3e-08d1a7080828';

interface KindInfo {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodObject;
  status: z.ZodObject;
  object: z.ZodType;
  /** A minimal valid spec. */
  minimal: Json;
  /** The minimal spec as the API server stores it (its defaults applied). */
  defaulted: Json;
  /** A spec with every field set. */
  full: Json;
  /** Printer columns after NAME, in order. */
  columns: string[];
}

const connMinimal = {
  vpnServiceRef: { name: 'vpn' },
  ikePolicyRef: { name: 'ike' },
  ipsecPolicyRef: { name: 'ipsec' },
  localEndpointGroupRef: { name: 'local' },
  peerEndpointGroupRef: { name: 'peer' },
  peerAddress: '203.0.113.7',
  pskSecretRef: { name: 'psk' },
};

const KINDS: KindInfo[] = [
  {
    kind: IKE_KIND,
    plural: IKE_PLURAL,
    singular: 'ikepolicy',
    shortNames: ['ikep'],
    spec: IKEPolicySpec,
    status: PolicyStatus,
    object: IKEPolicy,
    minimal: {},
    defaulted: {
      authAlgorithm: 'sha1',
      encryptionAlgorithm: 'aes-128',
      pfs: 'group5',
      lifetime: { units: 'seconds', value: 3600 },
      ikeVersion: 'v1',
      phase1NegotiationMode: 'main',
      deletionPolicy: 'Delete',
    },
    full: {
      name: 'n'.repeat(255),
      description: 'd'.repeat(255),
      authAlgorithm: 'sha512',
      encryptionAlgorithm: 'aes-256',
      pfs: 'group14',
      lifetime: { units: 'seconds', value: 60 },
      ikeVersion: 'v2',
      phase1NegotiationMode: 'aggressive',
      tenantId: 't'.repeat(255),
      deletionPolicy: 'Orphan',
      importId: IMPORT,
      cloudCredentialsRef: { secretName: 'cloud', cloudName: 'otc' },
    },
    columns: ['ID', 'VERSION', 'ENCRYPTION', 'AUTH', 'PFS', 'READY', 'REASON', 'AGE'],
  },
  {
    kind: IPSEC_KIND,
    plural: IPSEC_PLURAL,
    singular: 'ipsecpolicy',
    shortNames: ['ipsecp'],
    spec: IPsecPolicySpec,
    status: PolicyStatus,
    object: IPsecPolicy,
    minimal: {},
    defaulted: {
      authAlgorithm: 'sha1',
      encryptionAlgorithm: 'aes-128',
      pfs: 'group5',
      lifetime: { units: 'seconds', value: 3600 },
      transformProtocol: 'esp',
      encapsulationMode: 'tunnel',
      deletionPolicy: 'Delete',
    },
    full: {
      name: 'ipsec-a',
      description: 'phase 2',
      authAlgorithm: 'sha256',
      encryptionAlgorithm: '3des',
      pfs: 'group2',
      lifetime: { units: 'seconds', value: 28_800 },
      transformProtocol: 'ah',
      encapsulationMode: 'transport',
      tenantId: 'project-a',
      deletionPolicy: 'Orphan',
      importId: IMPORT,
      cloudCredentialsRef: { secretName: 'cloud', cloudName: 'otc' },
    },
    columns: ['ID', 'PROTOCOL', 'ENCRYPTION', 'AUTH', 'PFS', 'READY', 'REASON', 'AGE'],
  },
  {
    kind: EG_KIND,
    plural: EG_PLURAL,
    singular: 'endpointgroup',
    shortNames: ['epg'],
    spec: EndpointGroupSpec,
    status: EndpointGroupStatus,
    object: EndpointGroup,
    minimal: { type: 'cidr', endpoints: ['10.2.0.0/24'] },
    defaulted: { type: 'cidr', endpoints: ['10.2.0.0/24'], deletionPolicy: 'Delete' },
    full: {
      name: 'local-subnets',
      description: 'the VPC side',
      type: 'subnet',
      endpoints: [UUID1, UUID2.toUpperCase()],
      tenantId: 'project-a',
      deletionPolicy: 'Orphan',
      importId: IMPORT,
      cloudCredentialsRef: { secretName: 'cloud', cloudName: 'otc' },
    },
    columns: ['ID', 'TYPE', 'ENDPOINTS', 'READY', 'REASON', 'AGE'],
  },
  {
    kind: CONN_KIND,
    plural: CONN_PLURAL,
    singular: 'ipsecsiteconnection',
    shortNames: ['ipsc'],
    spec: IPsecSiteConnectionSpec,
    status: IPsecSiteConnectionStatus,
    object: IPsecSiteConnection,
    minimal: connMinimal,
    defaulted: {
      ...connMinimal,
      pskSecretRef: { name: 'psk', key: 'psk' },
      mtu: 1500,
      initiator: 'bi-directional',
      dpd: { action: 'hold', interval: 30, timeout: 120 },
      adminStateUp: true,
      deletionPolicy: 'Delete',
    },
    full: {
      name: 'to-berlin',
      description: 'the Berlin office',
      vpnServiceRef: { name: 'vpn' },
      ikePolicyRef: { name: 'ike' },
      ipsecPolicyRef: { name: 'ipsec' },
      peerCidrs: ['10.3.0.0/16', '10.4.0.0/24'],
      peerAddress: 'vpn.berlin.example.com',
      peerId: 'berlin@example.com',
      localId: '198.51.100.1',
      mtu: 1400,
      initiator: 'response-only',
      dpd: { action: 'restart', interval: 10, timeout: 11 },
      adminStateUp: false,
      pskSecretRef: { name: 'berlin-psk', key: 'key' },
      tenantId: 'project-a',
      deletionPolicy: 'Orphan',
      importId: IMPORT,
      cloudCredentialsRef: { secretName: 'cloud', cloudName: 'otc' },
    },
    columns: ['STATUS', 'PEER', 'ID', 'VPN-SERVICE', 'READY', 'REASON', 'AGE'],
  },
];

const byKind = new Map(KINDS.map((k) => [k.kind, k]));
const info = (kind: string): KindInfo => byKind.get(kind)!;
const collection = (k: KindInfo): string => `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${k.plural}`;
const manifest = (k: KindInfo, name: string, spec: Json): Json => ({ apiVersion: API_VERSION, kind: k.kind, metadata: { name, namespace: NS }, spec });
const rnd = (): string => Math.random().toString(36).slice(2, 8);

let cp: ControlPlane;
let kube: KubeClient;
let kubectlBin: string;

function kubectl(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  // A discovery/OpenAPI cache of this control plane only: ~/.kube/cache is keyed by host:port, and an earlier run's
  // API server on the same port (other CRDs) made explain fail with "couldn't find resource".
  const cache = path.join(path.dirname(cp.kubeconfigPath), 'kubectl-cache');
  const r = spawnSync(kubectlBin, ['--kubeconfig', cp.kubeconfigPath, '--cache-dir', cache, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
  await installCrds(cp.kubeConfig);
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  const bin = execFileSync('bash', [path.join(repoRoot, 'test/controlplane/build.sh'), 'kubectl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  kubectlBin = path.join(bin.trim().split('\n').at(-1) ?? '', 'kubectl');
  // kubectl explain reads the OpenAPI v3 document, which the API server publishes a moment after the CRDs are
  // Established and served (about a second here, longer with more CEL rules to compile): wait for every kind in it.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const doc = (await kube.request('GET', `/openapi/v3/apis/${GROUP}/${VERSION}`).catch(() => undefined)) as { components?: { schemas?: Record<string, unknown> } } | undefined;
    const names = Object.keys(doc?.components?.schemas ?? {});
    if (KINDS.every((k) => names.includes(`dev.vpnaas.${VERSION}.${k.kind}`))) break;
    if (Date.now() > deadline) throw new Error(`the OpenAPI v3 document of ${GROUP}/${VERSION} lacks kinds after 60 s: ${names.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}, 300_000);
afterAll(async () => {
  await cp?.stop();
});

// ---------------------------------------------------------------------------------------------------------------
// The CRDs as files, and the zod schemas as JSON Schema, compared field by field.

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  'x-kubernetes-validations'?: Array<{ rule: string; message: string }>;
}

function crdOf(k: KindInfo): { names: Json; scope: string; version: { schema: { openAPIV3Schema: Schema }; additionalPrinterColumns: Array<{ name: string }> } } {
  // The file as written (readCrds gives client-node's model, whose field names differ: _enum, _default, ...).
  const crd = YAML.parse(fs.readFileSync(path.join(repoRoot, 'crds', `${GROUP}_${k.plural}.yaml`), 'utf8')) as {
    metadata: { name: string };
    spec: { names: Json; scope: string; versions: unknown[] };
  };
  expect(crd.metadata.name).toBe(`${k.plural}.${GROUP}`);
  return { names: crd.spec.names, scope: crd.spec.scope, version: crd.spec.versions[0] as never };
}

/** Where the CRD deliberately says a limit in CEL instead of OpenAPI (so that the message says what to do). */
const CEL_INSTEAD = new Set(['spec.lifetime.value.minimum']);

/** Differences between the CRD's schema and zod's JSON Schema (io: input), as readable lines. */
function compareSchemas(crd: Schema, zod: Schema, at: string, out: string[], limits = true): void {
  const keysOf = (s: Schema): string[] => Object.keys(s.properties ?? {}).sort();
  if (crd.type !== zod.type) out.push(`${at}: type ${crd.type} in the CRD, ${zod.type} in zod`);
  if (crd.type === 'object' && (crd.properties || zod.properties)) {
    if (JSON.stringify(keysOf(crd)) !== JSON.stringify(keysOf(zod))) out.push(`${at}: fields ${keysOf(crd)} in the CRD, ${keysOf(zod)} in zod`);
    const req = (s: Schema): string => JSON.stringify([...(s.required ?? [])].sort());
    if (req(crd) !== req(zod)) out.push(`${at}: required ${req(crd)} in the CRD, ${req(zod)} in zod`);
    for (const key of keysOf(crd)) {
      const z2 = zod.properties?.[key];
      if (z2) compareSchemas(crd.properties![key]!, z2, `${at}.${key}`, out, limits);
    }
    return;
  }
  if (crd.type === 'array' && crd.items && zod.items) compareSchemas(crd.items, zod.items, `${at}[]`, out, limits);
  if (!limits) return;
  for (const f of ['enum', 'default', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems'] as const) {
    if (CEL_INSTEAD.has(`${at}.${f}`)) continue;
    // zod's integers carry the safe-integer range when nothing narrower is said.
    const zv = (f === 'minimum' || f === 'maximum') && Math.abs(Number(zod[f])) === Number.MAX_SAFE_INTEGER ? undefined : zod[f];
    if (JSON.stringify(crd[f]) !== JSON.stringify(zv)) out.push(`${at}: ${f} ${JSON.stringify(crd[f])} in the CRD, ${JSON.stringify(zv)} in zod`);
  }
  // A zod regex is a CEL matches() rule in the CRD (OpenAPI patterns give no message of our own).
  if (zod.pattern && !(crd['x-kubernetes-validations'] ?? []).some((v) => v.rule.includes(zod.pattern!))) {
    out.push(`${at}: zod's pattern ${zod.pattern} is not a CEL rule of the CRD`);
  }
}

describe.each(KINDS)('$kind: the CRD', (k) => {
  it('is Established, namespaced, with its short names and the vpnaas category', async () => {
    const crd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${k.plural}.${GROUP}`)) as {
      spec: { names: Json; scope: string };
      status: { conditions: Array<{ type: string; status: string }> };
    };
    expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: k.kind, plural: k.plural, singular: k.singular, shortNames: k.shortNames, categories: ['vpnaas'] });
  });

  it('documents every field', () => {
    const missing: string[] = [];
    const walk = (s: Schema, at: string): void => {
      if (at !== '.metadata' && typeof s.description !== 'string') missing.push(at || '.');
      for (const [key, v] of Object.entries(s.properties ?? {})) walk(v, `${at}.${key}`);
      if (s.items) walk(s.items, `${at}[]`);
    };
    walk(crdOf(k).version.schema.openAPIV3Schema, '');
    expect(missing).toEqual([]);
  });

  it('has the fields, enums, limits and scalar defaults of the zod schema (spec), and its status fields', () => {
    const root = crdOf(k).version.schema.openAPIV3Schema;
    const diffs: string[] = [];
    compareSchemas(root.properties!.spec!, z.toJSONSchema(k.spec, { io: 'input' }) as Schema, 'spec', diffs);
    // The status is written by the operator only: the same fields and types (its limits are the API server's).
    compareSchemas(root.properties!.status!, z.toJSONSchema(k.status, { io: 'input' }) as Schema, 'status', diffs, false);
    expect(diffs).toEqual([]);
  });

  it('kubectl explain shows the descriptions of the kind and of every spec and status field', () => {
    const norm = (s: string): string => s.replace(/\s+/g, ' ').trim();
    const root = crdOf(k).version.schema.openAPIV3Schema;
    const top = kubectl(['explain', k.plural]);
    expect(top.status, top.stderr).toBe(0);
    expect(norm(top.stdout)).toContain(norm(root.description!));
    for (const part of ['spec', 'status'] as const) {
      const r = kubectl(['explain', `${k.singular}.${part}`]);
      expect(r.status, r.stderr).toBe(0);
      const text = norm(r.stdout);
      for (const [key, field] of Object.entries(root.properties![part]!.properties!)) {
        expect(text, `kubectl explain ${k.singular}.${part}: ${key}`).toContain(key);
        expect(text, `kubectl explain ${k.singular}.${part}: description of ${key}`).toContain(norm(field.description!));
      }
    }
  });
});

describe('kubectl get vpnaas', () => {
  it('lists the objects of all five kinds (the category), the short names work', async () => {
    const want: string[] = [];
    for (const k of KINDS) {
      const name = `cat-${k.shortNames[0]}`;
      await kube.request('POST', collection(k), manifest(k, name, k.minimal));
      want.push(`${k.singular}.${GROUP}/${name}`);
      const short = kubectl(['-n', NS, 'get', k.shortNames[0]!, name, '-o', 'name']);
      expect(short.stdout.trim(), short.stderr).toBe(`${k.singular}.${GROUP}/${name}`);
    }
    await kube.request('POST', `/apis/${GROUP}/${VERSION}/namespaces/${NS}/vpnservices`, {
      apiVersion: API_VERSION,
      kind: 'VpnService',
      metadata: { name: 'cat-vpn', namespace: NS },
      spec: { routerId: UUID1 },
    });
    want.push(`vpnservice.${GROUP}/cat-vpn`);
    const r = kubectl(['-n', NS, 'get', 'vpnaas', '-o', 'name']);
    expect(r.status, r.stderr).toBe(0);
    const listed = r.stdout.trim().split('\n');
    for (const n of want) expect(listed).toContain(n);
  });
});

describe.each(KINDS)('$kind: valid objects', (k) => {
  it('a minimal one is accepted with the defaults of the zod schema', async () => {
    const m = manifest(k, `min-${rnd()}`, k.minimal);
    const created = (await kube.request('POST', collection(k), m)) as Json;
    expect(created.spec).toEqual(k.defaulted);
    // zod fills in the same defaults from the manifest, and reads the stored object unchanged.
    expect(k.spec.parse(k.minimal)).toEqual(k.defaulted);
    expect((k.object.parse(created) as { spec: Json }).spec).toEqual(k.defaulted);
  });

  it('one with every field set is stored as written, and zod reads it back equal', async () => {
    const created = (await kube.request('POST', collection(k), manifest(k, `full-${rnd()}`, k.full))) as Json;
    expect(created.spec).toEqual(k.full);
    expect((k.object.parse(created) as { spec: Json }).spec).toEqual(k.full);
  });
});

describe('more valid objects', () => {
  const ok: Array<{ case: string; kind: string; spec: Json }> = [
    { case: 'IKEPolicy: lifetime 60 (the minimum), units defaulted', kind: IKE_KIND, spec: { lifetime: { value: 60 } } },
    { case: 'IKEPolicy: the largest lifetime', kind: IKE_KIND, spec: { lifetime: { units: 'seconds', value: 2_147_483_647 } } },
    { case: 'IPsecPolicy: ah-esp (Neutron\'s API allows it; a driver may refuse it)', kind: IPSEC_KIND, spec: { transformProtocol: 'ah-esp' } },
    { case: 'EndpointGroup: IPv6 CIDRs', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['2001:db8::/64', '2001:db8:1::/48'] } },
    { case: 'EndpointGroup: 100 CIDRs', kind: EG_KIND, spec: { type: 'cidr', endpoints: Array.from({ length: 100 }, (_, i) => `10.${i}.0.0/16`) } },
    { case: 'EndpointGroup: one subnet', kind: EG_KIND, spec: { type: 'subnet', endpoints: [UUID1] } },
    { case: 'IPsecSiteConnection: peerCidrs form', kind: CONN_KIND, spec: { ...legacy(), peerAddress: '198.51.100.9' } },
    { case: 'IPsecSiteConnection: IPv6 peer with mtu 1280', kind: CONN_KIND, spec: { ...connMinimal, peerAddress: '2001:db8::7', mtu: 1280 } },
    { case: 'IPsecSiteConnection: IPv4 peer with mtu 68', kind: CONN_KIND, spec: { ...connMinimal, mtu: 68 } },
    { case: 'IPsecSiteConnection: FQDN peer with a trailing dot', kind: CONN_KIND, spec: { ...connMinimal, peerAddress: 'vpn.example.com.' } },
    { case: 'IPsecSiteConnection: dpd interval only (timeout defaulted above it)', kind: CONN_KIND, spec: { ...connMinimal, dpd: { interval: 119 } } },
  ];
  it.each(ok)('$case', async (c) => {
    const k = info(c.kind);
    const created = (await kube.request('POST', collection(k), manifest(k, `ok-${rnd()}`, c.spec))) as Json;
    expect((k.object.parse(created) as { spec: Json }).spec).toEqual(created.spec);
    expect(k.spec.parse(c.spec)).toEqual(created.spec);
  });
});

function legacy(): Json {
  const { localEndpointGroupRef: _l, peerEndpointGroupRef: _p, ...rest } = connMinimal;
  return { ...rest, peerCidrs: ['10.9.0.0/24'] };
}

// ---------------------------------------------------------------------------------------------------------------
// Refusals. zod: whether src/api's schema refuses the same manifest (false: a rule only the API server enforces,
// since it spans several fields or needs CEL's network functions; the operator only ever reads admitted objects).

interface Refusal {
  case: string;
  kind: string;
  spec: Json;
  /** The field path the API server's message names. */
  path: string;
  /** Text of the CRD's own message, for CEL rules. */
  says?: string;
  zod: boolean;
}

const { localEndpointGroupRef: _l, ...connNoLocal } = connMinimal;
/** Names a hostile tenant tries in a reference: paths out of the namespace, encodings, case, unicode. */
const HOSTILE_NAMES = ['../../b/secrets/psk', '%2e%2e/%2e%2e/b/secrets/psk', '..', '.', 'PSK', 'psk/x', 'psk\u00e9', 'pś', ' psk', '-psk', 'psk.'];
const refusals: Refusal[] = [
  // policies
  ...[IKE_KIND, IPSEC_KIND].flatMap((kind): Refusal[] => [
    { case: 'lifetime.value 59', kind, spec: { lifetime: { value: 59 } }, path: 'spec.lifetime.value', says: "at least 60 (seconds; Neutron's minimum)", zod: true },
    { case: 'lifetime.value 0', kind, spec: { lifetime: { units: 'seconds', value: 0 } }, path: 'spec.lifetime.value', says: 'at least 60', zod: true },
    { case: 'lifetime in kilobytes', kind, spec: { lifetime: { units: 'kilobytes', value: 3600 } }, path: 'spec.lifetime.units', zod: true },
    { case: 'lifetime above 2^31-1', kind, spec: { lifetime: { value: 2_147_483_648 } }, path: 'spec.lifetime.value', zod: true },
    { case: 'auth algorithm md5', kind, spec: { authAlgorithm: 'md5' }, path: 'spec.authAlgorithm', zod: true },
    { case: 'encryption algorithm des', kind, spec: { encryptionAlgorithm: 'des' }, path: 'spec.encryptionAlgorithm', zod: true },
    { case: 'pfs group1', kind, spec: { pfs: 'group1' }, path: 'spec.pfs', zod: true },
    { case: 'name of 256 characters', kind, spec: { name: 'n'.repeat(256) }, path: 'spec.name', zod: true },
    { case: 'empty name', kind, spec: { name: '' }, path: 'spec.name', zod: true },
    { case: 'description of 256 characters', kind, spec: { description: 'd'.repeat(256) }, path: 'spec.description', zod: true },
    { case: 'tenantId of 256 characters', kind, spec: { tenantId: 't'.repeat(256) }, path: 'spec.tenantId', zod: true },
    { case: 'bad deletionPolicy', kind, spec: { deletionPolicy: 'Retain' }, path: 'spec.deletionPolicy', zod: true },
    { case: 'cloudCredentialsRef without cloudName', kind, spec: { cloudCredentialsRef: { secretName: 's' } }, path: 'spec.cloudCredentialsRef.cloudName', zod: true },
  ]),
  ...KINDS.map((k): Refusal => ({ case: 'non-UUID importId', kind: k.kind, spec: { ...k.minimal, importId: 'object-1' }, path: 'spec.importId', says: 'must be a UUID', zod: true })),
  // Names taken from an object end up in a request path of the operator: hostile ones are refused here (issue 17).
  ...KINDS.flatMap((k): Refusal[] =>
    HOSTILE_NAMES.map((secretName) => ({
      case: `cloudCredentialsRef.secretName ${JSON.stringify(secretName)}`,
      kind: k.kind,
      spec: { ...k.minimal, cloudCredentialsRef: { secretName, cloudName: 'c' } },
      path: 'spec.cloudCredentialsRef.secretName',
      says: 'DNS-1123 subdomain',
      zod: true,
    })),
  ),
  ...HOSTILE_NAMES.map((name): Refusal => ({ case: `pskSecretRef.name ${JSON.stringify(name)}`, kind: CONN_KIND, spec: { ...connMinimal, pskSecretRef: { name } }, path: 'spec.pskSecretRef.name', says: 'DNS-1123 subdomain', zod: true })),
  ...['../psk', '..', '.', 'a/b', 'p%2fk', 'clé', ''].map((key): Refusal => ({ case: `pskSecretRef.key ${JSON.stringify(key)}`, kind: CONN_KIND, spec: { ...connMinimal, pskSecretRef: { name: 'psk', key } }, path: 'spec.pskSecretRef.key', says: key === '' ? undefined : "a key of the Secret's data", zod: true })),
  ...(['vpnServiceRef', 'ikePolicyRef', 'ipsecPolicyRef', 'localEndpointGroupRef', 'peerEndpointGroupRef'] as const).map((ref): Refusal => ({ case: `${ref}.name "../x"`, kind: CONN_KIND, spec: { ...connMinimal, [ref]: { name: '../x' } }, path: `spec.${ref}.name`, says: 'DNS-1123 subdomain', zod: true })),
  { case: 'IKE version v3', kind: IKE_KIND, spec: { ikeVersion: 'v3' }, path: 'spec.ikeVersion', zod: true },
  { case: 'phase 1 mode quick', kind: IKE_KIND, spec: { phase1NegotiationMode: 'quick' }, path: 'spec.phase1NegotiationMode', zod: true },
  { case: 'transform protocol gre', kind: IPSEC_KIND, spec: { transformProtocol: 'gre' }, path: 'spec.transformProtocol', zod: true },
  { case: 'encapsulation mode beet', kind: IPSEC_KIND, spec: { encapsulationMode: 'beet' }, path: 'spec.encapsulationMode', zod: true },
  // endpoint groups
  { case: 'type network (Neutron knows it, VPN connections do not use it)', kind: EG_KIND, spec: { type: 'network', endpoints: [UUID1] }, path: 'spec.type', zod: true },
  { case: 'missing type', kind: EG_KIND, spec: { endpoints: ['10.0.0.0/8'] }, path: 'spec.type', zod: true },
  { case: 'missing endpoints', kind: EG_KIND, spec: { type: 'cidr' }, path: 'spec.endpoints', zod: true },
  { case: 'no endpoints', kind: EG_KIND, spec: { type: 'cidr', endpoints: [] }, path: 'spec.endpoints', zod: true },
  { case: '101 endpoints', kind: EG_KIND, spec: { type: 'cidr', endpoints: Array.from({ length: 101 }, (_, i) => `10.${i}.0.0/16`) }, path: 'spec.endpoints', zod: true },
  { case: 'an endpoint of 65 characters', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['1'.repeat(65)] }, path: 'spec.endpoints[0]', zod: true },
  { case: 'type subnet with a CIDR', kind: EG_KIND, spec: { type: 'subnet', endpoints: [UUID1, '10.0.0.0/24'] }, path: 'spec.endpoints', says: 'type subnet: every endpoint must be a subnet ID', zod: false },
  { case: 'type subnet with a name', kind: EG_KIND, spec: { type: 'subnet', endpoints: ['private-subnet'] }, path: 'spec.endpoints', says: 'type subnet: every endpoint must be a subnet ID', zod: false },
  { case: 'type cidr with a subnet ID', kind: EG_KIND, spec: { type: 'cidr', endpoints: [UUID1] }, path: 'spec.endpoints', says: 'type cidr: every endpoint must be a CIDR', zod: false },
  { case: 'type cidr with an address without prefix', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['10.0.0.1'] }, path: 'spec.endpoints', says: 'type cidr: every endpoint must be a CIDR', zod: false },
  { case: 'type cidr with /33', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['10.0.0.0/33'] }, path: 'spec.endpoints', says: 'type cidr: every endpoint must be a CIDR', zod: false },
  { case: 'type cidr mixing IPv4 and IPv6', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['10.0.0.0/24', '2001:db8::/64'] }, path: 'spec.endpoints', says: 'all endpoints must be of one IP version', zod: false },
  { case: 'a duplicate endpoint', kind: EG_KIND, spec: { type: 'cidr', endpoints: ['10.0.0.0/24', '10.0.0.0/24'] }, path: 'spec.endpoints[1]', says: 'Duplicate value', zod: false },
  // site connections
  { case: 'neither endpoint groups nor peerCidrs', kind: CONN_KIND, spec: (({ localEndpointGroupRef: _a, peerEndpointGroupRef: _b, ...r }) => r)(connMinimal), path: 'spec', says: 'set either both localEndpointGroupRef and peerEndpointGroupRef', zod: false },
  { case: 'only the peer endpoint group', kind: CONN_KIND, spec: connNoLocal, path: 'spec', says: 'set either both localEndpointGroupRef and peerEndpointGroupRef', zod: false },
  { case: 'both endpoint groups and peerCidrs', kind: CONN_KIND, spec: { ...connMinimal, peerCidrs: ['10.9.0.0/24'] }, path: 'spec', says: 'not a mix', zod: false },
  { case: 'one endpoint group and peerCidrs', kind: CONN_KIND, spec: { ...connNoLocal, peerCidrs: ['10.9.0.0/24'] }, path: 'spec', says: 'not a mix', zod: false },
  { case: 'a peerCidrs entry that is no CIDR', kind: CONN_KIND, spec: { ...legacy(), peerCidrs: ['10.9.0.0/24', 'berlin'] }, path: 'spec.peerCidrs', says: 'every peerCidrs entry must be a CIDR', zod: false },
  { case: 'peerCidrs mixing IPv4 and IPv6', kind: CONN_KIND, spec: { ...legacy(), peerCidrs: ['10.9.0.0/24', '2001:db8::/64'] }, path: 'spec.peerCidrs', says: 'one IP version', zod: false },
  { case: 'empty peerCidrs', kind: CONN_KIND, spec: { ...legacy(), peerCidrs: [] }, path: 'spec.peerCidrs', zod: true },
  { case: 'dpd timeout equal to interval', kind: CONN_KIND, spec: { ...connMinimal, dpd: { interval: 30, timeout: 30 } }, path: 'spec.dpd.timeout', says: 'dpd.timeout must be greater than dpd.interval', zod: false },
  { case: 'dpd interval above the default timeout', kind: CONN_KIND, spec: { ...connMinimal, dpd: { interval: 200 } }, path: 'spec.dpd.timeout', says: 'dpd.timeout must be greater than dpd.interval', zod: false },
  { case: 'dpd interval 0', kind: CONN_KIND, spec: { ...connMinimal, dpd: { interval: 0 } }, path: 'spec.dpd.interval', zod: true },
  { case: 'dpd action ignore', kind: CONN_KIND, spec: { ...connMinimal, dpd: { action: 'ignore' } }, path: 'spec.dpd.action', zod: true },
  { case: 'mtu 67', kind: CONN_KIND, spec: { ...connMinimal, mtu: 67 }, path: 'spec.mtu', zod: true },
  { case: 'mtu 9217', kind: CONN_KIND, spec: { ...connMinimal, mtu: 9217 }, path: 'spec.mtu', zod: true },
  { case: 'mtu 1279 with an IPv6 peer', kind: CONN_KIND, spec: { ...connMinimal, peerAddress: '2001:db8::7', mtu: 1279 }, path: 'spec.mtu', says: 'at least 1280 for an IPv6 peer', zod: false },
  { case: 'initiator both', kind: CONN_KIND, spec: { ...connMinimal, initiator: 'both' }, path: 'spec.initiator', zod: true },
  { case: 'missing peerAddress', kind: CONN_KIND, spec: (({ peerAddress: _a, ...r }) => r)(connMinimal), path: 'spec.peerAddress', zod: true },
  { case: 'peerAddress with a space', kind: CONN_KIND, spec: { ...connMinimal, peerAddress: 'vpn example' }, path: 'spec.peerAddress', says: 'must be an IPv4 or IPv6 address', zod: false },
  { case: 'peerAddress a URL', kind: CONN_KIND, spec: { ...connMinimal, peerAddress: 'https://vpn.example.com' }, path: 'spec.peerAddress', says: 'or a DNS name', zod: false },
  { case: 'missing vpnServiceRef', kind: CONN_KIND, spec: (({ vpnServiceRef: _a, ...r }) => r)(connMinimal), path: 'spec.vpnServiceRef', zod: true },
  { case: 'missing ikePolicyRef', kind: CONN_KIND, spec: (({ ikePolicyRef: _a, ...r }) => r)(connMinimal), path: 'spec.ikePolicyRef', zod: true },
  { case: 'missing ipsecPolicyRef', kind: CONN_KIND, spec: (({ ipsecPolicyRef: _a, ...r }) => r)(connMinimal), path: 'spec.ipsecPolicyRef', zod: true },
  { case: 'a reference without a name', kind: CONN_KIND, spec: { ...connMinimal, ikePolicyRef: {} }, path: 'spec.ikePolicyRef.name', zod: true },
  { case: 'a reference with an empty name', kind: CONN_KIND, spec: { ...connMinimal, vpnServiceRef: { name: '' } }, path: 'spec.vpnServiceRef.name', zod: true },
  { case: 'missing pskSecretRef', kind: CONN_KIND, spec: (({ pskSecretRef: _a, ...r }) => r)(connMinimal), path: 'spec.pskSecretRef', zod: true },
  { case: 'pskSecretRef with an empty key', kind: CONN_KIND, spec: { ...connMinimal, pskSecretRef: { name: 'psk', key: '' } }, path: 'spec.pskSecretRef.key', zod: true },
  { case: 'adminStateUp a string', kind: CONN_KIND, spec: { ...connMinimal, adminStateUp: 'yes' }, path: 'spec.adminStateUp', zod: true },
  { case: 'peerId empty', kind: CONN_KIND, spec: { ...connMinimal, peerId: '' }, path: 'spec.peerId', zod: true },
];

describe('invalid manifests are refused at admission, naming the field (and saying what to do)', () => {
  it.each(refusals)('$kind: $case', async (c) => {
    const k = info(c.kind);
    const err = await kubeError(kube.request('POST', collection(k), manifest(k, `bad-${rnd()}`, c.spec)));
    expect(err.status).toBe(422);
    expect(err.message).toContain(c.path);
    if (c.says) expect(err.message).toContain(c.says);
    expect(k.spec.safeParse(c.spec).success, c.zod ? 'zod refuses it too' : 'zod leaves this rule to the API server').toBe(!c.zod);
  });

  it('covers every CEL rule of the four CRDs with a refusal that quotes its message', () => {
    const uncovered: string[] = [];
    for (const k of KINDS) {
      const walk = (s: Schema): void => {
        for (const v of s['x-kubernetes-validations'] ?? []) {
          const quoted = [...refusals, ...immutables].some((c) => c.kind === k.kind && c.says !== undefined && v.message.includes(c.says));
          if (!quoted) uncovered.push(`${k.kind}: ${v.message}`);
        }
        for (const p of Object.values(s.properties ?? {})) walk(p);
        if (s.items) walk(s.items);
      };
      walk(crdOf(k).version.schema.openAPIV3Schema.properties!.spec!);
    }
    expect(uncovered).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Updates

interface Transition {
  case: string;
  kind: string;
  from: Json;
  to: Json;
  path: string;
  says?: string;
}

const CREDS_A = { cloudCredentialsRef: { secretName: 'a', cloudName: 'c' } };
const CREDS_B = { cloudCredentialsRef: { secretName: 'b', cloudName: 'c' } };
const immutables: Transition[] = [
  ...KINDS.flatMap((k): Transition[] => [
    { case: 'change of cloudCredentialsRef', kind: k.kind, from: { ...k.minimal, ...CREDS_A }, to: { ...k.minimal, ...CREDS_B }, path: 'spec.cloudCredentialsRef', says: 'cloudCredentialsRef is immutable' },
    { case: 'adding cloudCredentialsRef later', kind: k.kind, from: k.minimal, to: { ...k.minimal, ...CREDS_A }, path: 'spec.cloudCredentialsRef', says: 'cloudCredentialsRef is immutable' },
    { case: 'removing cloudCredentialsRef', kind: k.kind, from: { ...k.minimal, ...CREDS_A }, to: k.minimal, path: 'spec.cloudCredentialsRef', says: 'cloudCredentialsRef is immutable' },
    { case: 'change of importId', kind: k.kind, from: { ...k.minimal, importId: IMPORT }, to: { ...k.minimal, importId: IMPORT2 }, path: 'spec.importId', says: 'importId is immutable' },
    { case: 'adding importId later', kind: k.kind, from: k.minimal, to: { ...k.minimal, importId: IMPORT }, path: 'spec.importId', says: 'importId is immutable' },
    { case: 'removing importId', kind: k.kind, from: { ...k.minimal, importId: IMPORT }, to: k.minimal, path: 'spec.importId', says: 'importId is immutable' },
    { case: 'change of tenantId', kind: k.kind, from: { ...k.minimal, tenantId: 'a' }, to: { ...k.minimal, tenantId: 'b' }, path: 'spec.tenantId', says: 'tenantId is immutable' },
    { case: 'removing tenantId', kind: k.kind, from: { ...k.minimal, tenantId: 'a' }, to: k.minimal, path: 'spec.tenantId', says: 'tenantId is immutable' },
    { case: 'adding tenantId later', kind: k.kind, from: k.minimal, to: { ...k.minimal, tenantId: 'a' }, path: 'spec.tenantId', says: 'tenantId is immutable' },
  ]),
];

const mutables: Array<{ case: string; kind: string; from: Json; to: Json }> = [
  { case: 'every field but tenantId, importId and cloudCredentialsRef', kind: IKE_KIND, from: { tenantId: 'a' }, to: { ...info(IKE_KIND).full, tenantId: 'a', importId: undefined, cloudCredentialsRef: undefined } },
  { case: 'every field but tenantId, importId and cloudCredentialsRef', kind: IPSEC_KIND, from: { tenantId: 'a' }, to: { ...info(IPSEC_KIND).full, tenantId: 'a', importId: undefined, cloudCredentialsRef: undefined } },
  { case: 'the CIDRs (the operator replaces the group)', kind: EG_KIND, from: { type: 'cidr', endpoints: ['10.0.0.0/24'] }, to: { type: 'cidr', endpoints: ['10.0.0.0/24', '10.1.0.0/24'], name: 'new' } },
  { case: 'the type, with matching endpoints', kind: EG_KIND, from: { type: 'cidr', endpoints: ['10.0.0.0/24'] }, to: { type: 'subnet', endpoints: [UUID1] } },
  { case: 'endpoint groups, peer, PSK reference, dpd, mtu, admin state', kind: CONN_KIND, from: connMinimal, to: { ...connMinimal, localEndpointGroupRef: { name: 'local2' }, peerEndpointGroupRef: { name: 'peer2' }, peerAddress: '203.0.113.8', peerId: 'peer', localId: 'me', pskSecretRef: { name: 'psk2', key: 'k' }, dpd: { action: 'clear', interval: 5, timeout: 20 }, mtu: 1400, initiator: 'response-only', adminStateUp: false, description: 'd', name: 'n', deletionPolicy: 'Orphan' } },
  { case: 'from endpoint groups to peerCidrs (the operator replaces the connection)', kind: CONN_KIND, from: connMinimal, to: legacy() },
  { case: 'the VpnService and the policies it names (the operator replaces the connection)', kind: CONN_KIND, from: connMinimal, to: { ...connMinimal, vpnServiceRef: { name: 'vpn2' }, ikePolicyRef: { name: 'ike2' }, ipsecPolicyRef: { name: 'ipsec2' } } },
];

describe('updates', () => {
  async function createThenPut(k: KindInfo, from: Json, to: Json): Promise<Json> {
    const name = `upd-${rnd()}`;
    const created = (await kube.request('POST', collection(k), manifest(k, name, from))) as { metadata: Json };
    const spec = JSON.parse(JSON.stringify(to)) as Json; // drops undefined fields
    return (await kube.request('PUT', `${collection(k)}/${name}`, { ...manifest(k, name, spec), metadata: created.metadata })) as Json;
  }

  it.each(immutables)('$kind: $case is refused', async (c) => {
    const err = await kubeError(createThenPut(info(c.kind), c.from, c.to));
    expect(err.status).toBe(422);
    expect(err.message).toContain(c.path);
    expect(err.message).toContain(c.says!);
  });

  it.each(mutables)('$kind: $case may change', async (c) => {
    const k = info(c.kind);
    const updated = (await createThenPut(k, c.from, c.to)) as { spec: Json };
    expect(updated.spec).toMatchObject(JSON.parse(JSON.stringify(c.to)) as Json);
    expect((k.object.parse(updated) as { spec: Json }).spec).toEqual(updated.spec);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The pre-shared key only by reference

describe('IPsecSiteConnection: a psk in the spec is never stored', () => {
  const k = info(CONN_KIND);
  const withPsk = (name: string): Json => manifest(k, name, { ...connMinimal, psk: 'secret-in-git' });

  it('a plain POST (no field validation asked): accepted without it; nothing of it in the stored object', async () => {
    const created = (await kube.request('POST', collection(k), withPsk('psk-plain'))) as { spec: Json };
    expect(created.spec).not.toHaveProperty('psk');
    const got = await kube.request('GET', `${collection(k)}/psk-plain`);
    expect(JSON.stringify(got)).not.toContain('secret-in-git');
  });

  it('fieldValidation=Strict (what kubectl asks by default): refused, naming spec.psk', async () => {
    const err = await kubeError(kube.request('POST', `${collection(k)}?fieldValidation=Strict`, withPsk('psk-strict')));
    expect(err.status).toBe(400);
    expect(err.message).toContain('unknown field "spec.psk"');
  });

  it('kubectl apply refuses it; with validation turned off it is dropped from the spec (with a warning)', () => {
    const yaml = JSON.stringify(withPsk('psk-kubectl'));
    const strict = kubectl(['apply', '-f', '-'], yaml);
    expect(strict.status).not.toBe(0);
    expect(strict.stderr).toContain('unknown field "spec.psk"');
    expect(kubectl(['-n', NS, 'get', k.plural, 'psk-kubectl']).status).not.toBe(0);

    // Server-side apply refuses it whatever the validation level (its typed patch knows no such field).
    const ssa = kubectl(['apply', '--server-side', '--validate=false', '-f', '-'], yaml);
    expect(ssa.status).not.toBe(0);
    expect(ssa.stderr).toContain('.spec.psk: field not declared in schema');

    // kubectl create with validation off: accepted, and no trace of the key anywhere in the object.
    const created = kubectl(['create', '--validate=warn', '-f', '-'], yaml);
    expect(created.status, created.stderr).toBe(0);
    expect(created.stderr).toContain('unknown field "spec.psk"');
    const stored = kubectl(['-n', NS, 'get', k.plural, 'psk-kubectl', '-o', 'json', '--show-managed-fields']);
    expect(stored.status, stored.stderr).toBe(0);
    expect(stored.stdout).not.toContain('secret-in-git');
    expect(stored.stdout).not.toContain('"f:psk"');
    expect((JSON.parse(stored.stdout) as { spec: Json }).spec).not.toHaveProperty('psk');

    // Client-side apply: the spec has none, but kubectl keeps the manifest in its annotation (as the description
    // of pskSecretRef warns): why the default, strict validation matters.
    const csa = kubectl(['apply', '--validate=warn', '-f', '-'], JSON.stringify(withPsk('psk-csa')));
    expect(csa.status, csa.stderr).toBe(0);
    const o = JSON.parse(kubectl(['-n', NS, 'get', k.plural, 'psk-csa', '-o', 'json']).stdout) as { spec: Json; metadata: { annotations: Record<string, string> } };
    expect(o.spec).not.toHaveProperty('psk');
    expect(o.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('secret-in-git');
  });

  it('kubectl explain of pskSecretRef says so', () => {
    const r = kubectl(['explain', 'ipsecsiteconnection.spec.pskSecretRef']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('the spec has no psk field, and the API server does not store one');
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('never write a key into a manifest');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Status

/** A status with every field of the zod schema set. */
function fullStatus(schema: z.ZodObject): Json {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const out: Json = {};
  for (const key of Object.keys(schema.shape)) {
    if (key === 'conditions') {
      out[key] = [
        { type: 'Ready', status: 'False', reason: 'Waiting', message: 'waiting for IKEPolicy kinds/ike', observedGeneration: 1, lastTransitionTime: now },
        { type: 'Reconciling', status: 'True', reason: 'Waiting', message: 'waiting for IKEPolicy kinds/ike', observedGeneration: 1, lastTransitionTime: now },
      ];
    } else if (key === 'observedGeneration') out[key] = 1;
    else if (key === 'lastSyncTime') out[key] = now;
    else if (key === 'retiredIds' || key === 'endpoints') out[key] = ['x'];
    else out[key] = `${key}-value`;
  }
  return out;
}

describe.each(KINDS)('$kind: status subresource', (k) => {
  it('keeps every zod status field written through /status, ignores status on the main resource and spec on /status', async () => {
    const name = `status-${rnd()}`;
    const created = (await kube.request('POST', collection(k), { ...manifest(k, name, k.minimal), status: { id: 'sneaky' } })) as { status?: Json };
    expect(created.status?.id).toBeUndefined();
    const status = fullStatus(k.status);
    const viaStatus = (await kube.request('PATCH', `${collection(k)}/${name}/status`, { spec: { description: 'changed' }, status }, 'application/merge-patch+json')) as Json;
    expect(viaStatus.status).toEqual(status);
    expect((viaStatus.spec as Json).description).toBeUndefined();
    expect((k.object.parse(viaStatus) as { status: Json }).status).toEqual(status);
    const viaMain = (await kube.request('PATCH', `${collection(k)}/${name}`, { status: { id: 'other' } }, 'application/merge-patch+json')) as { status: Json };
    expect(viaMain.status.id).toBe('id-value');
  });

  it('the Table response has the printer columns with their values', async () => {
    const name = `cols-${rnd()}`;
    await kube.request('POST', collection(k), manifest(k, name, k.full));
    const now = new Date().toISOString();
    await kube.request(
      'PATCH',
      `${collection(k)}/${name}/status`,
      { status: { id: UUID2, status: 'DOWN', conditions: [{ type: 'Ready', status: 'False', reason: 'Down', message: 'the cloud reports DOWN', lastTransitionTime: now }] } },
      'application/merge-patch+json',
    );
    const table = (await kube.request('GET', `${collection(k)}/${name}`, undefined, undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    })) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    expect(table.columnDefinitions.map((c) => c.name.toUpperCase())).toEqual(['NAME', ...k.columns]);
    const cells = Object.fromEntries(table.columnDefinitions.map((c, i) => [c.name.toUpperCase(), table.rows[0]!.cells[i]]));
    expect(cells).toMatchObject({ NAME: name, ID: UUID2, READY: 'False', REASON: 'Down' });
    const full = k.full as Record<string, unknown>;
    if (k.kind === CONN_KIND) expect(cells).toMatchObject({ STATUS: 'DOWN', PEER: full.peerAddress, 'VPN-SERVICE': 'vpn' });
    if (k.kind === EG_KIND) expect(cells).toMatchObject({ TYPE: 'subnet' });
    if (k.kind === IKE_KIND) expect(cells).toMatchObject({ VERSION: 'v2', ENCRYPTION: 'aes-256', AUTH: 'sha512', PFS: 'group14' });
    if (k.kind === IPSEC_KIND) expect(cells).toMatchObject({ PROTOCOL: 'ah', ENCRYPTION: '3des', AUTH: 'sha256', PFS: 'group2' });
  });
});
