/**
 * A real HTTP origin for tests: records every request it gets (so a test can
 * assert what crossed the gateway, or that nothing did) and answers with an echo,
 * or with a canned behaviour chosen by path. Runs in Node, started by globalSetup.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { WebSocketServer as WebSocketServerType } from 'ws';

// Loaded through require: the global setup runs under vite's SSR transform, which resolves the
// bare `ws` import to its browser stub.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: typeof WebSocketServerType };

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The client went away before the body was complete (e.g. the gateway cut an over-limit upload). */
  aborted?: boolean;
  /** A WebSocket upgrade (accepted; the origin echoes every message prefixed with its name). */
  upgrade?: boolean;
}

export interface RecordingOrigin {
  name: string;
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Resolves with the body, or with `aborted` when the client cut the upload short. */
function readBody(req: IncomingMessage): Promise<{ body: string; aborted: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const done = (aborted: boolean) => {
      if (settled) return;
      settled = true;
      resolve({ body: Buffer.concat(chunks).toString('utf8'), aborted });
    };
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => done(false));
    req.on('error', () => done(true));
    req.on('close', () => done(!req.complete));
  });
}

export async function startRecordingOrigin(name: string, extraRoutes?: (req: IncomingMessage, body: string) => { status: number; headers?: Record<string, string | string[]>; body: string } | undefined): Promise<RecordingOrigin> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const { body, aborted } = await readBody(req);
    if (aborted) {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, aborted: true });
      res.destroy();
      return;
    }
    // Control endpoints for the tests themselves; never recorded.
    if (req.url === '/__requests') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(requests));
      return;
    }
    if (req.url === '/__reset' && req.method === 'POST') {
      requests.length = 0;
      res.writeHead(204).end();
      return;
    }
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    // `/__status/NNN` answers with that status: how tests get an origin to fail or 404 on a chosen path.
    const canned = /^\/__status\/([1-5]\d\d)$/.exec(req.url ?? '');
    if (canned) {
      res.writeHead(Number(canned[1]), { 'content-type': 'text/plain' });
      res.end(`canned ${canned[1]}`);
      return;
    }
    const custom = extraRoutes?.(req, body);
    if (custom) {
      res.writeHead(custom.status, custom.headers);
      res.end(custom.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-origin-name': name });
    res.end(JSON.stringify({ origin: name, method: req.method, url: req.url, headers: req.headers, body }));
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', upgrade: true });
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => ws.send(`${name}:${data.toString()}`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
