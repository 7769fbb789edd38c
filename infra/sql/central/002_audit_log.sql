-- Audit log of privileged actions (control plane). Generic on purpose: the
-- gateway writes admin access and denied cross-region attempts; admin routes and
-- tenant moves (issue 6) write their own actions into the same table.
-- Append-only: rows are never updated or deleted.

CREATE TABLE audit_log (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  -- who: a token subject, or 'anonymous' when no valid token was presented
  actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 256),
  actor_kind  text NOT NULL CHECK (actor_kind IN ('admin', 'tenant_user', 'anonymous', 'system')),
  -- what: dotted verb, e.g. 'admin.access', 'tenant.region_denied', 'tenant.move'
  action      text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(action) <= 128),
  -- on what: a route, a tenant id, a region
  target      text CHECK (length(target) <= 512),
  result      text NOT NULL CHECK (result IN ('allowed', 'denied', 'succeeded', 'failed')),
  request_id  text CHECK (length(request_id) <= 128),
  -- small structured context (error code, regions involved); never a token or a secret
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

-- "What happened lately" and "what did this actor do" are the two questions asked.
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_at_idx ON audit_log (actor, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete
  BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
