// Neutron v2.0: VPN services (neutron-vpnaas), the other VPNaaS kinds (src/simulator/vpnaas.ts), a minimal router
// read API and the version documents.
import { randomUUID } from 'node:crypto';
import { json, NeutronFault, noContent } from './http.ts';
import type { Handler, RouteDef, SimRequest, SimResponse } from './http.ts';
import { requestToken, tokenRejected } from './keystone.ts';
import { compareValues, fieldsOf, listServices, pickFields, visibleRouter, visibleService } from './neutron-list.ts';
import { isPending } from './store.ts';
import type { RouterRecord } from './store.ts';
import type { SimState } from './state.ts';
import { prepareBody, routerNotFound, serviceNotFound } from './vpnservice-body.ts';
import type { AuthContext } from './vpnservice-body.ts';
import { vpnaasRoutes } from './vpnaas.ts';

// ---- create / update / delete

async function createService(state: SimState, req: SimRequest, ctx: AuthContext): Promise<SimResponse> {
  const dict = prepareBody(state, req, ctx, true);
  if (dict.flavor_id !== null) throw new NeutronFault(404, 'FlavorsPluginNotLoaded', 'Flavors plugin not found');
  const routerId = dict.router_id as string;
  const router = visibleRouter(state, ctx, routerId);
  if (!router) throw routerNotFound(routerId);
  if (router.gatewayV4 === null && router.gatewayV6 === null)
    throw new NeutronFault(400, 'RouterIsNotExternal', `Router ${routerId} has no external network gateway set`);
  const subnetId = dict.subnet_id as string | null;
  if (subnetId !== null && !router.subnets.has(subnetId))
    throw new NeutronFault(400, 'SubnetIsNotConnectedToRouter', `Subnet ${subnetId} is not connected to Router ${routerId}`);
  if (state.seedRules) {
    const existing = state.store.idsOnRouter(routerId).values().next();
    if (!existing.done)
      throw new NeutronFault(409, 'RouterInUseByVPNService', `Router ${routerId} is used by VPNService ${existing.value}`);
  }
  const rec = state.store.create(
    {
      name: dict.name as string,
      description: dict.description as string,
      routerId,
      subnetId,
      adminStateUp: dict.admin_state_up as boolean,
      tenantId: dict.tenant_id as string,
      externalV4Ip: router.gatewayV4,
      externalV6Ip: router.gatewayV6,
    },
    randomUUID(),
    state.now(),
  );
  // Committed: the hook sees the service exactly as the response will carry it.
  if (state.onCreate) await state.onCreate({ ...rec });
  return json(201, { vpnservice: rec });
}

function updateService(state: SimState, req: SimRequest, ctx: AuthContext, id: string): SimResponse {
  const dict = prepareBody(state, req, ctx, false);
  const rec = visibleService(state, ctx, id);
  if (!rec) throw serviceNotFound(id);
  if (isPending(rec.status))
    throw new NeutronFault(400, 'VPNStateInvalidToUpdate', `Invalid state ${rec.status} of vpnaas resource ${id} for updating`);
  const patch: { name?: string; description?: string; adminStateUp?: boolean } = {};
  if ('name' in dict) patch.name = dict.name as string;
  if ('description' in dict) patch.description = dict.description as string;
  if ('admin_state_up' in dict) patch.adminStateUp = dict.admin_state_up as boolean;
  const updated = state.store.update(id, patch, state.now());
  if (!updated) throw serviceNotFound(id);
  return json(200, { vpnservice: updated });
}

function deleteService(state: SimState, ctx: AuthContext, id: string): SimResponse {
  if (!visibleService(state, ctx, id)) throw serviceNotFound(id);
  // In use: any IPsec site connection on it (an index lookup, not a scan).
  if (state.vpnaas.connectionsOfService(id).size > 0) throw new NeutronFault(409, 'VPNServiceInUse', `VPNService ${id} is still in use`);
  state.store.delete(id);
  return noContent();
}

// ---- routers

function routerView(r: RouterRecord): Record<string, unknown> {
  const fixedIps: Array<{ subnet_id: string; ip_address: string }> = [];
  if (r.gatewayV4 !== null) fixedIps.push({ subnet_id: uuidFrom(r.id, 'v4'), ip_address: r.gatewayV4 });
  if (r.gatewayV6 !== null) fixedIps.push({ subnet_id: uuidFrom(r.id, 'v6'), ip_address: r.gatewayV6 });
  return {
    id: r.id,
    name: r.name,
    tenant_id: r.projectId,
    admin_state_up: true,
    status: 'ACTIVE',
    external_gateway_info:
      fixedIps.length > 0 ? { network_id: EXTERNAL_NETWORK_ID, enable_snat: true, external_fixed_ips: fixedIps } : null,
    description: '',
    routes: [],
    project_id: r.projectId,
  };
}

const EXTERNAL_NETWORK_ID = '5c4b3b44-7b0f-4b4c-9d2a-0c6f3f1e7a10';
/** A stable fake UUID derived from a router id (ids of its gateway subnets). */
function uuidFrom(id: string, salt: string): string {
  let h = 2166136261;
  const hex: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const ch of `${salt}:${round}:${id}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    hex.push(h.toString(16).padStart(8, '0'));
  }
  const s = hex.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-4${s.slice(13, 16)}-a${s.slice(17, 20)}-${s.slice(20, 32)}`;
}

function listRouters(state: SimState, req: SimRequest, ctx: AuthContext): SimResponse {
  const ids = req.query.getAll('id').filter((v) => v !== '');
  const names = req.query.getAll('name').filter((v) => v !== '');
  const rows = state.store
    .routers()
    .filter((r) => ctx.admin || r.projectId === ctx.projectId)
    .filter((r) => (ids.length === 0 || ids.includes(r.id)) && (names.length === 0 || names.includes(r.name)))
    .sort((a, b) => compareValues(a.id, b.id));
  const fields = fieldsOf(req);
  return json(200, { routers: rows.map((r) => pickFields(routerView(r), fields)) });
}

// ---- routes

function authed(state: SimState, fn: (req: SimRequest, ctx: AuthContext) => SimResponse | Promise<SimResponse>): Handler {
  return async (req) => {
    const token = requestToken(state, req);
    if (!token) return tokenRejected(state);
    const user = state.identity.users.get(token.userId);
    const ctx: AuthContext = { projectId: token.projectId, admin: (user?.admin ?? false) && token.projectId !== null };
    try {
      return await fn(req, ctx);
    } catch (e) {
      if (e instanceof NeutronFault) return e.toResponse();
      throw e;
    }
  };
}

function param(req: SimRequest, name: string): string {
  return req.params[name] ?? '';
}

export function neutronRoutes(state: SimState): RouteDef[] {
  const p = state.networkPrefix;
  const versions: Handler = (req) =>
    json(200, { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${req.origin}${p}/v2.0/`, rel: 'self' }] }] });
  const resources = authed(state, (req) =>
    json(200, {
      resources: [
        ['router', 'routers'],
        ['vpnservice', 'vpn/vpnservices'],
        ['ikepolicy', 'vpn/ikepolicies'],
        ['ipsecpolicy', 'vpn/ipsecpolicies'],
        ['endpoint_group', 'vpn/endpoint-groups'],
        ['ipsec_site_connection', 'vpn/ipsec-site-connections'],
      ].map(([name, collection]) => ({
        links: [{ href: `${req.origin}${p}/v2.0/${collection}`, rel: 'self' }],
        name,
        collection,
      })),
    }),
  );
  const extension = (alias: string, name: string, description: string) => ({
    alias,
    name,
    description,
    updated: '2012-08-01T10:00:00-00:00',
    links: [],
  });
  return [
    { method: 'GET', template: `${p}/`, handler: versions },
    ...(p === '' ? [] : [{ method: 'GET', template: p, handler: versions }]),
    { method: 'GET', template: `${p}/v2.0`, handler: resources },
    { method: 'GET', template: `${p}/v2.0/`, handler: resources },
    {
      method: 'GET',
      template: `${p}/v2.0/extensions`,
      handler: authed(state, () =>
        json(200, {
          extensions: [
            extension('router', 'Neutron L3 Router', 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.'),
            extension('external-net', 'Neutron external network', 'Adds external network attribute to network resource.'),
            extension('vpnaas', 'VPN service', 'Extension for VPN service'),
            extension('vpn-flavors', 'VPN Service Flavor Extension', 'Flavor support for vpnservice resource.'),
            extension('vpn-endpoint-groups', 'VPN Endpoint Groups', 'VPN endpoint groups support'),
          ],
        }),
      ),
    },
    { method: 'GET', template: `${p}/v2.0/vpn/vpnservices`, handler: authed(state, (req, ctx) => listServices(state, req, ctx)) },
    { method: 'POST', template: `${p}/v2.0/vpn/vpnservices`, handler: authed(state, (req, ctx) => createService(state, req, ctx)) },
    {
      method: 'GET',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => {
        const id = param(req, 'id');
        const rec = visibleService(state, ctx, id);
        if (!rec) throw serviceNotFound(id);
        return json(200, { vpnservice: pickFields(rec, fieldsOf(req)) });
      }),
    },
    {
      method: 'PUT',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => updateService(state, req, ctx, param(req, 'id'))),
    },
    {
      method: 'DELETE',
      template: `${p}/v2.0/vpn/vpnservices/{id}`,
      handler: authed(state, (req, ctx) => deleteService(state, ctx, param(req, 'id'))),
    },
    ...vpnaasRoutes(state, (fn) => authed(state, fn)),
    { method: 'GET', template: `${p}/v2.0/routers`, handler: authed(state, (req, ctx) => listRouters(state, req, ctx)) },
    {
      method: 'GET',
      template: `${p}/v2.0/routers/{id}`,
      handler: authed(state, (req, ctx) => {
        const id = param(req, 'id');
        const r = visibleRouter(state, ctx, id);
        if (!r) throw routerNotFound(id);
        return json(200, { router: pickFields(routerView(r), fieldsOf(req)) });
      }),
    },
  ];
}
