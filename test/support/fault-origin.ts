/**
 * Fault lab: real HTTP origins whose behaviour a test sets over a control endpoint. Tests
 * inside workerd cannot start servers, so globalSetup starts one lab (a control server) and
 * each test asks it for fresh origins of its own: parallel test files never share a fault.
 *
 * Control API (JSON, on the lab's URL):
 *   POST   /origins                 {"kind":"echo"|"jwks","name"?}   → {"id","url"}
 *   PUT    /origins/:id/fault       {"mode", "status"?, "latencyMs"?, "times"?}
 *   GET    /origins/:id/requests    → every request seen, with `aborted` (the client hung up first)
 *   POST   /origins/:id/reset       clears the record
 *   DELETE /origins/:id             closes it (hung connections too)
 * Modes: ok | refuse (nothing listens on the port) | reset (connection accepted, then destroyed
 * before any response byte) | hang (never answers) | status (answers `status`, default 503) |
 * garbage (bytes that are not HTTP) | latency (answers after `latencyMs`) | slow-body (headers
 * and a first chunk at once, the rest of the body after `latencyMs`). With `times`, the
 * fault applies to that many requests and the origin is `ok` after.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FaultMode = 'ok' | 'refuse' | 'reset' | 'hang' | 'status' | 'garbage' | 'latency' | 'slow-body';

export interface Fault {
  mode: FaultMode;
  status?: number;
  latencyMs?: number;
  times?: number;
  /** Only requests of this tenant (the x-tenant-id the gateway sets) meet the fault; the others are served. */
  tenant?: string;
}

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  aborted: boolean;
}

interface FaultOrigin {
  id: string;
  name: string;
  url: string;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function startFaultOrigin(id: string, name: string, okHandler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<FaultOrigin & { set(f: Fault): Promise<void>; seen: Seen[] }> {
  let fault: Fault = { mode: 'ok' };
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const record: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', aborted: false };
    seen.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    // A fault scoped to a tenant leaves the other tenants' requests alone.
    const current: Fault = fault.tenant === undefined || req.headers['x-tenant-id'] === fault.tenant ? fault : { mode: 'ok' };
    if (current === fault && current.times !== undefined) {
      current.times--;
      if (current.times <= 0) fault = { mode: 'ok' };
    }
    if (current.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (current.mode === 'garbage') {
      req.socket.end('SURPRISE \u0000\u0001 this is not HTTP\r\n\r\n');
      return;
    }
    if (current.mode === 'hang') return; // never answer; the record shows whether the caller gave up
    record.body = await readBody(req);
    if (current.mode === 'status') {
      json(res, current.status ?? 503, { origin: name, fault: 'status' });
      return;
    }
    if (current.mode === 'slow-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk;');
      setTimeout(() => res.end('last chunk'), current.latencyMs ?? 1000);
      return;
    }
    if (current.mode === 'latency') await new Promise((r) => setTimeout(r, current.latencyMs ?? 1000));
    if (res.destroyed) return;
    okHandler(req, record.body, res);
  };

  const server: Server = createServer((req, res) => void handler(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let listening = true;

  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!listening) return resolve();
      listening = false;
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (listening) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        listening = true;
        resolve();
      });
    });

  return {
    id,
    name,
    url: `http://127.0.0.1:${port}`,
    seen,
    async set(f: Fault) {
      fault = { ...f };
      if (f.mode === 'refuse') await stopListening();
      else await listen();
    },
    close: stopListening,
  };
}

export interface FaultLab {
  url: string;
  close(): Promise<void>;
}

/** `jwksBody` is what `kind: "jwks"` origins serve at /.well-known/jwks.json. */
export async function startFaultLab(jwksBody: () => unknown): Promise<FaultLab> {
  const origins = new Map<string, Awaited<ReturnType<typeof startFaultOrigin>>>();
  let next = 0;

  const echo = (name: string) => (req: IncomingMessage, body: string, res: ServerResponse) =>
    json(res, req.method === 'POST' ? 201 : 200, { origin: name, method: req.method, url: req.url, body });
  const jwks = (name: string) => (req: IncomingMessage, body: string, res: ServerResponse) => {
    if (req.url === '/.well-known/jwks.json') json(res, 200, jwksBody());
    else echo(name)(req, body, res);
  };

  const control = createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const path = (req.url ?? '').split('?')[0]!;
      if (req.method === 'POST' && path === '/origins') {
        const { kind = 'echo', name } = body ? (JSON.parse(body) as { kind?: string; name?: string }) : {};
        const id = String(++next);
        const label = name ?? `${kind}-${id}`;
        const o = await startFaultOrigin(id, label, kind === 'jwks' ? jwks(label) : echo(label));
        origins.set(id, o);
        return json(res, 201, { id, url: o.url });
      }
      const m = /^\/origins\/(\d+)(\/[a-z]+)?$/.exec(path);
      const o = m ? origins.get(m[1]!) : undefined;
      if (!m || !o) return json(res, 404, { error: 'no such origin' });
      const action = `${req.method} ${m[2] ?? ''}`;
      if (action === 'PUT /fault') {
        await o.set(JSON.parse(body) as Fault);
        return json(res, 200, { ok: true });
      }
      if (action === 'GET /requests') return json(res, 200, o.seen);
      if (action === 'POST /reset') {
        o.seen.length = 0;
        return json(res, 200, { ok: true });
      }
      if (action === 'DELETE ') {
        await o.close();
        origins.delete(o.id);
        return json(res, 200, { ok: true });
      }
      return json(res, 404, { error: 'no such action' });
    } catch (err) {
      return json(res, 500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  const { port } = control.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      await Promise.all([...origins.values()].map((o) => o.close()));
      control.closeAllConnections();
      await new Promise<void>((resolve) => control.close(() => resolve()));
    },
  };
}
