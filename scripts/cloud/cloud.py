#!/usr/bin/python3
"""Helpers for up.sh / down.sh (run with Debian's /usr/bin/python3; standard library only).

Subcommands:
  pick-port PORT... [--strict]       print the first PORT that can be bound on 127.0.0.1, else a free port
                                     (--strict: fail instead)
  wait-http URL TIMEOUT [--pid PID]  wait until URL answers with a status < 500
  wait-tcp PORT TIMEOUT [--pid PID]  wait until 127.0.0.1:PORT accepts a connection
  wait-amqp PORT USER PASSFILE TIMEOUT [--pid PID]
                                     wait until an AMQP 0-9-1 login on 127.0.0.1:PORT succeeds
  mem PID...                         print PSS/RSS (MiB) of each PID's process tree
  seed STATE_DIR                     create (or find) the Keystone and Neutron objects, write seed.json
                                     and clouds.yaml
  check-seed STATE_DIR               exit 0 when seed.json's objects still exist

Secrets are read from STATE_DIR/secrets.env and never printed.
"""
import concurrent.futures
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def fail(msg):
    print(f'cloud.py: {msg}', file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------------------------
# Ports and waiting

def can_bind(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Like the servers do: connections of a stopped server in TIME_WAIT must not make its port look taken.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port(args):
    """pick-port PREFERRED [FALLBACK] [--strict]: the first of them that is free, else a free port."""
    strict = '--strict' in args
    candidates = [int(a) for a in args if a != '--strict' and a]
    for p in candidates:
        if p > 0 and can_bind(p):
            print(p)
            return
    preferred = candidates[0] if candidates else 0
    if strict:
        fail(f'port {preferred} on 127.0.0.1 is taken')
    # A free port outside the ephemeral range the kernel hands out to clients (32768-60999 by default), so that
    # an outgoing connection cannot take it between now and the server's bind.
    import random
    for _ in range(200):
        p = random.randint(20000, 32000)
        if can_bind(p):
            print(p)
            return
    fail('no free port found')


def alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as dead.
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def parse_wait(args, n):
    pos = args[:n]
    pid = None
    if '--pid' in args:
        pid = int(args[args.index('--pid') + 1])
    return pos, pid


def wait_loop(check, timeout, pid, what):
    deadline = time.monotonic() + timeout
    last = ''
    while True:
        try:
            if check():
                return
        except Exception as e:  # noqa: BLE001 - anything means "not yet"
            last = str(e)
        if not alive(pid):
            fail(f'{what}: process {pid} exited (see its log)')
        if time.monotonic() > deadline:
            fail(f'{what}: not ready after {timeout} s ({last})')
        time.sleep(0.2)


def wait_http(args):
    (url, timeout), pid = parse_wait(args, 2)

    def check():
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status < 500
        except urllib.error.HTTPError as e:
            return e.code < 500
    wait_loop(check, float(timeout), pid, url)


def wait_tcp(args):
    (port, timeout), pid = parse_wait(args, 2)

    def check():
        with socket.create_connection(('127.0.0.1', int(port)), timeout=2):
            return True
    wait_loop(check, float(timeout), pid, f'127.0.0.1:{port}')


def amqp_login(port, user, password):
    """Minimal AMQP 0-9-1 handshake up to Connection.OpenOk (no third-party module needed)."""
    import struct

    def frame(ftype, channel, payload):
        return struct.pack('>BHI', ftype, channel, len(payload)) + payload + b'\xce'

    def shortstr(s):
        b = s.encode()
        return struct.pack('>B', len(b)) + b

    def longstr(b):
        return struct.pack('>I', len(b)) + b

    def read_frame(sock):
        hdr = b''
        while len(hdr) < 7:
            chunk = sock.recv(7 - len(hdr))
            if not chunk:
                raise ConnectionError('closed')
            hdr += chunk
        ftype, channel, size = struct.unpack('>BHI', hdr)
        body = b''
        while len(body) < size + 1:
            chunk = sock.recv(size + 1 - len(body))
            if not chunk:
                raise ConnectionError('closed')
            body += chunk
        return ftype, body[:-1]

    def method(payload):
        return struct.unpack('>HH', payload[:4])

    with socket.create_connection(('127.0.0.1', int(port)), timeout=5) as sock:
        sock.sendall(b'AMQP\x00\x00\x09\x01')
        _, p = read_frame(sock)
        if method(p) != (10, 10):
            raise ConnectionError('no Connection.Start')
        response = b'\x00' + user.encode() + b'\x00' + password.encode()
        start_ok = struct.pack('>HH', 10, 11) + struct.pack('>I', 0) + shortstr('PLAIN') + longstr(response) + \
            shortstr('en_US')
        sock.sendall(frame(1, 0, start_ok))
        _, p = read_frame(sock)
        if method(p) != (10, 30):
            raise ConnectionError(f'login refused (method {method(p)})')
        channel_max, frame_max, _hb = struct.unpack('>HIH', p[4:12])
        sock.sendall(frame(1, 0, struct.pack('>HHHIH', 10, 31, channel_max, frame_max, 0)))
        sock.sendall(frame(1, 0, struct.pack('>HH', 10, 40) + shortstr('/') + shortstr('') + b'\x00'))
        _, p = read_frame(sock)
        if method(p) != (10, 41):
            raise ConnectionError(f'open refused (method {method(p)})')
        sock.sendall(frame(1, 0, struct.pack('>HHH', 10, 50, 200) + shortstr('bye') + struct.pack('>HH', 0, 0)))
        return True


def wait_amqp(args):
    (port, user, passfile, timeout), pid = parse_wait(args, 4)
    password = read_env(passfile)['RABBIT_PASSWORD']
    wait_loop(lambda: amqp_login(port, user, password), float(timeout), pid, f'amqp://127.0.0.1:{port}')


# ---------------------------------------------------------------------------------------------------------------
# Memory

def tree(pid):
    pids = [pid]
    i = 0
    while i < len(pids):
        p = pids[i]
        try:
            with open(f'/proc/{p}/task/{p}/children') as f:
                pids.extend(int(c) for c in f.read().split())
        except OSError:
            pass
        i += 1
    return pids


def mem(args):
    for a in args:
        name, _, pid = a.partition('=')
        pss = rss = 0
        n = 0
        for p in tree(int(pid)):
            try:
                with open(f'/proc/{p}/smaps_rollup') as f:
                    for line in f:
                        k, v = line.split(':', 1)
                        if k == 'Pss':
                            pss += int(v.split()[0])
                        elif k == 'Rss':
                            rss += int(v.split()[0])
                n += 1
            except OSError:
                pass
        print(f'  {name:<14} pid {pid:>7}  {n} process(es)  PSS {pss / 1024:7.1f} MiB  RSS {rss / 1024:7.1f} MiB')


# ---------------------------------------------------------------------------------------------------------------
# Seed

def read_env(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#') and '=' in line:
                k, v = line.split('=', 1)
                out[k] = v.strip("'\"")
    return out


class ApiError(Exception):
    def __init__(self, method, url, status, body):
        super().__init__(f'{method} {url}: {status} {body[:500]}')
        self.status = status


def request(method, url, token=None, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    h = {'Accept': 'application/json'}
    if data is not None:
        h['Content-Type'] = 'application/json'
    if token:
        h['X-Auth-Token'] = token
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raise ApiError(method, url, e.code, e.read().decode(errors='replace')) from None


def get_token(keystone, user, password, project):
    body = {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': user, 'domain': {'id': 'default'}, 'password': password}}},
        'scope': {'project': {'name': project, 'domain': {'id': 'default'}}}}}
    _, headers, data = request('POST', f'{keystone}/v3/auth/tokens', body=body)
    token = headers.get('X-Subject-Token') or headers.get('x-subject-token')
    return token, data['token']


class Keystone:
    def __init__(self, url, token):
        self.url = url
        self.token = token

    def list(self, path, key, **query):
        q = urllib.parse.urlencode(query)
        return request('GET', f'{self.url}/v3/{path}' + (f'?{q}' if q else ''), self.token)[2][key]

    def ensure(self, path, key, match, create):
        """Find one object by the query `match`, else create it with body `create`."""
        found = self.list(path, path.split('/')[-1], **match)
        if found:
            return found[0]
        return request('POST', f'{self.url}/v3/{path}', self.token, {key: create})[2][key]

    def patch(self, path, key, body):
        return request('PATCH', f'{self.url}/v3/{path}', self.token, {key: body})[2][key]


class Neutron:
    def __init__(self, url, token):
        self.url = url + '/v2.0'
        self.token = token

    def get(self, path, **query):
        q = urllib.parse.urlencode(query, doseq=True)
        return request('GET', f'{self.url}/{path}' + (f'?{q}' if q else ''), self.token)[2]

    def post(self, path, body):
        return request('POST', f'{self.url}/{path}', self.token, body)[2]

    def put(self, path, body):
        return request('PUT', f'{self.url}/{path}', self.token, body)[2]

    def delete(self, path):
        return request('DELETE', f'{self.url}/{path}', self.token)[2]

    def find(self, collection, **query):
        items = self.get(collection, **query)[collection]
        return items[0] if items else None


def seed(args):
    state = args[0]
    env = read_env(os.path.join(state, 'ports.env'))
    sec = read_env(os.path.join(state, 'secrets.env'))
    n_routers = int(env.get('ROUTERS', '12'))
    keystone_url = f"http://127.0.0.1:{env['KEYSTONE_PORT']}"
    network_url = f"http://127.0.0.1:{env['NEUTRON_PORT']}"
    region = 'RegionOne'

    admin_token, _ = get_token(keystone_url, 'admin', sec['ADMIN_PASSWORD'], 'admin')
    ks = Keystone(keystone_url, admin_token)
    domain_id = 'default'

    # Identity endpoints: keystone-manage bootstrap made them; keep their URLs right if the port moved.
    def ensure_endpoints(service, urls):
        for iface, url in urls.items():
            eps = ks.list('endpoints', 'endpoints', service_id=service['id'], interface=iface)
            if not eps:
                request('POST', f'{keystone_url}/v3/endpoints', admin_token, {'endpoint': {
                    'service_id': service['id'], 'interface': iface, 'url': url, 'region_id': region}})
            else:
                for ep in eps:
                    if ep['url'] != url or ep.get('region_id') != region:
                        ks.patch(f"endpoints/{ep['id']}", 'endpoint', {'url': url, 'region_id': region})

    if not any(r['id'] == region for r in ks.list('regions', 'regions')):
        request('POST', f'{keystone_url}/v3/regions', admin_token, {'region': {'id': region}})
    identity = ks.list('services', 'services', type='identity')[0]
    ensure_endpoints(identity, {i: f'{keystone_url}/v3' for i in ('public', 'internal', 'admin')})

    roles = {r['name']: r['id'] for r in ks.list('roles', 'roles')}
    for name in ('admin', 'member', 'reader', 'service'):
        if name not in roles:
            roles[name] = ks.ensure('roles', 'role', {'name': name}, {'name': name})['id']

    def ensure_user(name, password, project_id):
        user = ks.ensure('users', 'user', {'name': name, 'domain_id': domain_id},
                         {'name': name, 'domain_id': domain_id, 'password': password,
                          'default_project_id': project_id, 'enabled': True})
        # Keep the password the state folder holds (a reused Keystone database may have another).
        if not check_password(name, password):
            ks.patch(f"users/{user['id']}", 'user', {'password': password})
        return user

    def check_password(name, password):
        body = {'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': name, 'domain': {'id': domain_id}, 'password': password}}}}}
        try:
            request('POST', f'{keystone_url}/v3/auth/tokens', body=body)
            return True
        except ApiError as e:
            if e.status == 401:
                return False
            raise

    def grant(project_id, user_id, role):
        request('PUT', f"{keystone_url}/v3/projects/{project_id}/users/{user_id}/roles/{roles[role]}", admin_token)

    service_project = ks.ensure('projects', 'project', {'name': 'service', 'domain_id': domain_id},
                                {'name': 'service', 'domain_id': domain_id, 'description': 'Service users'})
    neutron_user = ensure_user('neutron', sec['NEUTRON_SERVICE_PASSWORD'], service_project['id'])
    grant(service_project['id'], neutron_user['id'], 'admin')
    grant(service_project['id'], neutron_user['id'], 'service')

    network_service = ks.ensure('services', 'service', {'type': 'network'},
                                {'type': 'network', 'name': 'neutron', 'description': 'OpenStack Networking',
                                 'enabled': True})
    ensure_endpoints(network_service, {'public': network_url, 'internal': network_url})

    project = ks.ensure('projects', 'project', {'name': 'vpnaas', 'domain_id': domain_id},
                        {'name': 'vpnaas', 'domain_id': domain_id, 'description': 'vpnaas-operator tests'})
    user = ensure_user('vpnaas-user', sec['USER_PASSWORD'], project['id'])
    grant(project['id'], user['id'], 'member')

    # Neutron. The API answers before Keystone has the neutron user; retry the first call briefly.
    admin_net = Neutron(network_url, admin_token)
    deadline = time.monotonic() + 60
    while True:
        try:
            ext = admin_net.find('networks', name='ext-net')
            break
        except (ApiError, OSError) as e:
            if time.monotonic() > deadline or (isinstance(e, ApiError) and e.status not in (401, 503)):
                raise
            time.sleep(0.5)
    if ext is None:
        ext = admin_net.post('networks', {'network': {
            'name': 'ext-net', 'router:external': True, 'shared': False, 'admin_state_up': True,
            'provider:network_type': 'flat', 'provider:physical_network': 'physnet1'}})['network']
    ext_subnet = admin_net.find('subnets', name='ext-subnet', network_id=ext['id'])
    if ext_subnet is None:
        ext_subnet = admin_net.post('subnets', {'subnet': {
            'name': 'ext-subnet', 'network_id': ext['id'], 'ip_version': 4, 'cidr': '203.0.113.0/24',
            'gateway_ip': '203.0.113.1', 'enable_dhcp': False,
            'allocation_pools': [{'start': '203.0.113.10', 'end': '203.0.113.250'}]}})['subnet']

    # Neutron's default quotas (10 routers, 100 networks) with its lock-free quota driver can refuse a create
    # while concurrent creates still hold reservations (OverQuota with 7 of 10 routers, seen here): room to spare.
    admin_net.put(f"quotas/{project['id']}", {'quota': {'router': 100, 'network': 200, 'subnet': 200,
                                                         'port': 2000}})

    user_token, _ = get_token(keystone_url, 'vpnaas-user', sec['USER_PASSWORD'], 'vpnaas')
    net = Neutron(network_url, user_token)

    def ensure_router(name, index, gateway):
        cidr = f'10.0.{index}.0/24'
        network = net.find('networks', name=f'{name}-net', project_id=project['id'])
        if network is None:
            network = net.post('networks', {'network': {'name': f'{name}-net'}})['network']
        subnet = net.find('subnets', name=f'{name}-subnet', network_id=network['id'])
        if subnet is None:
            subnet = net.post('subnets', {'subnet': {
                'name': f'{name}-subnet', 'network_id': network['id'], 'ip_version': 4, 'cidr': cidr,
                'enable_dhcp': False}})['subnet']
        router = net.find('routers', name=name, project_id=project['id'])
        if router is None:
            body = {'name': name}
            if gateway:
                body['external_gateway_info'] = {'network_id': ext['id']}
            router = net.post('routers', {'router': body})['router']
        elif gateway and not router.get('external_gateway_info'):
            router = net.put(f"routers/{router['id']}",
                             {'router': {'external_gateway_info': {'network_id': ext['id']}}})['router']
        ports = net.get('ports', device_id=router['id'], network_id=network['id'])['ports']
        if not ports:
            net.put(f"routers/{router['id']}/add_router_interface", {'subnet_id': subnet['id']})
        out = {'id': router['id'], 'name': name, 'networkId': network['id'], 'subnetId': subnet['id'],
               'subnetCidr': subnet['cidr']}
        if gateway:
            ips = [f['ip_address'] for f in router['external_gateway_info'].get('external_fixed_ips', [])
                   if ':' not in f['ip_address']]
            out['gatewayIp'] = ips[0]
        return out

    jobs = [(f'router-gw-{i}', i, True) for i in range(1, n_routers + 1)] + [('router-nogw', 200, False)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda j: ensure_router(*j), jobs))

    seed_doc = {
        'region': region,
        'authUrl': f'{keystone_url}/v3',
        'networkUrl': network_url,
        'projectId': project['id'],
        'projectName': 'vpnaas',
        'userId': user['id'],
        'userName': 'vpnaas-user',
        'domainId': domain_id,
        'extNet': {'id': ext['id'], 'name': 'ext-net', 'subnetId': ext_subnet['id'],
                   'subnetCidr': ext_subnet['cidr']},
        'routersWithGateway': results[:-1],
        'routerWithoutGateway': results[-1],
    }
    write_atomic(os.path.join(state, 'seed.json'), json.dumps(seed_doc, indent=2) + '\n')

    def cloud(user_name, password, project_name):
        return (f'    auth:\n'
                f'      auth_url: {keystone_url}/v3\n'
                f'      username: {json.dumps(user_name)}\n'
                f'      password: {json.dumps(password)}\n'
                f'      project_name: {json.dumps(project_name)}\n'
                f'      user_domain_name: Default\n'
                f'      project_domain_name: Default\n'
                f'    auth_type: password\n'
                f'    region_name: {region}\n'
                f'    interface: public\n'
                f'    identity_api_version: 3\n')
    clouds = ('# Written by scripts/cloud/up.sh: the local OpenStack (Keystone + Neutron with VPNaaS).\n'
              'clouds:\n'
              '  local:\n' + cloud('vpnaas-user', sec['USER_PASSWORD'], 'vpnaas') +
              '  local-admin:\n' + cloud('admin', sec['ADMIN_PASSWORD'], 'admin'))
    write_atomic(os.path.join(state, 'clouds.yaml'), clouds, mode=0o600)


def check_seed(args):
    """Exit 0 when seed.json's external network and routers still exist (as admin), else 1."""
    state = args[0]
    env = read_env(os.path.join(state, 'ports.env'))
    sec = read_env(os.path.join(state, 'secrets.env'))
    with open(os.path.join(state, 'seed.json')) as f:
        doc = json.load(f)
    token, _ = get_token(f"http://127.0.0.1:{env['KEYSTONE_PORT']}", 'admin', sec['ADMIN_PASSWORD'], 'admin')
    net = Neutron(f"http://127.0.0.1:{env['NEUTRON_PORT']}", token)
    want = {r['id'] for r in doc['routersWithGateway']} | {doc['routerWithoutGateway']['id']}
    if len(doc['routersWithGateway']) != int(env.get('ROUTERS', '12')):
        sys.exit(1)
    found = {r['id'] for r in net.get('routers', id=sorted(want), fields='id')['routers']}
    if found != want or not net.get('networks', id=doc['extNet']['id'], fields='id')['networks']:
        sys.exit(1)


def write_atomic(path, text, mode=0o644):
    tmp = f'{path}.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 2:
        fail(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {'pick-port': pick_port, 'wait-http': wait_http, 'wait-tcp': wait_tcp, 'wait-amqp': wait_amqp,
     'mem': mem, 'seed': seed, 'check-seed': check_seed}.get(cmd, lambda _a: fail(f'unknown command {cmd}'))(args)


if __name__ == '__main__':
    main()
