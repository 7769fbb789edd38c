/**
 * A TCP relay that delays every chunk by a fixed time per direction, for the
 * round-trip benchmark's long links. With `connectRoundTrip`, opening a connection
 * also costs one round trip (the TCP handshake a real long link has): the relay
 * waits 2 × latency before it connects onwards and starts relaying.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface TcpDelay {
  url: string;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpDelay(target: URL, opts: { connectRoundTrip?: boolean } = {}): Promise<TcpDelay> {
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
    const handshake = opts.connectRoundTrip ? 2 * latency : 0;
    if (handshake > 0) {
      client.pause();
      setTimeout(() => relay(client), handshake);
    } else relay(client);
  });
  const relay = (client: Socket) => {
    const upstream = connect({ host: target.hostname, port: Number(target.port) });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pipe(client, upstream);
    pipe(upstream, client);
    client.resume();
  };
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
