import { outgoingTraceparent, round, type Observation } from '../observability/index.ts';
import { requestUrl, type GatewayContext } from '../gateway-env/index.ts';
import type { Upstream } from '../upstream/index.ts';
import { clientAddress } from '../client-address/index.ts';
import { forward, type ForwardOptions } from './index.ts';

export type ObservedForwardOptions = Omit<ForwardOptions, 'requestId' | 'trace' | 'onServed' | 'clientIp' | 'headerRule' | 'clientRequestId'> & { upstream: Upstream };

/** Forwards the context's request, recording the upstream and its latency, and carrying the trace to the origin. */
export async function forwardObserved(c: GatewayContext, opts: ObservedForwardOptions): Promise<Response> {
  const obs = c.get('obs');
  const upstream: NonNullable<Observation['upstream']> = { kind: opts.upstream.kind, name: opts.upstream.name };
  obs.upstream = upstream;
  const trace = { traceparent: outgoingTraceparent(obs.trace), tracestate: obs.trace.tracestate };
  const onServed = (s: { origin: string; attempts: number }) => {
    upstream.target = s.origin;
    upstream.attempts = s.attempts;
  };
  // Timed here rather than through timed(): one async layer less on every forwarded request.
  const t = performance.now();
  try {
    return await forward(c.req.raw, requestUrl(c), {
      ...opts,
      requestId: c.get('requestId'),
      clientRequestId: obs.clientRequestId,
      clientIp: clientAddress(c.req.raw.headers),
      headerRule: c.get('runtime').headerRule,
      trace,
      onServed,
    });
  } finally {
    obs.upstreamMs = round(performance.now() - t);
  }
}
