/**
 * Metrics through the Workers Analytics Engine binding (`METRICS`, declared in
 * wrangler.toml). One data point per request; the binding is optional and a
 * failing write never affects the request. The column order below is the schema
 * the SQL API sees (blob1..blob7, double1..double4): append, never reorder.
 */
import type { RequestRecord } from './record.ts';

export const METRICS_BINDING = 'METRICS';

export const METRIC_BLOBS = ['route', 'method', 'status_class', 'region', 'upstream_kind', 'error_code', 'tenant'] as const;
export const METRIC_DOUBLES = ['status', 'total_ms', 'verify_ms', 'upstream_ms'] as const;

export interface DataPoint {
  indexes: string[];
  blobs: string[];
  doubles: number[];
}

export interface MetricsDataset {
  writeDataPoint(point: DataPoint): void;
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

export function toDataPoint(r: RequestRecord): DataPoint {
  // The index is the sampling key: per region, so a busy region never drowns a quiet one.
  const region = r.region ?? (r.upstreamKind === 'central' ? 'central' : 'none');
  return {
    indexes: [region],
    blobs: [r.route, r.method, statusClass(r.status), region, r.upstreamKind ?? 'none', r.errorCode ?? '', r.tenant ?? ''],
    doubles: [r.status, r.totalMs, r.verifyMs ?? 0, r.upstreamMs ?? 0],
  };
}

export function datasetFrom(env: Record<string, unknown>): MetricsDataset | undefined {
  const d = env[METRICS_BINDING] as Partial<MetricsDataset> | undefined;
  return d && typeof d.writeDataPoint === 'function' ? (d as MetricsDataset) : undefined;
}

/** Never throws: metrics are best effort, the request is not. Returns whether a point was written. */
export function writeMetrics(dataset: MetricsDataset | undefined, r: RequestRecord): boolean {
  if (!dataset) return false;
  try {
    dataset.writeDataPoint(toDataPoint(r));
    return true;
  } catch (err) {
    console.error(JSON.stringify({ level: 'error', msg: 'metrics_write_failed', requestId: r.requestId, detail: (err as Error).message }));
    return false;
  }
}
