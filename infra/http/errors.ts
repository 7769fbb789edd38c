/**
 * The local apps' error model, the gateway's shape: {"error":{"code","message","requestId"}}
 * with Cache-Control: no-store. Codes come from one closed set. Anything that is not an
 * HttpError becomes a generic 500: no stack or SQL ever leaves.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export const APP_ERROR_CODES = [
  'invalid_request',
  'invalid_credentials',
  'invalid_token',
  'gateway_assertion_required',
  'not_a_member',
  'no_workspace',
  'not_owner',
  'user_not_found',
  'already_member',
  'email_taken',
  'not_found',
  'tenant_not_found',
  'wrong_region',
  'payload_too_large',
  'rate_limited',
  'internal',
] as const;
export type AppErrorCode = (typeof APP_ERROR_CODES)[number];

export class HttpError extends Error {
  status: ContentfulStatusCode;
  code: AppErrorCode;
  extra: Record<string, unknown> | undefined;
  headers: Record<string, string> | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: AppErrorCode,
    message: string,
    more: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = more.extra;
    this.headers = more.headers;
  }
}

export const invalid = (message: string) => new HttpError(400, 'invalid_request', message);

/** The gateway's id for the request (it always sends one), else a fresh one; never arbitrary client text. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
export function requestIdOf(c: Context): string {
  const sent = c.req.header('x-request-id');
  return sent && REQUEST_ID.test(sent) ? sent : randomUUID();
}

function send(c: Context, status: ContentfulStatusCode, code: AppErrorCode, message: string, extra?: Record<string, unknown>): Response {
  const requestId = requestIdOf(c);
  c.header('cache-control', 'no-store');
  c.header('x-request-id', requestId);
  return c.json({ error: { code, message, requestId, ...extra } }, status);
}

export function errorResponse(c: Context, err: HttpError): Response {
  for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
  return send(c, err.status, err.code, err.message, err.extra);
}

export function onError(name: string) {
  return (err: Error, c: Context): Response => {
    if (err instanceof HttpError) return errorResponse(c, err);
    // Logged for the developer; the client gets nothing about the internals.
    console.error(`[${name}] ${c.req.method} ${new URL(c.req.url).pathname}:`, err);
    return send(c, 500, 'internal', 'internal error');
  };
}

export function notFound(c: Context): Response {
  return send(c, 404, 'not_found', `${c.req.method} ${new URL(c.req.url).pathname} not found`);
}
