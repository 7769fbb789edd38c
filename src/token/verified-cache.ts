/**
 * A bounded per-isolate cache of tokens that already passed full verification, as
 * Envoy's jwt_authn cache does: a hit skips the signature check (the costly part of
 * the hot path) and nothing else.
 *
 * - Keyed by the whole token string: a token altered in any byte is a different key,
 *   so a tampered token can never be a hit.
 * - An entry lives only as long as the token does: a hit re-checks `exp` and, when a
 *   maximum token age is set, `iat` (with the verifier's clock tolerance and jose's
 *   rules) and refuses a token that has expired or grown too old.
 * - Emptied whenever the key set's `generation` changes. A hit still asks the key set
 *   for the token's key (cheap, no crypto): that lets a stale JWKS refresh on its TTL
 *   exactly as it would without the cache, and a key that is gone turns the hit into a
 *   full verification.
 * - Bounded by entries and by total token characters; the least recently used entry
 *   is evicted first.
 */
import type { JWTHeaderParameters, JWTPayload } from 'jose';
import type { KeyLookup } from './key-set.ts';
import type { VerifyResult } from './verify.ts';

/** Default entry bound (config: JWT_VERIFIED_CACHE_SIZE). */
export const DEFAULT_VERIFIED_CACHE_ENTRIES = 4096;
/** Token characters held at most, whatever the entry bound: keeps the isolate's memory in check. */
export const VERIFIED_CACHE_MAX_TOKEN_CHARS = 4 * 1024 * 1024;

/** What the cache needs from the key set (the real KeySet satisfies it). */
export interface CacheableKeySet {
  readonly generation: number;
  lookup(kid: string | undefined, alg: string): Promise<KeyLookup>;
}

interface Entry {
  claims: JWTPayload;
  header: JWTHeaderParameters;
  /** `exp` in epoch seconds (required by the verifier, so always present on a verified token). */
  exp: number;
  /** `iat` in epoch seconds, when present. */
  iat: number | undefined;
}

export interface VerifiedCacheOptions {
  maxEntries?: number;
  maxTokenChars?: number;
  clockToleranceSeconds: number;
  /** The verifier's maximum token age (by `iat`); unset when it has none. */
  maxTokenAgeSeconds?: number;
  now?: () => number;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  private chars = 0;
  private generation: number | undefined;
  private readonly maxEntries: number;
  private readonly maxTokenChars: number;
  private readonly tolerance: number;
  private readonly maxTokenAge: number | undefined;
  private readonly now: () => number;
  /** Counters for tests and metrics. */
  hits = 0;
  misses = 0;

  constructor(opts: VerifiedCacheOptions) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_VERIFIED_CACHE_ENTRIES;
    this.maxTokenChars = opts.maxTokenChars ?? VERIFIED_CACHE_MAX_TOKEN_CHARS;
    this.tolerance = opts.clockToleranceSeconds;
    this.maxTokenAge = opts.maxTokenAgeSeconds;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Empties the cache if the key set changed since the entries were verified. */
  private sync(generation: number): void {
    if (this.generation === generation) return;
    this.entries.clear();
    this.chars = 0;
    this.generation = generation;
  }

  private delete(token: string): void {
    if (this.entries.delete(token)) this.chars -= token.length;
  }

  /**
   * The verify step with the cache in front of `verify` (the full check). Only a
   * successful full verification is stored; rejections are never cached.
   */
  async verify(token: string, keySet: CacheableKeySet, verify: () => Promise<VerifyResult>): Promise<VerifyResult> {
    if (this.maxEntries > 0) {
      const hit = await this.lookup(token, keySet);
      if (hit) return hit;
    }
    this.misses++;
    const generationBefore = keySet.generation;
    const result = await verify();
    // Store only if the key set did not change while we verified (else the entry could outlive its key).
    if (result.ok && this.maxEntries > 0 && keySet.generation === generationBefore) this.store(token, result, generationBefore);
    return result;
  }

  private async lookup(token: string, keySet: CacheableKeySet): Promise<VerifyResult | undefined> {
    this.sync(keySet.generation);
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    // jose's rules (whole seconds): expired when exp <= now - tolerance; too old when now - iat - tolerance > max age.
    const now = Math.floor(this.now() / 1000);
    const tooOld = this.maxTokenAge !== undefined && (entry.iat === undefined || now - entry.iat - this.tolerance > this.maxTokenAge);
    if (entry.exp <= now - this.tolerance || tooOld) {
      this.delete(token);
      this.hits++; // answered from the cache: refused without crypto
      const claim = tooOld ? 'iat' : 'exp';
      return { ok: false, reason: 'expired', detail: `cached token: "${claim}" claim timestamp check failed` };
    }
    // Lets a stale JWKS refresh on its TTL; a refresh bumps the generation and empties us.
    const key = await keySet.lookup(entry.header.kid, entry.header.alg);
    this.sync(keySet.generation);
    if (!key.ok || !this.entries.has(token)) {
      this.delete(token);
      return undefined; // full verification decides, with the current keys
    }
    // Most recently used goes last; eviction takes the first.
    this.entries.delete(token);
    this.entries.set(token, entry);
    this.hits++;
    return { ok: true, claims: entry.claims, header: entry.header };
  }

  private store(token: string, result: Extract<VerifyResult, { ok: true }>, generation: number): void {
    const { exp, iat } = result.claims;
    if (typeof exp !== 'number' || token.length > this.maxTokenChars) return;
    this.sync(generation);
    this.delete(token);
    while (this.entries.size > 0 && (this.entries.size >= this.maxEntries || this.chars + token.length > this.maxTokenChars)) {
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
    }
    // Frozen: a hit hands the same claims object to every request that presents this token.
    this.entries.set(token, { claims: Object.freeze({ ...result.claims }), header: Object.freeze({ ...result.header }), exp, iat: typeof iat === 'number' ? iat : undefined });
    this.chars += token.length;
  }
}
