// The VpnService CRD on a real kube-apiserver: installation, defaults, admission of bad input (with the field
// path in the message), the status subresource, printer columns; and the zod schema agreeing with the server on
// every case.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeClient, installCrd, kubeError } from '../support/kube.ts';
import { API_VERSION, KIND, PLURAL, GROUP, VERSION, validateManifest, immutableViolations, VpnServiceSpec } from '../../src/api/vpnservice.ts';

const ROUTER = '66e3b16c-8ce5-40fb-bb49-ab6d8dc3f2aa';
const ROUTER2 = '77e3b16c-8ce5-40fb-bb49-ab6d8dc3f2bb';
const SUBNET = '0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9';
const SUBNET2 = '1a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9';
const IMPORT = '5c561d9d-eaea-45f6-ae3e-08d1a7080828';
const IMPORT2 = '6c561d9d-eaea-45f6-ae3e-08d1a7080828';
const NS = 'admission';

type Json = Record<string, unknown>;
const manifest = (name: string, spec: Json): Json => ({
  apiVersion: API_VERSION,
  kind: KIND,
  metadata: { name, namespace: NS },
  spec,
});

let cp: ControlPlane;
let kube: KubeClient;
const base = `/apis/${GROUP}/${VERSION}/namespaces/${NS}/${PLURAL}`;

beforeAll(async () => {
  cp = await startControlPlane();
  kube = new KubeClient(cp.kubeConfig);
  await installCrd(kube);
  await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});
afterAll(async () => {
  await cp?.stop();
});

describe('CRD installation', () => {
  it('is Established with the names, short names and category of SPEC §2', async () => {
    const crd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${PLURAL}.${GROUP}`)) as {
      spec: { names: Json; scope: string };
      status: { conditions: Array<{ type: string; status: string }> };
    };
    expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names).toMatchObject({ kind: 'VpnService', plural: 'vpnservices', shortNames: ['vpns', 'vpnsvc'], categories: ['vpnaas'] });
  });

  it('documents every field (kubectl explain is useful)', async () => {
    const crd = (await kube.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${PLURAL}.${GROUP}`)) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: Json } }> };
    };
    const missing: string[] = [];
    const walk = (s: Json, path: string): void => {
      if (path !== '.metadata' && typeof s.description !== 'string') missing.push(path || '.');
      const props = (s.properties ?? {}) as Record<string, Json>;
      for (const [k, v] of Object.entries(props)) walk(v, `${path}.${k}`);
      if (s.items) walk(s.items as Json, `${path}[]`);
    };
    walk(crd.spec.versions[0]!.schema.openAPIV3Schema, '');
    expect(missing).toEqual([]);
  });
});

describe('a valid VpnService (the seed example)', () => {
  it('is accepted, defaults are applied, and zod agrees', async () => {
    const m = manifest('myservice', { subnetId: null, routerId: ROUTER, name: 'myservice', adminStateUp: true });
    expect(validateManifest(m).ok).toBe(true);
    const created = (await kube.request('POST', base, m)) as { spec: Json };
    expect(created.spec).toEqual({
      subnetId: null,
      routerId: ROUTER,
      name: 'myservice',
      adminStateUp: true,
      deletionPolicy: 'Delete',
    });
    // zod applies the same defaults as the server
    const parsed = VpnServiceSpec.parse(m.spec);
    expect(parsed.deletionPolicy).toBe('Delete');
    expect(parsed.adminStateUp).toBe(true);
  });

  it('defaults adminStateUp to true when absent, and accepts a 64-character name, Orphan, importId and credentials', async () => {
    const m = manifest('minimal', {
      routerId: ROUTER2,
      name: 'n'.repeat(64),
      deletionPolicy: 'Orphan',
      importId: IMPORT,
      tenantId: 't'.repeat(255),
      description: 'd'.repeat(255),
      cloudCredentialsRef: { secretName: 'team-a-cloud', cloudName: 'otc' },
    });
    expect(validateManifest(m).ok).toBe(true);
    const created = (await kube.request('POST', base, m)) as { spec: Json };
    expect(created.spec.adminStateUp).toBe(true);
    expect(created.spec.deletionPolicy).toBe('Orphan');
  });
});

// Each case: a manifest the API server must refuse, and the field path its message must name.
const invalidCreates: Array<{ case: string; name?: string; spec: Json; path: string }> = [
  { case: 'name of 0 characters', spec: { routerId: ROUTER, name: '' }, path: 'spec.name' },
  { case: 'name of 65 characters', spec: { routerId: ROUTER, name: 'n'.repeat(65) }, path: 'spec.name' },
  { case: 'description of 256 characters', spec: { routerId: ROUTER, description: 'd'.repeat(256) }, path: 'spec.description' },
  { case: 'tenantId of 256 characters', spec: { routerId: ROUTER, tenantId: 't'.repeat(256) }, path: 'spec.tenantId' },
  { case: 'adminStateUp false', spec: { routerId: ROUTER, adminStateUp: false }, path: 'spec.adminStateUp' },
  { case: 'missing routerId', spec: { name: 'x' }, path: 'spec.routerId' },
  { case: 'non-UUID routerId', spec: { routerId: 'router-1' }, path: 'spec.routerId' },
  { case: 'UUID without dashes as routerId', spec: { routerId: '66e3b16c8ce540fbbb49ab6d8dc3f2aa' }, path: 'spec.routerId' },
  { case: 'non-UUID subnetId', spec: { routerId: ROUTER, subnetId: 'subnet-1' }, path: 'spec.subnetId' },
  { case: 'non-UUID importId', spec: { routerId: ROUTER, importId: 'vpn-1' }, path: 'spec.importId' },
  { case: 'bad deletionPolicy', spec: { routerId: ROUTER, deletionPolicy: 'Retain' }, path: 'spec.deletionPolicy' },
  { case: 'metadata.name of 65 characters without spec.name', name: 'm'.repeat(65), spec: { routerId: ROUTER }, path: 'metadata.name' },
  { case: 'routerId of the wrong type', spec: { routerId: 42 }, path: 'spec.routerId' },
  { case: 'adminStateUp of the wrong type', spec: { routerId: ROUTER, adminStateUp: 'yes' }, path: 'spec.adminStateUp' },
  { case: 'name of the wrong type', spec: { routerId: ROUTER, name: ['a'] }, path: 'spec.name' },
  { case: 'cloudCredentialsRef without secretName', spec: { routerId: ROUTER, cloudCredentialsRef: { cloudName: 'x' } }, path: 'spec.cloudCredentialsRef.secretName' },
  { case: 'cloudCredentialsRef with an empty cloudName', spec: { routerId: ROUTER, cloudCredentialsRef: { secretName: 's', cloudName: '' } }, path: 'spec.cloudCredentialsRef.cloudName' },
  // A Secret name is a path segment of the operator's request: a hostile one must never reach it (issue 17).
  ...['../../b/secrets/creds', '%2e%2e/%2e%2e/b/secrets/creds', '..', '.', 'Creds', 'creds/x', 'crédits', 'creds ', '-creds', 'a..b/c'].map((secretName) => ({
    case: `cloudCredentialsRef.secretName ${JSON.stringify(secretName)}`,
    spec: { routerId: ROUTER, cloudCredentialsRef: { secretName, cloudName: 'x' } },
    path: 'spec.cloudCredentialsRef.secretName',
  })),
];

describe('invalid manifests are refused at admission, naming the field', () => {
  it.each(invalidCreates)('$case', async (c) => {
    const m = manifest(c.name ?? `bad-${Math.random().toString(36).slice(2, 8)}`, c.spec);
    const err = await kubeError(kube.request('POST', base, m));
    expect(err.status).toBe(422);
    expect(err.message).toContain(c.path);
    // zod reaches the same verdict, on the same field
    const v = validateManifest(m);
    expect(v.ok).toBe(false);
    expect(v.ok ? [] : v.paths).toContain(c.path);
  });
});

const invalidUpdates: Array<{ case: string; from: Json; to: Json; path: string }> = [
  { case: 'change of routerId', from: { routerId: ROUTER }, to: { routerId: ROUTER2 }, path: 'spec.routerId' },
  { case: 'change of subnetId', from: { routerId: ROUTER, subnetId: SUBNET }, to: { routerId: ROUTER, subnetId: SUBNET2 }, path: 'spec.subnetId' },
  { case: 'removal of subnetId', from: { routerId: ROUTER, subnetId: SUBNET }, to: { routerId: ROUTER }, path: 'spec.subnetId' },
  { case: 'change of importId', from: { routerId: ROUTER, importId: IMPORT }, to: { routerId: ROUTER, importId: IMPORT2 }, path: 'spec.importId' },
  { case: 'adding importId later', from: { routerId: ROUTER }, to: { routerId: ROUTER, importId: IMPORT }, path: 'spec.importId' },
  // Credentials are fixed: a switch would leave the resource in the old project and the old Secret guarded (issue 17).
  { case: 'change of cloudCredentialsRef.secretName', from: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'a', cloudName: 'c' } }, to: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'b', cloudName: 'c' } }, path: 'spec.cloudCredentialsRef' },
  { case: 'change of cloudCredentialsRef.cloudName', from: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'a', cloudName: 'c' } }, to: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'a', cloudName: 'd' } }, path: 'spec.cloudCredentialsRef' },
  { case: 'adding cloudCredentialsRef later', from: { routerId: ROUTER }, to: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'a', cloudName: 'c' } }, path: 'spec.cloudCredentialsRef' },
  { case: 'removing cloudCredentialsRef', from: { routerId: ROUTER, cloudCredentialsRef: { secretName: 'a', cloudName: 'c' } }, to: { routerId: ROUTER }, path: 'spec.cloudCredentialsRef' },
];

describe('immutable fields are refused on update', () => {
  it.each(invalidUpdates)('$case', async (c) => {
    const name = `upd-${Math.random().toString(36).slice(2, 8)}`;
    const created = (await kube.request('POST', base, manifest(name, c.from))) as { metadata: Json };
    const err = await kubeError(
      kube.request('PUT', `${base}/${name}`, { ...manifest(name, c.to), metadata: created.metadata }),
    );
    expect(err.status).toBe(422);
    expect(err.message).toContain(c.path);
    expect(immutableViolations(VpnServiceSpec.parse(c.from), VpnServiceSpec.parse(c.to))).toContain(c.path);
  });

  it('allows changing name, description and deletionPolicy, and zod agrees', async () => {
    const name = 'mutable';
    const from = { routerId: ROUTER, subnetId: SUBNET, name: 'a' };
    const to = { routerId: ROUTER, subnetId: SUBNET, name: 'b', description: 'now described', deletionPolicy: 'Orphan' };
    const created = (await kube.request('POST', base, manifest(name, from))) as { metadata: Json };
    const updated = (await kube.request('PUT', `${base}/${name}`, { ...manifest(name, to), metadata: created.metadata })) as { spec: Json };
    expect(updated.spec).toMatchObject(to);
    expect(immutableViolations(VpnServiceSpec.parse(from), VpnServiceSpec.parse(to))).toEqual([]);
  });
});

describe('status subresource', () => {
  it('ignores status written through the main resource, and spec written through /status', async () => {
    const name = 'subresource';
    const created = (await kube.request('POST', base, {
      ...manifest(name, { routerId: ROUTER, name: 'orig' }),
      status: { id: 'sneaky', status: 'ACTIVE' },
    })) as { status?: Json; metadata: Json };
    expect(created.status?.id).toBeUndefined();

    const viaStatus = (await kube.request(
      'PATCH',
      `${base}/${name}/status`,
      { spec: { name: 'changed' }, status: { id: IMPORT, status: 'PENDING_CREATE' } },
      'application/merge-patch+json',
    )) as { spec: Json; status: Json };
    expect(viaStatus.status).toMatchObject({ id: IMPORT, status: 'PENDING_CREATE' });
    expect(viaStatus.spec.name).toBe('orig');

    const viaMain = (await kube.request(
      'PATCH',
      `${base}/${name}`,
      { status: { status: 'ACTIVE' } },
      'application/merge-patch+json',
    )) as { status: Json };
    expect(viaMain.status.status).toBe('PENDING_CREATE');
  });
});

describe('printer columns', () => {
  it('the Table response carries STATUS, ROUTER, EXTERNAL-IP, READY, REASON, AGE with their values', async () => {
    const name = 'columns';
    await kube.request('POST', base, manifest(name, { routerId: ROUTER }));
    await kube.request(
      'PATCH',
      `${base}/${name}/status`,
      {
        status: {
          status: 'ACTIVE',
          externalV4Ip: '172.32.1.11',
          conditions: [
            { type: 'Ready', status: 'True', reason: 'Active', message: 'ACTIVE', lastTransitionTime: new Date().toISOString() },
          ],
        },
      },
      'application/merge-patch+json',
    );
    const table = (await kube.request('GET', `${base}/${name}`, undefined, undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
    })) as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    expect(table.columnDefinitions.map((c) => c.name.toUpperCase())).toEqual(['NAME', 'STATUS', 'ROUTER', 'EXTERNAL-IP', 'READY', 'REASON', 'AGE']);
    expect(table.rows[0]!.cells.slice(0, 6)).toEqual([name, 'ACTIVE', ROUTER, '172.32.1.11', 'True', 'Active']);
  });
});
