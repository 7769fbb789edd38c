/** The load runs' HTTP client, against a real local server: what it sends, what it reads, kept-alive sockets. */
import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../ports.ts';
import { loadClient } from './http-client.ts';

let server: http.Server;
let base = '';
const seen: Array<{ method: string; url: string; body: string; auth?: string; port: number }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString('utf8'), auth: req.headers.authorization, port: req.socket.remotePort! });
      if (req.url === '/limited') {
        res.writeHead(429, { 'Retry-After': '2', RateLimit: '"api-tenant";r=0;t=2', 'content-type': 'application/json' });
        res.end('{"error":{"code":"rate_limited"}}');
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ title: 'é ✓' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

it('sends method, headers and body; reads status, any header by its name in any case, and the body as UTF-8', async () => {
  const client = loadClient();
  try {
    const created = await client.request(`${base}/api/pages`, { method: 'POST', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '{"title":"é ✓"}' });
    expect(created.status).toBe(201);
    expect(JSON.parse(created.text)).toEqual({ title: 'é ✓' });
    expect(seen.at(-1)).toMatchObject({ method: 'POST', url: '/api/pages', body: '{"title":"é ✓"}', auth: 'Bearer t' });
    const limited = await client.request(`${base}/limited`);
    expect(limited.status).toBe(429);
    expect(limited.header('Retry-After')).toBe('2');
    expect(limited.header('ratelimit')).toBe('"api-tenant";r=0;t=2');
    expect(limited.header('ratelimit-policy')).toBeUndefined();
  } finally {
    client.close();
  }
});

it('keeps its socket alive between requests (one connection for sequential requests), and says when one was opened', async () => {
  const client = loadClient();
  try {
    const opened: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await client.request(`${base}/p${i}`);
      expect(res.status).toBe(201);
      opened.push(res.newConnection);
    }
    expect(new Set(seen.slice(-3).map((s) => s.port)).size).toBe(1);
    // It says which request opened the connection.
    expect(opened).toEqual([true, false, false]);
  } finally {
    client.close();
  }
});

it('rejects when nothing listens (the load runs count it as a network error)', async () => {
  const client = loadClient();
  await expect(client.request(`http://127.0.0.1:${await freePort()}/`)).rejects.toThrow(/ECONNREFUSED/);
  client.close();
});
