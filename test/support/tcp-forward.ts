// A TCP forwarder for the one-node cluster's tests: node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT.
// Run inside the cluster's network namespace, it makes something that listens on 127.0.0.1 there (the cloud
// simulator) reachable from the pods at the node's address. Prints "listening" once it accepts connections.
import net from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: node tcp-forward.ts LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT\n');
  process.exit(2);
}
const server = net.createServer((client) => {
  const upstream = net.connect(Number(targetPort), targetHost);
  client.pipe(upstream).pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('listening\n'));
