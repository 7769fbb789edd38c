/**
 * The rate limits a gateway is configured with must be the ones its bindings enforce: the policy
 * repeats the binding's limit and period (the binding cannot report them). Checked here for the
 * local world's generated config and wrangler.toml's top-level [vars] against the top-level
 * [[ratelimits]]; `npm run build:check` checks every deploy environment the same way.
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { unstable_readConfig } from 'wrangler';
import { z } from 'zod';
import { buildTrafficLimits, rateLimitBindingMismatches, trafficLimitEnvFields } from '../../src/config/traffic-limits.ts';
import { REPO_ROOT } from '../state.ts';
import { LOCAL_TENANT_RATE_LIMITS } from '../world.ts';

const wc = unstable_readConfig({ config: join(REPO_ROOT, 'wrangler.toml') });

/** The gateway's own schema for these fields (src/config validates them with the rest). */
const limitsOf = (env: Record<string, unknown>) => buildTrafficLimits(z.object(trafficLimitEnvFields).parse(env));

it("the local world's generated limits (300 per 10 s for api and data) are what wrangler.toml's bindings enforce", () => {
  const limits = limitsOf({ TENANT_RATE_LIMITS: JSON.stringify(LOCAL_TENANT_RATE_LIMITS) });
  expect(limits.rate?.api.tenant).toMatchObject({ limit: 300, period: 10 });
  expect(limits.rate?.data.tenant).toMatchObject({ limit: 300, period: 10 });
  expect(rateLimitBindingMismatches(limits, wc.ratelimits)).toEqual([]);
});

it("wrangler.toml's top-level [vars] agree with its top-level [[ratelimits]]", () => {
  expect(rateLimitBindingMismatches(limitsOf(wc.vars as Record<string, unknown>), wc.ratelimits)).toEqual([]);
});

it('a policy that disagrees with its binding, or names none, is reported by field', () => {
  const wrong = limitsOf({ TENANT_RATE_LIMITS: JSON.stringify({ ...LOCAL_TENANT_RATE_LIMITS, data: { tenant: { binding: 'TENANT_DATA_RATE_LIMITER', limit: 301, period: 10 } }, api: { tenant: { binding: 'NOPE', limit: 1, period: 10 } } }) });
  expect(rateLimitBindingMismatches(wrong, wc.ratelimits)).toEqual([
    'TENANT_RATE_LIMITS.api.tenant: binding NOPE is not declared in [[ratelimits]]',
    'TENANT_RATE_LIMITS.data.tenant: says 301 per 10 s, binding TENANT_DATA_RATE_LIMITER has 300 per 10 s',
  ]);
});
