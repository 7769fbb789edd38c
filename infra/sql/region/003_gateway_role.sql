-- The role the edge gateway logs in as for its direct data path (src/query).
-- Neither owner (tables belong to the migrating superuser), superuser nor
-- BYPASSRLS, so the FORCEd tenant_isolation policies bind every query it runs;
-- its only privileges are app_rw's (the regional app's role, same policies).
-- LOGIN without a password here: the local server trusts 127.0.0.1; in
-- production set one (ALTER ROLE gateway PASSWORD ...) and put it in the
-- REGION_DATABASES secret. PGlite has a single session user, so there the
-- gateway's config names this role and every transaction switches to it
-- (set_config('role', 'gateway', true)).

-- Roles are cluster-wide on real PostgreSQL: create only if missing, tolerate a concurrent creator.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway') THEN
    CREATE ROLE gateway LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT;
  END IF;
  IF NOT pg_has_role('gateway', 'app_rw', 'MEMBER') THEN
    GRANT app_rw TO gateway;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;
