/**
 * A real HTTP origin for tests: records every request it gets (so a test can
 * assert what crossed the gateway, or that nothing did) and answers with an echo,
 * or with a canned behaviour chosen by path. Runs in Node, started by globalSetup.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RecordingOrigin {
  name: string;
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startRecordingOrigin(name: string, extraRoutes?: (req: IncomingMessage, body: string) => { status: number; headers?: Record<string, string | string[]>; body: string } | undefined): Promise<RecordingOrigin> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
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
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
