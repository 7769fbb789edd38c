/**
 * What every route says about a body that is not a JSON object (not JSON, or JSON of
 * another type): the gateway's /data, and the central and regional apps behind /auth and /api.
 * Its own file so the local apps (Node, type stripping only) can import it.
 */
export const MALFORMED_JSON_MESSAGE = 'The body must be a JSON object.';
