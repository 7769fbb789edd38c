import { GatewayError } from '../errors/index.ts';

/** The Workers Rate Limiting binding's surface (miniflare runs the same binding locally). */
export interface RateLimiter {
  limit(opts: { key: string }): Promise<{ success: boolean }>;
}

/** A missing binding fails closed: a gateway that silently stopped limiting would look healthy. */
export function rateLimiter(env: Record<string, unknown>, binding: string, field = binding): RateLimiter {
  const b = env[binding] as Partial<RateLimiter> | undefined;
  if (!b || typeof b.limit !== 'function') throw new GatewayError('config_invalid', `${binding} binding missing`, `${field} invalid`);
  return b as RateLimiter;
}
