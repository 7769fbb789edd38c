/**
 * One error shape for the local apps: {"error":{"code","message"}}. Anything
 * that is not an HttpError becomes a generic 500: no stack or SQL ever leaves.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class HttpError extends Error {
  status: ContentfulStatusCode;
  code: string;
  extra: Record<string, unknown> | undefined;
  headers: Record<string, string> | undefined;
  constructor(
    status: ContentfulStatusCode,
    code: string,
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

export function errorResponse(c: Context, err: HttpError): Response {
  for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
  return c.json({ error: { code: err.code, message: err.message, ...err.extra } }, err.status);
}

export function onError(name: string) {
  return (err: Error, c: Context): Response => {
    if (err instanceof HttpError) return errorResponse(c, err);
    // Logged for the developer; the client gets nothing about the internals.
    console.error(`[${name}] ${c.req.method} ${new URL(c.req.url).pathname}:`, err);
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  };
}

export function notFound(c: Context): Response {
  return c.json({ error: { code: 'not_found', message: `${c.req.method} ${new URL(c.req.url).pathname} not found` } }, 404);
}
