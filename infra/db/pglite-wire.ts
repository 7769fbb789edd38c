/**
 * Serves an in-process PGlite over the Postgres wire protocol on 127.0.0.1.
 *
 * Why not PGLiteSocketServer (@electric-sql/pglite-socket 0.2.17)? It feeds
 * PGlite one protocol message at a time from every connection through one queue
 * and only keeps a connection's messages together inside an explicit BEGIN
 * block. Concurrent parameterised queries therefore interleave (Parse of one
 * client, Bind of another: "unnamed prepared statement does not exist",
 * reproduced with pg + a 300 KB parameter), and queries from in-process users
 * of the same PGlite can land inside a wire client's transaction. Its default
 * maxConnections is 1 and extra connections get a plain-text reply, not a
 * Postgres error. See pglite-wire.test.ts.
 *
 * Here a connection's messages are run in batches up to a Sync/Query, and the
 * connection owns the shared SessionLock from its first batch until PGlite
 * reports ReadyForQuery 'I' (idle, no transaction) — the same lock the
 * in-process Db (pglite-db.ts) takes.
 *
 * Limits (one Postgres session underneath): session-level SET leaks to other
 * connections (use SET LOCAL / set_config(..., true)); named prepared
 * statements share one namespace; no TLS (SSLRequest is refused with 'N', as
 * Postgres does when TLS is off); no authentication (a PasswordMessage, e.g.
 * from a pipelined connect, is dropped); CancelRequest is ignored.
 */
import { createServer, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import { CANCEL_REQUEST, errorResponse, GSSENC_REQUEST, MessageReader, PROTOCOL_3, readStartupPacket, SSL_REQUEST, type WireMessage } from './pg-wire.ts';
import type { SessionLock } from './session-lock.ts';
import { listen } from '../ports.ts';

// Messages after which the client waits for an answer.
const BATCH_END = new Set(['S', 'Q', 'H', 'c', 'f']);
const SYNC = Buffer.from([0x53, 0, 0, 0, 4]);

export interface PgliteWireOptions {
  pglite: PGlite;
  lock: SessionLock;
  host?: string;
  /** 0 (default) lets the OS choose. */
  port?: number;
  /** Further connections get a Postgres "too many connections" error. Default 64. */
  maxConnections?: number;
  /** A connection idle inside a transaction this long is closed (it blocks everyone). Default 60 s. */
  idleInTransactionTimeoutMs?: number;
}

export interface PgliteWire {
  host: string;
  port: number;
  /** postgres://postgres@host:port/postgres */
  url: string;
  connections(): number;
  close(): Promise<void>;
}

/** The status byte of a trailing ReadyForQuery ('I' | 'T' | 'E'), if the output ends with one. */
function trailingStatus(tail: Buffer): string | null {
  if (tail.length < 6) return null;
  const z = tail.subarray(tail.length - 6);
  return z[0] === 0x5a && z.readInt32BE(1) === 5 ? String.fromCharCode(z[5]!) : null;
}

export async function startPgliteWire(opts: PgliteWireOptions): Promise<PgliteWire> {
  const { pglite, lock } = opts;
  const host = opts.host ?? '127.0.0.1';
  const maxConnections = opts.maxConnections ?? 64;
  const idleTimeout = opts.idleInTransactionTimeoutMs ?? 60_000;
  const sockets = new Set<Socket>(); // served connections (count toward the limit)
  const everything = new Set<Socket>(); // including refused ones still closing
  const done = new Set<Promise<void>>();

  // Half-close politely, but don't wait for a client that never closes its side.
  const endSoon = (socket: Socket, data?: Buffer) => {
    if (data) socket.end(data);
    else socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  };

  function handle(socket: Socket): void {
    everything.add(socket);
    socket.on('close', () => everything.delete(socket));
    if (sockets.size >= maxConnections) {
      socket.on('error', () => {});
      endSoon(socket, errorResponse('53300', 'sorry, too many clients already'));
      return;
    }
    sockets.add(socket);
    socket.setNoDelay(true);
    const owner = Symbol('wire-connection');
    // Before the StartupMessage: the startup packets; after it, typed messages.
    let buf: Buffer = Buffer.alloc(0);
    const reader = new MessageReader();
    let started = false;
    let closed = false;
    let pending: Buffer[] = [];
    let chain = Promise.resolve();
    let idleTimer: NodeJS.Timeout | undefined;

    const runBatch = (messages: Buffer[]) => async () => {
      if (closed) return;
      clearTimeout(idleTimer);
      await lock.acquire(owner);
      if (closed) return; // cleanup releases
      const out: Buffer[] = [];
      await pglite.runExclusive(async () => {
        for (const m of messages) {
          await pglite.execProtocolRawStream(new Uint8Array(m), { onRawData: (d) => out.push(Buffer.from(d)) });
        }
      });
      const data = Buffer.concat(out);
      if (!closed && socket.writable && data.length > 0) socket.write(data);
      if (trailingStatus(data) === 'I') {
        lock.release(owner);
      } else if (idleTimeout > 0) {
        // Still in a transaction (or mid extended-protocol exchange): we keep
        // the session; don't let a forgotten client keep it forever.
        idleTimer = setTimeout(() => socket.destroy(), idleTimeout);
        idleTimer.unref();
      }
    };

    const enqueue = (task: () => Promise<void>) => {
      chain = chain.then(task).catch(() => {
        socket.destroy();
      });
    };

    const cleanup = async () => {
      clearTimeout(idleTimer);
      if (lock.owner !== owner) return;
      try {
        // End any half-done extended-protocol exchange, then any transaction.
        await pglite.runExclusive(async () => {
          await pglite.execProtocolRawStream(new Uint8Array(SYNC), { onRawData: () => {} });
        });
        if (pglite.isInTransaction()) await pglite.exec('ROLLBACK');
      } catch {
        // PGlite closed underneath us (shutdown): nothing left to clean.
      } finally {
        lock.release(owner);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      if (!started) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          const packet = readStartupPacket(buf);
          if (packet === 'incomplete') return;
          if (packet === 'malformed') return void socket.destroy();
          const msg = Buffer.from(buf.subarray(0, packet.length));
          buf = buf.subarray(packet.length);
          if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
            socket.write('N');
            continue;
          }
          if (packet.code === CANCEL_REQUEST) return void socket.destroy();
          if (packet.code !== PROTOCOL_3) return void endSoon(socket, errorResponse('0A000', 'unsupported frontend protocol'));
          started = true;
          enqueue(runBatch([msg]));
          chunk = buf;
          break;
        }
      }
      let messages: WireMessage[];
      try {
        messages = reader.push(chunk);
      } catch {
        return void socket.destroy();
      }
      for (const m of messages) {
        if (closed) return;
        if (m.type === 'X') return void endSoon(socket);
        if (m.type === 'p') continue; // no auth was asked for; see header comment
        pending.push(Buffer.from(m.bytes));
        if (BATCH_END.has(m.type)) {
          enqueue(runBatch(pending));
          pending = [];
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
      const p = chain.then(cleanup);
      done.add(p);
      void p.finally(() => done.delete(p));
    });
  }

  const server = createServer(handle);
  const port = await listen(server, host, opts.port ?? 0);

  return {
    host,
    port,
    url: `postgres://postgres@${host}:${port}/postgres`,
    connections: () => sockets.size,
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of everything) s.destroy();
      await closing;
      await Promise.all([...done]);
    },
  };
}
