-- Login sessions and their refresh tokens (control plane only).
--
-- A session starts at sign-up or login (auth_time) and ends at its absolute
-- lifetime, at logout, or when a rotated refresh token is presented again
-- (reuse: the token was copied, so every token of the session is revoked).
-- Access tokens name their session (`sid`), so central can refuse to exchange
-- an access token of a revoked or expired session, or one it never issued.
CREATE TABLE auth_sessions (
  id            uuid PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  auth_time     timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL CHECK (expires_at > auth_time),
  revoked_at    timestamptz,
  revoke_reason text CHECK (revoke_reason IN ('logout', 'reuse')),
  CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);

-- Refresh tokens are stored only as SHA-256 of the opaque token (256 random
-- bits, so a fast hash is enough). Each is bound to its session's user and to
-- one workspace, and used once: rotation sets used_at and inserts the next one.
CREATE TABLE refresh_tokens (
  token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  session_id   uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  used_at      timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- "The most recently used workspace" for a login that names none.
ALTER TABLE memberships ADD COLUMN last_used_at timestamptz;
