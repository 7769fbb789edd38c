/** Control-plane data access: users, workspaces (tenants) and memberships. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../db/types.ts';

export interface Workspace {
  id: string;
  name: string;
  region: string;
  role: string;
  /** When a token was last issued for it to this user (null: never). */
  last_used_at: Date | string | null;
}

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
}

export class EmailTakenError extends Error {}

export const newWorkspaceId = () => 'ws_' + randomBytes(10).toString('hex');

export async function findUserByEmail(db: Queryable, email: string): Promise<UserRow | undefined> {
  const r = await db.query<UserRow>('SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1)', [email]);
  return r.rows[0];
}

export async function workspacesOf(db: Db, userId: string): Promise<Workspace[]> {
  const r = await db.query<Workspace>(
    `SELECT w.id, w.name, w.region, m.role, m.last_used_at
       FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
      WHERE m.user_id = $1
      ORDER BY m.created_at, w.id`,
    [userId],
  );
  return r.rows;
}

/** The workspace used last (ties and never-used ones: the oldest membership first). */
export function mostRecentlyUsed(all: Workspace[]): Workspace | undefined {
  const time = (w: Workspace) => (w.last_used_at === null ? -Infinity : new Date(w.last_used_at).getTime());
  return all.reduce<Workspace | undefined>((best, w) => (best === undefined || time(w) > time(best) ? w : best), undefined);
}

export async function markUsed(q: Queryable, userId: string, workspaceId: string): Promise<void> {
  await q.query('UPDATE memberships SET last_used_at = now() WHERE user_id = $1 AND workspace_id = $2', [userId, workspaceId]);
}

export async function setPasswordHash(q: Queryable, userId: string, passwordHash: string): Promise<void> {
  await q.query('UPDATE users SET password_hash = $2 WHERE id = $1', [userId, passwordHash]);
}

/**
 * A new workspace owned by `userId` in `region`: the tenant row in that region's
 * database first, then workspace and membership centrally (as in signUp).
 */
export async function createWorkspace(db: Db, regionDb: Db, input: { userId: string; name: string; region: string }): Promise<Workspace> {
  const workspace: Workspace = { id: newWorkspaceId(), name: input.name, region: input.region, role: 'owner', last_used_at: null };
  await db.transaction((tx) => insertOwnedWorkspace(tx, regionDb, input.userId, workspace));
  return workspace;
}

export type AddMember =
  | { ok: true; userId: string }
  | { ok: false; reason: 'not_owner' | 'user_not_found' | 'already_member' };

/** Adds the user with `email` to `workspaceId`, if `ownerId` owns it. */
export async function addMember(db: Db, input: { ownerId: string; workspaceId: string; email: string; role: 'member' | 'admin' }): Promise<AddMember> {
  return db.transaction(async (tx): Promise<AddMember> => {
    const own = await tx.query("SELECT 1 FROM memberships WHERE user_id = $1 AND workspace_id = $2 AND role = 'owner'", [input.ownerId, input.workspaceId]);
    if (own.rowCount === 0) return { ok: false, reason: 'not_owner' };
    const user = await findUserByEmail(tx, input.email);
    if (!user) return { ok: false, reason: 'user_not_found' };
    const added = await tx.query(
      'INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, $3) ON CONFLICT (user_id, workspace_id) DO NOTHING',
      [user.id, input.workspaceId, input.role],
    );
    return added.rowCount === 0 ? { ok: false, reason: 'already_member' } : { ok: true, userId: user.id };
  });
}

/** Workspace + owner membership in `tx`, and the tenant row in its region before `tx` commits. */
async function insertOwnedWorkspace(tx: Queryable, regionDb: Db, userId: string, workspace: Workspace): Promise<void> {
  await tx.query('INSERT INTO workspaces (id, name, region) VALUES ($1, $2, $3)', [workspace.id, workspace.name, workspace.region]);
  await tx.query("INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, 'owner')", [userId, workspace.id]);
  await regionDb.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [workspace.id, workspace.name]);
}

/**
 * Creates user + workspace + owner membership in one control-plane transaction,
 * and registers the tenant in its region's database before that commits: if the
 * region is unreachable nothing is created centrally. (A central commit failing
 * after the region insert leaves an unused tenants row, which is harmless.)
 */
export async function signUp(
  db: Db,
  regionDb: Db,
  input: { email: string; passwordHash: string; workspaceName: string; region: string },
): Promise<{ userId: string; workspace: Workspace }> {
  const userId = randomUUID();
  const workspace: Workspace = { id: newWorkspaceId(), name: input.workspaceName, region: input.region, role: 'owner', last_used_at: null };
  try {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)', [userId, input.email, input.passwordHash]);
      await insertOwnedWorkspace(tx, regionDb, userId, workspace);
    });
  } catch (err) {
    // Lost a race with a concurrent sign-up of the same email.
    if ((err as { code?: string }).code === '23505' && /users_email_lower_key/.test(String((err as Error).message))) {
      throw new EmailTakenError();
    }
    throw err;
  }
  return { userId, workspace };
}
