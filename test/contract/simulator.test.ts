// The contract suite against the cloud simulator (seed cloud's rules on).
import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import YAML from 'yaml';
import { createCloud } from '../../src/cloud/cloud.ts';
import { loadCloudConfigFromString } from '../../src/cloud/config.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defineContract } from './contract.ts';

let sim: Simulator | undefined;
afterAll(async () => {
  await sim?.stop();
});

defineContract(async () => {
  sim = await startSimulator({ activeDelayMs: null });
  const s = sim;
  const yaml = s.cloudsYaml('sim');
  const doc = YAML.parse(yaml) as { clouds: { sim: { auth: { password: string } } } };
  const wrong = yaml.replace(doc.clouds.sim.auth.password, 'not-the-password');
  const tokenYaml = YAML.stringify({ clouds: { t: { auth_type: 'token', auth: { token: 'bogus-token' }, network_endpoint_override: s.networkUrl } } });
  const noGw = randomUUID();
  const unattached = randomUUID(); // a subnet of the router without gateway: it exists, but not on router()
  s.addRouter({ id: noGw, gatewayV4: null, subnets: [unattached] });
  let n = 0;
  return {
    name: 'simulator',
    cloud: createCloud(loadCloudConfigFromString(yaml, 'sim')),
    wrongPassword: createCloud(loadCloudConfigFromString(wrong, 'sim')),
    badToken: createCloud(loadCloudConfigFromString(tokenYaml, 't')),
    projectId: s.projectId(),
    async router() {
      const id = randomUUID();
      const subnetId = randomUUID();
      const gatewayIp = `203.0.113.${(++n % 250) + 2}`;
      s.addRouter({ id, gatewayV4: gatewayIp, subnets: [subnetId] });
      return { id, gatewayIp, subnetId };
    },
    routerWithoutGateway: noGw,
    unattachedSubnet: unattached,
    async setStatus(id, status) {
      s.setStatus(id, status);
    },
    async setConnectionStatus(_serviceId, connectionId, status) {
      s.setConnectionStatus(connectionId, status);
    },
    seedRules: true,
  };
});
