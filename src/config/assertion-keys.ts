/**
 * GATEWAY_ASSERTION_KEYS (a secret): one identity-assertion key ring per region and one for
 * the central region, `{ "<region>" | "central": [{ "kid": "...", "secret": "..." }, ...] }`.
 * The first key of a ring signs; a verifier accepts every key of its own ring (at most two,
 * for a rotation). No secret may serve two rings: a key that leaks from one region must not
 * vouch for requests to another. Errors name the ring and position, never a secret.
 */
import { z } from 'zod';
import { CENTRAL_AUDIENCE, KEY_ID, MAX_KEYS_PER_RING, MIN_SECRET_LENGTH } from '../identity-assertion/index.ts';
import { jsonish } from './env-values.ts';

export interface AssertionKeyConfig {
  readonly kid: string;
  /** Secret: never logged, never in an error. */
  readonly secret: string;
}

const keySchema = z.strictObject({
  kid: z.string().regex(KEY_ID, 'key ids are 1-64 characters of A-Z a-z 0-9 _ -'),
  secret: z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters`),
});

export const assertionKeysSchema = jsonish(
  z.record(
    z.string(),
    z
      .array(keySchema)
      .min(1)
      .max(MAX_KEYS_PER_RING, `at most ${MAX_KEYS_PER_RING} keys (the current one and one being rotated)`)
      .refine((ring) => new Set(ring.map((k) => k.kid)).size === ring.length, 'key ids in a ring must differ'),
  ),
);

/** Every region and central have a ring and no secret is shared (a ring for a region not configured yet is allowed: it is how a region is added). */
export function checkAssertionKeys(keys: Record<string, readonly AssertionKeyConfig[]>, regions: readonly string[], ctx: z.RefinementCtx): void {
  const field = 'GATEWAY_ASSERTION_KEYS';
  const wanted = [...regions, CENTRAL_AUDIENCE];
  for (const name of wanted) {
    if (!Object.hasOwn(keys, name)) ctx.addIssue({ code: 'custom', path: [field, name], message: 'missing: every region and central need their own key' });
  }
  const owner = new Map<string, string>();
  for (const [name, ring] of Object.entries(keys)) {
    ring.forEach((k, i) => {
      const other = owner.get(k.secret);
      if (other !== undefined && other !== name) {
        ctx.addIssue({ code: 'custom', path: [field, name, i, 'secret'], message: `is also used by ${other}: each region needs its own key` });
      }
      owner.set(k.secret, name);
    });
  }
}
