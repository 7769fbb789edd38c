/**
 * A session pool in front of one database of a local PostgreSQL server: the local world's stand-in
 * for Hyperdrive's pool. wrangler's local Hyperdrive connects straight to its `localConnectionString`,
 * so without a pool every data request forks a PostgreSQL backend and logs in, CPU and milliseconds a
 * deployment behind Hyperdrive does not pay.
 *
 * A client connection is served by a server connection opened with the same startup parameters (user,
 * database, options…): a new one the first time, an idle one after. When the client leaves (Terminate,
 * or its socket closing) with the session idle (no transaction, nothing in flight, no half message),
 * the server connection is reset with DISCARD ALL (settings, role, prepared statements, temporary
 * tables, advisory locks, LISTENs) and kept for the next client; otherwise it is closed, which ends
 * any transaction it had.
 *
 * Limits:
 * - reused only where the server asked for no credential: a login cannot be replayed to another
 *   client, so when the server asks for a password, the pool relays the exchange and closes that
 *   server connection after its client (no reuse, as without the pool);
 * - one database (as the ws proxy's guard: a shared server holds other worlds' databases);
 * - no TLS to the client (SSLRequest and GSSENCRequest answered 'N'); it listens on loopback;
 * - CancelRequest is not routed (that connection is closed);
 * - session pooling: a server connection serves one client connection for its whole life (Hyperdrive
 *   pools per transaction; the data Worker opens one connection per request, which comes to the same);
 * - at most `maxIdle` idle server connections, each closed after `idleTimeoutMs` unused.
 */
import { connect, createServer, type Socket } from 'node:net';
import {
  AUTHENTICATION_OK,
  CANCEL_REQUEST,
  errorResponse,
  GSSENC_REQUEST,
  MessageReader,
  PROTOCOL_3,
  query,
  readStartupPacket,
  readyForQuery,
  SSL_REQUEST,
  type WireMessage,
} from '../db/pg-wire.ts';
import { listen } from '../ports.ts';

export interface PgPoolOptions {
  target: { host: string; port: number };
  /** The one database served; a client naming another is refused. */
  database: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) lets the OS choose. */
  port?: number;
  /** Idle server connections kept; default 16. */
  maxIdle?: number;
  /** An idle server connection unused this long is closed; default 30 s. */
  idleTimeoutMs?: number;
  /** A reset (DISCARD ALL) not answered within this is given up and the connection closed; default 5 s. */
  resetTimeoutMs?: number;
}

export interface PgPoolStats {
  /** Server connections opened. */
  opened: number;
  /** Client connections served by a kept server connection. */
  reused: number;
  idle: number;
  clients: number;
}

export interface PgPool {
  host: string;
  port: number;
  stats(): PgPoolStats;
  /** Closes every client and server connection and the listener. */
  close(): Promise<void>;
}

interface ServerConn {
  socket: Socket;
  key: string;
  reader: MessageReader;
  /** ReadyForQuery's last status. */
  status: string;
  /** The server asked no credential at login, so the connection may serve another client. */
  poolable: boolean;
  /** ParameterStatus and BackendKeyData of its login, replayed to each later client. */
  welcome: Buffer[];
  /** Where its messages go now (its client, its reset, or the idle watch). */
  onMessages: (messages: WireMessage[]) => void;
  onClose: () => void;
  idleTimer?: NodeJS.Timeout;
}

export async function startPgPool(opts: PgPoolOptions): Promise<PgPool> {
  const host = opts.host ?? '127.0.0.1';
  const maxIdle = opts.maxIdle ?? 16;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const resetTimeoutMs = opts.resetTimeoutMs ?? 5_000;
  const clients = new Set<Socket>();
  const servers = new Set<ServerConn>();
  const idle = new Map<string, ServerConn[]>();
  const idleCount = () => [...idle.values()].reduce((n, list) => n + list.length, 0);
  let opened = 0;
  let reused = 0;
  let closing = false;

  const refuse = (client: Socket, code: string, text: string) => {
    client.end(errorResponse(code, text));
    setTimeout(() => client.destroy(), 1000).unref();
  };

  const takeIdle = (key: string): ServerConn | undefined => {
    const conn = idle.get(key)?.pop();
    clearTimeout(conn?.idleTimer);
    return conn;
  };
  const dropIdle = (conn: ServerConn) => {
    const list = idle.get(conn.key);
    const i = list?.indexOf(conn) ?? -1;
    if (i >= 0) {
      list!.splice(i, 1);
      clearTimeout(conn.idleTimer);
    }
  };
  const destroy = (conn: ServerConn) => {
    dropIdle(conn);
    conn.onMessages = () => {};
    conn.onClose = () => {};
    conn.socket.destroy();
  };

  const openServer = (key: string): ServerConn => {
    const socket = connect(opts.target);
    socket.setNoDelay(true);
    opened++;
    const conn: ServerConn = { socket, key, reader: new MessageReader(), status: 'I', poolable: true, welcome: [], onMessages: () => {}, onClose: () => {} };
    servers.add(conn);
    socket.on('data', (chunk: Buffer) => {
      let messages: WireMessage[];
      try {
        messages = conn.reader.push(chunk);
      } catch {
        return void socket.destroy();
      }
      conn.onMessages(messages);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      servers.delete(conn);
      dropIdle(conn);
      conn.onClose();
    });
    return conn;
  };

  /** Keeps `conn` for the next client of its key: reset first; anything unexpected closes it. */
  const release = (conn: ServerConn) => {
    if (closing || idleCount() >= maxIdle) return destroy(conn);
    let failed = false;
    const timer = setTimeout(() => destroy(conn), resetTimeoutMs);
    conn.onClose = () => clearTimeout(timer);
    conn.onMessages = (messages) => {
      for (const m of messages) {
        if (m.type === 'E') failed = true;
        if (m.type !== 'Z') continue;
        clearTimeout(timer);
        conn.status = String.fromCharCode(m.bytes[5]!);
        if (failed || conn.status !== 'I' || conn.reader.partial > 0 || closing || idleCount() >= maxIdle) return destroy(conn);
        // Idle: a server closing it (or erring) removes it; notices are dropped.
        conn.onMessages = (later) => {
          if (later.some((x) => x.type === 'E')) destroy(conn);
        };
        conn.onClose = () => {};
        conn.idleTimer = setTimeout(() => destroy(conn), idleTimeoutMs);
        conn.idleTimer.unref();
        const list = idle.get(conn.key) ?? [];
        list.push(conn);
        idle.set(conn.key, list);
        return;
      }
    };
    conn.socket.write(query('DISCARD ALL'));
  };

  /** Relays typed messages between `client` and `conn` until either leaves. */
  const attach = (client: Socket, conn: ServerConn, loggingIn: boolean, early: Buffer) => {
    const fromClient = new MessageReader();
    // Queries and Syncs sent whose ReadyForQuery has not come back.
    let inFlight = 0;
    let done = false;
    const finish = (keepServer: boolean) => {
      if (done) return;
      done = true;
      client.off('data', onClientData);
      client.destroy();
      const clean = keepServer && conn.poolable && !loggingIn && inFlight === 0 && conn.status === 'I' && fromClient.partial === 0 && conn.reader.partial === 0 && !conn.socket.destroyed;
      if (clean) release(conn);
      else destroy(conn);
    };
    const onClientData = (chunk: Buffer) => {
      let messages: WireMessage[];
      try {
        messages = fromClient.push(chunk);
      } catch {
        return finish(false);
      }
      const out: Buffer[] = [];
      for (const m of messages) {
        if (m.type === 'X') {
          if (out.length) conn.socket.write(Buffer.concat(out));
          return finish(true);
        }
        // A password sent ahead (a pipelined connect) to a session whose login is already done.
        if (m.type === 'p' && !loggingIn) continue;
        if (m.type === 'Q' || m.type === 'S') inFlight++;
        out.push(m.bytes);
      }
      if (out.length) conn.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    };
    conn.onMessages = (messages) => {
      for (const m of messages) {
        if (loggingIn) {
          if (m.type === 'R' && m.bytes.readInt32BE(5) !== 0) conn.poolable = false;
          if (m.type === 'S' || m.type === 'K') conn.welcome.push(Buffer.from(m.bytes));
        }
        if (m.type === 'Z') {
          conn.status = String.fromCharCode(m.bytes[5]!);
          if (loggingIn) loggingIn = false;
          else inFlight = Math.max(0, inFlight - 1);
        }
      }
      client.write(messages.length === 1 ? messages[0]!.bytes : Buffer.concat(messages.map((m) => m.bytes)));
    };
    conn.onClose = () => finish(false);
    client.on('data', onClientData);
    client.on('close', () => finish(true));
    if (early.length) onClientData(early);
    client.resume();
  };

  const handle = (client: Socket) => {
    clients.add(client);
    client.setNoDelay(true);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    let buf: Buffer = Buffer.alloc(0);
    const onStartup = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        const packet = readStartupPacket(buf);
        if (packet === 'incomplete') return;
        if (packet === 'malformed') return refuse(client, '08P01', 'malformed startup packet');
        const bytes = buf.subarray(0, packet.length);
        buf = buf.subarray(packet.length);
        if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
          client.write('N');
          continue;
        }
        if (packet.code === CANCEL_REQUEST) return void client.destroy();
        if (packet.code !== PROTOCOL_3) return refuse(client, '0A000', 'unsupported frontend protocol');
        const database = packet.params.database ?? packet.params.user;
        if (database !== opts.database) return refuse(client, '3D000', `database ${JSON.stringify(database)} is not served here`);
        client.off('data', onStartup);
        client.pause();
        const key = JSON.stringify(Object.entries(packet.params).sort(([a], [b]) => (a < b ? -1 : 1)));
        const kept = takeIdle(key);
        if (kept) {
          reused++;
          client.write(Buffer.concat([AUTHENTICATION_OK, ...kept.welcome, readyForQuery('I')]));
          return attach(client, kept, false, buf);
        }
        const conn = openServer(key);
        conn.socket.write(bytes);
        return attach(client, conn, true, buf);
      }
    };
    client.on('data', onStartup);
  };

  const server = createServer(handle);
  const port = await listen(server, host, opts.port ?? 0);

  return {
    host,
    port,
    stats: () => ({ opened, reused, idle: idleCount(), clients: clients.size }),
    close: async () => {
      closing = true;
      const listening = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of clients) c.destroy();
      for (const s of servers) destroy(s);
      await listening;
    },
  };
}
