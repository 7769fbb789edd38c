/**
 * Shared by the admin and relocation suites: the real-PostgreSQL world of
 * test/worker/global-setup-global.ts and its control server (seed pages, move tenants).
 */
import { bindings } from '../helpers.ts';

/** Why the real-PostgreSQL suites skip here, if they do (printed once per file by the caller). */
export const GLOBAL_SKIP = bindings.GLOBAL_SKIP;

/** GET (no body) or POST JSON to the control server; throws on a non-2xx answer. */
export async function control<T = unknown>(path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${bindings.TEST_GLOBAL_CONTROL!}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`control ${path}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** A fresh tenant id, so suites running at the same time never share tenants. */
export const newTenantId = () => `ws_${crypto.randomUUID().replace(/-/g, '').slice(0, 16)}`;
