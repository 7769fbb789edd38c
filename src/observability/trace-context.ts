/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): a caller's `traceparent`
 * is continued (same trace id, the caller's span becomes our parent), a missing or
 * invalid one starts a new trace. The gateway is one span; origins get a
 * `traceparent` naming that span as their parent, so their logs join the trace.
 */

export interface TraceContext {
  readonly traceId: string;
  /** The gateway's own span for this request. */
  readonly spanId: string;
  /** The caller's span, when the caller sent a valid traceparent. */
  readonly parentSpanId: string | undefined;
  readonly flags: string;
  /** Passed on unchanged, only alongside a valid incoming traceparent (spec §3.3.1). */
  readonly tracestate: string | undefined;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);
/** tracestate: at most 32 members (spec §3.3.1.1); a longer header is not passed on. */
const MAX_TRACESTATE_BYTES = 512;

export function parseTraceparent(header: string | null): { traceId: string; parentSpanId: string; flags: string } | null {
  if (header === null || header.length > 256) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, parentSpanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff') return null;
  // Version 00 has exactly four fields; a later version may append more (spec §4.3).
  if (version === '00' && rest !== undefined) return null;
  if (traceId === ZERO_TRACE || parentSpanId === ZERO_SPAN) return null;
  return { traceId, parentSpanId, flags };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += HEX[b[i]!];
  return s;
}

export function traceContextFrom(headers: Headers): TraceContext {
  const incoming = parseTraceparent(headers.get('traceparent'));
  // One draw for the span id (8 bytes) and, when a trace starts here, the trace id (16 bytes).
  const random = crypto.getRandomValues(new Uint8Array(incoming ? 8 : 24));
  const spanId = hex(random, 0, 8);
  if (!incoming) {
    // Sampled by default: the gateway logs every request anyway.
    return { traceId: hex(random, 8, 24), spanId, parentSpanId: undefined, flags: '01', tracestate: undefined };
  }
  const ts = headers.get('tracestate');
  return {
    traceId: incoming.traceId,
    spanId,
    parentSpanId: incoming.parentSpanId,
    flags: incoming.flags,
    tracestate: ts !== null && ts.length <= MAX_TRACESTATE_BYTES ? ts : undefined,
  };
}

/** The traceparent an origin receives: our span is its parent. */
export function outgoingTraceparent(t: TraceContext): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}
