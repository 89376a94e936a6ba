// A TCP forwarder for the one-node cluster's tests:
//   node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT
//   node tcp-forward.ts LISTEN TARGET          (each HOST:PORT or unix:PATH)
// Run inside the cluster's network namespace, it makes something that listens on 127.0.0.1 there (the cloud
// simulator) reachable from the pods at the node's address. A Unix socket crosses network namespaces (it lives in
// the file system): a pair of forwarders, one on the host (unix socket → the host's 127.0.0.1) and one in the
// namespace (node address → unix socket), lets the pods reach the local OpenStack without any server listening on
// another address of the host. Prints "listening" once it accepts connections.
import net from 'node:net';
import fs from 'node:fs';

type Endpoint = { path: string } | { host: string; port: number };

function endpoint(s: string): Endpoint {
  if (s.startsWith('unix:')) return { path: s.slice(5) };
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

const args = process.argv.slice(2);
let listen: Endpoint;
let target: Endpoint;
if (args.length === 4) {
  listen = { host: args[0]!, port: Number(args[1]) };
  target = { host: args[2]!, port: Number(args[3]) };
} else if (args.length === 2) {
  listen = endpoint(args[0]!);
  target = endpoint(args[1]!);
} else {
  process.stderr.write('usage: node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT | LISTEN TARGET (HOST:PORT or unix:PATH)\n');
  process.exit(2);
}
const server = net.createServer((client) => {
  const upstream = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
const ready = () => process.stdout.write('listening\n');
if ('path' in listen) {
  fs.rmSync(listen.path, { force: true });
  server.listen(listen.path, ready);
} else {
  server.listen(listen.port, listen.host, ready);
}
