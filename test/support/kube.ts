// Test helpers on top of the operator's own Kubernetes client.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { KubeClient, KubeApiError } from '../../src/kube/client.ts';

export { KubeClient, KubeApiError };

export const CRD_PATH = fileURLToPath(new URL('../../crds/vpnaas.dev_vpnservices.yaml', import.meta.url));
const CRD_DIR = fileURLToPath(new URL('../../crds/', import.meta.url));

/** Every CRD file of crds/ (the operator watches all its kinds: each must be installed). */
export function crdFiles(): string[] {
  return readdirSync(CRD_DIR)
    .filter((f) => f.startsWith('vpnaas.dev_') && f.endsWith('.yaml'))
    .sort()
    .map((f) => path.join(CRD_DIR, f));
}

/** Installs (or updates) the CRDs of crds/ (or the one file given) and waits until each is Established and served. */
export async function installCrd(kube: KubeClient, files: string[] = crdFiles()): Promise<void> {
  for (const file of files) await installOne(kube, file);
}

async function installOne(kube: KubeClient, file: string): Promise<void> {
  const crd = YAML.parse(readFileSync(file, 'utf8')) as { metadata: { name: string }; spec: { names: { plural: string } } };
  const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  try {
    await kube.request('POST', path, crd);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 409)) throw err;
    const cur = (await kube.request('GET', `${path}/${crd.metadata.name}`)) as { metadata: { resourceVersion: string } };
    await kube.request('PUT', `${path}/${crd.metadata.name}`, {
      ...crd,
      metadata: { ...crd.metadata, resourceVersion: cur.metadata.resourceVersion },
    });
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = (await kube.request('GET', `${path}/${crd.metadata.name}`)) as {
      status?: { conditions?: Array<{ type: string; status: string }> };
    };
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
    if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not Established after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  // The new resource is served a moment after Established; wait for discovery to list it.
  for (;;) {
    try {
      await kube.request('GET', `/apis/vpnaas.dev/v1alpha1/${crd.spec.names.plural}?limit=1`);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Awaits a promise that must fail with a KubeApiError, and returns that error. */
export async function kubeError(p: Promise<unknown>): Promise<KubeApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeApiError) return err;
    throw err;
  }
  throw new Error('expected the API server to refuse the request, but it accepted it');
}
