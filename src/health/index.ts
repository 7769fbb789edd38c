/**
 * Health endpoints for load balancers and people, both JSON and `no-store`:
 *  - GET /healthz: the gateway itself (its config parses); never calls anything upstream.
 *  - GET /readyz: every readiness probe (key set loaded, each origin reachable, ...), run once
 *    for all concurrent callers,
 *    bounded by READINESS_TIMEOUT_MS, reused for READINESS_REUSE_MS; 200 when every
 *    critical probe passes, 503 otherwise.
 * Anonymous callers get only the status; detail needs an admin token. No URLs, no error text.
 */
import type { Context } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { getRuntime } from '../runtime/index.ts';
import { verifyAdmin } from '../admin-auth/index.ts';
import { cachedReadiness } from './probes.ts';


export { cachedReadiness, readinessRuns, probesFor, runProbes, PROBE_FACTORIES, type Probe, type ProbeContext, type ProbeFactory, type ReadinessReport, type CheckResult } from './probes.ts';

const NO_STORE = { 'cache-control': 'no-store' };

export async function healthz(c: Context<GatewayEnv>): Promise<Response> {
  c.get('obs').internal = true;
  const r = await getRuntime(c.env);
  // Invalid config is the one thing that makes the gateway itself unhealthy: it would refuse every request.
  return r.ok
    ? c.json({ status: 'ok', config: 'valid' }, 200, NO_STORE)
    : c.json({ status: 'unhealthy', config: 'invalid' }, 503, NO_STORE);
}

/**
 * Anonymous callers (load balancers) get `{"status"}` with 200 or 503 and nothing else; probe
 * detail (regions, lag, key counts, latencies) only with a gateway-admin token, and only for the
 * regions in its `admin_regions` (checks that belong to no region only for an admin of every
 * region). A token that is sent must be a valid admin token (401/403 otherwise, as on /admin).
 */
export async function readyz(c: Context<GatewayEnv>): Promise<Response> {
  c.get('obs').internal = true;
  const runtime = c.get('runtime');
  const authorization = c.req.header('authorization');
  const admin = authorization === undefined ? undefined : await verifyAdmin(c, authorization);
  // Single flight plus reuse of a fresh report (per isolate): the fan-out to origins is bounded whatever the request rate.
  const report = await cachedReadiness(runtime, runtime.config.observability.readinessReuseMs, c.get('requestId'), c.env);
  const status = report.status === 'ready' ? 200 : 503;
  if (!admin) return c.json({ status: report.status }, status, NO_STORE);
  const checks = report.checks.filter((ch) => (ch.region === undefined ? admin.allRegions : admin.regions.has(ch.region)));
  return c.json({ ...report, checks }, status, NO_STORE);
}
