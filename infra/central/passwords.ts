/**
 * Password hashing with scrypt (node:crypto): a memory-hard KDF with a random
 * salt per password, stored self-describing so the cost can be raised without
 * breaking old hashes:  scrypt$<N>$<r>$<p>$<salt b64url>$<hash b64url>
 *
 * The cost is OWASP's scrypt guidance (N=2^17, r=8, p=1: 128 MiB and a few
 * hundred ms per hash). A lower one exists for the local world and tests only,
 * chosen through the central config, which refuses it for staging and production.
 * A stored hash below the configured cost is re-hashed on the next successful login.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}

export const PASSWORD_COSTS = {
  owasp: { N: 2 ** 17, r: 8, p: 1 },
  development: { N: 2 ** 14, r: 8, p: 1 },
} as const satisfies Record<string, ScryptCost>;
export type PasswordCostName = keyof typeof PASSWORD_COSTS;

const KEY_LEN = 32;
/** The largest N a stored hash may ask for (8 GiB·r/8 of memory would be a denial of service). */
const MAX_STORED_N = 2 ** 20;
/**
 * Hashes running at once; more wait. At the OWASP cost each takes 128 MiB, so this
 * bounds the KDF's memory at 512 MiB however many logins arrive together.
 */
export const MAX_CONCURRENT_HASHES = 4;

let running = 0;
const waiting: Array<() => void> = [];
async function gated<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT_HASHES) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function derive(password: string, salt: Buffer, cost: ScryptCost, keyLen: number): Promise<Buffer> {
  return gated(
    () =>
      new Promise((resolve, reject) =>
        // Node's default maxmem (32 MiB) is below 128·N·r at the OWASP cost; allow that plus headroom.
        scrypt(password.normalize('NFKC'), salt, keyLen, { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 }, (err, key) =>
          err ? reject(err) : resolve(key),
        ),
      ),
  );
}

export async function hashPassword(password: string, cost: ScryptCost = PASSWORD_COSTS.owasp): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, cost, KEY_LEN);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface ParsedHash {
  cost: ScryptCost;
  salt: Buffer;
  expected: Buffer;
}

function parse(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isInteger(x) && x > 0) || N > MAX_STORED_N || r > 32 || p > 16) return undefined;
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (expected.length < 16) return undefined;
  return { cost: { N, r, p }, salt: Buffer.from(parts[4]!, 'base64url'), expected };
}

/** Constant-time in the hash comparison; false (never throws) for malformed stored values. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parse(stored);
  if (!h) return false;
  const actual = await derive(password, h.salt, h.cost, h.expected.length);
  return timingSafeEqual(actual, h.expected);
}

/** Whether a stored hash is weaker than `cost` (so it should be replaced after a successful login). */
export function needsRehash(stored: string, cost: ScryptCost): boolean {
  const h = parse(stored);
  return !h || h.cost.N < cost.N || h.cost.r < cost.r || h.cost.p < cost.p;
}

/** Spends the same work as a real check, for unknown users, so timing does not reveal which emails exist. */
const dummies = new Map<string, Promise<string>>();
export async function burnPasswordCheck(password: string, cost: ScryptCost = PASSWORD_COSTS.owasp): Promise<void> {
  const key = `${cost.N}:${cost.r}:${cost.p}`;
  let dummy = dummies.get(key);
  if (!dummy) dummies.set(key, (dummy = hashPassword('not-a-real-password', cost)));
  await verifyPassword(password, await dummy);
}
