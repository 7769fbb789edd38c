/**
 * How env values are read: wrangler.toml gives typed values, while .env files, `--var`
 * and dashboard secrets give strings. These accept both, so one schema serves every source.
 */
import { z } from 'zod';

/** JSON strings become values; anything else passes through to the schema. */
export function jsonish<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim();
    if (!(s.startsWith('{') || s.startsWith('['))) return v;
    try {
      return JSON.parse(s);
    } catch {
      return v; // the schema then reports "expected object/array"
    }
  }, schema);
}

/** An integer within [min, max], from a number or a numeric string. */
export const numberish = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), z.number().int().min(min).max(max));

/** A boolean, from a boolean or the strings "true"/"false". */
export const booleanish = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
