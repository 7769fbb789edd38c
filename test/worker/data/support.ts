/**
 * Helpers for the direct data path tests inside workerd: call the edge gateway, which
 * hands /data/* to the region's data Worker (test/worker/data-workers.ts), against a
 * chosen database backend (PGlite, real PostgreSQL, primary + streaming replica; over
 * the Neon WebSocket transport, or the Hyperdrive transport: node-postgres over TCP
 * through miniflare's Hyperdrive bindings), with a real ExecutionContext (the driver
 * ends its socket in waitUntil), and reach the same databases as a superuser through
 * the same WebSocket proxies to seed tenants and look at rows.
 */
import { createExecutionContext, env as testEnv, waitOnExecutionContext } from 'cloudflare:test';
import { Client } from '@neondatabase/serverless';
import { createApp } from '../../../src/app.ts';
import { edgeWithDataWorkers } from '../data-workers.ts';
import { bindings, mintToken } from '../helpers.ts';
import type { DataDatabases, DbAccess } from '../../support/data-databases.ts';

export const DATA: DataDatabases = JSON.parse(bindings.TEST_DATA_DATABASES!);
export type BackendName = 'pglite' | 'postgres' | 'replica' | 'pglite-hyperdrive' | 'postgres-hyperdrive';
/** Every backend the route tests run on: each database over both transports. */
export const ROUTE_BACKENDS: BackendName[] = ['pglite', 'pglite-hyperdrive', 'postgres', 'postgres-hyperdrive'];

/** Miniflare's Hyperdrive binding objects (name → { connectionString, … }), from the worker's own env. */
export const HYPERDRIVES: Record<string, unknown> = Object.fromEntries(Object.keys(DATA.hyperdrives).map((n) => [n, (testEnv as Record<string, unknown>)[n]]));

const app = createApp();
// One env object per backend, so the per-isolate runtime cache is hit as in production.
const envs = new Map<BackendName, Record<string, unknown>>();
function envFor(backend: BackendName): Record<string, unknown> {
  let e = envs.get(backend);
  if (!e) {
    const b = DATA[backend];
    if (!b) throw new Error(`backend ${backend} unavailable: ${DATA.skipped[backend]}`);
    e = edgeWithDataWorkers({ REGION_DATABASES: JSON.stringify(b.regionDatabases) }, HYPERDRIVES);
    envs.set(backend, e);
  }
  return e;
}

/**
 * Backends available in this run. Why any other is missing is printed once by the Node global
 * setup (test/support/data-databases.ts: `[skip] … data tests: <reason>`, not hidden by the quiet
 * reporter), and .ci/run fails when PostgreSQL is reachable but the replica tests did not run.
 */
export function availableBackends(wanted: BackendName[]): BackendName[] {
  return wanted.filter((b) => DATA[b] && (!b.endsWith('-hyperdrive') || DATA[b.replace('-hyperdrive', '') as BackendName]));
}

export async function callData(backend: BackendName, path: string, init: RequestInit = {}, envOverrides?: Record<string, unknown>): Promise<Response> {
  const ctx = createExecutionContext();
  const env = envOverrides ? edgeWithDataWorkers({ REGION_DATABASES: JSON.stringify(DATA[backend]!.regionDatabases), ...envOverrides }, HYPERDRIVES) : envFor(backend);
  const res = await app.fetch(new Request(new URL(path, 'https://gateway.test'), init), env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

export async function bearer(tenant: string, region: string, sub = 'user-1'): Promise<Record<string, string>> {
  return { authorization: `Bearer ${await mintToken({ claims: { sub, tenant_id: tenant, tenant_region: region } })}` };
}

/** A superuser query through the same proxy the gateway uses (RLS does not apply). */
export async function adminQuery<R = Record<string, unknown>>(access: DbAccess, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new Client({ connectionString: access.url });
  client.neonConfig.wsProxy = access.wsProxy;
  client.neonConfig.useSecureWebSocket = false;
  client.neonConfig.pipelineConnect = access.pipelineConnect === 'off' ? false : 'password';
  client.on('error', () => {}); // the socket closing after end() is not a failure
  await client.connect();
  try {
    return (await client.query(text, values)).rows as R[];
  } finally {
    await client.end();
  }
}

export function adminFor(backend: BackendName, region: string): DbAccess {
  const a = DATA[backend]?.admin[region];
  if (!a) throw new Error(`no admin access for ${backend}/${region}`);
  return a;
}

/** A fresh tenant (unique per test, so files can run in parallel) with its row in the region's database. */
export async function newTenant(backend: BackendName, region: string): Promise<string> {
  const id = `ws_${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await adminQuery(adminFor(backend, region), 'INSERT INTO tenants (id, name) VALUES ($1, $2)', [id, `tenant ${id}`]);
  return id;
}

export async function createPage(backend: BackendName, tenant: string, region: string, page: Record<string, unknown>): Promise<Response> {
  return callData(backend, '/data/pages', {
    method: 'POST',
    headers: { ...(await bearer(tenant, region)), 'content-type': 'application/json' },
    body: JSON.stringify(page),
  });
}
