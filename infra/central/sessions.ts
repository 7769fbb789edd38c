/**
 * Sessions and refresh tokens in the control plane.
 *
 * A session begins at sign-up or login (its `auth_time`) and has an absolute end
 * (`expires_at`); nothing extends it. Refresh tokens are opaque (`rt_` + 256 random
 * bits), stored only as their SHA-256, bound to the session's user and to one
 * workspace, and single-use: a refresh marks the presented token used and issues
 * the next. A used token presented again means it was copied, so the whole session
 * (every refresh token it has, in any workspace) is revoked. Logout revokes it too.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/types.ts';

export const REFRESH_TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

export interface Session {
  id: string;
  userId: string;
  /** Unix seconds. */
  authTime: number;
  /** Unix seconds. */
  expiresAt: number;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest();
const seconds = (d: Date | string) => Math.floor(new Date(d).getTime() / 1000);
const iso = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString();

/** Ended sessions are kept this long after their end (reuse of their tokens still answers "revoked"), then pruned. */
export const ENDED_SESSION_RETENTION_SECONDS = 86_400;

export async function startSession(q: Queryable, userId: string, nowSeconds: number, lifetimeSeconds: number): Promise<Session> {
  const s: Session = { id: randomUUID(), userId, authTime: nowSeconds, expiresAt: nowSeconds + lifetimeSeconds };
  // Each sign-in prunes the user's long-expired sessions (their refresh tokens cascade), so rows stay bounded per user.
  await q.query('DELETE FROM auth_sessions WHERE user_id = $1 AND expires_at < $2', [userId, iso(nowSeconds - ENDED_SESSION_RETENTION_SECONDS)]);
  await q.query('INSERT INTO auth_sessions (id, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4)', [s.id, userId, iso(s.authTime), iso(s.expiresAt)]);
  return s;
}

/** A new refresh token of `session`, for `workspaceId`. Only its hash is stored. */
export async function newRefreshToken(q: Queryable, sessionId: string, workspaceId: string): Promise<string> {
  const token = 'rt_' + randomBytes(32).toString('base64url');
  await q.query('INSERT INTO refresh_tokens (token_hash, session_id, workspace_id) VALUES ($1, $2, $3)', [hashOf(token), sessionId, workspaceId]);
  return token;
}

interface SessionRow {
  id: string;
  user_id: string;
  auth_time: Date | string;
  expires_at: Date | string;
  revoked_at: Date | string | null;
}

const toSession = (r: SessionRow): Session => ({ id: r.id, userId: r.user_id, authTime: seconds(r.auth_time), expiresAt: seconds(r.expires_at) });

export type SessionCheck = { ok: true; session: Session } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/** The live session `sessionId` of `userId` (what an access token's `sid` must name). */
export async function liveSession(q: Queryable, sessionId: string, userId: string, nowSeconds: number): Promise<SessionCheck> {
  const r = await q.query<SessionRow>('SELECT id, user_id, auth_time, expires_at, revoked_at FROM auth_sessions WHERE id = $1 AND user_id = $2', [sessionId, userId]);
  const row = r.rows[0];
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
  const session = toSession(row);
  if (nowSeconds >= session.expiresAt) return { ok: false, reason: 'expired' };
  return { ok: true, session };
}

export type Rotation =
  | { ok: true; session: Session; workspaceId: string; refreshToken: string }
  | { ok: false; reason: 'unknown' | 'revoked' | 'expired' | 'reused' | 'not_a_member' };

/**
 * Uses a refresh token once: in one transaction, with the token and its session
 * locked so two concurrent uses of one token cannot both succeed (the second is reuse).
 * The membership is re-checked: a removed member's session cannot go on in that workspace.
 */
export async function rotateRefreshToken(db: Db, token: string, nowSeconds: number): Promise<Rotation> {
  return db.transaction(async (tx): Promise<Rotation> => {
    const r = await tx.query<SessionRow & { workspace_id: string; used_at: Date | string | null; member: boolean }>(
      `SELECT s.id, s.user_id, s.auth_time, s.expires_at, s.revoked_at, t.workspace_id, t.used_at,
              EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = s.user_id AND m.workspace_id = t.workspace_id) AS member
         FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
        WHERE t.token_hash = $1
          FOR UPDATE OF t, s`,
      [hashOf(token)],
    );
    const row = r.rows[0];
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
    if (row.used_at !== null) {
      await revoke(tx, row.id, 'reuse');
      return { ok: false, reason: 'reused' };
    }
    const session = toSession(row);
    if (nowSeconds >= session.expiresAt) return { ok: false, reason: 'expired' };
    if (!row.member) return { ok: false, reason: 'not_a_member' };
    await tx.query('UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1', [hashOf(token), iso(nowSeconds)]);
    return { ok: true, session, workspaceId: row.workspace_id, refreshToken: await newRefreshToken(tx, session.id, row.workspace_id) };
  });
}

async function revoke(q: Queryable, sessionId: string, reason: 'logout' | 'reuse'): Promise<void> {
  await q.query('UPDATE auth_sessions SET revoked_at = now(), revoke_reason = $2 WHERE id = $1 AND revoked_at IS NULL', [sessionId, reason]);
}

/** Logout: revokes the session the token belongs to. False when no session has that token. */
export async function revokeByRefreshToken(db: Db, token: string): Promise<boolean> {
  const r = await db.query<{ session_id: string }>('SELECT session_id FROM refresh_tokens WHERE token_hash = $1', [hashOf(token)]);
  const sessionId = r.rows[0]?.session_id;
  if (!sessionId) return false;
  await revoke(db, sessionId, 'logout');
  return true;
}
