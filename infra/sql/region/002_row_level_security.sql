-- Row-level security as a second wall behind the app's own tenant filters: the
-- regional app runs its queries as app_rw (SET LOCAL ROLE) with the tenant in
-- app.tenant_id (set_config(..., true)), so a query that forgets its WHERE
-- clause still sees only that tenant. Superusers (migrations, the control
-- plane's tenant provisioning, tests) bypass RLS by design.

-- Roles are cluster-wide on real PostgreSQL and shared by every world's
-- databases, so create it only if missing and tolerate a concurrent creator.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'app_rw') THEN
    CREATE ROLE app_rw NOLOGIN NOSUPERUSER NOBYPASSRLS;
  END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
  NULL;
END
$$;

GRANT USAGE ON SCHEMA public TO app_rw;
GRANT SELECT ON tenants TO app_rw;
GRANT SELECT, INSERT, UPDATE, DELETE ON pages TO app_rw;

-- FORCE so the rule also binds the table owner (only superusers bypass).
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE pages ENABLE ROW LEVEL SECURITY;
ALTER TABLE pages FORCE ROW LEVEL SECURITY;

-- current_setting(..., true) is NULL when unset, and NULL matches nothing:
-- forgetting to set the tenant yields no rows rather than every row.
CREATE POLICY tenant_isolation ON tenants
  USING (id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON pages
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
