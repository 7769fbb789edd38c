/**
 * The browser client of the local world: a static single-page app (public/) on its own origin,
 * which calls the gateway across origins, as a front end on another host would. No build step;
 * /config.json tells the page where the gateway is and which regions exist.
 */
import { readFile } from 'node:fs/promises';
import { Hono } from 'hono';
import { serveHttp, type HttpService } from '../http/serve.ts';

const PUBLIC_DIR = new URL('./public/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export interface BrowserClientOptions {
  gatewayUrl: string;
  regions: readonly string[];
  /** 0 (default): OS-assigned. */
  port?: number;
}

export function createBrowserClientApp(opts: Pick<BrowserClientOptions, 'gatewayUrl' | 'regions'>): Hono {
  const app = new Hono();
  // The page may talk to itself and to the gateway, nothing else: a cross-origin call anywhere else fails loudly.
  const csp = `default-src 'self'; connect-src 'self' ${new URL(opts.gatewayUrl).origin}; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  app.use('*', async (c, next) => {
    await next();
    c.header('content-security-policy', csp);
    c.header('x-content-type-options', 'nosniff');
    c.header('cache-control', 'no-store');
  });
  app.get('/config.json', (c) => c.json({ gatewayUrl: opts.gatewayUrl, regions: opts.regions }));
  for (const [path, { file, type }] of Object.entries(FILES)) {
    // Read on each request, so editing public/ needs no restart.
    app.get(path, async (c) => c.body(await readFile(new URL(file, PUBLIC_DIR)), 200, { 'content-type': type }));
  }
  return app;
}

export function serveBrowserClient(opts: BrowserClientOptions): Promise<HttpService> {
  return serveHttp(createBrowserClientApp(opts).fetch, { port: opts.port ?? 0 });
}
