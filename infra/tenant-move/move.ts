/**
 * Moves one tenant's data to another region so that no client ever gets a wrong answer:
 * every response is the right data, 409 tenant_relocated or 503 tenant_moving.
 * The regions enforce it themselves (tenant_guard and the pages trigger,
 * infra/sql/region/004_tenant_moves.sql), whatever the gateway's routing knows.
 *
 *   1. fence   – OLD region: lock the tenant row (FOR UPDATE: waits for writes already
 *                past the guard), mark the tenant 'outgoing', commit. From here on
 *                every write gets 503 tenant_moving; reads are still served there.
 *   2. stage   – NEW region: mark the tenant 'incoming' (503 for everything) and
 *                stage the rows as JSON batches in incoming_rows, a table no app and
 *                no global view reads. Count and md5 must match the old region's.
 *   3. flip    – control plane: workspaces.region and a tenant_relocations row, in one
 *                transaction. Fresh tokens now name the new region (503 there until 5).
 *   4. switch  – OLD region, one transaction: delete the tenant's rows, write the
 *                tombstone (new region, when, relocation id). Old tokens get 409 from
 *                here on, from the region itself.
 *   5. arrive  – NEW region, one transaction: staged rows become tenants/pages rows
 *                (checksum again), markers and any old tombstone go. Served from here on.
 *
 * 4 and 5 run while the controller's move barrier is held (ACCESS EXCLUSIVE on
 * global.move_barrier and ONLY global.pages, which every global query locks in
 * ACCESS SHARE), so no query of the global view sees the tenant in both regions or
 * in neither: each row is counted exactly once at every moment.
 *
 * No write is accepted in the old region after the copy began (fenced), and none
 * anywhere between the fence and 5, so reads served by the old region until 4 are
 * complete. Fence length = stage + flip + switch + arrive, returned as fencedMs.
 *
 * Failure before 3 undoes the fence and the staged copy (the old region stays
 * authoritative). After 3 the error says so; running the move again finishes 4 and
 * 5 (`resumed: true`). Until then the tenant gets errors, never wrong data.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

export interface MoveOptions {
  /** Control-plane (central) database. */
  centralUrl: string;
  /** Every region's database, by region name. */
  regionUrls: Record<string, string>;
  /** The controller (global view), when there is one: steps 4 and 5 hold its move barrier. */
  controllerUrl?: string;
  tenant: string;
  to: string;
  /** How long to wait for in-flight writes of the tenant (and for running global queries). Default 5000. */
  lockTimeoutMs?: number;
  /** Called once the fence holds, before copying (tests use it to write into a fenced tenant). */
  onFenced?: () => Promise<void>;
  /**
   * Awaited after each step commits, with the wall-clock time (ms) before the step began and after its
   * commit returned (the load test's timeline; tests widen the windows between steps with it).
   */
  onStep?: (step: MoveStep, at: { before: number; after: number }) => void | Promise<void>;
}

export type MoveStep = 'fenced' | 'staged' | 'flipped' | 'switched' | 'arrived';

export interface MoveResult {
  tenant: string;
  from: string;
  to: string;
  pages: number;
  checksum: string;
  /** tenant_relocations.id, also in the old region's tombstone. */
  relocationId: string;
  /** Time the tenant's writes were refused (fence commit to arrival). */
  fencedMs: number;
  /** Part of fencedMs spent waiting for running global queries to release the move barrier. */
  barrierWaitMs: number;
  /** True when only steps 4 and 5 of an earlier, already flipped move were done. */
  resumed: boolean;
}

/** Rows copied per statement: keeps any one parameter (JSON text) bounded. */
export const MOVE_BATCH_ROWS = 1000;

// Everything but `region` (rewritten by the move), in a fixed order; timestamps as text keep microseconds.
const PAGE_DIGEST = `count(*)::bigint AS n,
  coalesce(md5(string_agg(md5(concat_ws('|', p.id, p.tenant_id, p.title, p.body, p.created_at, p.updated_at)), '' ORDER BY p.id)), '') AS sum`;
const CHECKSUM_SQL = `SELECT ${PAGE_DIGEST} FROM pages p WHERE p.tenant_id = $1`;
const STAGED_PAGES = `SELECT p.* FROM incoming_rows r, json_populate_recordset(NULL::pages, r.rows) p
  WHERE r.tenant_id = $1 AND r.table_name = 'pages'`;
const STAGED_CHECKSUM_SQL = `SELECT ${PAGE_DIGEST} FROM (${STAGED_PAGES}) p`;

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  // Timestamps are compared as text by the checksum; keep the session zone fixed on both sides.
  await c.query("SET TIME ZONE 'UTC'");
  return c;
}

export class MoveError extends Error {
  override readonly name = 'MoveError';
}

const lockTimeout = (ms: number) => `SET LOCAL lock_timeout = ${Math.max(1, Math.floor(ms))}`;

/** One transaction; ROLLBACK on any error. */
async function tx<T>(c: pg.Client, lockTimeoutMs: number, fn: () => Promise<T>): Promise<T> {
  await c.query('BEGIN');
  try {
    await c.query(lockTimeout(lockTimeoutMs));
    const r = await fn();
    await c.query('COMMIT');
    return r;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function moveTenant(opts: MoveOptions): Promise<MoveResult> {
  const { tenant, to } = opts;
  const lockMs = opts.lockTimeoutMs ?? 5000;
  const step = async (s: MoveStep, before: number) => opts.onStep?.(s, { before, after: Date.now() });
  if (!opts.regionUrls[to]) throw new MoveError(`unknown target region ${to}`);
  const central = await connect(opts.centralUrl);
  try {
    const ws = (await central.query<{ region: string }>('SELECT region FROM workspaces WHERE id = $1', [tenant])).rows[0];
    if (!ws) throw new MoveError(`no workspace ${tenant} in the control plane`);

    if (ws.region === to) {
      // Already flipped: finish an interrupted move (switch and arrival) if one is recorded, else nothing to do.
      const last = (
        await central.query<{ id: string; from_region: string; pages: string; checksum: string }>(
          'SELECT id::text, from_region, pages, checksum FROM tenant_relocations WHERE tenant_id = $1 ORDER BY moved_at DESC, id DESC LIMIT 1',
          [tenant],
        )
      ).rows[0];
      if (!last || last.from_region === to || !opts.regionUrls[last.from_region]) throw new MoveError(`tenant ${tenant} already lives in ${to}`);
      const t0 = performance.now();
      const did = await switchAndArrive(opts, last.from_region, last.id, last.checksum, lockMs, step);
      if (!did.changed) throw new MoveError(`tenant ${tenant} already lives in ${to}`);
      return { tenant, from: last.from_region, to, pages: Number(last.pages), checksum: last.checksum, relocationId: last.id, fencedMs: performance.now() - t0, barrierWaitMs: did.barrierWaitMs, resumed: true };
    }

    const from = ws.region;
    if (!opts.regionUrls[from]) throw new MoveError(`tenant ${tenant}'s region ${from} is not in the region list`);
    const moveId = randomUUID();
    const src = await connect(opts.regionUrls[from]!);
    const dst = await connect(opts.regionUrls[to]!);
    const ctl = opts.controllerUrl ? await connect(opts.controllerUrl) : undefined;
    let flipped = false;
    try {
      // 1. Fence.
      let t = Date.now();
      const tRow = await tx(src, lockMs, async () => {
        const row = (await src.query<{ row: string }>('SELECT row_to_json(t)::text AS row FROM tenants t WHERE id = $1 FOR UPDATE', [tenant])).rows[0];
        if (!row) throw new MoveError(`tenant ${tenant} has no row in ${from}`);
        const marked = await src.query(
          `INSERT INTO tenant_moves (tenant_id, direction, peer_region, move_id) VALUES ($1, 'outgoing', $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET peer_region = EXCLUDED.peer_region, move_id = EXCLUDED.move_id, since = now()
           WHERE tenant_moves.direction = 'outgoing'`,
          [tenant, to, moveId],
        );
        if (marked.rowCount !== 1) throw new MoveError(`tenant ${tenant} is arriving in ${from}, not leaving it`);
        return row.row;
      });
      const fenceStart = performance.now();
      await step('fenced', t);
      await opts.onFenced?.();

      // 2. Stage in the new region; the old region is fenced, so its rows no longer change.
      t = Date.now();
      const want = (await src.query<{ n: string; sum: string }>(CHECKSUM_SQL, [tenant])).rows[0]!;
      await tx(dst, lockMs, async () => {
        const clash = await dst.query('SELECT 1 FROM pages WHERE tenant_id = $1 LIMIT 1', [tenant]);
        if (clash.rowCount) throw new MoveError(`${to} already holds pages of ${tenant}; refusing to merge`);
        const marked = await dst.query(
          `INSERT INTO tenant_moves (tenant_id, direction, peer_region, move_id) VALUES ($1, 'incoming', $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET peer_region = EXCLUDED.peer_region, move_id = EXCLUDED.move_id, since = now()
           WHERE tenant_moves.direction = 'incoming'`,
          [tenant, from, moveId],
        );
        if (marked.rowCount !== 1) throw new MoveError(`tenant ${tenant} is leaving ${to}; finish that move first`);
        // Leftovers of an interrupted attempt.
        await dst.query('DELETE FROM incoming_rows WHERE tenant_id = $1', [tenant]);
        await dst.query(`INSERT INTO incoming_rows (tenant_id, table_name, batch, move_id, rows) VALUES ($1, 'tenants', 0, $2, json_build_array($3::json))`, [
          tenant,
          moveId,
          tRow,
        ]);
        let after = '00000000-0000-0000-0000-000000000000';
        for (let batch = 0; ; batch++) {
          const b = (
            await src.query<{ rows: string | null; last: string | null }>(
              `SELECT json_agg(p ORDER BY p.id)::text AS rows, max(p.id::text) AS last
               FROM (SELECT * FROM pages WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT ${MOVE_BATCH_ROWS}) p`,
              [tenant, after],
            )
          ).rows[0]!;
          if (!b.rows) break;
          await dst.query(
            `INSERT INTO incoming_rows (tenant_id, table_name, batch, move_id, rows)
             SELECT $1, 'pages', $2, $3, json_agg(json_populate_record(p, json_build_object('region', $5::text)))
             FROM json_populate_recordset(NULL::pages, $4::json) p`,
            [tenant, batch, moveId, b.rows, to],
          );
          after = b.last!;
        }
        const got = (await dst.query<{ n: string; sum: string }>(STAGED_CHECKSUM_SQL, [tenant])).rows[0]!;
        if (got.n !== want.n || got.sum !== want.sum) {
          throw new MoveError(`verification failed: ${from} has ${want.n} pages (${want.sum}), ${to} staged ${got.n} (${got.sum})`);
        }
      });
      await step('staged', t);

      // 3. Flip the control plane.
      t = Date.now();
      const relocationId = await tx(central, lockMs, async () => {
        const moved = await central.query('UPDATE workspaces SET region = $2 WHERE id = $1 AND region = $3', [tenant, to, from]);
        if (moved.rowCount !== 1) throw new MoveError(`workspace ${tenant} changed region during the move`);
        return (
          await central.query<{ id: string }>(
            'INSERT INTO tenant_relocations (tenant_id, from_region, to_region, pages, checksum) VALUES ($1, $2, $3, $4, $5) RETURNING id::text',
            [tenant, from, to, want.n, want.sum],
          )
        ).rows[0]!.id;
      });
      flipped = true;
      await step('flipped', t);

      // 4 and 5, on the connections already open (each new one costs a round trip or three while writes are fenced).
      let barrierWaitMs: number;
      try {
        ({ barrierWaitMs } = await switchAndArrive(opts, from, relocationId, want.sum, lockMs, step, { src, dst, ctl }));
      } catch (err) {
        throw new MoveError(
          `moved to ${to} and the control plane flipped, but switching the regions failed (${(err as Error).message}); ` +
            'the tenant gets 409/503 until the move is run again, which finishes it',
        );
      }
      return { tenant, from, to, pages: Number(want.n), checksum: want.sum, relocationId, fencedMs: performance.now() - fenceStart, barrierWaitMs, resumed: false };
    } catch (err) {
      if (!flipped) {
        // The old region stays authoritative: lift the fence, drop the staged copy.
        await src.query("DELETE FROM tenant_moves WHERE tenant_id = $1 AND move_id = $2", [tenant, moveId]).catch(() => {});
        await dst.query('DELETE FROM incoming_rows WHERE tenant_id = $1 AND move_id = $2', [tenant, moveId]).catch(() => {});
        await dst.query("DELETE FROM tenant_moves WHERE tenant_id = $1 AND move_id = $2", [tenant, moveId]).catch(() => {});
      }
      throw err;
    } finally {
      await src.end().catch(() => {});
      await dst.end().catch(() => {});
      await ctl?.end().catch(() => {});
    }
  } finally {
    await central.end().catch(() => {});
  }
}

/**
 * Steps 4 and 5 under the controller's move barrier; each step is skipped when already done, so an
 * interrupted move can be finished. Returns whether anything was left to do, and the barrier wait.
 */
async function switchAndArrive(
  opts: MoveOptions,
  from: string,
  relocationId: string,
  checksum: string,
  lockMs: number,
  step: (s: MoveStep, before: number) => Promise<void>,
  open?: { src: pg.Client; dst: pg.Client; ctl: pg.Client | undefined },
): Promise<{ changed: boolean; barrierWaitMs: number }> {
  const { tenant, to } = opts;
  const ctl = open ? open.ctl : opts.controllerUrl ? await connect(opts.controllerUrl) : undefined;
  const src = open?.src ?? (await connect(opts.regionUrls[from]!));
  const dst = open?.dst ?? (await connect(opts.regionUrls[to]!));
  let did = false;
  let barrierWaitMs = 0;
  try {
    if (ctl) {
      await ctl.query('BEGIN');
      await ctl.query(lockTimeout(lockMs));
      if (!(await ctl.query("SELECT to_regclass('global.move_barrier') AS r")).rows[0].r) {
        throw new MoveError('the controller has no global.move_barrier: run npm run controller:build first');
      }
      // Waits for running global queries; new ones wait for us.
      const w = performance.now();
      await ctl.query('LOCK TABLE global.move_barrier, ONLY global.pages IN ACCESS EXCLUSIVE MODE');
      barrierWaitMs = performance.now() - w;
    }
    let t = Date.now();
    const switched = await tx(src, lockMs, async () => {
      const left = await src.query('SELECT 1 FROM tenants WHERE id = $1 UNION ALL SELECT 1 FROM tenant_moves WHERE tenant_id = $1', [tenant]);
      if (!left.rowCount) return false;
      // The marker first: the pages trigger refuses deletes of a fenced tenant.
      await src.query("DELETE FROM tenant_moves WHERE tenant_id = $1 AND direction = 'outgoing'", [tenant]);
      await src.query('DELETE FROM pages WHERE tenant_id = $1', [tenant]);
      await src.query('DELETE FROM tenants WHERE id = $1', [tenant]);
      await src.query(
        `INSERT INTO tenant_tombstones (tenant_id, moved_to, moved_at, relocation_id) VALUES ($1, $2, clock_timestamp(), $3)
         ON CONFLICT (tenant_id) DO UPDATE SET moved_to = EXCLUDED.moved_to, moved_at = EXCLUDED.moved_at, relocation_id = EXCLUDED.relocation_id`,
        [tenant, to, relocationId],
      );
      return true;
    });
    if (switched) await step('switched', t);
    did ||= switched;

    t = Date.now();
    const arrived = await tx(dst, lockMs, async () => {
      const incoming = await dst.query("DELETE FROM tenant_moves WHERE tenant_id = $1 AND direction = 'incoming'", [tenant]);
      if (!incoming.rowCount) return false;
      await dst.query('DELETE FROM tenant_tombstones WHERE tenant_id = $1', [tenant]);
      await dst.query(
        `INSERT INTO tenants SELECT t.* FROM incoming_rows r, json_populate_recordset(NULL::tenants, r.rows) t
         WHERE r.tenant_id = $1 AND r.table_name = 'tenants'
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`,
        [tenant],
      );
      await dst.query(`INSERT INTO pages ${STAGED_PAGES}`, [tenant]);
      const got = (await dst.query<{ sum: string }>(CHECKSUM_SQL, [tenant])).rows[0]!;
      if (got.sum !== checksum) throw new MoveError(`verification failed in ${to} after the switch: ${got.sum}, expected ${checksum}`);
      await dst.query('DELETE FROM incoming_rows WHERE tenant_id = $1', [tenant]);
      return true;
    });
    if (arrived) await step('arrived', t);
    did ||= arrived;
    if (ctl) await ctl.query('COMMIT');
    return { changed: did, barrierWaitMs };
  } catch (err) {
    if (ctl) await ctl.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // Connections the caller opened are the caller's to close.
    if (!open) {
      await ctl?.end().catch(() => {});
      await src.end().catch(() => {});
      await dst.end().catch(() => {});
    }
  }
}
