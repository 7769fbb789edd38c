/**
 * What the status page shows about traffic: per-region request counts in time
 * buckets over the last minutes, and the latest routing decisions. Kept in memory
 * per isolate (fixed-size ring buffers, no I/O, O(1) per request): each isolate
 * sees only the requests it served. That is exact under `wrangler dev` and the
 * local world (one isolate) and a sample in production, where Analytics Engine
 * (see metrics.ts) holds the fleet-wide numbers.
 */
import { LimitedTenants, type LimitedTenant } from './limited-tenants.ts';
import type { RequestRecord } from './record.ts';

export const BUCKET_SECONDS = 10;
export const WINDOW_BUCKETS = 30; // 5 minutes
export const RECENT_DECISIONS = 50;
/** Regions plus `central` and `none`; anything beyond is folded into `other` so memory stays bounded. */
export const MAX_TRACKED_UPSTREAMS = 32;

interface Bucket {
  start: number;
  count: number;
  clientErrors: number;
  serverErrors: number;
  latencySumMs: number;
  maxMs: number;
}

export interface Decision {
  at: string;
  requestId: string;
  traceId: string;
  method: string;
  route: string;
  path: string;
  tenant: string | undefined;
  region: string | undefined;
  upstream: string | undefined;
  /** `primary` or `standby N`. */
  target: string | undefined;
  status: number;
  errorCode: string | undefined;
  totalMs: number;
}

export interface TrafficSeries {
  name: string;
  /** Oldest first, WINDOW_BUCKETS entries, each BUCKET_SECONDS wide; the last is the current bucket. */
  buckets: Array<{ start: string; count: number; clientErrors: number; serverErrors: number; avgMs: number | null; maxMs: number }>;
  total: number;
  clientErrors: number;
  serverErrors: number;
  avgMs: number | null;
}

export class RecentTraffic {
  private readonly series = new Map<string, Bucket[]>();
  private readonly decisions: Array<Decision | undefined> = new Array(RECENT_DECISIONS);
  private next = 0;
  /** Set on the first request: outside a request workerd's clock reads 1970. */
  startedAt: string | undefined;
  served = 0;

  private readonly limited: LimitedTenants;

  constructor(private readonly now: () => number = Date.now) {
    this.limited = new LimitedTenants(now, BUCKET_SECONDS, WINDOW_BUCKETS);
  }

  record(r: RequestRecord): void {
    this.startedAt ??= r.ts;
    this.served++;
    if (r.internal) return;
    if (r.tenant !== undefined && (r.errorCode === 'rate_limited' || r.errorCode === 'tenant_busy')) this.limited.record(r.tenant, r.region, r.errorCode);
    const key = this.keyFor(r);
    let ring = this.series.get(key);
    if (!ring) {
      ring = Array.from({ length: WINDOW_BUCKETS }, () => ({ start: 0, count: 0, clientErrors: 0, serverErrors: 0, latencySumMs: 0, maxMs: 0 }));
      this.series.set(key, ring);
    }
    const start = this.bucketStart(this.now());
    const b = ring[(start / (BUCKET_SECONDS * 1000)) % WINDOW_BUCKETS]!;
    if (b.start !== start) Object.assign(b, { start, count: 0, clientErrors: 0, serverErrors: 0, latencySumMs: 0, maxMs: 0 });
    b.count++;
    if (r.status >= 500) b.serverErrors++;
    else if (r.status >= 400) b.clientErrors++;
    b.latencySumMs += r.totalMs;
    b.maxMs = Math.max(b.maxMs, r.totalMs);

    this.decisions[this.next] = {
      at: r.ts,
      requestId: r.requestId,
      traceId: r.traceId,
      method: r.method,
      route: r.route,
      path: r.path,
      tenant: r.tenant,
      region: r.region,
      upstream: r.upstreamName,
      target: r.upstreamTarget,
      status: r.status,
      errorCode: r.errorCode,
      totalMs: r.totalMs,
    };
    this.next = (this.next + 1) % RECENT_DECISIONS;
  }

  /** Tenants refused by their rate limit or in-flight bound within the window, most refused first. */
  limitedTenants(): LimitedTenant[] {
    return this.limited.list();
  }

  /** Newest first. */
  latestDecisions(): Decision[] {
    const out: Decision[] = [];
    for (let i = 1; i <= RECENT_DECISIONS; i++) {
      const d = this.decisions[(this.next - i + RECENT_DECISIONS) % RECENT_DECISIONS];
      if (d) out.push(d);
    }
    return out;
  }

  /** One series per upstream seen in the window (regions, `central`, `none` for requests refused before routing). */
  traffic(names: readonly string[] = []): TrafficSeries[] {
    const current = this.bucketStart(this.now());
    const step = BUCKET_SECONDS * 1000;
    const all = new Set([...names, ...this.series.keys()]);
    return [...all].map((name) => {
      const ring = this.series.get(name);
      const buckets: TrafficSeries['buckets'] = [];
      let total = 0, clientErrors = 0, serverErrors = 0, sum = 0;
      for (let i = WINDOW_BUCKETS - 1; i >= 0; i--) {
        const start = current - i * step;
        const b = ring?.[(start / step) % WINDOW_BUCKETS];
        const live = b && b.start === start ? b : undefined;
        buckets.push({
          start: new Date(start).toISOString(),
          count: live?.count ?? 0,
          clientErrors: live?.clientErrors ?? 0,
          serverErrors: live?.serverErrors ?? 0,
          avgMs: live && live.count > 0 ? Math.round(live.latencySumMs / live.count) : null,
          maxMs: live?.maxMs ?? 0,
        });
        if (live) {
          total += live.count;
          clientErrors += live.clientErrors;
          serverErrors += live.serverErrors;
          sum += live.latencySumMs;
        }
      }
      return { name, buckets, total, clientErrors, serverErrors, avgMs: total > 0 ? Math.round(sum / total) : null };
    });
  }

  private keyFor(r: RequestRecord): string {
    const key = r.region ?? (r.upstreamKind === 'central' ? 'central' : 'none');
    return this.series.has(key) || this.series.size < MAX_TRACKED_UPSTREAMS ? key : 'other';
  }

  private bucketStart(ms: number): number {
    const step = BUCKET_SECONDS * 1000;
    return Math.floor(ms / step) * step;
  }
}
