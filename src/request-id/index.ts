/** Keeps a client's sane X-Request-Id (so traces join up) and makes one otherwise. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestIdFrom(headers: Headers): string {
  const given = headers.get('x-request-id');
  return given !== null && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
