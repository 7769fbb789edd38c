/**
 * How a data Worker reaches its database: one interface, two transports, chosen per
 * endpoint by the config (src/config/databases.ts):
 *
 *   neon        @neondatabase/serverless over a WebSocket (Neon without Hyperdrive; locally
 *               through the world's WebSocket-to-TCP proxies)
 *   hyperdrive  node-postgres (`pg`) over TCP to a Hyperdrive binding's connection string, as
 *               Cloudflare documents for Hyperdrive; Hyperdrive keeps the pooled connections
 *               to the database warm, so connect costs a hop inside the data centre
 *
 * Both are pg Clients underneath (Neon's driver is a fork of pg), so the same pipeline
 * (pipeline.ts), RLS set-up, bookmarks and error mapping (driver.ts, errors.ts) run over
 * either, and the test suite runs the data path over both.
 */
import { Client as NeonClient } from '@neondatabase/serverless';
import pg from 'pg';
import * as pgCloudflare from 'pg-cloudflare';
import type { DatabaseDriverConfig, DatabaseEndpoint, TransportName } from '../config/index.ts';

/** What driver.ts needs of a client: the pg Client surface both drivers share. */
export interface TransportClient {
  connect(): Promise<unknown>;
  /** A submittable (pipeline.ts), or text and values. */
  query(query: never, values?: readonly unknown[]): unknown;
  end(): Promise<unknown>;
  on(event: 'error', listener: (err: unknown) => void): unknown;
}

export interface Transport {
  readonly name: TransportName;
  /** A new client for one request; the caller connects it and ends it after the response. */
  client(endpoint: DatabaseEndpoint, driver: DatabaseDriverConfig, queryTimeoutMs?: number): TransportClient;
}

export function wsProxyOption(template: string | undefined): string | ((host: string, port: number | string) => string) | undefined {
  if (!template) return undefined;
  if (!template.includes('{host}') && !template.includes('{port}')) return template;
  return (host, port) => template.replaceAll('{host}', host).replaceAll('{port}', String(port));
}

const neon: Transport = {
  name: 'neon',
  client(endpoint, driver, queryTimeoutMs) {
    const client = new NeonClient({ connectionString: endpoint.url, connectionTimeoutMillis: driver.connectTimeoutMs, query_timeout: queryTimeoutMs });
    // Per-client options (no global neonConfig mutation): one isolate may reach databases through different proxies.
    const nc = client.neonConfig;
    const proxy = wsProxyOption(endpoint.wsProxy);
    if (proxy !== undefined) nc.wsProxy = proxy;
    nc.useSecureWebSocket = driver.useSecureWebSocket;
    nc.pipelineConnect = endpoint.pipelineConnect;
    return client as unknown as TransportClient;
  },
};

const hyperdrive: Transport = {
  name: 'hyperdrive',
  client(endpoint, driver, queryTimeoutMs) {
    // Hyperdrive's connection string names a host only the Worker's runtime can reach; TLS to it is
    // Hyperdrive's business (it is off locally, where the string points at the local database).
    // The Workers socket (cloudflare:sockets) given explicitly: pg would otherwise pick it by sniffing the runtime.
    const stream = () => new CloudflareSocket(false);
    return new pg.Client({ connectionString: endpoint.url, connectionTimeoutMillis: driver.connectTimeoutMs, query_timeout: queryTimeoutMs, stream: stream as never }) as unknown as TransportClient;
  },
};

// The package's types resolve to its non-Workers stub; its `workerd` build exports the socket class.
const { CloudflareSocket } = pgCloudflare as unknown as { CloudflareSocket: new (ssl: boolean) => unknown };

const TRANSPORTS: Readonly<Record<TransportName, Transport>> = { neon, hyperdrive };

export function transportFor(endpoint: DatabaseEndpoint): Transport {
  return TRANSPORTS[endpoint.transport];
}
