/**
 * The live status page at /admin/status: regions, their readiness and lag,
 * requests per region over the last minutes, and the latest routing decisions.
 *
 * The page (HTML, CSS, JS; no framework, no third-party code) is a static shell
 * and carries no data, so a browser can open it without credentials; its script
 * reads an admin token (from the URL fragment, which never reaches a server, or
 * typed in) and polls /admin/status.json with it. Only the JSON is behind
 * requireAdmin. Traffic numbers are this isolate's (see observability/recent.ts).
 */
import type { Context, Hono } from 'hono';
import { requireAdmin } from '../admin-auth/index.ts';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { cachedReadiness } from '../health/index.ts';
import { BUCKET_SECONDS, WINDOW_BUCKETS, type RecentTraffic } from '../observability/recent.ts';
import { STATUS_CSS, STATUS_HTML, STATUS_JS } from './assets.ts';

/** Probes are shared by all status polls of an isolate for this long, so a page never hammers origins. */
export const STATUS_PROBE_MAX_AGE_MS = 5000;
/** How often the page polls (sent to it in the JSON so the two never drift). */
export const STATUS_POLL_MS = 2000;

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

function asset(body: string, type: string) {
  return (c: Context<GatewayEnv>) => {
    c.get('obs').internal = true;
    return c.body(body, 200, { ...PAGE_HEADERS, 'content-type': type });
  };
}

export function statusRoutes(app: Hono<GatewayEnv>, recent: RecentTraffic): void {
  app.get('/admin/status', asset(STATUS_HTML, 'text/html; charset=utf-8'));
  app.get('/admin/status.js', asset(STATUS_JS, 'text/javascript; charset=utf-8'));
  app.get('/admin/status.css', asset(STATUS_CSS, 'text/css; charset=utf-8'));
  app.get('/admin/status.json', async (c, next) => {
    c.get('obs').internal = true;
    await next();
  }, requireAdmin(), async (c) => {
    const runtime = c.get('runtime');
    const admin = c.get('admin');
    const report = await cachedReadiness(runtime, STATUS_PROBE_MAX_AGE_MS, c.get('requestId'), c.env);
    // An admin sees only the regions in admin_regions; central and unrouted traffic only an admin of every region.
    const regionNames = [...runtime.config.regions.keys()].filter((r) => admin.regions.has(r));
    const series = new Map(recent.traffic([...regionNames, 'central']).map((s) => [s.name, s]));
    const checksFor = (region: string | undefined) => report.checks.filter((ch) => ch.region === region);
    const view = (name: string, kind: 'region' | 'central') => {
      const checks = kind === 'central' ? report.checks.filter((ch) => ch.name === 'origin:central' || ch.name === 'database:control_plane') : checksFor(name);
      const lag = checks.find((ch) => ch.kind === 'replica_lag');
      return {
        name,
        kind,
        healthy: checks.length > 0 && checks.every((ch) => ch.ok),
        checks,
        // null while the region has no replica probe.
        lagSeconds: lag?.lagSeconds ?? null,
        traffic: series.get(name),
      };
    };
    return c.json(
      {
        generatedAt: new Date().toISOString(),
        pollMs: STATUS_POLL_MS,
        scope: 'isolate',
        isolate: { startedAt: recent.startedAt, served: admin.allRegions ? recent.served : null },
        window: { bucketSeconds: BUCKET_SECONDS, buckets: WINDOW_BUCKETS },
        readiness: { status: report.status, checkedAt: report.checkedAt, keySet: report.checks.find((ch) => ch.kind === 'key_set') },
        regions: [...regionNames.map((n) => view(n, 'region')), ...(admin.allRegions ? [view('central', 'central')] : [])],
        refused: admin.allRegions ? (series.get('none') ?? null) : null,
        limitedTenants: recent.limitedTenants().filter((t) => (t.region === undefined ? admin.allRegions : admin.regions.has(t.region))),
        decisions: recent.latestDecisions().filter((d) => (d.region === undefined ? admin.allRegions : admin.regions.has(d.region))),
      },
      200,
      { 'cache-control': 'no-store' },
    );
  });
}
