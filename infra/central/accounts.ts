/** Control-plane data access: users, workspaces (tenants) and memberships. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../db/types.ts';

export interface Workspace {
  id: string;
  name: string;
  region: string;
  role: string;
}

export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
}

export class EmailTakenError extends Error {}

export const newWorkspaceId = () => 'ws_' + randomBytes(10).toString('hex');

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const r = await db.query<UserRow>('SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1)', [email]);
  return r.rows[0];
}

export async function workspacesOf(db: Db, userId: string): Promise<Workspace[]> {
  const r = await db.query<Workspace>(
    `SELECT w.id, w.name, w.region, m.role
       FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
      WHERE m.user_id = $1
      ORDER BY m.created_at, w.id`,
    [userId],
  );
  return r.rows;
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
  const workspace: Workspace = { id: newWorkspaceId(), name: input.workspaceName, region: input.region, role: 'owner' };
  try {
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3)', [userId, input.email, input.passwordHash]);
      await tx.query('INSERT INTO workspaces (id, name, region) VALUES ($1, $2, $3)', [workspace.id, workspace.name, workspace.region]);
      await tx.query("INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, 'owner')", [userId, workspace.id]);
      await regionDb.query('INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [workspace.id, workspace.name]);
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
