/**
 * Request body limit (BODY_MAX_BYTES), enforced on the bytes actually received, never on what
 * `Content-Length` claims:
 *   - a declared length over the limit (or a malformed one) is refused before any subrequest;
 *   - a body with a declared length within the limit streams to the origin, counted: more bytes
 *     than declared (or than the limit) error the stream, the upload is cut short of its declared
 *     length (so the origin sees an incomplete request) and the client gets 413/400;
 *   - a body without a declared length (chunked) is read up to the limit before the origin is
 *     called (over it → 413, nothing sent), then sent with its now-known length.
 */
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { errorResponse, GatewayError } from '../errors/index.ts';

const DECIMAL = /^\d{1,16}$/;

/**
 * Wraps a body so it errors as soon as more than `max` bytes have passed (413), or more or fewer
 * bytes than a declared Content-Length (400); `violation()` says which, if any.
 */
export function countedBody(
  body: ReadableStream<Uint8Array>,
  max: number,
  declared?: number,
): { body: ReadableStream<Uint8Array>; violation: () => GatewayError | undefined } {
  let seen = 0;
  let violation: GatewayError | undefined;
  const reader = body.getReader();
  // A pull stream (not pipeThrough) so a cut-off upload errors exactly once, on the consumer's side.
  const counted = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        if (declared !== undefined && seen !== declared) {
          violation = mismatch(declared);
          controller.error(violation);
        } else controller.close();
        return;
      }
      seen += value.byteLength;
      if (seen > max) violation = new GatewayError('payload_too_large', `body passed ${max} bytes while streaming`);
      else if (declared !== undefined && seen > declared) violation = mismatch(declared);
      if (violation) {
        controller.error(violation);
        reader.cancel(violation).catch(() => {});
      } else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { body: counted, violation: () => violation };
}

function mismatch(declared: number): GatewayError {
  return new GatewayError('invalid_request', `body length differs from content-length ${declared}`, 'The body does not match its Content-Length.');
}

/** Reads a whole body that has no declared length, refusing it once it passes `max` (nothing is sent meanwhile). */
/** Reads a whole body, refusing (413) as soon as more than `max` bytes have arrived; `what` names it in the log detail. */
export async function readUpTo(body: ReadableStream<Uint8Array>, max: number, what = 'undeclared body'): Promise<Uint8Array> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      reader.cancel().catch(() => {});
      throw new GatewayError('payload_too_large', `${what} passed ${max} bytes`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

export const bodyLimit = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const req = c.req.raw;
  if (req.body === null) return next();
  const max = c.get('runtime').config.bodyMaxBytes;
  const header = req.headers.get('content-length');
  if (header === null) {
    // No declared length: the origin would get it chunked, and a chunked upload cut off at the
    // limit still ends cleanly on the wire, so the origin could not tell it was truncated. Such a
    // body is therefore read (up to the limit, never more) before the origin is called.
    c.req.raw = new Request(req, { body: await readUpTo(req.body, max) });
    return next();
  }
  if (!DECIMAL.test(header)) throw new GatewayError('invalid_request', 'content-length malformed', 'Content-Length is malformed.');
  const declared = Number(header);
  if (declared > max) throw new GatewayError('payload_too_large', `declared ${declared} > ${max}`);
  // A declared length within the limit streams; the origin was told the length, so a body cut
  // short by the counter is visibly incomplete to it.
  const counted = countedBody(req.body, max, declared);
  // A FixedLengthStream makes the runtime send Content-Length (a plain stream goes out chunked,
  // and a chunked upload that is cut off still ends cleanly on the wire).
  const fixed = new FixedLengthStream(declared);
  counted.body.pipeTo(fixed.writable).catch(() => {}); // the error surfaces through `violation()`
  c.req.raw = new Request(req, { body: fixed.readable });
  await next();
  const violation = counted.violation();
  if (violation) {
    // The cut-off upload surfaced as some other error (or an early origin answer): report the real cause.
    c.set('error', violation);
    c.res = undefined;
    c.res = errorResponse(violation, c.get('requestId'));
  }
};
