/**
 * .sandbox/state.json: where everything of a running local world is, for tests,
 * `npm run token` and humans. Contains the signing key and the assertion keys,
 * so it is written 0600 and only ever under the git-ignored sandbox directory.
 */
import { chmod, mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SigningJwk } from './auth/tokens.ts';

export const REPO_ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const DEFAULT_SANDBOX_DIR = join(REPO_ROOT, '.sandbox');

export interface DatabaseEndpoints {
  /** postgres:// URL of this database (PGlite wire server or real PostgreSQL). */
  databaseUrl: string;
  /** ws:// proxy to that database only (for @neondatabase/serverless). */
  wsProxyUrl: string;
}

export interface RegionEndpoints extends DatabaseEndpoints {
  originUrl: string;
}

export interface WorldState {
  worldId: string;
  startedAt: string;
  pid: number;
  dbMode: 'pglite' | 'postgres';
  /** null when started with gateway: false. */
  gatewayUrl: string | null;
  /** Process group of wrangler dev (and its workerd), null without a gateway. */
  gatewayPid: number | null;
  /** The browser client (infra/browser-client) on its own origin; null without a gateway. */
  clientUrl: string | null;
  centralUrl: string;
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** GATEWAY_ASSERTION_KEYS: a key ring per region and for central (secrets). */
  assertionKeys: Record<string, { kid: string; secret: string }[]>;
  regions: Record<string, RegionEndpoints>;
  central: DatabaseEndpoints & { region: string };
  /** The controller node (global view), postgres mode only: as superuser, and as the reporting role the gateway uses. */
  controller?: { databaseUrl: string; reporterUrl: string; wsProxyUrl: string } | null;
  signingKey: SigningJwk;
  sandboxDir: string;
}

export const statePath = (sandboxDir: string) => join(sandboxDir, 'state.json');

export async function writeState(sandboxDir: string, state: WorldState): Promise<string> {
  const path = statePath(sandboxDir);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path); // readers never see half a file
  return path;
}

export async function readState(sandboxDir = DEFAULT_SANDBOX_DIR): Promise<WorldState> {
  const path = statePath(sandboxDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new Error(`no local world state at ${path}: start one with \`npm run dev\``);
  }
  return JSON.parse(text) as WorldState;
}

/** A fresh sandbox directory under .sandbox/ for one test's world (.sandbox/ itself may not exist in a clean clone). */
export async function makeTestSandbox(prefix: string): Promise<string> {
  await mkdir(DEFAULT_SANDBOX_DIR, { recursive: true });
  return mkdtemp(join(DEFAULT_SANDBOX_DIR, prefix));
}
