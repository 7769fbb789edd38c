/**
 * Central's /auth/* answers only requests that came through the gateway: each must carry
 * the gateway's assertion signed with central's own key over method, path and query, the
 * request id and the client's address as the platform reported it to the gateway. That
 * address is what central's own failure limits count by. Checked before the body is read,
 * so a direct call costs no query and no password work.
 */
import type { MiddlewareHandler } from 'hono';
import { ASSERTION_HEADER, centralRequest, clientFromHeaders, verifyAssertion, type AssertionKeyRing, type CentralClient } from '../../src/identity-assertion/index.ts';
import { HttpError } from '../http/errors.ts';
import { requestTarget } from '../http/request-target.ts';

export type GatewayClientEnv = { Variables: { client: CentralClient } };

export function requireGatewayClient(ring: AssertionKeyRing): MiddlewareHandler<GatewayClientEnv> {
  if (ring.keys.length === 0) throw new Error('central needs its assertion key ring');
  return async (c, next) => {
    const client = clientFromHeaders(c.req.raw.headers);
    const check = await verifyAssertion(c.req.header(ASSERTION_HEADER), centralRequest(c.req.method, requestTarget(c.req.url, c.env), client), ring);
    if (!check.ok) throw new HttpError(401, 'gateway_assertion_required', `requests must come through the gateway (assertion ${check.reason})`);
    if (!client.requestId) throw new HttpError(401, 'gateway_assertion_required', 'asserted request id is missing');
    c.set('client', client);
    await next();
  };
}
