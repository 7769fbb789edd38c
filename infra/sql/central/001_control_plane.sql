-- Control plane (central region only): who the users are, which workspaces
-- (tenants) exist, where each tenant's data lives, and who belongs where.
-- Tenant data itself never lives here; it lives in the tenant's region database.

CREATE TABLE users (
  id            uuid PRIMARY KEY,
  email         text NOT NULL,
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique regardless of case: "A@x.io" and "a@x.io" are one account.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- A workspace is a tenant; its id is the tenant id the gateway routes on.
CREATE TABLE workspaces (
  id         text PRIMARY KEY CHECK (id ~ '^ws_[a-z0-9]{8,64}$'),
  name       text NOT NULL,
  region     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  role         text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, workspace_id)
);
-- "Who is in this workspace" without scanning every membership.
CREATE INDEX memberships_workspace_idx ON memberships (workspace_id);
