#!/usr/bin/python3
"""Neutron helpers for scripts/cloud/dataplane.sh (Debian's /usr/bin/python3, standard library only), on the
cloud of a scripts/cloud/up.sh state folder (<state>/openstack: ports.env, secrets.env, seed.json). As admin.

  wait-agents STATE HOST N TIMEOUT   wait until N agents of HOST are alive; prints the seconds it took
  delete-agents STATE HOST           delete HOST's agent records (and with them their router bindings)
  wait-routers STATE HOST TIMEOUT    wait until every router of seed.json is hosted by HOST's L3 agent, its
                                     qrouter namespace exists and its ports are ACTIVE; prints the seconds
  vms STATE HOST PREFIX              a "VM" behind each of the first two routers with a gateway: a Neutron port
                                     bound to HOST, a namespace PREFIX-a / PREFIX-b with a veth whose host end
                                     is the port's tap device; waits for the ports to be ACTIVE and adds a
                                     "dataplane" section to seed.json
  routers STATE                      ids of every router of the cloud, one a line (for dataplane.sh down)

Secrets are read from STATE/secrets.env and never printed.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cloud import ApiError, Neutron, fail, get_token, read_env, write_atomic  # noqa: E402


def admin(state):
    env = read_env(os.path.join(state, 'ports.env'))
    sec = read_env(os.path.join(state, 'secrets.env'))
    token, _ = get_token(f"http://127.0.0.1:{env['KEYSTONE_PORT']}", 'admin', sec['ADMIN_PASSWORD'], 'admin')
    return Neutron(f"http://127.0.0.1:{env['NEUTRON_PORT']}", token)


def retrying(fn, timeout):
    """fn() until it returns a true value or `timeout` seconds pass (API errors and timeouts count as no)."""
    t0 = time.monotonic()
    while True:
        try:
            v = fn()
            if v:
                return v, time.monotonic() - t0
        except (ApiError, OSError):
            pass
        if time.monotonic() - t0 > timeout:
            return None, time.monotonic() - t0
        time.sleep(1)


def wait_agents(args):
    state, host, n, timeout = args[0], args[1], int(args[2]), float(args[3])
    net = admin(state)
    ok, secs = retrying(lambda: len([a for a in net.get('agents', host=host)['agents'] if a['alive']]) >= n, timeout)
    if not ok:
        fail(f'the agents of {host} are not alive after {timeout:.0f} s')
    print(f'{secs:.1f}')


def delete_agents(args):
    state, host = args
    net = admin(state)
    for a in net.get('agents', host=host)['agents']:
        try:
            net.delete(f"agents/{a['id']}")
            print(f"deleted agent record {a['agent_type']} of {host}", file=sys.stderr)
        except ApiError as e:
            if e.status != 404:
                raise


def seed_routers(state):
    with open(os.path.join(state, 'seed.json')) as f:
        doc = json.load(f)
    return doc, doc['routersWithGateway'] + [doc['routerWithoutGateway']]


def wait_routers(args):
    state, host, timeout = args[0], args[1], float(args[2])
    net = admin(state)
    _, routers = seed_routers(state)
    ids = [r['id'] for r in routers]

    def ready():
        agents = net.get('agents', host=host, agent_type='L3 agent')['agents']
        if not agents:
            return False
        hosted = {r['id'] for r in net.get(f"agents/{agents[0]['id']}/l3-routers")['routers']}
        for rid in ids:
            ports = net.get('ports', device_id=rid)['ports']
            if rid not in hosted or not os.path.exists(f'/run/netns/qrouter-{rid}') or not ports \
                    or any(p['status'] != 'ACTIVE' for p in ports):
                return False
        return True
    ok, secs = retrying(ready, timeout)
    if not ok:
        fail(f'the routers are not ready (hosted by {host}, namespace, ports ACTIVE) after {timeout:.0f} s')
    print(f'{secs:.1f}')


def sh(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)}: {r.stderr.strip()[:300]}")
    return r.stdout


def record_tap(state, tap):
    path = os.path.join(state, 'dataplane', 'taps')
    known = open(path).read().split() if os.path.exists(path) else []
    if tap not in known:
        with open(path, 'a') as f:
            f.write(tap + '\n')


def vms(args):
    state, host, prefix = args
    net = admin(state)
    doc, _ = seed_routers(state)
    out = []
    for side, r in zip('ab', doc['routersWithGateway'][:2]):
        name = f'{prefix}-{side}'
        port = net.find('ports', name=name, network_id=r['networkId'])
        if port is None:
            # device_owner not compute:* (the linuxbridge agent leaves those to Nova's os-vif to plug).
            port = net.post('ports', {'port': {
                'network_id': r['networkId'], 'project_id': doc['projectId'], 'name': name,
                'device_owner': 'vpnaas:vm', 'device_id': name, 'binding:host_id': host}})['port']
        sub = net.get(f"subnets/{r['subnetId']}")['subnet']
        ip = port['fixed_ips'][0]['ip_address']
        tap = 'tap' + port['id'][:11]
        # dataplane.sh down removes the ebtables chains the linuxbridge agent makes for this device (it leaves them
        # when it stops before the port goes away): the names are kept before the device exists.
        record_tap(state, tap)
        if not os.path.exists(f'/run/netns/{name}'):
            sh('ip', 'netns', 'add', name)
        if subprocess.run(['ip', 'link', 'show', tap], capture_output=True).returncode != 0:
            sh('ip', 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name)
            sh('ip', '-n', name, 'link', 'set', 'eth0', 'address', port['mac_address'])
            sh('ip', '-n', name, 'addr', 'add', f"{ip}/{sub['cidr'].split('/')[1]}", 'dev', 'eth0')
            for dev in ('lo', 'eth0'):
                sh('ip', '-n', name, 'link', 'set', dev, 'up')
            sh('ip', 'link', 'set', tap, 'up')
            sh('ip', '-n', name, 'route', 'add', 'default', 'via', sub['gateway_ip'])
        out.append({'side': side, 'namespace': name, 'ip': ip, 'cidr': sub['cidr'], 'gatewayIp': sub['gateway_ip'],
                    'portId': port['id'], 'tap': tap, 'routerId': r['id']})
    ok, secs = retrying(lambda: all(net.get(f"ports/{v['portId']}")['port']['status'] == 'ACTIVE' for v in out), 120)
    if not ok:
        fail('the VM ports are not ACTIVE after 120 s')
    doc['dataplane'] = {'host': host, 'vms': out}
    write_atomic(os.path.join(state, 'seed.json'), json.dumps(doc, indent=2) + '\n')
    print(f'{secs:.1f}')


def routers(args):
    for r in admin(args[0]).get('routers', fields='id')['routers']:
        print(r['id'])


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {'wait-agents': wait_agents, 'delete-agents': delete_agents, 'wait-routers': wait_routers, 'vms': vms,
     'routers': routers}.get(cmd, lambda _a: fail(f'unknown command {cmd}'))(args)


if __name__ == '__main__':
    main()
