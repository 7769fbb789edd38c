/**
 * The control plane's settings, typed and checked in one place (the local world
 * and tests pass them to createCentralApp); a bad value throws at startup, naming the field.
 */
import { z } from 'zod';
import { PASSWORD_COSTS, type ScryptCost } from './passwords.ts';

export const DEFAULT_SESSION_LIFETIME_SECONDS = 12 * 3600;

const window = z.object({
  max: z.number().int().min(1).max(10_000),
  windowSeconds: z.number().int().min(1).max(86_400),
});

const schema = z
  .object({
    /** Where this control plane runs; staging and production refuse development shortcuts. */
    environment: z.enum(['development', 'test', 'staging', 'production']),
    /** `development` is a cheaper scrypt for the local world and tests only. */
    passwordHashing: z.enum(['owasp', 'development']).default('owasp'),
    /** Absolute session lifetime from sign-in (`auth_time`): refresh and exchange stop after it. */
    sessionLifetimeSeconds: z.number().int().min(300).max(30 * 86_400).default(DEFAULT_SESSION_LIFETIME_SECONDS),
    /** Failed logins and refreshes per client address, and failed logins per account, before 429. */
    failedAuthPerIp: window.default({ max: 50, windowSeconds: 900 }),
    failedAuthPerAccount: window.default({ max: 10, windowSeconds: 900 }),
  })
  .refine((c) => c.passwordHashing === 'owasp' || c.environment === 'development' || c.environment === 'test', {
    path: ['passwordHashing'],
    message: 'development password hashing is refused outside development and test',
  });

export type CentralConfigInput = z.input<typeof schema>;
export type CentralConfig = z.output<typeof schema> & { passwordCost: ScryptCost };

export function parseCentralConfig(input: CentralConfigInput): CentralConfig {
  const r = schema.safeParse(input);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new Error(`central config: ${first.path.join('.') || '(root)'}: ${first.message}`);
  }
  return { ...r.data, passwordCost: PASSWORD_COSTS[r.data.passwordHashing] };
}
