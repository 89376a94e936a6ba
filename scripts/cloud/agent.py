#!/usr/bin/python3
"""A VPN agent stand-in: reports VPN service status to neutron-server the way neutron-vpnaas' IPsec agent does.

    /usr/bin/python3 scripts/cloud/agent.py --config <state>/openstack/neutron/neutron.conf \\
        --status ACTIVE|DOWN|ERROR [--connection CONN_ID=STATUS ...] [--timeout 30] VPNSERVICE_ID...

Sends the `update_status` RPC on topic `ipsec_driver`, version 1.0, exchange `neutron`, with
`status=[{id, status, updated_pending_status: True, ipsec_site_connections: {...}}]` and an admin request
context, over the broker named by `transport_url` (from --config, or --transport-url). Like the agent
(neutron_vpnaas/services/vpn/device_drivers/ipsec.py, IPsecVpnDriverApi.update_status) it is a `call`: the
exit code is 0 only when neutron-server has processed the report, non-zero on any failure (no broker, no
consumer, an error raised by the server) within --timeout seconds.

Run it with Debian's /usr/bin/python3 (it needs python3-oslo.messaging and python3-neutron-lib).
"""
import argparse
import logging
import os
import signal
import sys

STATUSES = ('ACTIVE', 'DOWN', 'ERROR', 'PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument('--config', help="neutron.conf whose [DEFAULT] transport_url names the broker")
    src.add_argument('--transport-url', help='rabbit://user:pass@host:port/ (instead of --config)')
    p.add_argument('--status', required=True, choices=STATUSES, help='status for every VPN service given')
    p.add_argument('--connection', action='append', default=[], metavar='CONN_ID=STATUS',
                   help='also report an IPsec site connection of the (first) VPN service')
    p.add_argument('--timeout', type=int, default=30, help='seconds to wait for the server (default 30)')
    p.add_argument('services', nargs='+', metavar='VPNSERVICE_ID')
    args = p.parse_args()

    if args.config:
        # stevedore caches entry points under $XDG_CACHE_HOME: keep that in the state folder, not in ~/.cache.
        os.environ['XDG_CACHE_HOME'] = os.path.join(os.path.dirname(os.path.abspath(args.config)), '..', 'cache')
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format='agent.py: %(levelname)s %(message)s')

    # oslo.messaging retries a broker it cannot reach forever (the reply queue's connection ignores `retry`):
    # a watchdog bounds the whole run.
    def give_up(_sig, _frame):
        print(f'agent.py: no answer from neutron-server within {args.timeout} s', file=sys.stderr)
        os._exit(1)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout)

    from oslo_config import cfg
    import oslo_messaging
    from neutron_lib import context as n_context
    from neutron_lib import rpc as n_rpc

    conf = cfg.CONF
    oslo_messaging.set_transport_defaults(control_exchange='neutron')
    conf([], project='neutron', default_config_files=[args.config] if args.config else [])
    # oslo.messaging 14 starts a non-daemon metrics thread for every call, even with metrics disabled, that keeps
    # the process alive for metrics_thread_stop_timeout (10 s) after the last call.
    conf.set_override('metrics_thread_stop_timeout', 0, group='oslo_messaging_metrics')
    transport = oslo_messaging.get_rpc_transport(conf, url=args.transport_url)

    connections = {}
    for c in args.connection:
        cid, _, status = c.partition('=')
        if not cid or status not in STATUSES:
            p.error(f'--connection {c!r}: expected CONN_ID=STATUS')
        connections[cid] = {'status': status, 'updated_pending_status': True}
    report = [{'id': sid, 'status': args.status, 'updated_pending_status': True,
               'ipsec_site_connections': connections if i == 0 else {}}
              for i, sid in enumerate(args.services)]

    target = oslo_messaging.Target(topic='ipsec_driver', version='1.0')
    client = oslo_messaging.get_rpc_client(transport, target, serializer=n_rpc.RequestContextSerializer())
    ctx = n_context.get_admin_context()
    try:
        client.prepare(timeout=max(args.timeout - 2, 1), retry=3).call(ctx, 'update_status', status=report)
    except oslo_messaging.MessagingTimeout:
        print(f'agent.py: no answer from neutron-server within {args.timeout} s (is it running and consuming '
              f'the ipsec_driver topic?)', file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - any failure is the caller's failure
        print(f'agent.py: update_status failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}',
              file=sys.stderr)
        return 1
    finally:
        transport.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
