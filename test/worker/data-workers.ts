/**
 * The edge and the regional data Workers together inside workerd: each region's
 * service binding is the real data Worker app (src/data-worker) with its own
 * environment (only its own region's databases), called with a real
 * ExecutionContext. What this leaves out is workerd's binding transport between
 * two isolates; `npm run dev` runs the real bindings (test/e2e/direct.e2e.test.ts).
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { createDataApp } from '../../src/data-worker/app.ts';
import { bindings } from './helpers.ts';

/** Settings that belong to the data Workers; everything else in an env override goes to the edge. */
const DATA_WORKER_KEYS = new Set(['REGION_DATABASES', 'REGION_STANDBY_DATABASES', 'DB_USE_SECURE_WEBSOCKET', 'DB_PIPELINE_CONNECT', 'DB_RETRY_AFTER_SECONDS', 'DATABASE_TIMEOUT_MS', 'DATA_ZONE']);
/** Read by both kinds of Worker. */
const SHARED_KEYS = new Set(['BREAKER_FAILURE_THRESHOLD', 'BREAKER_COOLDOWN_MS', 'UPSTREAM_RETRIES', 'RETRY_JITTER_MS']);

export const bindingName = (region: string) => `DATA_${region.toUpperCase().replaceAll('-', '_')}`;

const dataApp = createDataApp();

/** Counts what each data Worker was asked (by region), so tests can show a refused request never reached one. */
export const dataWorkerCalls = new Map<string, number>();

function fetcher(region: string, env: Record<string, unknown>) {
  return {
    async fetch(req: Request): Promise<Response> {
      dataWorkerCalls.set(region, (dataWorkerCalls.get(region) ?? 0) + 1);
      const ctx = createExecutionContext();
      const res = await dataApp.fetch(req, env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    },
  };
}

const parsed = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown> | undefined;

/**
 * An edge env (the shared test bindings plus `overrides`) whose DATA_WORKERS are data Workers for every
 * region; settings the data Workers own go to them, REGION_DATABASES split by region. The edge's own env
 * holds none of them: that is what the gateway's config requires.
 */
export function edgeWithDataWorkers(overrides: Record<string, unknown> = {}, hyperdrives: Record<string, unknown> = {}): Record<string, unknown> {
  const edge: Record<string, unknown> = { ...bindings };
  const data: Record<string, unknown> = { DB_USE_SECURE_WEBSOCKET: 'false', ...hyperdrives };
  for (const [k, v] of Object.entries(overrides)) {
    if (DATA_WORKER_KEYS.has(k)) data[k] = v;
    else edge[k] = v;
    if (SHARED_KEYS.has(k)) data[k] = v;
  }
  const regions = Object.keys(parsed(edge.REGIONS) ?? {});
  const dbs = parsed(data.REGION_DATABASES) ?? {};
  const standbys = parsed(data.REGION_STANDBY_DATABASES) ?? {};
  const keyRings = parsed(edge.GATEWAY_ASSERTION_KEYS) ?? {};
  const workers: Record<string, string> = {};
  for (const region of regions) {
    // Each data Worker holds only its own region's key ring, as deployed.
    const own: Record<string, unknown> = { ...data, DATA_REGION: region, GATEWAY_ASSERTION_KEYS: { [region]: keyRings[region] } };
    delete own.REGION_DATABASES;
    delete own.REGION_STANDBY_DATABASES;
    if (dbs[region]) own.REGION_DATABASES = { [region]: dbs[region] };
    if (standbys[region]) own.REGION_STANDBY_DATABASES = { [region]: standbys[region] };
    workers[region] = bindingName(region);
    edge[bindingName(region)] = fetcher(region, own);
  }
  edge.DATA_WORKERS = JSON.stringify(workers);
  return edge;
}
