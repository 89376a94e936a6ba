// VpnService objects as tests use them: namespaces, apply, read, wait for a Ready reason, events; and a token for
// the simulator.
import { randomUUID } from 'node:crypto';
import { VpnService, type Condition } from '../../src/api/vpnservice.ts';
import { KubeApiError, MERGE_PATCH, type KubeClient } from '../../src/kube/client.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { eventually } from './operator.ts';

export const vpnPath = (ns: string, name = '') => `/apis/vpnaas.dev/v1alpha1/namespaces/${ns}/vpnservices${name ? `/${name}` : ''}`;

export const condition = (o: VpnService | undefined, type: string): Condition | undefined =>
  o?.status?.conditions?.find((c) => c.type === type);
export const ready = (o: VpnService | undefined) => condition(o, 'Ready');

export class Vpns {
  private readonly kube: KubeClient;
  constructor(kube: KubeClient) {
    this.kube = kube;
  }

  async namespace(prefix = 'test'): Promise<string> {
    const ns = `${prefix}-${randomUUID().slice(0, 8)}`;
    await this.kube.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    return ns;
  }

  async apply(ns: string, name: string, spec: Record<string, unknown>): Promise<VpnService> {
    return VpnService.parse(
      await this.kube.request('POST', vpnPath(ns), { apiVersion: 'vpnaas.dev/v1alpha1', kind: 'VpnService', metadata: { name, namespace: ns }, spec }),
    );
  }

  async get(ns: string, name: string): Promise<VpnService | undefined> {
    try {
      return VpnService.parse(await this.kube.request('GET', vpnPath(ns, name)));
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  async list(ns: string): Promise<VpnService[]> {
    const l = (await this.kube.request('GET', vpnPath(ns))) as { items: unknown[] };
    return l.items.map((i) => VpnService.parse(i));
  }

  async patchSpec(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
    await this.kube.request('PATCH', vpnPath(ns, name), { spec }, MERGE_PATCH);
  }

  async remove(ns: string, name: string): Promise<void> {
    await this.kube.request('DELETE', vpnPath(ns, name));
  }

  async waitGone(ns: string, name: string, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => (await this.get(ns, name)) === undefined, `${ns}/${name} gone`, timeoutMs);
  }

  async waitReason(ns: string, name: string, reason: string, timeoutMs = 30_000): Promise<VpnService> {
    return eventually(async () => {
      const o = await this.get(ns, name);
      return ready(o)?.reason === reason ? o : undefined;
    }, `${ns}/${name} Ready reason ${reason}`, timeoutMs, 200);
  }

  async events(ns: string, name: string): Promise<Array<{ reason: string; type: string; message: string; count?: number }>> {
    const list = (await this.kube.request('GET', `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name=${name}`)) as {
      items: Array<{ reason: string; type: string; message: string; count?: number }>;
    };
    return list.items;
  }

  /** Waits for an event on ns/name that `match` accepts: events are posted after the status they follow. */
  async waitEvent(ns: string, name: string, match: (e: { reason: string; type: string; message: string }) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    await eventually(async () => (await this.events(ns, name)).some(match), `an event on ${ns}/${name}: ${what}`, timeoutMs, 200);
  }

  async secret(ns: string, name: string, data: Record<string, string>): Promise<void> {
    await this.kube.request('POST', `/api/v1/namespaces/${ns}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name }, stringData: data });
  }
}

/** A project-scoped token of the simulator's default user. */
export async function simToken(sim: Simulator): Promise<string> {
  const res = await fetch(`${sim.authUrl}/auth/tokens`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'demo', domain: { name: 'Default' }, password: 'secret' } } },
        scope: { project: { name: 'demo', domain: { name: 'Default' } } },
      },
    }),
  });
  const token = res.headers.get('x-subject-token');
  if (!token) throw new Error(`simulator refused the token request: ${res.status}`);
  return token;
}
