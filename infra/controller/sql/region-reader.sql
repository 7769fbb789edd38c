-- Applied by the controller build to EACH REGION database (as a superuser), not
-- by the region migrations: only the controller needs it, and only on real
-- PostgreSQL (PGlite regions have no controller).
--
-- global_reader is the remote role the controller's reporting mapping logs in
-- as. Region tables FORCE row-level security (002_row_level_security.sql), so a
-- plain role would see nothing without a tenant set. We add a SELECT-only
-- permissive policy for this one role instead of giving it BYPASSRLS: BYPASSRLS
-- is cluster-wide (every table of every database on the server, including ones
-- created later) and would also lift the tenant wall for writes if a write grant
-- ever slipped in; the policy covers exactly these two tables, for reads only,
-- and is visible next to the tables it opens.
-- Idempotent: every statement checks before it creates; GRANT is a no-op when held.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'global_reader') THEN
    CREATE ROLE global_reader LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- a concurrent build on the same server created it first
END
$$;

GRANT USAGE ON SCHEMA public TO global_reader;
GRANT SELECT ON tenants, pages TO global_reader;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'tenants' AND policyname = 'global_read') THEN
    CREATE POLICY global_read ON tenants FOR SELECT TO global_reader USING (true);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public' AND tablename = 'pages' AND policyname = 'global_read') THEN
    CREATE POLICY global_read ON pages FOR SELECT TO global_reader USING (true);
  END IF;
END
$$;
