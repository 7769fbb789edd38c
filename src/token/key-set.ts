/**
 * The verification keys: a JWKS fetched from the central region (cached per isolate
 * with a TTL, refreshed at most once per cooldown when an unknown `kid` shows up,
 * never fetched per request) or static keys from config. Keys are imported once
 * per fetch, never per request.
 *
 * Key server outage: keys already held keep verifying tokens (signatures are still
 * checked, always) until `maxStalenessMs` after the last successful fetch. Past that cap,
 * or when no key was ever fetched, lookups answer `key_set_unavailable` (503, not 401:
 * our outage must not log clients out). While the JWKS endpoint is failing it is asked
 * at most once per cooldown (at least once a second), each attempt bounded by `fetchTimeoutMs`:
 * only the requests that meet such an attempt wait for it, and at most that long.
 */
import { importJWK, type JWK } from 'jose';

export type KeyLookup =
  | { ok: true; key: CryptoKey | Uint8Array }
  | { ok: false; reason: 'unknown_kid' | 'ambiguous_kid' | 'alg_mismatch' | 'key_set_unavailable' };

interface ImportedKey {
  kid: string | undefined;
  alg: string;
  key: CryptoKey | Uint8Array;
}

export interface KeySetOptions {
  jwksUrl?: string;
  staticKeys?: { keys: Array<Record<string, unknown>> };
  algorithms: readonly string[];
  ttlMs: number;
  cooldownMs: number;
  /** Held keys stay usable this long after the last successful fetch (the staleness cap). */
  maxStalenessMs?: number;
  fetchTimeoutMs?: number;
  now?: () => number;
}

/**
 * The shortest refetch cooldown, whatever the options say: without it every unknown `kid`
 * would be a JWKS fetch (a flood of random kids = a flood at the key server). Also the
 * least time the endpoint is left alone after a failed fetch.
 */
export const MIN_REFRESH_COOLDOWN_MS = 1000;
export const DEFAULT_JWKS_FETCH_TIMEOUT_MS = 3000;

/** An alg a key may be used with: its own `alg`, or the one its curve implies. */
function keyAlgorithm(jwk: Record<string, unknown>): string | undefined {
  if (typeof jwk.alg === 'string') return jwk.alg;
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') return 'ES384';
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  return undefined; // RSA keys must say which alg they are for
}

/** The parameters that make a public key what it is (RFC 7638 members, plus kid and alg). */
const KEY_MEMBERS = ['kid', 'alg', 'kty', 'crv', 'x', 'y', 'n', 'e'] as const;

async function importKeys(jwks: unknown, algorithms: readonly string[]): Promise<{ keys: ImportedKey[]; fingerprint: string }> {
  if (!jwks || typeof jwks !== 'object' || !Array.isArray((jwks as { keys?: unknown }).keys)) {
    throw new Error('JWKS has no keys array');
  }
  const out: ImportedKey[] = [];
  const members: string[] = [];
  for (const jwk of (jwks as { keys: unknown[] }).keys) {
    if (!jwk || typeof jwk !== 'object') continue;
    const k = jwk as Record<string, unknown>;
    if (k.use !== undefined && k.use !== 'sig') continue;
    if ('d' in k || 'k' in k) continue; // private or symmetric material is never a verification key
    const alg = keyAlgorithm(k);
    if (!alg || !algorithms.includes(alg)) continue;
    try {
      const key = await importJWK(k as JWK, alg);
      out.push({ kid: typeof k.kid === 'string' ? k.kid : undefined, alg, key });
      members.push(JSON.stringify(KEY_MEMBERS.map((m) => (m === 'alg' ? alg : (k[m] ?? null)))));
    } catch {
      // An unusable key is skipped; tokens naming it fail as unknown_kid.
    }
  }
  // Order-insensitive: a key server that reorders its keys has not changed them.
  return { keys: out, fingerprint: members.sort().join('\n') };
}

export class KeySet {
  private keys: ImportedKey[] = [];
  private loadedAt = Number.NEGATIVE_INFINITY;
  private lastFetchAttempt = Number.NEGATIVE_INFINITY;
  private lastFetchFailed = false;
  private inflight: { promise: Promise<void>; startedAt: number; token: object } | undefined;
  private readonly now: () => number;
  private readonly fetchTimeoutMs: number;
  private readonly maxStalenessMs: number;
  /** Bumped only when a fetch brings a different set of usable keys; caches of verified tokens key on it. */
  generation = 0;
  /** The usable keys of the last fetch, canonically: a refetch of the same set changes nothing. */
  private fingerprint: string | undefined;
  private readonly cooldownMs: number;

  constructor(private readonly opts: KeySetOptions) {
    this.now = opts.now ?? Date.now;
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? DEFAULT_JWKS_FETCH_TIMEOUT_MS;
    this.maxStalenessMs = Math.max(opts.maxStalenessMs ?? opts.ttlMs, opts.ttlMs);
    this.cooldownMs = Math.max(opts.cooldownMs, MIN_REFRESH_COOLDOWN_MS);
  }

  static async create(opts: KeySetOptions): Promise<KeySet> {
    const ks = new KeySet(opts);
    if (opts.staticKeys) {
      ks.keys = (await importKeys(opts.staticKeys, opts.algorithms)).keys;
      ks.loadedAt = Number.POSITIVE_INFINITY;
    }
    return ks;
  }

  /** Number of JWKS fetches started (observable by tests and metrics). */
  fetchCount = 0;
  /** Why the last fetch failed, for logs. */
  lastError: string | undefined;

  private get backoffMs(): number {
    return this.cooldownMs;
  }

  /**
   * Whether the JWKS endpoint may be asked now. After a failure: once per cooldown (or failure
   * backoff). Otherwise an expired TTL is always due, and an unknown kid waits out the cooldown.
   */
  private mayFetch(now: number, why: 'ttl' | 'unknown_kid'): boolean {
    if (why === 'ttl' && !this.lastFetchFailed) return true;
    return now - this.lastFetchAttempt >= this.backoffMs;
  }

  /** Held keys that are still inside the staleness cap. */
  private usable(now: number): boolean {
    return this.keys.length > 0 && now - this.loadedAt <= this.maxStalenessMs;
  }

  /** Seconds a client should wait before a retry can meet a fresh fetch attempt (for Retry-After). */
  retryAfterSeconds(): number {
    const wait = this.lastFetchAttempt + this.backoffMs - this.now();
    return Math.max(1, Math.ceil(wait / 1000));
  }

  private refresh(): Promise<void> {
    if (!this.opts.jwksUrl) return Promise.resolve();
    const now = this.now();
    // A refresh whose request was cancelled never settles; past its deadline it no longer blocks new ones.
    if (this.inflight && now - this.inflight.startedAt <= this.fetchTimeoutMs + 1000) return this.inflight.promise;
    const token = {};
    const promise = (async () => {
      this.lastFetchAttempt = now;
      this.fetchCount++;
      try {
        const res = await fetch(this.opts.jwksUrl!, {
          headers: { accept: 'application/json' },
          redirect: 'manual', // a redirect is a non-200 below: never followed
          signal: AbortSignal.timeout(this.fetchTimeoutMs),
        });
        if (!res.ok) throw new Error(`JWKS answered ${res.status}`);
        const { keys, fingerprint } = await importKeys(await res.json(), this.opts.algorithms);
        if (fingerprint !== this.fingerprint) {
          this.keys = keys;
          this.fingerprint = fingerprint;
          this.generation++;
        }
        this.loadedAt = this.now();
        this.lastError = undefined;
        this.lastFetchFailed = false;
      } catch (err) {
        this.lastError = (err as Error).message;
        this.lastFetchFailed = true;
        throw err;
      } finally {
        if (this.inflight?.token === token) this.inflight = undefined;
      }
    })();
    this.inflight = { promise, startedAt: now, token };
    return promise;
  }

  private find(kid: string | undefined, alg: string): KeyLookup {
    const candidates = kid === undefined ? this.keys : this.keys.filter((k) => k.kid === kid);
    if (candidates.length === 0) return { ok: false, reason: 'unknown_kid' };
    // Two keys under one kid: refuse rather than guess which one the issuer meant.
    if (kid !== undefined && candidates.length > 1) return { ok: false, reason: 'ambiguous_kid' };
    const usable = candidates.filter((k) => k.alg === alg);
    if (usable.length === 0) return { ok: false, reason: kid === undefined ? 'unknown_kid' : 'alg_mismatch' };
    if (usable.length > 1) return { ok: false, reason: 'ambiguous_kid' }; // no kid, several keys
    return { ok: true, key: usable[0]!.key };
  }

  async lookup(kid: string | undefined, alg: string): Promise<KeyLookup> {
    if (this.opts.staticKeys) return this.find(kid, alg);
    const now = this.now();
    if (now - this.loadedAt > this.opts.ttlMs) {
      // Due for a refresh (so a key removed from the JWKS stops working within the TTL). While
      // the key server is failing it is asked once per backoff, and held keys carry on to the cap.
      if (this.mayFetch(now, 'ttl')) await this.refresh().catch(() => undefined);
      if (!this.usable(this.now())) return { ok: false, reason: 'key_set_unavailable' };
    }
    const found = this.find(kid, alg);
    if (found.ok || found.reason !== 'unknown_kid') return found;
    // An unknown kid may be a freshly rotated key: ask the key server, at most once per cooldown.
    if (this.mayFetch(this.now(), 'unknown_kid')) await this.refresh().catch(() => undefined);
    // While the key server is failing we cannot tell a new key from a bogus one: that is our outage (503), not the caller's.
    if (this.lastFetchFailed) {
      const again = this.find(kid, alg);
      return again.ok || again.reason !== 'unknown_kid' ? again : { ok: false, reason: 'key_set_unavailable' };
    }
    return this.find(kid, alg);
  }

  /**
   * For /readyz: loads the set when it is not loaded or stale, under the same rules as
   * `lookup` (TTL, failure backoff), and says how many keys are usable now (0 past the
   * staleness cap, as lookups then fail too).
   */
  async readiness(): Promise<{ keys: number; lastError: string | undefined }> {
    const now = this.now();
    if (!this.opts.staticKeys && now - this.loadedAt > this.opts.ttlMs && this.mayFetch(now, 'ttl')) {
      try {
        await this.refresh();
      } catch {
        // Reported through lastError; keys still inside the staleness cap still count.
      }
    }
    return { keys: this.usable(this.now()) ? this.keys.length : 0, lastError: this.lastError };
  }
}
