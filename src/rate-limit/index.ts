/**
 * Login and signup abuse control with the Workers Rate Limiting binding (configured in
 * wrangler.toml `[[ratelimits]]`; miniflare runs the same binding locally and in the tests):
 *   - per client IP (`CF-Connecting-IP`, which Cloudflare sets and a client cannot forge;
 *     X-Forwarded-For is never trusted), across signup and login;
 *   - per account (the lower-cased `email` of the JSON body), whichever IP it comes from.
 * Over either limit → 429 with Retry-After, and nothing reaches the central region.
 * A missing binding fails closed (config_invalid) rather than silently not limiting.
 */
import type { MiddlewareHandler } from 'hono';
import type { GatewayEnv } from '../gateway-env/index.ts';
import { readUpTo } from '../body-limit/index.ts';
import { GatewayError } from '../errors/index.ts';
import { rateLimiter } from './binding.ts';

export const IP_LIMITER_BINDING = 'AUTH_IP_RATE_LIMITER';
export const ACCOUNT_LIMITER_BINDING = 'AUTH_ACCOUNT_RATE_LIMITER';
/** Auth bodies are read (to find the account) before forwarding; they are small JSON, so capped low. */
export const AUTH_BODY_MAX_BYTES = 16 * 1024;
/** Longest email used as a limiter key (RFC 5321 path limit); longer ones are keyed by a prefix. */
const MAX_ACCOUNT_KEY = 320;

async function readBounded(req: Request, max: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > max) throw new GatewayError('payload_too_large', `auth body declared ${declared}`);
  if (req.body === null) return new Uint8Array();
  return readUpTo(req.body, max, 'auth body');
}

function accountOf(body: Uint8Array): string | undefined {
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(body));
    const email = (parsed as { email?: unknown } | null)?.email;
    if (typeof email !== 'string' || email.trim() === '') return undefined;
    return email.trim().toLowerCase().slice(0, MAX_ACCOUNT_KEY);
  } catch {
    return undefined; // the central app answers 400 for a bad body; the IP limit still applied
  }
}

export const authRateLimit = (): MiddlewareHandler<GatewayEnv> => async (c, next) => {
  const env = c.env;
  const retryAfter = String(c.get('runtime').config.rateLimitRetryAfterSeconds);
  const tooMany = (detail: string) => new GatewayError('rate_limited', detail, undefined, { 'retry-after': retryAfter });
  const ip = c.req.header('cf-connecting-ip') ?? 'unknown';
  if (!(await rateLimiter(env, IP_LIMITER_BINDING).limit({ key: `ip:${ip}` })).success) throw tooMany('per-IP auth limit');
  const body = await readBounded(c.req.raw, AUTH_BODY_MAX_BYTES);
  const account = accountOf(body);
  if (account !== undefined && !(await rateLimiter(env, ACCOUNT_LIMITER_BINDING).limit({ key: `account:${account}` })).success) {
    throw tooMany('per-account auth limit');
  }
  // The body was read to find the account; the forwarded request carries the same bytes.
  c.req.raw = new Request(c.req.raw, { body: c.req.raw.body === null ? null : body });
  await next();
};
