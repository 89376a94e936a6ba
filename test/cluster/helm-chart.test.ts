// charts/vpnaas-operator with the real helm (helm.sh/helm/v3, built by test/cluster/tools/build.sh):
// - its crds/ is the repository's crds/ (one source of truth: a copy, byte for byte, checked here);
// - `helm lint --strict` passes;
// - `helm template` with the default values renders the same objects as `kubectl kustomize deploy/` (kubectl of the
//   same Kubernetes release, its built-in kustomize), apart from helm's own labels and the Namespace object;
// - values change what they say (replicas, image, watch namespace, log level, extra env, ServiceMonitor).
// install / upgrade / uninstall on a real node: test/cluster/operator.test.ts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, run } from '../support/cluster.ts';

const CHART = path.join(repoRoot, 'charts/vpnaas-operator');
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/instance', 'app.kubernetes.io/version', 'app.kubernetes.io/managed-by'];

let helm: string;
let kubectl: string;

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

const key = (o: Obj): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function parseAll(text: string): Obj[] {
  return YAML.parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null && typeof o === 'object');
}

/** Helm's bookkeeping labels removed (and an emptied labels map with them). */
function withoutHelmLabels(o: Obj): Obj {
  const labels = Object.fromEntries(Object.entries(o.metadata.labels ?? {}).filter(([k]) => !HELM_LABELS.includes(k)));
  const metadata = { ...o.metadata, labels };
  if (Object.keys(labels).length === 0) delete (metadata as { labels?: unknown }).labels;
  return { ...o, metadata };
}

async function template(args: string[] = []): Promise<Obj[]> {
  return parseAll(await run(helm, ['template', 'vpnaas-operator', CHART, '--namespace', 'vpnaas-system', '--kube-version', 'v1.36.3', '--include-crds', ...args]));
}

beforeAll(() => {
  const tools = execFileSync('bash', [path.join(repoRoot, 'test/cluster/tools/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  helm = path.join(tools.trim().split('\n').at(-1) ?? '', 'helm');
  const bin = execFileSync('bash', [path.join(repoRoot, 'test/controlplane/build.sh'), 'kubectl'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  kubectl = path.join(bin.trim().split('\n').at(-1) ?? '', 'kubectl');
}, 900_000);

describe('the Helm chart', () => {
  it('ships the CRDs of crds/, unchanged', () => {
    const source = fs.readdirSync(path.join(repoRoot, 'crds')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    const chart = fs.readdirSync(path.join(CHART, 'crds')).sort();
    expect(chart).toEqual(source);
    for (const f of source) {
      const a = fs.readFileSync(path.join(repoRoot, 'crds', f), 'utf8');
      const b = fs.readFileSync(path.join(CHART, 'crds', f), 'utf8');
      expect(b, `charts/vpnaas-operator/crds/${f} differs from crds/${f}: cp crds/${f} charts/vpnaas-operator/crds/`).toBe(a);
    }
  });

  it('passes helm lint --strict', async () => {
    const out = await run(helm, ['lint', '--strict', CHART]);
    expect(out).toContain('0 chart(s) failed');
  });

  it('renders what kubectl kustomize deploy/ renders (helm labels and the Namespace aside)', async () => {
    const helmObjs = (await template()).map(withoutHelmLabels);
    const kustomizeObjs = parseAll(await run(kubectl, ['kustomize', path.join(repoRoot, 'deploy')])).filter((o) => o.kind !== 'Namespace');
    expect(helmObjs.map(key).sort()).toEqual(kustomizeObjs.map(key).sort());
    const byKey = new Map(helmObjs.map((o) => [key(o), o]));
    for (const k of kustomizeObjs) expect(byKey.get(key(k)), key(k)).toEqual(k);
    console.log(`helm template = kubectl kustomize deploy/ for ${kustomizeObjs.length} objects (Namespace aside)`);
  });

  it('applies its values', async () => {
    const objs = await template([
      '--set', 'replicaCount=3',
      '--set', 'image.repository=registry.example.com/vpnaas-operator',
      '--set', 'image.tag=1.2.3',
      '--set', 'watchNamespace=team-a',
      '--set', 'logLevel=debug',
      '--set', 'tenantCloudHosts={keystone.example.com,*.cloud.example.com}',
      '--set', 'cloud.name=otc',
      '--set', 'extraEnv[0].name=HTTPS_PROXY',
      '--set', 'extraEnv[0].value=http://proxy:3128',
      '--set', 'metrics.serviceMonitor.enabled=true',
    ]);
    const dep = objs.find((o) => o.kind === 'Deployment') as unknown as {
      spec: { replicas: number; template: { spec: { containers: Array<{ image: string; args: string[]; env: Array<{ name: string; value?: string }> }> } } };
    };
    const c = dep.spec.template.spec.containers[0];
    expect(dep.spec.replicas).toBe(3);
    expect(c?.image).toBe('registry.example.com/vpnaas-operator:1.2.3');
    expect(c?.args).toEqual(['run', '--leader-elect', '--metrics-port=8080', '--namespace=team-a', '--log-level=debug', '--tenant-cloud-hosts=keystone.example.com,*.cloud.example.com']);
    expect(c?.env).toContainEqual({ name: 'OS_CLOUD', value: 'otc' });
    expect(c?.env).toContainEqual({ name: 'HTTPS_PROXY', value: 'http://proxy:3128' });
    expect(objs.some((o) => o.kind === 'ServiceMonitor')).toBe(true);
  });

  it('refuses values of the wrong type with a clear error', async () => {
    const err = await template(['--set', 'replicaCount=many']).then(() => undefined, (e: unknown) => String(e));
    expect(err).toMatch(/replicaCount/);
    // One host per entry (the chart joins them with commas).
    const hosts = await template(['--set-json', 'tenantCloudHosts=["a.example.com,b.example.com"]']).then(() => undefined, (e: unknown) => String(e));
    expect(hosts).toMatch(/tenantCloudHosts/);
  });
});
