-- Who did what, when, with what result: one row per admin request the gateway
-- served (/admin/*; see src/audit). Requests refused before authentication
-- (no token, bad token, tenant token) are not written here: a rejected request
-- never touches a database; they are in the gateway's logs.
CREATE TABLE audit_log (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT now(),
  -- The admin token's `sub`.
  actor      text NOT NULL,
  -- Method and path, e.g. 'GET /admin/pages'; the query string separately.
  action     text NOT NULL,
  query      text NOT NULL DEFAULT '',
  status     integer NOT NULL,
  -- 'ok' or the gateway error code.
  result     text NOT NULL,
  request_id text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_actor_at_idx ON audit_log (actor, at);
