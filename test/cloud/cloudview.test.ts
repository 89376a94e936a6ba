// The bulk view of a cloud's VPN services: many callers share one paginated LIST; a caller that needs news waits
// for the next round instead of starting its own. Real HTTP against the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createCloud, type Cloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { CloudView } from '../../src/kinds/vpnservice/view.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';

let sim: Simulator;
let cloud: Cloud;
const lists = () => sim.countOf({ method: 'GET', route: '/v2.0/vpn/vpnservices' });

beforeAll(async () => {
  sim = await startSimulator({ activeDelayMs: null });
  cloud = createCloud(loadCloudConfigFromString(sim.cloudsYaml('sim'), 'sim'), { pageSize: 2 });
  for (let i = 0; i < 5; i++) {
    const id = randomUUID();
    sim.addRouter({ id, gatewayV4: `192.0.2.${i + 1}` });
    await cloud.vpnServices.create({ router_id: id, name: `v${i}`, admin_state_up: true });
  }
});
afterAll(async () => {
  await cloud?.close();
  await sim?.stop();
});

describe('CloudView', () => {
  it('50 concurrent callers share one LIST round (3 pages of 2)', async () => {
    const view = new CloudView(cloud.vpnServices);
    const before = lists();
    const t = Date.now();
    const snaps = await Promise.all(Array.from({ length: 50 }, () => view.fresh(t)));
    expect(new Set(snaps).size).toBe(1);
    expect(snaps[0]!.byId.size).toBe(5);
    expect(lists() - before).toBe(3);
    expect(view.rounds).toBe(1);
  });

  it('a caller that needs a newer snapshot gets the next round, and an older need is served from the last one', async () => {
    const view = new CloudView(cloud.vpnServices);
    const first = await view.fresh(Date.now());
    const again = await view.fresh(first.startedAt);
    expect(again).toBe(first);
    await new Promise((r) => setTimeout(r, 5));
    const newer = await view.fresh(Date.now());
    expect(newer).not.toBe(first);
    expect(newer.startedAt).toBeGreaterThan(first.startedAt);
    expect(view.rounds).toBe(2);
  });

  it('indexes by router, and remembers our own writes until the next round', async () => {
    const view = new CloudView(cloud.vpnServices);
    const snap = await view.fresh(Date.now());
    const [one] = [...snap.byId.values()];
    expect(snap.byRouter.get(one!.router_id)?.map((v) => v.id)).toEqual([one!.id]);
    view.forget(one!.id);
    expect(view.last()?.byId.has(one!.id)).toBe(false);
    view.remember(one!);
    expect(view.last()?.byRouter.get(one!.router_id)?.map((v) => v.id)).toEqual([one!.id]);
  });

  it('a LIST round made for anybody tells the waiters whose service left its status, once, and no one else', async () => {
    const view = new CloudView(cloud.vpnServices);
    const snap = await view.fresh(Date.now());
    const [a, b] = [...snap.byId.values()];
    const told: string[] = [];
    view.waitForChange(a!.id, a!.status, () => told.push('a'));
    view.waitForChange(b!.id, b!.status, () => told.push('b'));
    await view.fresh(Date.now() + 1); // nothing moved
    expect(told).toEqual([]);
    sim.setStatus(a!.id, 'ACTIVE');
    await new Promise((r) => setTimeout(r, 2));
    await view.fresh(Date.now());
    expect(told).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 2));
    await view.fresh(Date.now()); // a was told already; b still waits
    expect(told).toEqual(['a']);
    view.stopWaiting(b!.id);
    sim.setStatus(b!.id, 'ACTIVE');
    await new Promise((r) => setTimeout(r, 2));
    await view.fresh(Date.now());
    expect(told).toEqual(['a']);
  });
});
