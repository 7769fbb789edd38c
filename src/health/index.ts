/**
 * Health endpoints for load balancers and people, both JSON and `no-store`:
 *  - GET /healthz: the gateway itself (its config parses); never calls anything upstream.
 *  - GET /readyz: every readiness probe (key set loaded, each origin reachable, ...),
 *    bounded by READINESS_TIMEOUT_MS, reused for READINESS_REUSE_MS; 200 when every
 *    critical probe passes, 503 otherwise.
 * Neither says more than a load balancer needs: no URLs, no error text.
 */
import type { Context } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { getRuntime } from '../runtime/index.ts';
import { cachedReadiness } from './probes.ts';


export { cachedReadiness, probesFor, runProbes, PROBE_FACTORIES, type Probe, type ProbeContext, type ProbeFactory, type ReadinessReport, type CheckResult } from './probes.ts';

const NO_STORE = { 'cache-control': 'no-store' };

export async function healthz(c: Context<GatewayEnv>): Promise<Response> {
  c.get('obs').internal = true;
  const r = await getRuntime(c.env);
  // Invalid config is the one thing that makes the gateway itself unhealthy: it would refuse every request.
  return r.ok
    ? c.json({ status: 'ok', config: 'valid' }, 200, NO_STORE)
    : c.json({ status: 'unhealthy', config: 'invalid' }, 503, NO_STORE);
}

export async function readyz(c: Context<GatewayEnv>): Promise<Response> {
  c.get('obs').internal = true;
  const runtime = c.get('runtime');
  // /readyz is public: reusing a fresh report (per isolate) bounds the fan-out to origins whatever the request rate.
  const report = await cachedReadiness(runtime, runtime.config.observability.readinessReuseMs, c.get('requestId'));
  return c.json(report, report.status === 'ready' ? 200 : 503, NO_STORE);
}
