/**
 * One error model for the whole gateway. Every failure becomes a GatewayError with a
 * code from a closed set; the code decides the status and the generic wire message.
 * The detail (why exactly) goes to the log line, never to the client.
 */
import type { Context } from 'hono';

export const ERROR_STATUS = {
  invalid_request: 400,
  token_missing: 401,
  invalid_token: 401,
  forbidden: 403,
  region_unknown: 403,
  region_mismatch: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  tenant_relocated: 409,
  payload_too_large: 413,
  unprocessable: 422,
  rate_limited: 429,
  config_invalid: 500,
  internal_error: 500,
  bad_gateway: 502,
  service_unavailable: 503,
  key_set_unavailable: 503,
  upstream_timeout: 504,
  database_unavailable: 503,
  database_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

const WIRE_MESSAGE: { [C in ErrorCode]: string } = {
  invalid_request: 'The request is malformed.',
  token_missing: 'A bearer token is required.',
  invalid_token: 'The access token is invalid.',
  forbidden: 'This token may not do this.',
  region_unknown: "The token's region is not served by this gateway.",
  region_mismatch: "The request's region tag does not match the token's region.",
  not_found: 'No such route.',
  method_not_allowed: 'Method not allowed.',
  conflict: 'The request conflicts with existing data.',
  tenant_relocated: 'The tenant has moved to another region; get a fresh token from the central region.',
  payload_too_large: 'The request body is too large.',
  unprocessable: 'The request violates a data constraint.',
  rate_limited: 'Too many requests.',
  config_invalid: 'The gateway is misconfigured.',
  internal_error: 'Internal error.',
  bad_gateway: 'The upstream could not be reached.',
  service_unavailable: 'The service is temporarily unavailable.',
  key_set_unavailable: 'Token keys are temporarily unavailable.',
  upstream_timeout: 'The upstream did not answer in time.',
  database_unavailable: 'The database is temporarily unavailable.',
  database_timeout: 'The database did not answer in time.',
};

export const REALM = 'edge-tenant-router';
export { MALFORMED_JSON_MESSAGE } from './messages.ts';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: ErrorCode,
    /** For logs only: never sent to the client. */
    readonly detail?: string,
    /** Safe, client-facing extra text (e.g. which field is invalid); no secrets, no claim values. */
    readonly publicMessage?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(`${code}${detail ? `: ${detail}` : ''}`);
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function errorResponse(err: GatewayError, requestId: string): Response {
  const headers = new Headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  if (err.code === 'token_missing') {
    // RFC 6750 §3.1: no error attribute when the request carried no credentials.
    headers.set('www-authenticate', `Bearer realm="${REALM}"`);
  } else if (err.code === 'invalid_token') {
    headers.set('www-authenticate', `Bearer realm="${REALM}", error="invalid_token"`);
  } else if (err.code === 'forbidden') {
    headers.set('www-authenticate', `Bearer realm="${REALM}", error="insufficient_scope"`);
  }
  headers.set('x-request-id', requestId);
  for (const [k, v] of Object.entries(err.headers ?? {})) headers.set(k, v);
  const body = { error: { code: err.code, message: err.publicMessage ?? WIRE_MESSAGE[err.code], requestId } };
  return new Response(JSON.stringify(body), { status: err.status, headers });
}

/** Anything that is not a GatewayError is an internal error; its text never reaches the client. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new GatewayError('internal_error', detail);
}

export function onError(err: unknown, c: Context): Response {
  const gwErr = toGatewayError(err);
  const requestId = (c.get('requestId' as never) as string | undefined) ?? 'unknown';
  // The detail is for operators: src/observability puts it on the request's one log line.
  // The client gets only the code and a generic message.
  c.set('error' as never, gwErr as never);
  return errorResponse(gwErr, requestId);
}
