/**
 * Helpers for the fault tests: fresh controllable origins per test (from the fault lab that
 * globalSetup started) and a gateway bound to one fixed env object, so per-isolate state
 * (circuit breakers, the key set) lives across the calls of one test and no longer.
 */
import { createApp } from '../../../src/app.ts';
import { bindings } from '../helpers.ts';
import type { Fault } from '../../support/fault-origin.ts';

const LAB = bindings.TEST_FAULT_LAB!;

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  aborted: boolean;
}

export interface LabOrigin {
  url: string;
  fault(f: Fault): Promise<void>;
  seen(): Promise<SeenRequest[]>;
  close(): Promise<void>;
}

const opened: LabOrigin[] = [];

export async function labOrigin(kind: 'echo' | 'jwks' = 'echo', name?: string): Promise<LabOrigin> {
  const res = await fetch(`${LAB}/origins`, { method: 'POST', body: JSON.stringify({ kind, name }) });
  if (res.status !== 201) throw new Error(`fault lab: ${res.status} ${await res.text()}`);
  const { id, url } = (await res.json()) as { id: string; url: string };
  const o: LabOrigin = {
    url,
    async fault(f) {
      const r = await fetch(`${LAB}/origins/${id}/fault`, { method: 'PUT', body: JSON.stringify(f) });
      if (!r.ok) throw new Error(`fault lab: ${r.status} ${await r.text()}`);
    },
    async seen() {
      return (await fetch(`${LAB}/origins/${id}/requests`)).json();
    },
    async close() {
      await fetch(`${LAB}/origins/${id}`, { method: 'DELETE' });
    },
  };
  opened.push(o);
  return o;
}

/** Closes every origin this test file opened (use in afterEach). */
export async function closeLabOrigins(): Promise<void> {
  await Promise.all(opened.splice(0).map((o) => o.close()));
}

/** Fast defaults so fault tests finish quickly; each test overrides what it is about. */
export const FAST = {
  UPSTREAM_TIMEOUT_MS: '400',
  CENTRAL_TIMEOUT_MS: '400',
  JWKS_FETCH_TIMEOUT_MS: '400',
  RETRY_JITTER_MS: '10',
  BREAKER_FAILURE_THRESHOLD: '3',
  BREAKER_COOLDOWN_MS: '300',
};

export type Gateway = (path: string, init?: RequestInit) => Promise<Response>;

/** A gateway whose env (and so whose per-isolate runtime) is fixed for its lifetime. */
export function gatewayWith(overrides: Record<string, unknown>): Gateway {
  const app = createApp();
  const env = { ...bindings, ...FAST, ...overrides };
  return (path, init) => Promise.resolve(app.fetch(new Request(new URL(path, 'https://gateway.test'), init), env));
}

/** REGIONS for one region served by `origin` (and optional standbys), zone `eu`. */
export function euRegion(origin: string, standbys: string[] = []): string {
  return JSON.stringify({ 'eu-central-1': { origin, zone: 'eu', standbys: standbys.map((s) => ({ origin: s, zone: 'eu' })) } });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `check` holds (the origin learns of an abort a moment after the gateway gives up). */
export async function eventually(check: () => Promise<boolean>, attempts = 50): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await sleep(20);
  }
  return false;
}
