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
}

export function centralUpstream(config: GatewayConfig): Upstream {
  return { kind: 'central', name: 'central', origin: config.centralOrigin, standbys: [] };
}

export function regionUpstream(region: RegionConfig): Upstream {
  return { kind: 'region', name: region.name, origin: region.origin, standbys: region.standbys.map((s) => s.origin) };
}

/** The outbound URL: the upstream's origin with the request's path and query. The host can never change. */
export function targetUrl(upstream: Upstream, incoming: URL): URL {
  const target = new URL(upstream.origin);
  // Setting pathname (not resolving a relative URL) keeps `//host/...` paths on our origin.
  target.pathname = incoming.pathname;
  target.search = incoming.search;
  return target;
}
