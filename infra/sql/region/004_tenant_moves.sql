-- What this region knows about tenants moving in or out (infra/tenant-move).
-- The regional app and the gateway's direct path call tenant_guard() first in
-- every transaction, so a request for a tenant that is moving or has moved is
-- refused by the region itself, whatever the caller's routing information.

-- Left behind by a completed move, in the same transaction that deletes the
-- tenant's old copy: the region then answers 409 tenant_relocated, never an
-- empty list. Removed when the tenant moves back here.
CREATE TABLE tenant_tombstones (
  tenant_id     text PRIMARY KEY,
  moved_to      text NOT NULL,
  moved_at      timestamptz NOT NULL,
  -- tenant_relocations.id in the control plane.
  relocation_id bigint NOT NULL
);

-- A move in progress. 'outgoing' (the old region, from the fence on): writes
-- are refused with 503 tenant_moving, reads are served. 'incoming' (the new
-- region, until the switch): everything is refused with 503 tenant_moving.
CREATE TABLE tenant_moves (
  tenant_id   text PRIMARY KEY,
  direction   text NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
  peer_region text NOT NULL,
  move_id     uuid NOT NULL,
  since       timestamptz NOT NULL DEFAULT now()
);

-- The incoming copy, staged as JSON batches of the tables' own row types until
-- the switch turns it into rows of tenants and pages. Staged rows are in no
-- table the apps, the gateway or the controller's global view read, so the copy
-- is invisible (and never counted twice) until the switch.
CREATE TABLE incoming_rows (
  tenant_id  text NOT NULL,
  table_name text NOT NULL CHECK (table_name IN ('tenants', 'pages')),
  batch      integer NOT NULL,
  move_id    uuid NOT NULL,
  rows       json NOT NULL,
  PRIMARY KEY (tenant_id, table_name, batch)
);

-- Raises SQLSTATE ETR01 (tombstone: the tenant lives elsewhere now) or ETR02
-- (the tenant is moving: a write from the fence on, anything while incoming).
-- For writes it first takes a KEY SHARE lock on the tenant row, so the move's
-- fence (FOR UPDATE) waits for writes already past the guard, and writes that
-- come later wait for the fence and then see it (each statement of a function
-- in READ COMMITTED reads the latest committed state). Reads run in
-- REPEATABLE READ, so the guard and the query see the same snapshot: either the
-- rows before the switch or the tombstone after it, never an empty middle.
-- SECURITY DEFINER: the caller (app_rw, gateway) has no rights on these tables.
CREATE FUNCTION tenant_guard(p_tenant text, p_write boolean) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF p_write THEN
    PERFORM 1 FROM tenants WHERE id = p_tenant FOR KEY SHARE;
  END IF;
  IF EXISTS (SELECT 1 FROM tenant_moves WHERE tenant_id = p_tenant AND (p_write OR direction = 'incoming')) THEN
    RAISE EXCEPTION 'tenant is moving' USING ERRCODE = 'ETR02';
  END IF;
  IF EXISTS (SELECT 1 FROM tenant_tombstones WHERE tenant_id = p_tenant) THEN
    RAISE EXCEPTION 'tenant has moved to another region' USING ERRCODE = 'ETR01';
  END IF;
  RETURN true;
END
$$;
REVOKE ALL ON FUNCTION tenant_guard(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tenant_guard(text, boolean) TO app_rw;

-- The same rule for every write to pages, including writes that skip the
-- guard (an operator's, or one through the controller's global.pages): a
-- write for a tenant that is moving or has moved fails; it never lands in a
-- copy the move has already taken or deleted. Once per statement and tenant
-- (transition tables), not per row: a move's own bulk delete and insert stay
-- cheap. The move clears its marker first in the transactions that delete the
-- old copy and insert the new one.
CREATE FUNCTION pages_residency_check() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT DISTINCT tenant_id FROM changed LOOP
    PERFORM tenant_guard(t, true);
  END LOOP;
  IF TG_OP = 'UPDATE' THEN
    FOR t IN SELECT DISTINCT tenant_id FROM changed_before LOOP
      PERFORM tenant_guard(t, true);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER pages_residency_insert AFTER INSERT ON pages
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION pages_residency_check();
CREATE TRIGGER pages_residency_update AFTER UPDATE ON pages
  REFERENCING OLD TABLE AS changed_before NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION pages_residency_check();
CREATE TRIGGER pages_residency_delete AFTER DELETE ON pages
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION pages_residency_check();
