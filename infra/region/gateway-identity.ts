/**
 * Regional apps trust identity only when the gateway vouches for it: the
 * identity headers must carry a valid `x-gateway-assertion` (HMAC with this
 * region's own key, over method, path+query, audience and the identity), and the
 * asserted region must be this app's own. Another region's key cannot vouch here.
 */
import type { MiddlewareHandler } from 'hono';
import { IDENTITY_HEADERS, identityFromHeaders, identityRequest, verifyAssertion, type AssertionKeyRing, type Identity } from '../../src/identity-assertion/index.ts';
import { HttpError } from '../http/errors.ts';
import { requestTarget } from '../http/request-target.ts';

export type IdentityEnv = { Variables: { identity: Identity } };

export function requireGatewayIdentity(ring: AssertionKeyRing, ownRegion: string): MiddlewareHandler<IdentityEnv> {
  return async (c, next) => {
    const id: Identity = identityFromHeaders(c.req.raw.headers);
    // The audience is this app's region whatever the headers say: an assertion for another region never verifies here.
    const check = await verifyAssertion(c.req.header(IDENTITY_HEADERS.assertion), { ...identityRequest(c.req.method, requestTarget(c.req.url, c.env), id), audience: ownRegion }, ring);
    if (!check.ok) {
      throw new HttpError(401, 'gateway_assertion_required', `requests must come through the gateway (assertion ${check.reason})`);
    }
    // A signed but empty identity is still no identity.
    if (!id.tenantId || !id.userId || !id.region) {
      throw new HttpError(401, 'gateway_assertion_required', 'asserted identity is incomplete');
    }
    if (id.region !== ownRegion) {
      throw new HttpError(421, 'wrong_region', `tenant region ${id.region} is not served here (${ownRegion})`);
    }
    c.set('identity', id);
    await next();
  };
}
