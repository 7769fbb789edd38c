/** Sessions and refresh tokens (infra/central/sessions.ts) on PGlite and on real PostgreSQL, where concurrent uses really overlap. */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../db/migrate.ts';
import { startPgliteDatabase, startPostgresDatabase, type ProvisionedDb } from '../db/provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../db/reachable.ts';
import { ENDED_SESSION_RETENTION_SECONDS, liveSession, newRefreshToken, revokeByRefreshToken, rotateRefreshToken, startSession } from './sessions.ts';

const pgUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
const pgUp = await tcpReachable(pgUrl);
if (!pgUp) console.warn(`[skip] no PostgreSQL reachable at ${pgUrl}: real-PostgreSQL session cases skipped`);

const backends: Array<[string, boolean, () => Promise<ProvisionedDb>]> = [
  ['pglite', true, () => startPgliteDatabase()],
  ['postgres', pgUp, () => startPostgresDatabase({ serverUrl: pgUrl, database: `etr_test_${randomBytes(4).toString('hex')}_sessions` })],
];
const LIFETIME = 12 * 3600;
const T0 = 1_800_000_000;

describe.each(backends)('sessions on %s', (_name, available, start) => {
  let d: ProvisionedDb;
  beforeAll(async () => {
    if (!available) return;
    d = await start();
    await migrate(d.db, 'central');
  }, 60_000);
  afterAll(async () => {
    await d?.close();
  });

  async function user(): Promise<{ userId: string; workspaceId: string }> {
    const userId = randomUUID();
    const workspaceId = 'ws_' + randomBytes(6).toString('hex');
    await d.db.query("INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')", [userId, `${userId}@example.com`]);
    await d.db.query("INSERT INTO workspaces (id, name, region) VALUES ($1, 'W', 'eu-central-1')", [workspaceId]);
    await d.db.query('INSERT INTO memberships (user_id, workspace_id) VALUES ($1, $2)', [userId, workspaceId]);
    return { userId, workspaceId };
  }

  it.runIf(available)('concurrent uses of one refresh token: exactly one rotates, and the session ends (reuse)', async () => {
    for (let round = 0; round < 5; round++) {
      const u = await user();
      const s = await startSession(d.db, u.userId, T0, LIFETIME);
      const token = await newRefreshToken(d.db, s.id, u.workspaceId);
      const results = await Promise.all(Array.from({ length: 4 }, () => rotateRefreshToken(d.db, token, T0 + 1)));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      // The first loser detects the reuse and revokes; the ones after it find the session revoked.
      const reasons = results.flatMap((r) => (r.ok ? [] : [r.reason]));
      expect(reasons).toHaveLength(3);
      expect(reasons).toContain('reused');
      expect(reasons.every((x) => x === 'reused' || x === 'revoked')).toBe(true);
      const winner = results.find((r) => r.ok)!;
      expect(winner.ok && (await rotateRefreshToken(d.db, winner.refreshToken, T0 + 2))).toEqual({ ok: false, reason: 'revoked' });
      expect(await liveSession(d.db, s.id, u.userId, T0 + 2)).toEqual({ ok: false, reason: 'revoked' });
    }
  });

  it.runIf(available)('expiry is absolute; logout revokes; a session is only its own user’s', async () => {
    const u = await user();
    const s = await startSession(d.db, u.userId, T0, LIFETIME);
    let token = await newRefreshToken(d.db, s.id, u.workspaceId);
    const r = await rotateRefreshToken(d.db, token, T0 + LIFETIME - 1);
    expect(r).toMatchObject({ ok: true, workspaceId: u.workspaceId, session: { authTime: T0, expiresAt: T0 + LIFETIME } });
    token = (r as { refreshToken: string }).refreshToken;
    expect(await rotateRefreshToken(d.db, token, T0 + LIFETIME)).toEqual({ ok: false, reason: 'expired' });
    expect(await liveSession(d.db, s.id, randomUUID(), T0)).toEqual({ ok: false, reason: 'unknown' });

    const s2 = await startSession(d.db, u.userId, T0, LIFETIME);
    const t2 = await newRefreshToken(d.db, s2.id, u.workspaceId);
    expect(await revokeByRefreshToken(d.db, t2)).toBe(true);
    expect(await rotateRefreshToken(d.db, t2, T0 + 1)).toEqual({ ok: false, reason: 'revoked' });
    expect(await revokeByRefreshToken(d.db, 'rt_' + 'Z'.repeat(43))).toBe(false);
  });

  it.runIf(available)("a sign-in prunes the user's sessions that ended more than a day ago, and only those", async () => {
    const u = await user();
    const other = await user();
    const old = await startSession(d.db, u.userId, T0, LIFETIME);
    await newRefreshToken(d.db, old.id, u.workspaceId);
    const othersOld = await startSession(d.db, other.userId, T0, LIFETIME);
    const recent = await startSession(d.db, u.userId, T0 + LIFETIME, LIFETIME);
    await startSession(d.db, u.userId, T0 + LIFETIME + ENDED_SESSION_RETENTION_SECONDS + 1, LIFETIME);
    const ids = (await d.db.query<{ id: string }>('SELECT id FROM auth_sessions WHERE user_id = ANY($1)', [[u.userId, other.userId]])).rows.map((r) => r.id);
    expect(ids).not.toContain(old.id);
    expect(ids).toContain(recent.id);
    expect(ids).toContain(othersOld.id);
    expect((await d.db.query('SELECT 1 FROM refresh_tokens WHERE session_id = $1', [old.id])).rowCount).toBe(0);
  });
});
