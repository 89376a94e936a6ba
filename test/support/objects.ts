// Test helpers for objects of every vpnaas.dev kind (and core kinds the examples hold), and for the example
// manifests: examples/site-to-site/ with its ${VARS} substituted, as `envsubst | kubectl apply -f -` does.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { KubeApiError, MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import { eventually } from './operator.ts';

export const PLURALS: Record<string, string> = {
  VpnService: 'vpnservices',
  IKEPolicy: 'ikepolicies',
  IPsecPolicy: 'ipsecpolicies',
  EndpointGroup: 'endpointgroups',
  IPsecSiteConnection: 'ipsecsiteconnections',
};

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; deletionTimestamp?: string; finalizers?: string[]; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  status?: {
    id?: string;
    status?: string;
    retiredIds?: string[];
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export function objPath(kind: string, ns: string, name = ''): string {
  const tail = name ? `/${name}` : '';
  if (kind === 'Secret') return `/api/v1/namespaces/${ns}/secrets${tail}`;
  if (kind === 'Namespace') return `/api/v1/namespaces${name ? `/${name}` : ''}`;
  const plural = PLURALS[kind];
  if (!plural) throw new Error(`unknown kind ${kind}`);
  return `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/${plural}${tail}`;
}

export const readyOf = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** The ${VARS} of examples/site-to-site/ for two seeded routers with gateways (VPC A and VPC B) and a PSK. */
export function siteToSiteVars(
  a: { id: string; subnetId: string; subnetCidr: string; gatewayIp: string },
  b: { id: string; subnetId: string; subnetCidr: string; gatewayIp: string },
  psk: string,
): Record<string, string> {
  return { PSK: psk, ROUTER_A: a.id, ROUTER_B: b.id, SUBNET_A: a.subnetId, SUBNET_B: b.subnetId, CIDR_A: a.subnetCidr, CIDR_B: b.subnetCidr, GATEWAY_A: a.gatewayIp, GATEWAY_B: b.gatewayIp };
}

/** The objects of an example folder, ${VARS} substituted, moved into `namespace` (the Namespace object dropped). */
export function exampleObjects(dir: string, vars: Record<string, string>, namespace: string): Obj[] {
  const folder = path.join(EXAMPLES, dir);
  const out: Obj[] = [];
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.yaml')).sort()) {
    const text = readFileSync(path.join(folder, file), 'utf8').replace(/\$\{([A-Z_]+)\}/g, (_m, k: string) => {
      const v = vars[k];
      if (v === undefined) throw new Error(`${file}: no value for \${${k}}`);
      return v;
    });
    for (const doc of YAML.parseAllDocuments(text)) {
      const o = doc.toJS() as Obj | null;
      if (!o || o.kind === 'Namespace') continue;
      o.metadata.namespace = namespace;
      out.push(o);
    }
  }
  return out;
}

export class Objects {
  private readonly kube: KubeClient;
  constructor(kube: KubeClient) {
    this.kube = kube;
  }

  async create(o: Obj): Promise<Obj> {
    return (await this.kube.request('POST', objPath(o.kind, o.metadata.namespace!), o)) as Obj;
  }

  async get(kind: string, ns: string, name: string): Promise<Obj | undefined> {
    try {
      return (await this.kube.request('GET', objPath(kind, ns, name))) as Obj;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list(kind: string, ns: string): Promise<Obj[]> {
    return ((await this.kube.request('GET', objPath(kind, ns))) as { items: Obj[] }).items;
  }

  async patch(kind: string, ns: string, name: string, body: Record<string, unknown>): Promise<void> {
    await this.kube.request('PATCH', objPath(kind, ns, name), body, MERGE_PATCH);
  }

  async remove(kind: string, ns: string, name: string): Promise<void> {
    try {
      await this.kube.request('DELETE', objPath(kind, ns, name));
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }

  async waitReason(kind: string, ns: string, name: string, reason: string | ((r: string | undefined) => boolean), timeoutMs = 60_000): Promise<Obj> {
    const ok = typeof reason === 'string' ? (r: string | undefined) => r === reason : reason;
    let last: string | undefined;
    return eventually(async () => {
      const o = await this.get(kind, ns, name);
      const r = readyOf(o);
      last = r ? `${r.reason}: ${r.message}` : 'no Ready condition';
      return ok(r?.reason) ? o : undefined;
    }, `${kind} ${ns}/${name} Ready reason ${typeof reason === 'string' ? reason : '(predicate)'}`, timeoutMs, 200).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; its Ready was ${last}`);
    });
  }

  async waitGone(kind: string, ns: string, name: string, timeoutMs = 60_000): Promise<void> {
    await eventually(async () => (await this.get(kind, ns, name)) === undefined, `${kind} ${ns}/${name} gone`, timeoutMs, 200);
  }
}
