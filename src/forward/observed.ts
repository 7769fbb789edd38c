import { outgoingTraceparent, timed, type Observation } from '../observability/index.ts';
import type { GatewayContext } from '../gateway-env/index.ts';
import type { Upstream } from '../upstream/index.ts';
import { clientAddress } from '../client-address/index.ts';
import { forward, type ForwardOptions } from './index.ts';

export type ObservedForwardOptions = Omit<ForwardOptions, 'requestId' | 'trace' | 'onServed' | 'clientIp' | 'headerRule' | 'clientRequestId'> & { upstream: Upstream };

/** Forwards the context's request, recording the upstream and its latency, and carrying the trace to the origin. */
export function forwardObserved(c: GatewayContext, opts: ObservedForwardOptions): Promise<Response> {
  const obs = c.get('obs');
  const upstream: NonNullable<Observation['upstream']> = { kind: opts.upstream.kind, name: opts.upstream.name };
  obs.upstream = upstream;
  const trace = { traceparent: outgoingTraceparent(obs.trace), tracestate: obs.trace.tracestate };
  const onServed = (s: { origin: string; attempts: number }) => {
    upstream.target = s.origin;
    upstream.attempts = s.attempts;
  };
  const clientIp = clientAddress(c.req.raw.headers);
  const headerRule = c.get('runtime').headerRule;
  return timed(obs, 'upstreamMs', () => forward(c.req.raw, new URL(c.req.url), { ...opts, requestId: c.get('requestId'), clientRequestId: obs.clientRequestId, clientIp, headerRule, trace, onServed }));
}
