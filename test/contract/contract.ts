// The cloud client's contract, written once and run against two clouds: a real OpenStack Neutron + VPNaaS +
// Keystone (test/contract/neutron.test.ts) and the simulator (test/contract/simulator.test.ts). Where they must
// agree, one expectation; where the seed cloud's rules differ from upstream Neutron (one VPN service per router,
// name ≤64, admin_state_up only true, the PSK rule), the test says so with `target.seedRules`. The cases of the other
// VPNaaS kinds (IKE/IPsec policies, endpoint groups, site connections) are in vpnaas-contract.ts.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudError, classify } from '../../src/cloud/errors.ts';
import type { Cloud } from '../../src/cloud/cloud.ts';
import type { VpnService } from '../../src/cloud/vpnservices.ts';
import { vpnaasContract } from './vpnaas-contract.ts';

export interface ContractTarget {
  name: string;
  /** The client under test, authenticated as a project member with a password. */
  cloud: Cloud;
  /** A client built from the same clouds.yaml but a wrong password. */
  wrongPassword: Cloud;
  /** A client with a static token that is not valid. */
  badToken: Cloud;
  projectId: string;
  /** A router with an external gateway and no VPN service on it, with its gateway IP and an attached subnet. */
  router(): Promise<{ id: string; gatewayIp: string; subnetId: string }>;
  routerWithoutGateway: string;
  /** A subnet that exists (visible to the client) but is not attached to router(). */
  unattachedSubnet: string;
  /** Moves the VPN service to a status, as the VPN agent (or the simulator's admin) does. */
  setStatus(id: string, status: 'ACTIVE' | 'DOWN' | 'ERROR'): Promise<void>;
  /** Moves an IPsec site connection of the VPN service to a status, as the VPN agent reports it (`update_status`
   * with `ipsec_site_connections`); the VPN service keeps its status. */
  setConnectionStatus(serviceId: string, connectionId: string, status: 'ACTIVE' | 'DOWN' | 'ERROR'): Promise<void>;
  /** The seed cloud's stricter rules are enforced. */
  seedRules: boolean;
}

const MISSING = '00000000-0000-4000-8000-000000000000';

async function failure(p: Promise<unknown>): Promise<CloudError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CloudError) return err;
    throw err;
  }
  throw new Error('expected the cloud to refuse the request');
}

export function defineContract(setup: () => Promise<ContractTarget>): void {
  let t: ContractTarget;
  const created: string[] = [];
  beforeAll(async () => {
    t = await setup();
  }, 900_000);
  afterEach(async () => {
    // Leave no service behind: real Neutron keeps them across runs.
    for (const id of created.splice(0)) await t.cloud.vpnServices.delete(id).catch(() => undefined);
  });
  const create = async (body: Parameters<Cloud['vpnServices']['create']>[0]): Promise<VpnService> => {
    const v = await t.cloud.vpnServices.create(body);
    created.push(v.id);
    return v;
  };

  describe('create, read, list', () => {
    it('create answers PENDING_CREATE with the router gateway as external_v4_ip', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, name: 'contract-create', description: 'd', admin_state_up: true });
      expect(v).toMatchObject({
        router_id: r.id,
        name: 'contract-create',
        description: 'd',
        admin_state_up: true,
        status: 'PENDING_CREATE',
        subnet_id: null,
        external_v4_ip: r.gatewayIp,
      });
      expect(v.tenant_id ?? v.project_id).toBe(t.projectId);
      expect(await t.cloud.vpnServices.get(v.id)).toEqual(v);
    });

    it('a subnet attached to the router is accepted', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, subnet_id: r.subnetId, name: 'contract-subnet', admin_state_up: true });
      expect(v.subnet_id).toBe(r.subnetId);
    });

    it('list filters by router_id, and follows pagination', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, name: 'contract-list', admin_state_up: true });
      expect((await t.cloud.vpnServices.list({ routerId: r.id })).map((x) => x.id)).toEqual([v.id]);
      expect(await t.cloud.vpnServices.list({ routerId: MISSING })).toEqual([]);
      const other = await t.router();
      const w = await create({ router_id: other.id, name: 'contract-page', admin_state_up: true });
      const all = await t.cloud.vpnServices.list({ pageSize: 1 });
      expect(new Set(all.map((x) => x.id)).size).toBe(all.length);
      expect(all.map((x) => x.id)).toEqual(expect.arrayContaining([v.id, w.id]));
    });

    it('the status moves when the agent reports, and is read back', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, name: 'contract-status', admin_state_up: true });
      await t.setStatus(v.id, 'ACTIVE');
      expect((await t.cloud.vpnServices.get(v.id)).status).toBe('ACTIVE');
      await t.setStatus(v.id, 'DOWN');
      expect((await t.cloud.vpnServices.get(v.id)).status).toBe('DOWN');
    });
  });

  describe('update and delete', () => {
    it('update while PENDING_CREATE → 400 VPNStateInvalidToUpdate (wait and retry); once ACTIVE → applied', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, name: 'contract-upd', admin_state_up: true });
      const err = await failure(t.cloud.vpnServices.update(v.id, { name: 'renamed' }));
      expect(err.status).toBe(400);
      expect(err.code).toBe('VPNStateInvalidToUpdate');
      expect(classify(err)).toBe('pendingState');
      await t.setStatus(v.id, 'ACTIVE');
      const u = await t.cloud.vpnServices.update(v.id, { name: 'renamed', description: 'new' });
      expect(u).toMatchObject({ id: v.id, name: 'renamed', description: 'new' });
    });

    it('delete → 204; get → 404 VPNServiceNotFound; delete again → 404', async () => {
      const r = await t.router();
      const v = await create({ router_id: r.id, name: 'contract-del', admin_state_up: true });
      await t.cloud.vpnServices.delete(v.id);
      const got = await failure(t.cloud.vpnServices.get(v.id));
      expect([got.status, got.code, classify(got)]).toEqual([404, 'VPNServiceNotFound', 'notFound']);
      const again = await failure(t.cloud.vpnServices.delete(v.id));
      expect([again.status, classify(again)]).toEqual([404, 'notFound']);
    });
    // In use (409 VPNServiceInUse) from a real IPsec site connection: vpnaas-contract.ts.
  });

  describe('refusals', () => {
    it('a router that does not exist → 404 RouterNotFound', async () => {
      const err = await failure(create({ router_id: MISSING, name: 'x', admin_state_up: true }));
      expect([err.status, err.code]).toEqual([404, 'RouterNotFound']);
      expect(err.requestId).toMatch(/^req-/);
    });

    it('a router without an external gateway → 400 RouterIsNotExternal, terminal', async () => {
      const err = await failure(create({ router_id: t.routerWithoutGateway, name: 'x', admin_state_up: true }));
      expect([err.status, err.code, classify(err)]).toEqual([400, 'RouterIsNotExternal', 'terminal']);
      expect(err.cloudMessage).toContain(t.routerWithoutGateway);
    });

    it('a router id that is not a UUID → 400, terminal', async () => {
      const err = await failure(create({ router_id: 'not-a-uuid', name: 'x', admin_state_up: true }));
      expect([err.status, classify(err)]).toEqual([400, 'terminal']);
      expect(err.cloudMessage).toContain('not-a-uuid');
    });

    it('a subnet not connected to the router → 400 SubnetIsNotConnectedToRouter', async () => {
      const r = await t.router();
      const err = await failure(create({ router_id: r.id, subnet_id: t.unattachedSubnet, name: 'x', admin_state_up: true }));
      expect([err.status, err.code]).toEqual([400, 'SubnetIsNotConnectedToRouter']);
    });

    it('a missing VPN service → 404 VPNServiceNotFound', async () => {
      const err = await failure(t.cloud.vpnServices.get(MISSING));
      expect([err.status, err.code]).toEqual([404, 'VPNServiceNotFound']);
    });

    it('a wrong password → 401 from Keystone, classified auth', async () => {
      const err = await failure(t.wrongPassword.vpnServices.list({}));
      expect([err.status, classify(err)]).toEqual([401, 'auth']);
    });

    it('a bad token → 401 in Keystone format, classified auth', async () => {
      const err = await failure(t.badToken.vpnServices.list({}));
      expect([err.status, classify(err)]).toEqual([401, 'auth']);
      expect(err.code).toBe('Unauthorized');
    });
  });

  vpnaasContract(() => t);

  describe("the seed cloud's rules (stricter than upstream Neutron)", () => {
    it('a second VPN service on one router: seed cloud 409, upstream Neutron accepts it', async () => {
      const r = await t.router();
      await create({ router_id: r.id, name: 'first', admin_state_up: true });
      const second = create({ router_id: r.id, name: 'second', admin_state_up: true });
      if (t.seedRules) expect((await failure(second)).status).toBe(409);
      else expect((await second).router_id).toBe(r.id);
    });

    it('a name of 65 characters: seed cloud 400, upstream Neutron accepts it (its limit is 255)', async () => {
      const r = await t.router();
      const p = create({ router_id: r.id, name: 'n'.repeat(65), admin_state_up: true });
      if (t.seedRules) expect((await failure(p)).status).toBe(400);
      else expect((await p).name).toHaveLength(65);
      const tooLong = await failure(create({ router_id: (await t.router()).id, name: 'n'.repeat(256), admin_state_up: true }));
      expect(tooLong.status).toBe(400);
    });

    it('admin_state_up false: seed cloud 400, upstream Neutron accepts it', async () => {
      const r = await t.router();
      const p = create({ router_id: r.id, name: 'down', admin_state_up: false });
      if (t.seedRules) expect((await failure(p)).status).toBe(400);
      else expect((await p).admin_state_up).toBe(false);
    });
  });
}
