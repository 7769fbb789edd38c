import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveHttp } from './http/serve.ts';
import { freePort, onPreferredPort, type PortFallback } from './ports.ts';

describe('preferred ports', () => {
  let squatter: Server;
  let taken: number;
  beforeAll(async () => {
    squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    taken = (squatter.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => squatter.close(() => r())));

  it('a free preferred port is used as is, with no fallback reported', async () => {
    const free = await freePort();
    const moves: PortFallback[] = [];
    const svc = await onPreferredPort('svc', free, (port) => serveHttp(() => new Response('ok'), { port }), (f) => moves.push(f));
    try {
      expect(svc.port).toBe(free);
      expect(moves).toEqual([]);
    } finally {
      await svc.close();
    }
  });

  it('a taken port falls back to an OS-assigned one, and the move is reported', async () => {
    const moves: PortFallback[] = [];
    const svc = await onPreferredPort('central', taken, (port) => serveHttp(() => new Response('ok'), { port }), (f) => moves.push(f));
    try {
      expect(svc.port).not.toBe(taken);
      expect(await (await fetch(svc.url)).text()).toBe('ok');
      expect(moves).toEqual([{ service: 'central', preferred: taken, port: svc.port }]);
    } finally {
      await svc.close();
    }
  });

  it('freePort answers the preferred port when free, another one when taken (for wrangler, which binds it itself)', async () => {
    const moves: PortFallback[] = [];
    const other = await freePort(taken, { service: 'gateway', onFallback: (f) => moves.push(f) });
    expect(other).not.toBe(taken);
    expect(moves).toEqual([{ service: 'gateway', preferred: taken, port: other }]);
    expect(await freePort(other)).toBe(other);
  });

  it('other errors are not papered over', async () => {
    const boom = Object.assign(new Error('permission denied'), { code: 'EACCES' });
    await expect(onPreferredPort('svc', 80, () => Promise.reject(boom))).rejects.toBe(boom);
  });
});
