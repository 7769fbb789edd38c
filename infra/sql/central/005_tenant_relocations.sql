-- Every completed tenant move, written by `npm run tenant:move` in the same
-- transaction that flips workspaces.region. The gateway keeps the recent ones
-- in memory (refreshed every RELOCATION_REFRESH_SECONDS per isolate) and answers
-- 409 tenant_relocated to a token whose region claim is not the tenant's latest
-- home, so tokens minted before a move never reach the old region. Only moves
-- younger than the longest access-token lifetime matter: older tokens are expired.
CREATE TABLE tenant_relocations (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id   text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  from_region text NOT NULL,
  to_region   text NOT NULL CHECK (to_region <> from_region),
  moved_at    timestamptz NOT NULL DEFAULT now(),
  -- What the move verified (rows copied and their checksum), for the record.
  pages       bigint NOT NULL,
  checksum    text NOT NULL
);
-- The gateway's refresh reads "moves since T", newest per tenant.
CREATE INDEX tenant_relocations_moved_at_idx ON tenant_relocations (moved_at);
