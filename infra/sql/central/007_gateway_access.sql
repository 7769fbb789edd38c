-- The edge gateway's login on the control plane (CONTROL_PLANE_DATABASE_URL):
-- it appends audit rows (and reads them back for the admin audit route) and
-- reads recent tenant relocations, nothing else
-- (no users, no password hashes, no memberships). Same cluster-wide role name
-- the direct data path uses in the region databases; privileges are per
-- database, so this grants nothing there. LOGIN without a password: the local
-- server trusts 127.0.0.1; in production set one and put it in the secret.
-- (PGlite has a single session user, so on PGlite the grants are not exercised.)
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway') THEN
    CREATE ROLE gateway LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE INHERIT;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL; -- another database's migration created it first
END
$$;

GRANT USAGE ON SCHEMA public TO gateway;
GRANT SELECT, INSERT ON audit_log TO gateway;
GRANT SELECT ON tenant_relocations TO gateway;
