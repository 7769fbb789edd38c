/** Starts a Node HTTP server for a fetch handler (hono) on 127.0.0.1. */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import { listen } from '../ports.ts';

type FetchHandler = Parameters<typeof createAdaptorServer>[0]['fetch'];

export interface HttpService {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface ServeOptions {
  host?: string;
  /** 0 (default) lets the OS choose; a taken port fails with EADDRINUSE (infra/ports.ts falls back). */
  port?: number;
}

export async function serveHttp(fetch: FetchHandler, opts: ServeOptions = {}): Promise<HttpService> {
  const host = opts.host ?? '127.0.0.1';
  const server = createAdaptorServer({ fetch }) as Server;
  const port = await listen(server, host, opts.port ?? 0);
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (e.g. from workerd) would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
