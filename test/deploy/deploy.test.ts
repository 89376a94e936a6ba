// deploy/ against a real kube-apiserver (SPEC §6 security):
// - every object `kubectl apply -k deploy/` would create is accepted by the API server (server-side dry run with
//   strict field validation), and the operator's pod passes Pod Security "restricted";
// - least privilege: with deploy/'s RBAC applied for real, the operator runs on its ServiceAccount's own token
//   through the main flow (create, conflict, update, per-namespace credentials, delete) without a single refusal,
//   and the ServiceAccount is refused what the operator does not need;
// - a missing permission is reported as a clear error naming the refused request, not a silent stall.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from '../support/controlplane.ts';
import { KubeApiError, KubeClient } from '../support/kube.ts';
import { OperatorProcess, eventually } from '../support/operator.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { MERGE_PATCH } from '../../src/kube/client.ts';
import { FINALIZER, VpnService } from '../../src/api/vpnservice.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';

const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const NS = 'vpnaas-system';
const SA = 'vpnaas-operator';
const FIELD_MANAGER = 'vpnaas-deploy-test';
const REFUSED = 'the Kubernetes API refused the operator: check its ServiceAccount and ClusterRole';
/** The operator's five kinds: the RBAC treats them alike. */
const KIND_PLURALS = ['vpnservices', 'ikepolicies', 'ipsecpolicies', 'endpointgroups', 'ipsecsiteconnections'];

// ---------------------------------------------------------------------------------------------------------------
// Rendering deploy/ as `kustomize build` does, for the features deploy/ uses. Anything else in a kustomization
// fails here, so that a new kustomize feature in deploy/ cannot be silently ignored by this test. (For deploy/ as it
// is, the result was checked to equal `kustomize build deploy/` of kustomize v5.7.1, object by object.)

const Manifest = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({
    name: z.string().min(1),
    namespace: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
});
type Manifest = z.infer<typeof Manifest>;

const Kustomization = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  namespace: z.string().optional(),
  resources: z.array(z.string()),
  labels: z
    .array(
      z.strictObject({
        pairs: z.record(z.string(), z.string()),
        // Selectors and templates are not rewritten by this renderer (deploy/ writes them out itself).
        includeSelectors: z.literal(false).optional(),
        includeTemplates: z.literal(false).optional(),
      }),
    )
    .optional(),
});

/** The YAML documents of a file; each must mean the same under YAML 1.1 (kubectl) and 1.2 (e.g. `0440`). */
function loadYamlDocs(file: string): unknown[] {
  const text = fs.readFileSync(file, 'utf8');
  const parse = (version: '1.1' | '1.2'): unknown[] =>
    YAML.parseAllDocuments(text, { version }).flatMap((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const js: unknown = doc.toJS();
      return js === null || js === undefined ? [] : [js];
    });
  const v11 = parse('1.1');
  const v12 = parse('1.2');
  if (JSON.stringify(v11) !== JSON.stringify(v12)) throw new Error(`${file} reads differently under YAML 1.1 and 1.2`);
  return v12;
}

/** Whether a kind is namespaced (the test asks the API server's discovery). */
type Scope = (apiVersion: string, kind: string) => Promise<boolean>;

async function renderKustomization(dir: string, namespaced: Scope): Promise<Manifest[]> {
  const k = Kustomization.parse(loadYamlDocs(path.join(dir, 'kustomization.yaml'))[0]);
  const objects: Manifest[] = [];
  for (const r of k.resources) {
    const p = path.resolve(dir, r);
    if (fs.statSync(p).isDirectory()) {
      // Another kustomization (crds/): rendered on its own, then this one's transformers apply to it too.
      objects.push(...(await renderKustomization(p, namespaced)));
    } else {
      // kustomize's default load restrictor: files only from inside the kustomization's own folder.
      if (path.relative(dir, p).startsWith('..')) throw new Error(`${r}: kustomize refuses files outside ${dir}`);
      for (const doc of loadYamlDocs(p)) objects.push(Manifest.parse(doc));
    }
  }
  for (const o of objects) {
    if (k.namespace !== undefined) {
      // As kustomize: namespaced objects get the namespace, and so do ServiceAccount subjects that have none.
      if (await namespaced(o.apiVersion, o.kind)) o.metadata.namespace = k.namespace;
      const subjects = (o as { subjects?: Array<{ kind: string; namespace?: string }> }).subjects;
      for (const s of subjects ?? []) if (s.kind === 'ServiceAccount') s.namespace ??= k.namespace;
    }
    for (const l of k.labels ?? []) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  }
  return objects;
}

// ---------------------------------------------------------------------------------------------------------------
// The API server: discovery (path and scope of a kind), server-side apply.

const ApiResourceList = z.object({
  resources: z.array(z.object({ name: z.string(), kind: z.string(), namespaced: z.boolean() })),
});

interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

const discovery = new Map<string, z.infer<typeof ApiResourceList>>();

async function resourceOf(kube: KubeClient, apiVersion: string, kind: string): Promise<ResourceInfo> {
  let list = discovery.get(apiVersion);
  if (list === undefined) {
    list = ApiResourceList.parse(await kube.request('GET', apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`));
    discovery.set(apiVersion, list);
  }
  const r = list.resources.find((x) => x.kind === kind && !x.name.includes('/'));
  if (r === undefined) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
  return { plural: r.name, namespaced: r.namespaced };
}

async function objectPath(kube: KubeClient, o: Manifest): Promise<string> {
  const r = await resourceOf(kube, o.apiVersion, o.kind);
  const prefix = o.apiVersion.includes('/') ? `/apis/${o.apiVersion}` : `/api/${o.apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${o.metadata.namespace ?? 'default'}` : '';
  return `${prefix}${ns}/${r.plural}/${o.metadata.name}`;
}

/** `kubectl apply --server-side [--dry-run=server]` with strict field validation (unknown fields are refused). */
async function serverSideApply(kube: KubeClient, o: Manifest, dryRun: boolean): Promise<unknown> {
  const q = new URLSearchParams({ fieldManager: FIELD_MANAGER, fieldValidation: 'Strict', force: 'true' });
  if (dryRun) q.set('dryRun', 'All');
  return kube.request('PATCH', `${await objectPath(kube, o)}?${q}`, o, 'application/apply-patch+yaml');
}

const ref = (o: Manifest): string => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

// ---------------------------------------------------------------------------------------------------------------

let cp: ControlPlane;
let sim: Simulator;
let kube: KubeClient;
let rendered: Manifest[];
const operators: OperatorProcess[] = [];

function find<T = Manifest>(kind: string, name: string): T {
  const o = rendered.find((x) => x.kind === kind && x.metadata.name === name);
  if (o === undefined) throw new Error(`deploy/ has no ${kind} ${name}`);
  return o as unknown as T;
}

interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    serviceAccountName: string;
    securityContext: Record<string, unknown>;
    containers: Array<{ name: string; args: string[]; securityContext: Record<string, unknown>; ports: Array<{ name: string; containerPort: number }> }>;
  };
}
type DeploymentManifest = Manifest & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: PodTemplate } };
interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

async function createNamespace(name: string): Promise<string> {
  try {
    await kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
  }
  return name;
}

const vpnPath = (ns: string, name = ''): string => `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices${name ? `/${name}` : ''}`;

async function createVpn(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kube.request('POST', vpnPath(ns), { apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', metadata: { name, namespace: ns }, spec });
}

async function getVpn(ns: string, name: string): Promise<VpnService | undefined> {
  try {
    return VpnService.parse(await kube.request('GET', vpnPath(ns, name)));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return undefined;
    throw err;
  }
}

const readyOf = (o: VpnService | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

async function waitReason(ns: string, name: string, reason: string, timeoutMs = 45_000): Promise<VpnService> {
  return eventually(async () => {
    const o = await getVpn(ns, name);
    return readyOf(o)?.reason === reason ? o : undefined;
  }, `${ns}/${name} Ready reason ${reason}`, timeoutMs);
}

const EventList = z.object({
  items: z.array(z.object({ reason: z.string(), type: z.string(), message: z.string(), count: z.number().optional() })),
});

async function eventsOf(ns: string, name: string): Promise<z.infer<typeof EventList>['items']> {
  return EventList.parse(await kube.request('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${name}`)).items;
}

async function createSecret(ns: string, name: string, cloudsYaml: string): Promise<void> {
  await kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: ns },
    type: 'Opaque',
    data: { 'clouds.yaml': Buffer.from(cloudsYaml).toString('base64') },
  });
}

function newRouter(): string {
  const id = randomUUID();
  sim.addRouter({ id, gatewayV4: `203.0.113.${Math.floor(Math.random() * 250) + 2}` });
  return id;
}

/** Does the API server let this ServiceAccount do this? (SubjectAccessReview, asked as admin.) */
async function allowed(sa: string, attrs: { verb: string; group?: string; resource: string; subresource?: string; namespace?: string; name?: string }): Promise<boolean> {
  const res = z.object({ status: z.object({ allowed: z.boolean() }) }).parse(
    await kube.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${NS}:${sa}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
        resourceAttributes: { group: '', ...attrs },
      },
    }),
  );
  return res.status.allowed;
}

/** Log lines that show the API server refusing the operator. */
function refusals(op: OperatorProcess): string[] {
  return op.lines.filter((l) => /forbidden|unauthorized|"status":40[13]\b|refused the operator|could not record event/i.test(l));
}

beforeAll(async () => {
  [cp, sim] = await Promise.all([startControlPlane(), startSimulator({ activeDelayMs: 1000 })]);
  kube = new KubeClient(cp.kubeConfig);
  rendered = await renderKustomization(DEPLOY_DIR, async (apiVersion, kind) => (await resourceOf(kube, apiVersion, kind)).namespaced);
});

afterAll(async () => {
  await Promise.all(operators.map((op) => op.dispose()));
  await Promise.all([cp?.stop(), sim?.stop()]);
});

describe('deploy/ (kubectl apply -k deploy/)', () => {
  it('renders the expected objects, all labelled, the namespaced ones in vpnaas-system', () => {
    expect(rendered.map(ref).sort()).toEqual(
      [
        'ClusterRole vpnaas-operator',
        'ClusterRole vpnaas-operator-credentials',
        'ClusterRoleBinding vpnaas-operator',
        'ClusterRoleBinding vpnaas-operator-credentials',
        'CustomResourceDefinition endpointgroups.vpnaas.dev',
        'CustomResourceDefinition ikepolicies.vpnaas.dev',
        'CustomResourceDefinition ipsecpolicies.vpnaas.dev',
        'CustomResourceDefinition ipsecsiteconnections.vpnaas.dev',
        'CustomResourceDefinition vpnservices.vpnaas.dev',
        `Deployment ${NS}/vpnaas-operator`,
        'Namespace vpnaas-system',
        `PodDisruptionBudget ${NS}/vpnaas-operator`,
        `Role ${NS}/vpnaas-operator-leader-election`,
        `RoleBinding ${NS}/vpnaas-operator-leader-election`,
        `Service ${NS}/vpnaas-operator-metrics`,
        `ServiceAccount ${NS}/vpnaas-operator`,
      ].sort(),
    );
    for (const o of rendered) {
      expect(o.metadata.labels?.['app.kubernetes.io/name'], ref(o)).toBe('vpnaas-operator');
      if (o.metadata.namespace !== undefined) expect(o.metadata.namespace, ref(o)).toBe(NS);
    }
    // The examples of Secrets are documentation, never applied.
    expect(rendered.some((o) => o.kind === 'Secret')).toBe(false);
    // The CRDs are the ones of crds/, not copies.
    for (const plural of KIND_PLURALS) {
      const crd = find('CustomResourceDefinition', `${plural}.vpnaas.dev`);
      const source = Manifest.parse(loadYamlDocs(fileURLToPath(new URL(`../../crds/vpnaas.dev_${plural}.yaml`, import.meta.url)))[0]);
      expect(crd.spec, plural).toEqual(source.spec);
    }
  });

  it('the Deployment: selectors match, arguments are valid operator flags, hardened pod, Lease name as the Role says', () => {
    const d = find<DeploymentManifest>('Deployment', 'vpnaas-operator');
    const labels = d.spec.template.metadata.labels;
    const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
    expect(matches(d.spec.selector.matchLabels)).toBe(true);
    expect(matches(find<Manifest & { spec: { selector: Record<string, string> } }>('Service', 'vpnaas-operator-metrics').spec.selector)).toBe(true);
    expect(matches(find<Manifest & { spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', 'vpnaas-operator').spec.selector.matchLabels)).toBe(true);
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.template.spec.serviceAccountName).toBe(SA);

    const c = d.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(['run', '--leader-elect', '--metrics-port=8080']);
    // The operator's own flag parser accepts them (strict: an unknown or misspelt flag exits 2).
    const check = spawnSync(process.execPath, [MAIN, ...c.args, '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(check.status, check.stderr).toBe(0);
    expect(c.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 8080 }));
    // Pod Security "restricted" (proven by the API server below) does not cover the read-only root filesystem.
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });

    // The Role names the Lease the operator uses by default (--leader-election-id vpnaas-operator).
    const role = find<Manifest & { rules: PolicyRule[] }>('Role', 'vpnaas-operator-leader-election');
    const named = role.rules.filter((r) => r.resourceNames !== undefined);
    expect(named.flatMap((r) => r.resourceNames)).toEqual(['vpnaas-operator']);
    expect(spawnSync(process.execPath, [MAIN, 'run', '--help'], { encoding: 'utf8' }).stdout).toContain('--leader-election-id NAME     the Lease\'s name (default vpnaas-operator)');
  });

  it('every object is accepted by the API server (server-side dry run, strict field validation)', async () => {
    const namespace = find('Namespace', NS);
    // The namespace for real, so that the namespaced dry runs have somewhere to go.
    await serverSideApply(kube, namespace, false);
    for (const o of rendered) {
      try {
        await serverSideApply(kube, o, true);
      } catch (err) {
        throw new Error(`${ref(o)} refused: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Nothing but the namespace was created.
    await expect(kube.request('GET', '/apis/apps/v1/namespaces/vpnaas-system/deployments/vpnaas-operator')).rejects.toMatchObject({ status: 404 });
  });

  it("the operator's pod passes Pod Security \"restricted\", which vpnaas-system enforces", async () => {
    const d = find<DeploymentManifest>('Deployment', 'vpnaas-operator');
    const pod = (spec: unknown) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'psa-check', namespace: NS }, spec });
    await kube.request('POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, pod(d.spec.template.spec));
    // And the namespace does enforce it: the same pod without its securityContext is refused.
    const weakened = structuredClone(d.spec.template.spec);
    weakened.securityContext = {};
    for (const c of weakened.containers) c.securityContext = {};
    const err = await kube.request('POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, pod(weakened)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    expect((err as KubeApiError).message).toContain('violates PodSecurity "restricted');
  });

  it('example-secret.yaml: not applied by the kustomization, accepted by the API server, clouds.yaml readable by the operator', async () => {
    const docs = loadYamlDocs(path.join(DEPLOY_DIR, 'example-secret.yaml')).map((d) => Manifest.parse(d));
    expect(docs.map(ref)).toEqual([`Secret ${NS}/vpnaas-cloud`, 'Secret team-a/vpn-cloud-credentials']);
    await createNamespace('team-a');
    for (const s of docs) {
      await serverSideApply(kube, s, true);
      const data = z.object({ stringData: z.record(z.string(), z.string()) }).parse(s).stringData;
      expect(Object.keys(data)).toEqual(['clouds.yaml']);
      const cloudName = s.metadata.name === 'vpnaas-cloud' ? 'otc' : 'team-a';
      expect(loadCloudConfigFromString(data['clouds.yaml']!, cloudName).cloudName).toBe(cloudName);
    }
  });
});

describe('least privilege: the operator on its ServiceAccount token', () => {
  let op: OperatorProcess;

  it('deploy/ RBAC applied for real; the ServiceAccount may do what the operator does and no more', async () => {
    for (const kind of ['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']) {
      for (const o of rendered.filter((x) => x.kind === kind)) await serverSideApply(kube, o, false);
    }
    for (const plural of KIND_PLURALS) {
      await eventually(async () => {
        await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/${plural}?limit=1`);
        return true;
      }, `the ${plural} API served`, 30_000);
    }

    const yes = [
      ...KIND_PLURALS.flatMap((resource) => [
        { verb: 'list', group: 'vpnaas.dev', resource },
        { verb: 'watch', group: 'vpnaas.dev', resource },
        { verb: 'get', group: 'vpnaas.dev', resource, namespace: 'x', name: 'o' },
        { verb: 'patch', group: 'vpnaas.dev', resource, namespace: 'x' },
        { verb: 'patch', group: 'vpnaas.dev', resource, subresource: 'status', namespace: 'x' },
      ]),
      { verb: 'create', resource: 'events', namespace: 'x' },
      { verb: 'patch', resource: 'events', namespace: 'x' },
      { verb: 'get', resource: 'secrets', namespace: 'x', name: 'creds' },
      { verb: 'patch', resource: 'secrets', namespace: 'x', name: 'creds' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: NS },
      { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'vpnaas-operator' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'vpnaas-operator' },
    ];
    const no = [
      ...KIND_PLURALS.flatMap((resource) => [
        { verb: 'create', group: 'vpnaas.dev', resource, namespace: 'x' },
        { verb: 'update', group: 'vpnaas.dev', resource, namespace: 'x' },
        { verb: 'delete', group: 'vpnaas.dev', resource, namespace: 'x' },
        { verb: 'deletecollection', group: 'vpnaas.dev', resource, namespace: 'x' },
        { verb: 'update', group: 'vpnaas.dev', resource, subresource: 'status', namespace: 'x' },
        { verb: 'get', group: 'vpnaas.dev', resource, subresource: 'status', namespace: 'x', name: 'o' },
        { verb: 'update', group: 'vpnaas.dev', resource, subresource: 'finalizers', namespace: 'x', name: 'o' },
      ]),
      { verb: 'list', resource: 'secrets' },
      { verb: 'list', resource: 'secrets', namespace: 'x' },
      { verb: 'watch', resource: 'secrets', namespace: 'x' },
      { verb: 'create', resource: 'secrets', namespace: 'x' },
      { verb: 'update', resource: 'secrets', namespace: 'x', name: 'creds' },
      { verb: 'delete', resource: 'events', namespace: 'x' },
      { verb: 'list', resource: 'events', namespace: 'x' },
      { verb: 'get', resource: 'configmaps', namespace: NS },
      { verb: 'create', resource: 'pods', namespace: NS },
      { verb: 'get', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'some-other-lock' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'some-other-lock' },
      { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: NS, name: 'vpnaas-operator' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
      { verb: 'update', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease', name: 'vpnaas-operator' },
      { verb: 'patch', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', name: 'vpnservices.vpnaas.dev' },
      { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
    ];
    for (const a of yes) expect(await allowed(SA, a), `may ${JSON.stringify(a)}`).toBe(true);
    for (const a of no) expect(await allowed(SA, a), `may not ${JSON.stringify(a)}`).toBe(false);
  });

  it('create → ACTIVE, events (incl. an aggregated one), RouterConflict, per-namespace credentials, delete: no refusal', async () => {
    const kubeconfigPath = await cp.serviceAccountKubeconfig(NS, SA);
    op = new OperatorProcess({
      kubeconfigPath,
      cloudsYaml: sim.cloudsYaml('sim'),
      cloudName: 'sim',
      args: ['--leader-elect', '--leader-election-namespace', NS, '--log-level', 'debug'],
    }).start();
    operators.push(op);
    const lease = await eventually(async () => {
      const l = z.object({ spec: z.object({ holderIdentity: z.string().optional() }) }).parse(
        await kube.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/vpnaas-operator`),
      );
      return l.spec.holderIdentity ? l : undefined;
    }, 'the Lease held', 45_000);
    expect(lease.spec.holderIdentity).toMatch(/_\d+$/);
    await eventually(() => op.records().some((r) => r.message === 'became leader; reconciling'), 'leading', 30_000);

    // create → ACTIVE
    const [nsA, nsB, nsC] = await Promise.all(['rbac-a', 'rbac-b', 'rbac-c'].map((n) => createNamespace(`${n}-${randomUUID().slice(0, 6)}`)));
    const router = newRouter();
    await createVpn(nsA!, 'first', { routerId: router, description: 'least privilege' });
    const first = await waitReason(nsA!, 'first', 'Active');
    const id = first.status!.id!;
    expect(first.metadata.finalizers).toContain(FINALIZER);
    expect(first.status).toMatchObject({ status: 'ACTIVE', routerId: router, externalV4Ip: sim.service(id)!.external_v4_ip });
    await eventually(async () => (await eventsOf(nsA!, 'first')).some((e) => e.reason === 'Active'), 'Active event');
    expect((await eventsOf(nsA!, 'first')).map((e) => e.reason)).toEqual(expect.arrayContaining(['Created', 'Active']));

    // Two updates with the same event message: the second event is aggregated (PATCH of the first's count).
    for (const name of ['renamed-1', 'renamed-2']) {
      await kube.request('PATCH', vpnPath(nsA!, 'first'), { spec: { name } }, MERGE_PATCH);
      await eventually(() => sim.service(id)?.name === name, `cloud name ${name}`, 30_000);
    }
    const updated = await eventually(async () => {
      const e = (await eventsOf(nsA!, 'first')).filter((x) => x.reason === 'Updated');
      return e.length === 1 && e[0]!.count === 2 ? e : undefined;
    }, 'one Updated event with count 2', 30_000);
    expect(updated[0]!.message).toContain(id);

    // Another namespace, the same router: RouterConflict, no cloud call.
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has one-second resolution
    await createVpn(nsB!, 'second', { routerId: router });
    const second = await waitReason(nsB!, 'second', 'RouterConflict');
    expect(readyOf(second)?.message).toContain(`${nsA}/first`);
    await eventually(async () => (await eventsOf(nsB!, 'second')).some((e) => e.reason === 'RouterConflict' && e.type === 'Warning'), 'RouterConflict event');
    expect(sim.services().filter((s) => s.router_id === router)).toHaveLength(1);

    // Per-namespace credentials: the Secret is read with `get` on secrets.
    const router2 = newRouter();
    await createSecret(nsC!, 'team-cloud', sim.cloudsYaml('team'));
    await createVpn(nsC!, 'creds', { routerId: router2, cloudCredentialsRef: { secretName: 'team-cloud', cloudName: 'team' } });
    const creds = await waitReason(nsC!, 'creds', 'Active');

    // delete → the cloud service goes, then the finalizer; the waiting object takes the router over.
    await kube.request('DELETE', vpnPath(nsA!, 'first'));
    await eventually(async () => (await getVpn(nsA!, 'first')) === undefined, 'first gone (finalizer removed)', 45_000);
    expect(sim.service(id)).toBeUndefined();
    const took = await waitReason(nsB!, 'second', 'Active');
    for (const [ns, name] of [[nsB!, 'second'], [nsC!, 'creds']] as const) {
      await kube.request('DELETE', vpnPath(ns, name));
      await eventually(async () => (await getVpn(ns, name)) === undefined, `${ns}/${name} gone`, 45_000);
    }
    expect(sim.service(took.status!.id!)).toBeUndefined();
    expect(sim.service(creds.status!.id!)).toBeUndefined();
    expect(sim.services().filter((s) => s.router_id === router || s.router_id === router2)).toEqual([]);

    // Not one request was refused along the way.
    expect(refusals(op)).toEqual([]);
    expect(op.records().filter((r) => r.level === 'error')).toEqual([]);
  }, 240_000);
});

describe('a missing permission is a clear error, not a silent stall', () => {
  it('without patch on vpnservices/status and get on secrets: 403s logged as errors naming the refused requests', async () => {
    // The first operator is done (it releases its Lease on the way out).
    for (const op of operators.splice(0)) await op.dispose();

    const SA2 = 'vpnaas-operator-restricted';
    const full = find<Manifest & { rules: PolicyRule[] }>('ClusterRole', 'vpnaas-operator');
    const rules = full.rules.filter((r) => !r.resources.includes('vpnservices/status'));
    expect(rules).toHaveLength(full.rules.length - 1);
    await kube.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: SA2 },
      rules,
    });
    await kube.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: SA2 },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: SA2 },
      subjects: [{ kind: 'ServiceAccount', name: SA2, namespace: NS }],
    });
    const kubeconfigPath = await cp.serviceAccountKubeconfig(NS, SA2);
    const op = new OperatorProcess({ kubeconfigPath, cloudsYaml: sim.cloudsYaml('sim'), cloudName: 'sim' }).start();
    operators.push(op);
    await eventually(() => op.records().some((r) => r.message === 'cache synced'), 'cache synced', 45_000);

    const ns = await createNamespace(`rbac-d-${randomUUID().slice(0, 6)}`);
    await createSecret(ns, 'team-cloud', sim.cloudsYaml('team'));
    const t0 = Date.now();
    await createVpn(ns, 'no-status', { routerId: newRouter() });
    await createVpn(ns, 'no-secret', { routerId: newRouter(), cloudCredentialsRef: { secretName: 'team-cloud', cloudName: 'team' } });

    const refusedFor = (key: string) => op.records().find((r) => r.level === 'error' && r.message === REFUSED && r.key === key);
    // Log keys name the kind (one controller per kind): "VpnService ns/name".
    const status = await eventually(() => refusedFor(`VpnService ${ns}/no-status`), 'the refused status write logged', 15_000);
    const secret = await eventually(() => refusedFor(`VpnService ${ns}/no-secret`), 'the refused Secret read logged', 15_000);
    const seconds = (Date.now() - t0) / 1000;
    expect(status).toMatchObject({ status: 403, request: `PATCH ${vpnPath(ns, 'no-status')}/status` });
    expect(String(status.error)).toContain('cannot patch resource "vpnservices/status" in API group "vpnaas.dev"');
    expect(secret).toMatchObject({ status: 403, request: `GET /api/v1/namespaces/${ns}/secrets/team-cloud` });
    expect(String(secret.error)).toContain('cannot get resource "secrets"');
    console.log(`missing permissions reported ${seconds.toFixed(1)} s after the objects were created`);

    // The finalizer write (allowed) went through: the operator did get that far, and then said why it stopped.
    expect((await getVpn(ns, 'no-status'))?.metadata.finalizers).toContain(FINALIZER);
  }, 120_000);
});
