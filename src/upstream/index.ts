/**
 * Where a request goes. An upstream is always one of the configured origins; a
 * request's own URL only ever contributes its path and query.
 */
import type { GatewayConfig, RegionConfig } from '../config/index.ts';

export interface Upstream {
  readonly kind: 'central' | 'region';
  /** A configured name, safe to log. */
  readonly name: string;
  readonly origin: string;
  /** Same-zone standby origins, tried in order when the primary is down (see src/resilience). */
  readonly standbys: readonly string[];
  /** The primary, then the standbys: every origin that may answer for this upstream. */
  readonly origins: readonly string[];
}

// Upstreams depend only on the (per-isolate, immutable) config: built once per region, not per request.
const regionUpstreams = new WeakMap<RegionConfig, Upstream>();
const centralUpstreams = new WeakMap<GatewayConfig, Upstream>();

function upstream(kind: Upstream['kind'], name: string, origin: string, standbys: readonly string[]): Upstream {
  return Object.freeze({ kind, name, origin, standbys: Object.freeze([...standbys]), origins: Object.freeze([origin, ...standbys]) });
}

export function centralUpstream(config: GatewayConfig): Upstream {
  let u = centralUpstreams.get(config);
  if (!u) centralUpstreams.set(config, (u = upstream('central', 'central', config.centralOrigin, [])));
  return u;
}

export function regionUpstream(region: RegionConfig): Upstream {
  let u = regionUpstreams.get(region);
  if (!u) regionUpstreams.set(region, (u = upstream('region', region.name, region.origin, region.standbys.map((s) => s.origin))));
  return u;
}

/** The request's path and query, as sent to whichever origin answers. */
export function pathAndQuery(incoming: URL): string {
  return incoming.pathname + incoming.search;
}

/**
 * The outbound URL on one of the upstream's origins. A configured origin is scheme://host[:port]
 * only (src/config) and a parsed pathname always starts with `/`, so the host can never change
 * (a `//host/...` path stays a path on our origin).
 */
export function targetHref(origin: string, pathAndQuery: string): string {
  return origin + pathAndQuery;
}

/** The outbound URL as a URL object (for the WebSocket path). */
export function targetUrl(upstream: Upstream, incoming: URL): URL {
  return new URL(targetHref(upstream.origin, pathAndQuery(incoming)));
}
