/**
 * Request body limit (BODY_MAX_BYTES), enforced on the bytes actually received, never on what
 * `Content-Length` claims:
 *   - a declared length over the limit (or a malformed one) is refused before any subrequest;
 *   - every body is counted while it streams to the origin; the chunk that crosses the limit
 *     errors the stream, so the upload is aborted (the origin never receives a complete body)
 *     and the client gets 413 instead of whatever the failed fetch produced.
 * Bodies stay streamed: nothing is buffered here.
 */
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../app.ts';
import { errorResponse, GatewayError } from '../errors/index.ts';

const DECIMAL = /^\d{1,16}$/;

/** Wraps a body so it errors once more than `max` bytes have passed; `tripped()` says whether it did. */
export function countedBody(body: ReadableStream<Uint8Array>, max: number): { body: ReadableStream<Uint8Array>; tripped: () => boolean } {
  let seen = 0;
  let over = false;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > max) {
        over = true;
        controller.error(new GatewayError('payload_too_large', `body passed ${max} bytes while streaming`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
  return { body: body.pipeThrough(counter), tripped: () => over };
}

export const bodyLimit = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const req = c.req.raw;
  if (req.body === null) return next();
  const max = c.get('runtime').config.bodyMaxBytes;
  const declared = req.headers.get('content-length');
  if (declared !== null) {
    if (!DECIMAL.test(declared)) throw new GatewayError('invalid_request', 'content-length malformed', 'Content-Length is malformed.');
    if (Number(declared) > max) throw new GatewayError('payload_too_large', `declared ${declared} > ${max}`);
  }
  const counted = countedBody(req.body, max);
  c.req.raw = new Request(req, { body: counted.body });
  await next();
  if (counted.tripped()) {
    // The failed upload surfaced as some other error (or an early origin answer): the real cause is the size.
    const err = new GatewayError('payload_too_large', `body passed ${max} bytes while streaming`);
    c.set('error', err);
    c.res = undefined;
    c.res = errorResponse(err, c.get('requestId'));
  }
};
