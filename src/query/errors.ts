/**
 * Database failures → gateway errors. Only the SQLSTATE class decides; the
 * driver's message (which may quote SQL, values or hosts) goes to the log detail,
 * never to the client.
 */
import { GatewayError } from '../errors/index.ts';
import { TENANT_MOVING_RETRY_AFTER_SECONDS } from '../relocation/residency.ts';

// 22021/22P05: a character the database encoding cannot hold (validation refuses NUL first; this is the second wall).
const UNPROCESSABLE = new Set(['23503', '23514', '23502', '22P02', '22001', '22003', '22007', '22008', '22021', '22P05']);
// Transient server-side states: try again shortly.
const UNAVAILABLE = new Set(['53300', '57P01', '57P02', '57P03', '40001', '40P01', '55P03', '3D000', '28000', '28P01']);

/** Raised by the region's tenant_guard() (infra/sql/region/004_tenant_moves.sql). */
export const SQLSTATE_TENANT_RELOCATED = 'ETR01';
export const SQLSTATE_TENANT_MOVING = 'ETR02';

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * @param serverAnswered whether any protocol message came back on this connection: a read
 *   timeout from a server that never answered at all is "unreachable" (503), not a slow query (504).
 */
export function databaseError(err: unknown, where: string, retryAfterSeconds: number, serverAnswered = true): GatewayError {
  if (err instanceof GatewayError) return err;
  const state = sqlState(err);
  // WebSocket failures arrive as ErrorEvent objects, not Errors.
  const text = err instanceof Error ? err.message : (err as { message?: unknown } | null)?.message ?? (err as { type?: unknown } | null)?.type ?? String(err);
  const detail = `${where}: ${state ?? 'no sqlstate'} ${String(text)}`;
  const retry = { 'retry-after': String(retryAfterSeconds) };
  if (state === SQLSTATE_TENANT_RELOCATED) return new GatewayError('tenant_relocated', detail);
  if (state === SQLSTATE_TENANT_MOVING) return new GatewayError('tenant_moving', detail, undefined, { 'retry-after': String(TENANT_MOVING_RETRY_AFTER_SECONDS) });
  if (state === '23505' || state === '23P01') return new GatewayError('conflict', detail);
  if (state && UNPROCESSABLE.has(state)) return new GatewayError('unprocessable', detail);
  if (state === '57014') return new GatewayError('database_timeout', detail);
  // A write refused by a WITH CHECK policy: the token's tenant may not write that row.
  if (state === '42501') return new GatewayError('forbidden', detail);
  if (state && (UNAVAILABLE.has(state) || state.startsWith('08') || state.startsWith('53'))) {
    return new GatewayError('database_unavailable', detail, undefined, retry);
  }
  if (state) return new GatewayError('internal_error', detail);
  if (err instanceof TypeError || err instanceof RangeError) return new GatewayError('internal_error', detail);
  // No SQLSTATE: the connection itself failed (WebSocket refused or dropped, connect or read timeout).
  if (serverAnswered && err instanceof Error && /read timeout/i.test(err.message)) return new GatewayError('database_timeout', detail);
  return new GatewayError('database_unavailable', detail, undefined, retry);
}
