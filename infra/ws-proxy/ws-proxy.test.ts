import { createServer, type Server, type Socket } from 'node:net';
import { neonConfig, Client as NeonClient } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { startPgliteDatabase, type ProvisionedDb } from '../db/provision.ts';
import { startWsProxy, type WsProxy } from './index.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

/** A TCP server that echoes, remembers what it saw, and tells when a socket closes. */
async function startEcho() {
  const sockets = new Set<Socket>();
  let closes = 0;
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => s.write(d));
    s.on('close', () => {
      sockets.delete(s);
      closes++;
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    closes: () => closes,
    close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

const open = (url: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
const nextMessage = (ws: WebSocket) => new Promise<Buffer>((r) => ws.once('message', (d) => r(d as Buffer)));
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('ws proxy', () => {
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let proxy: WsProxy;
  beforeAll(async () => {
    echo = await startEcho();
    proxy = await startWsProxy({ target: { host: '127.0.0.1', port: echo.port } });
  });
  afterAll(async () => {
    await proxy.close();
    await echo.close();
  });

  it('listens on 127.0.0.1 with an OS-assigned port', () => {
    expect(proxy.url).toBe(`ws://127.0.0.1:${proxy.port}`);
    expect(proxy.port).toBeGreaterThan(0);
  });

  it('pipes binary bytes both ways, ignoring the address the client asks for', async () => {
    const ws = await open(`${proxy.url}/v2?address=10.9.8.7:5432`);
    const payload = Buffer.from([0, 1, 2, 250, 255, 0x51]);
    const reply = nextMessage(ws);
    ws.send(payload);
    expect(Buffer.compare(await reply, payload)).toBe(0);
    ws.close();
  });

  it('closes the TCP side when the WebSocket closes, and the reverse', async () => {
    await until(() => echo.sockets.size === 0 && proxy.connections() === 0);
    const before = echo.closes();
    const ws = await open(proxy.url);
    ws.send('x');
    await nextMessage(ws);
    expect(echo.sockets.size).toBe(1);
    ws.close();
    await until(() => echo.closes() === before + 1 && echo.sockets.size === 0 && proxy.connections() === 0);

    const ws2 = await open(proxy.url);
    ws2.send('y');
    await nextMessage(ws2);
    const wsClosed = new Promise((r) => ws2.once('close', r));
    for (const s of echo.sockets) s.destroy();
    await wsClosed;
    await until(() => proxy.connections() === 0);
  });

  it('adds a fixed latency per direction, keeping order', async () => {
    proxy.setLatency({ up: 120, down: 80 });
    try {
      const ws = await open(proxy.url);
      const got: string[] = [];
      const done = new Promise<void>((r) =>
        ws.on('message', (d) => {
          got.push(String(d));
          if (got.join('').length >= 3) r();
        }),
      );
      const t0 = performance.now();
      ws.send('a');
      ws.send('b');
      ws.send('c');
      await done;
      const rtt = performance.now() - t0;
      expect(rtt).toBeGreaterThanOrEqual(195);
      expect(rtt).toBeLessThan(1500);
      expect(got.join('')).toBe('abc');
      ws.close();
    } finally {
      proxy.setLatency(0);
    }
  });
});

describe('ws proxy in front of a database', () => {
  let db: ProvisionedDb;
  let proxy: WsProxy;
  beforeAll(async () => {
    db = await startPgliteDatabase();
    proxy = await startWsProxy({ target: { host: db.host, port: db.port }, database: 'postgres' });
  });
  afterAll(async () => {
    await proxy.close();
    await db.close();
  });

  // What the Worker will do: @neondatabase/serverless over our proxy.
  const useProxy = () => {
    neonConfig.webSocketConstructor = WebSocket as unknown as typeof neonConfig.webSocketConstructor;
    neonConfig.wsProxy = () => proxy.hostPort;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  };

  it('refuses a session for another database than its own', async () => {
    useProxy();
    const client = new NeonClient({ connectionString: db.url.replace(/\/postgres$/, '/other_world_db') });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toThrow();
    await until(() => proxy.connections() === 0);
  });

  it('carries a @neondatabase/serverless session', async () => {
    useProxy();
    const client = new NeonClient({ connectionString: db.url.replace('postgres://postgres@', 'postgres://postgres:x@') });
    await client.connect();
    try {
      const r = await client.query('SELECT $1::text || current_database() AS v', ['db:']);
      expect(r.rows[0].v).toBe('db:postgres');
    } finally {
      await client.end();
    }
  });
});
