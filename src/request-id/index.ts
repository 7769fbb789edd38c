/**
 * Request ids. The gateway's own id is always one it made: it names the request in the log
 * line, error bodies, the X-Request-Id origins receive (signed in the identity assertion) and
 * audit rows, so a client can never make its requests look like someone else's. A client's
 * sane X-Request-Id is kept, separately, as the client request id (so traces join up): in the
 * log line, the audit row's detail, and `X-Client-Request-Id` towards origins.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
export const CLIENT_REQUEST_ID_HEADER = 'x-client-request-id';

export function gatewayRequestId(): string {
  return crypto.randomUUID();
}

/** The client's X-Request-Id if it is sane (8-128 of A-Z a-z 0-9 . _ : -), else undefined. */
export function clientRequestIdFrom(headers: Headers): string | undefined {
  const given = headers.get('x-request-id');
  return given !== null && SANE_REQUEST_ID.test(given) ? given : undefined;
}
