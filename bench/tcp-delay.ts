/**
 * A TCP relay that delays every chunk by a fixed time per direction, for the
 * forwarding side of the round-trip benchmark (the gateway → regional app stack
 * HTTP link). The database side uses the local world's ws proxy latency instead.
 * Connection setup to the relay itself is local (not delayed), as the ws proxy's
 * WebSocket handshake is: both sides count data round trips only.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpDelay {
  url: string;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpDelay(target: URL): Promise<TcpDelay> {
  let latency = 0;
  const sockets = new Set<Socket>();
  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      const d = latency;
      if (d <= 0) to.write(chunk);
      else setTimeout(() => to.writable && to.write(chunk), d);
    });
    from.on('close', () => setTimeout(() => to.destroy(), latency));
    from.on('error', () => {});
  };
  const server = createServer((client) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    setLatency: (ms) => void (latency = ms),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
