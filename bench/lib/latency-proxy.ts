/**
 * A TCP latency proxy: every byte is delayed by a fixed one-way time in each
 * direction (RTT/2 each way), order preserved. Connection setup is not delayed, so it
 * models warm (keep-alive) connections, which is what a page's data requests use.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface LatencyProxy {
  port: number;
  url: string;
  close: () => Promise<void>;
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number): void {
  // Timers of equal duration fire in the order they were set, so chunks stay in order.
  from.on('data', (chunk) => setTimeout(() => to.destroyed || to.write(chunk), delayMs));
  from.on('end', () => setTimeout(() => to.destroyed || to.end(), delayMs));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), delayMs));
}

export function startLatencyProxy(targetPort: number, rttMs: number): Promise<LatencyProxy> {
  const oneWay = rttMs / 2;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    client.setNoDelay(true);
    const upstream = createConnection({ port: targetPort, host: '127.0.0.1' });
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pipeDelayed(client, upstream, oneWay);
    pipeDelayed(upstream, client, oneWay);
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
