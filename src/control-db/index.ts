/**
 * The gateway's own reads and writes outside the tenant data path: the
 * controller (global view, for /admin) and the control plane (audit log,
 * tenant relocations). One @neondatabase/serverless Client per use, ended
 * afterwards: on Workers a socket cannot outlive its request.
 */
import { Client } from '@neondatabase/serverless';
import type { DbEndpoint } from '../config/index.ts';
import { GatewayError } from '../errors/index.ts';

export const CONNECT_TIMEOUT_MS = 5000;

export interface TxOptions {
  readOnly: boolean;
  statementTimeoutMs: number;
}

export type Query = <R extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

function newClient(ep: DbEndpoint): Client {
  const c = new Client({ connectionString: ep.url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // The socket closing after end() (or dying mid-query) is reported as an 'error' event; the awaited
  // query already carries any failure that matters, so an unlistened event must not become an uncaught exception.
  c.on('error', () => {});
  if (ep.wsProxy) {
    // The local world's loopback proxy (infra/ws-proxy): plain ws, PostgreSQL trust auth, no TLS inside.
    c.neonConfig.wsProxy = ep.wsProxy;
    c.neonConfig.useSecureWebSocket = false;
    c.neonConfig.pipelineConnect = false;
    c.neonConfig.forceDisablePgSSL = true;
  }
  return c;
}

/**
 * Runs fn in one transaction (READ ONLY when asked) with a statement timeout
 * local to it. Database failures become 503/504 GatewayErrors whose detail
 * (never the URL) goes to the log only.
 */
export async function inTransaction<T>(ep: DbEndpoint, opts: TxOptions, fn: (q: Query) => Promise<T>): Promise<T> {
  const client = newClient(ep);
  let connected = false;
  try {
    await client.connect();
    connected = true;
    await client.query(opts.readOnly ? 'BEGIN READ ONLY' : 'BEGIN');
    // set_config(..., true) is SET LOCAL with a parameter: ends with the transaction.
    await client.query("SELECT set_config('statement_timeout', $1, true)", [String(opts.statementTimeoutMs)]);
    const q: Query = async (text, params) => (await client.query(text, params)).rows;
    const out = await fn(q);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    const code = (err as { code?: string }).code;
    const detail = `database: ${code ?? ''} ${(err as Error).message}`;
    // 57014: canceled by statement_timeout.
    throw new GatewayError(code === '57014' ? 'upstream_timeout' : 'service_unavailable', detail);
  } finally {
    // After a failed connect the server has already closed the socket; end() would write to it.
    if (connected) await client.end().catch(() => {});
  }
}
