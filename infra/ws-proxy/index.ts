/**
 * WebSocket-to-TCP proxy in front of ONE database: what @neondatabase/serverless
 * reaches through `neonConfig.wsProxy` from the Worker. Each WebSocket gets its
 * own TCP connection to the fixed target; any address the client names (e.g.
 * `/v2?address=host:port`) is ignored, so a client can only ever reach this
 * proxy's own database. Bytes are piped both ways, and either side closing
 * closes the other.
 *
 * Optional fixed latency per direction (changeable at run time) is for
 * benchmarks and fault injection; order is preserved and a close is delivered
 * only after the data sent before it.
 */
import { connect, type Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { startupGuard } from './startup-guard.ts';

export interface Latency {
  /** Client → database, ms. */
  up: number;
  /** Database → client, ms. */
  down: number;
}

export interface WsProxyOptions {
  target: { host: string; port: number };
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) lets the OS choose. */
  port?: number;
  /** A number applies to both directions. Default 0. */
  latencyMs?: number | Partial<Latency>;
  /**
   * Only let Postgres sessions for this database name through (the target
   * server may host others, e.g. other worlds'). Default: no check (raw TCP).
   */
  database?: string;
}

export interface WsProxy {
  /** ws://host:port */
  url: string;
  port: number;
  /** neonConfig.wsProxy value: host:port (neon appends the path and target itself). */
  hostPort: string;
  setLatency(latency: number | Partial<Latency>): void;
  connections(): number;
  /** Closes every connection pair and the listener. */
  close(): Promise<void>;
}

function toLatency(l: number | Partial<Latency> | undefined): Latency {
  if (typeof l === 'number') return { up: l, down: l };
  return { up: l?.up ?? 0, down: l?.down ?? 0 };
}

/** Runs callbacks after a delay, in push order even if the delay shrinks meanwhile. */
class DelayLine {
  #lastDue = 0;
  #timers = new Set<NodeJS.Timeout>();
  #delay: () => number;
  constructor(delay: () => number) {
    this.#delay = delay;
  }
  push(fn: () => void): void {
    const d = this.#delay();
    if (d <= 0 && this.#timers.size === 0) return fn();
    const due = Math.max(Date.now() + d, this.#lastDue);
    this.#lastDue = due;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, due - Date.now());
    this.#timers.add(t);
  }
  clear(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

export async function startWsProxy(opts: WsProxyOptions): Promise<WsProxy> {
  const host = opts.host ?? '127.0.0.1';
  let latency = toLatency(opts.latencyMs);
  const pairs = new Set<{ ws: WebSocket; tcp: Socket; up: DelayLine; down: DelayLine }>();

  const wss = new WebSocketServer({ host, port: opts.port ?? 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });

  wss.on('connection', (ws) => {
    const tcp = connect(opts.target);
    tcp.setNoDelay(true);
    const up = new DelayLine(() => latency.up);
    const down = new DelayLine(() => latency.down);
    const pair = { ws, tcp, up, down };
    pairs.add(pair);
    let closed = false;
    const closeBoth = () => {
      if (closed) return;
      closed = true;
      pairs.delete(pair);
      up.clear();
      down.clear();
      tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      else ws.terminate();
    };

    const guard = opts.database === undefined ? undefined : startupGuard(opts.database);
    // Bytes written before the TCP connect completes are buffered by net.Socket.
    ws.on('message', (data: RawData) => {
      let chunk: Buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (guard) {
        const g = guard(chunk);
        if (g.verdict === 'pending') return;
        if (g.verdict === 'reject') {
          closed = true;
          pairs.delete(pair);
          tcp.destroy();
          ws.close(1008, g.reason.slice(0, 120)); // policy violation
          return;
        }
        chunk = g.bytes;
      }
      up.push(() => {
        if (!closed) tcp.write(chunk);
      });
    });
    tcp.on('data', (chunk) => {
      down.push(() => {
        if (!closed && ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
      });
    });
    // A close travels like data: after what was sent before it.
    ws.on('close', () => up.push(closeBoth));
    ws.on('error', () => closeBoth());
    tcp.on('close', () => down.push(closeBoth));
    tcp.on('error', () => {});
  });

  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://${host}:${port}`,
    port,
    hostPort: `${host}:${port}`,
    setLatency: (l) => {
      latency = toLatency(l);
    },
    connections: () => pairs.size,
    close: async () => {
      for (const p of [...pairs]) {
        p.up.clear();
        p.down.clear();
        p.tcp.destroy();
        p.ws.terminate();
      }
      pairs.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
