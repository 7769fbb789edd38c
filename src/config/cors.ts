/**
 * Browser access from other origins (src/cors): which origins may read the gateway's
 * responses. Part of the one config schema (src/config/index.ts spreads these fields in).
 */
import { z } from 'zod';
import { booleanish, numberish } from './env-values.ts';
import { originUrl } from './origin.ts';

/** Origins in CORS_ALLOWED_ORIGINS at most: an allowlist longer than this is a wildcard in disguise. */
export const MAX_CORS_ORIGINS = 50;

/**
 * One allowed origin, stored in the form browsers send in `Origin`, so the check at request time
 * is one exact comparison. No wildcards or patterns of any kind: a pattern is where suffix and
 * prefix tricks (`https://app.example.com.evil.com`) get in.
 */
const allowedOrigin = z
  .string()
  .refine((s) => !s.includes('*'), { message: 'must list exact origins; a wildcard would let every site read responses', abort: true })
  .pipe(originUrl);

/** A JSON array (wrangler.toml, or a JSON string) or a comma-separated string (.env files); empty = none. */
const originList = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  const s = v.trim();
  if (s.startsWith('[')) {
    try {
      return JSON.parse(s);
    } catch {
      return v; // the schema then reports "expected array"
    }
  }
  return s === '' ? [] : s.split(',').map((o) => o.trim()).filter((o) => o !== '');
}, z.array(allowedOrigin).max(MAX_CORS_ORIGINS));

export const corsEnvFields = {
  /** Exact origins whose pages may call the gateway from a browser; empty (the default) turns CORS off. */
  CORS_ALLOWED_ORIGINS: originList.default([]),
  /** Let browsers send cookies along (`Access-Control-Allow-Credentials`); bearer tokens do not need it. */
  CORS_ALLOW_CREDENTIALS: booleanish.default(false),
  /** How long a browser may reuse a preflight answer (Chromium caps this at 7200 s). */
  CORS_MAX_AGE_SECONDS: numberish(0, 86_400).default(600),
};

export interface CorsConfig {
  /** In the form browsers send in `Origin`; a request's Origin is allowed only if it is one of these exactly. */
  readonly allowedOrigins: ReadonlySet<string>;
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
}

/** Undefined when no origin is allowed: CORS is off and the middleware steps aside. */
export function buildCors(e: { CORS_ALLOWED_ORIGINS: string[]; CORS_ALLOW_CREDENTIALS: boolean; CORS_MAX_AGE_SECONDS: number }): CorsConfig | undefined {
  if (e.CORS_ALLOWED_ORIGINS.length === 0) return undefined;
  return Object.freeze({
    allowedOrigins: new Set(e.CORS_ALLOWED_ORIGINS),
    allowCredentials: e.CORS_ALLOW_CREDENTIALS,
    maxAgeSeconds: e.CORS_MAX_AGE_SECONDS,
  });
}
