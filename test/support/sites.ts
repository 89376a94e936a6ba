// Whole site-to-site VPNs as the guarantee suites use them, on the simulator: a "site" is one VpnService, one IKE
// and one IPsec policy, a local (subnet) and a peer (cidr) endpoint group, and one IPsec site connection using them
// all, with a PSK Secret; every object's cloud name starts with the site's prefix, so what the cloud holds can be
// counted by name, per object (OpenStack does not refuse duplicate names: a second POST for one object shows as a
// second resource with its name).
import { randomUUID } from 'node:crypto';
import type { Cloud } from '../../src/cloud/cloud.ts';
import type { RequestLogEntry, Simulator } from '../../src/simulator/index.ts';
import type { Obj } from './objects.ts';

export const SITE_KINDS = ['VpnService', 'IKEPolicy', 'IPsecPolicy', 'EndpointGroup', 'IPsecSiteConnection'] as const;
export type SiteKind = (typeof SITE_KINDS)[number];

/** The simulator's (and Neutron's) collection path of each kind. */
export const COLLECTION: Record<SiteKind, string> = {
  VpnService: '/v2.0/vpn/vpnservices',
  IKEPolicy: '/v2.0/vpn/ikepolicies',
  IPsecPolicy: '/v2.0/vpn/ipsecpolicies',
  EndpointGroup: '/v2.0/vpn/endpoint-groups',
  IPsecSiteConnection: '/v2.0/vpn/ipsec-site-connections',
};

export interface Site {
  ns: string;
  prefix: string;
  routerId: string;
  subnetId: string;
  peerAddress: string;
  /** Object names by role (also their cloud names). */
  names: { svc: string; ike: string; ipsec: string; local: string; peer: string; conn: string };
  pskSecret: string;
}

let counter = 0;

/** A new site on a new router of the simulator (with a gateway and one subnet). */
export function newSite(sim: Simulator, ns: string, prefix: string): Site {
  const n = ++counter;
  const routerId = randomUUID();
  const subnetId = randomUUID();
  sim.addRouter({ id: routerId, gatewayV4: `198.51.${100 + Math.floor(n / 250)}.${(n % 250) + 1}`, subnets: [subnetId] });
  return {
    ns,
    prefix,
    routerId,
    subnetId,
    peerAddress: `203.0.${113 + Math.floor(n / 250)}.${(n % 250) + 1}`,
    names: { svc: `${prefix}-svc`, ike: `${prefix}-ike`, ipsec: `${prefix}-ipsec`, local: `${prefix}-local`, peer: `${prefix}-peer`, conn: `${prefix}-conn` },
    pskSecret: `${prefix}-psk`,
  };
}

export interface SiteOptions {
  /** deletionPolicy of every object. */
  deletionPolicy?: 'Delete' | 'Orphan';
  /** spec.importId by role. */
  importIds?: Partial<Record<keyof Site['names'], string>>;
  /** Leave the Secret out (default: included, with `psk`). */
  withoutSecret?: boolean;
  psk?: string;
}

const api = 'vpnaas.dev/v1alpha1';

/** The objects of a site: the Secret first, then in dependency order. */
export function siteObjects(s: Site, opts: SiteOptions = {}): Obj[] {
  const extra = (role: keyof Site['names']) => ({
    ...(opts.deletionPolicy ? { deletionPolicy: opts.deletionPolicy } : {}),
    ...(opts.importIds?.[role] ? { importId: opts.importIds[role] } : {}),
  });
  const meta = (name: string) => ({ name, namespace: s.ns });
  const out: Obj[] = [];
  if (!opts.withoutSecret) {
    out.push({ apiVersion: 'v1', kind: 'Secret', metadata: meta(s.pskSecret), stringData: { psk: opts.psk ?? `psk-${s.prefix}-Zx81qv` } });
  }
  out.push(
    { apiVersion: api, kind: 'VpnService', metadata: meta(s.names.svc), spec: { routerId: s.routerId, ...extra('svc') } },
    { apiVersion: api, kind: 'IKEPolicy', metadata: meta(s.names.ike), spec: { ikeVersion: 'v2', encryptionAlgorithm: 'aes-256', ...extra('ike') } },
    { apiVersion: api, kind: 'IPsecPolicy', metadata: meta(s.names.ipsec), spec: { encryptionAlgorithm: 'aes-256', ...extra('ipsec') } },
    { apiVersion: api, kind: 'EndpointGroup', metadata: meta(s.names.local), spec: { type: 'subnet', endpoints: [s.subnetId], ...extra('local') } },
    { apiVersion: api, kind: 'EndpointGroup', metadata: meta(s.names.peer), spec: { type: 'cidr', endpoints: ['10.77.0.0/24'], ...extra('peer') } },
    {
      apiVersion: api,
      kind: 'IPsecSiteConnection',
      metadata: meta(s.names.conn),
      spec: {
        vpnServiceRef: { name: s.names.svc },
        ikePolicyRef: { name: s.names.ike },
        ipsecPolicyRef: { name: s.names.ipsec },
        localEndpointGroupRef: { name: s.names.local },
        peerEndpointGroupRef: { name: s.names.peer },
        peerAddress: s.peerAddress,
        pskSecretRef: { name: s.pskSecret, key: 'psk' },
        ...extra('conn'),
      },
    },
  );
  return out;
}

/** The managed objects of a site (no Secret), each with its kind and name. */
export function siteManaged(s: Site): Array<{ kind: SiteKind; name: string }> {
  return [
    { kind: 'VpnService', name: s.names.svc },
    { kind: 'IKEPolicy', name: s.names.ike },
    { kind: 'IPsecPolicy', name: s.names.ipsec },
    { kind: 'EndpointGroup', name: s.names.local },
    { kind: 'EndpointGroup', name: s.names.peer },
    { kind: 'IPsecSiteConnection', name: s.names.conn },
  ];
}

export interface CloudItem {
  kind: SiteKind;
  id: string;
  name: string;
}

/** Everything the cloud holds of the five kinds (read through the project's own Neutron client). */
export async function inventory(cloud: Cloud): Promise<CloudItem[]> {
  const [svcs, ike, ipsec, epg, conns] = await Promise.all([
    cloud.vpnServices.list({}),
    cloud.ikePolicies.list({}),
    cloud.ipsecPolicies.list({}),
    cloud.endpointGroups.list({}),
    cloud.siteConnections.list({}),
  ]);
  const tag = (kind: SiteKind, l: Array<{ id: string; name: string }>) => l.map((r) => ({ kind, id: r.id, name: r.name }));
  return [
    ...tag('VpnService', svcs),
    ...tag('IKEPolicy', ike),
    ...tag('IPsecPolicy', ipsec),
    ...tag('EndpointGroup', epg),
    ...tag('IPsecSiteConnection', conns),
  ];
}

/** Per (kind, name) of the given objects, how many cloud resources carry it. */
export function countByName(items: CloudItem[], objects: Array<{ kind: SiteKind; name: string }>): Map<string, number> {
  const m = new Map<string, number>(objects.map((o) => [`${o.kind}/${o.name}`, 0]));
  for (const i of items) {
    const k = `${i.kind}/${i.name}`;
    if (m.has(k)) m.set(k, m.get(k)! + 1);
  }
  return m;
}

/** Whether a logged request made the cloud act (it answered 201, or it acted and the answer was lost or hung). */
export const landed = (e: RequestLogEntry) => e.status === 201 || e.status === 'lost' || e.status === 'hang';

/** Creates the simulator performed per kind, from its request log, since `from` (epoch ms). */
export function createsPerKind(sim: Simulator, from = 0): Record<SiteKind, { posts: number; landed: number }> {
  const out = Object.fromEntries(SITE_KINDS.map((k) => [k, { posts: 0, landed: 0 }])) as Record<SiteKind, { posts: number; landed: number }>;
  for (const e of sim.requestLog()) {
    if (e.method !== 'POST' || e.at < from) continue;
    const kind = SITE_KINDS.find((k) => COLLECTION[k] === e.route);
    if (!kind) continue;
    out[kind].posts++;
    if (landed(e)) out[kind].landed++;
  }
  return out;
}

/** Requests of the simulator's log matching method, a path prefix and a predicate on the outcome, since `from`. */
export function requests(sim: Simulator, method: string, pathPrefix: string, from = 0, status?: (s: RequestLogEntry['status']) => boolean): RequestLogEntry[] {
  return sim.requestLog().filter((e) => e.method === method && e.path.startsWith(pathPrefix) && e.at >= from && (status ? status(e.status) : true));
}
