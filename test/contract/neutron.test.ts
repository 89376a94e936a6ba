// The contract suite against a real OpenStack Neutron + neutron-vpnaas + Keystone (Debian's packages, started by
// scripts/cloud/up.sh on loopback). Upstream Neutron does not enforce the seed cloud's rules.
// Statuses (ACTIVE, DOWN, ERROR of services and connections) come from the agent stand-in (scripts/cloud/agent.py):
// the cases need each state at a chosen moment, which the real agent (test/e2e/tunnel.test.ts) cannot be made to give.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { createCloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { agentReport, ensureLocalOpenStack } from '../support/openstack.ts';
import type { AgentStatus } from '../support/openstack.ts';
import { defineContract } from './contract.ts';

defineContract(async () => {
  const os = await ensureLocalOpenStack();
  const yaml = readFileSync(os.cloudsYamlPath, 'utf8');
  const doc = YAML.parse(yaml) as { clouds: { local: { auth: { password: string } } } };
  const wrong = yaml.replace(doc.clouds.local.auth.password, 'not-the-password');
  const tokenYaml = YAML.stringify({ clouds: { t: { auth_type: 'token', auth: { token: 'bogus-token' }, network_endpoint_override: os.networkUrl } } });
  const cloud = createCloud(loadCloudConfigFromString(yaml, 'local'));
  // Routers 7 and 8 are this suite's (the smoke test uses 1–2, the end-to-end suite 3–6; they may run at once).
  const pool = os.seed.routersWithGateway.slice(6, 8);
  let next = 0;
  return {
    name: 'neutron',
    cloud,
    wrongPassword: createCloud(loadCloudConfigFromString(wrong, 'local')),
    badToken: createCloud(loadCloudConfigFromString(tokenYaml, 't')),
    projectId: os.seed.projectId,
    async router() {
      const r = pool[next++ % pool.length]!;
      // leftovers of an interrupted earlier run would change what the tests see (their site connections first)
      for (const v of await cloud.vpnServices.list({ routerId: r.id })) {
        for (const c of await cloud.siteConnections.list({ vpnservice_id: v.id })) await cloud.siteConnections.delete(c.id).catch(() => undefined);
        await cloud.vpnServices.delete(v.id).catch(() => undefined);
      }
      return { id: r.id, gatewayIp: r.gatewayIp, subnetId: r.subnetId };
    },
    routerWithoutGateway: os.seed.routerWithoutGateway.id,
    unattachedSubnet: os.seed.routerWithoutGateway.subnetId,
    setStatus: (id, status) => os.agentReport(id, status),
    async setConnectionStatus(serviceId, connectionId, status) {
      // The agent reports the service too: it reports the service's current status, so that only the connection moves.
      const current = (await cloud.vpnServices.get(serviceId)).status as AgentStatus;
      await agentReport(os.info.neutronConf, [serviceId], current, { connections: { [connectionId]: status } });
    },
    seedRules: false,
  };
});
