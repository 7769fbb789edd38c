-- A page's version for optimistic concurrency on the direct path (PATCH /data/pages/:id
-- with If-Match): every update bumps it, and an update naming an older version changes nothing.
ALTER TABLE pages ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version > 0);
