/**
 * Moves one tenant's data to another region:
 *
 *   1. fence   – in the OLD region, one transaction locks the tenant's row
 *                (FOR UPDATE) and all its pages (FOR UPDATE). A page insert must
 *                take a KEY SHARE lock on that tenant row for its foreign key and
 *                updates/deletes need the page row, so every write to this tenant
 *                waits; reads and other tenants are untouched. Writes already in
 *                flight finish first (we wait for their locks, up to lockTimeoutMs).
 *   2. copy    – rows go to the NEW region in one transaction, region column rewritten.
 *   3. verify  – row count and an md5 over every copied column except `region`,
 *                computed by each database, must match; otherwise both sides roll back.
 *   4. commit the copy, then flip the control plane: workspaces.region and a
 *      tenant_relocations row, in one transaction (the gateway reads the latter).
 *   5. delete  – the tenant's pages and tenant row in the old region, and commit,
 *                which ends the fence. Writes that waited on it now fail there
 *                (the tenant row is gone: foreign-key violation / no such page):
 *                an error the client sees and retries with a fresh token, never a
 *                write that silently lands in the old region after the copy.
 *
 * Fence length = copy + verify + flip + delete; returned as fencedMs and printed
 * by the CLI. Before step 4 any failure leaves the old region authoritative
 * (copy removed, fence released). If step 5 fails after the flip, the old
 * region keeps a stale, fenced-off copy: the error says so; rerunning the
 * command with the same target finishes the deletion.
 */
import pg from 'pg';

export interface MoveOptions {
  /** Control-plane (central) database. */
  centralUrl: string;
  /** Every region's database, by region name. */
  regionUrls: Record<string, string>;
  tenant: string;
  to: string;
  /** How long to wait for in-flight writes of the tenant before giving up. Default 5000. */
  lockTimeoutMs?: number;
  /** Called once the fence holds, before copying (tests use it to write into a fenced tenant). */
  onFenced?: () => Promise<void>;
}

export interface MoveResult {
  tenant: string;
  from: string;
  to: string;
  pages: number;
  checksum: string;
  /** Time the tenant's writes were fenced (old-region lock held). */
  fencedMs: number;
  /** True when only the old-region cleanup of an earlier, already flipped move was done. */
  resumed: boolean;
}

/** Rows copied per statement: keeps any one parameter (JSON text) bounded. */
export const MOVE_BATCH_ROWS = 1000;

// Everything but `region` (rewritten by the move), in a fixed order; timestamps as text keep microseconds.
const CHECKSUM_SQL = `SELECT count(*)::bigint AS n,
  coalesce(md5(string_agg(md5(concat_ws('|', id, tenant_id, title, body, created_at, updated_at)), '' ORDER BY id)), '') AS sum
  FROM pages WHERE tenant_id = $1`;

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

export async function moveTenant(opts: MoveOptions): Promise<MoveResult> {
  const { tenant, to } = opts;
  if (!opts.regionUrls[to]) throw new MoveError(`unknown target region ${to}`);
  const central = await connect(opts.centralUrl);
  try {
    const ws = (await central.query<{ region: string }>('SELECT region FROM workspaces WHERE id = $1', [tenant])).rows[0];
    if (!ws) throw new MoveError(`no workspace ${tenant} in the control plane`);

    if (ws.region === to) {
      // Already flipped: finish an interrupted move (old-region cleanup) if one is recorded, else nothing to do.
      const last = (
        await central.query<{ from_region: string; pages: string; checksum: string }>(
          'SELECT from_region, pages, checksum FROM tenant_relocations WHERE tenant_id = $1 ORDER BY moved_at DESC, id DESC LIMIT 1',
          [tenant],
        )
      ).rows[0];
      if (!last || !opts.regionUrls[last.from_region]) throw new MoveError(`tenant ${tenant} already lives in ${to}`);
      const t0 = performance.now();
      const removed = await deleteFromOld(opts.regionUrls[last.from_region]!, tenant, opts.lockTimeoutMs ?? 5000);
      if (!removed) throw new MoveError(`tenant ${tenant} already lives in ${to}`);
      return { tenant, from: last.from_region, to, pages: Number(last.pages), checksum: last.checksum, fencedMs: performance.now() - t0, resumed: true };
    }

    const from = ws.region;
    if (!opts.regionUrls[from]) throw new MoveError(`tenant ${tenant}'s region ${from} is not in the region list`);
    const src = await connect(opts.regionUrls[from]!);
    const dst = await connect(opts.regionUrls[to]!);
    let copied = false;
    try {
      await src.query('BEGIN');
      await src.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs ?? 5000))}`);
      const tRow = (
        await src.query<{ row: string }>('SELECT row_to_json(t)::text AS row FROM tenants t WHERE id = $1 FOR UPDATE', [tenant])
      ).rows[0];
      const fenceStart = performance.now();
      if (!tRow) throw new MoveError(`tenant ${tenant} has no row in ${from}`);
      await src.query('SELECT 1 FROM pages WHERE tenant_id = $1 FOR UPDATE', [tenant]);
      await opts.onFenced?.();
      const want = (await src.query<{ n: string; sum: string }>(CHECKSUM_SQL, [tenant])).rows[0]!;

      await dst.query('BEGIN');
      const clash = await dst.query('SELECT 1 FROM pages WHERE tenant_id = $1 LIMIT 1', [tenant]);
      if (clash.rowCount) throw new MoveError(`${to} already holds pages of ${tenant}; refusing to merge`);
      await dst.query(
        `INSERT INTO tenants SELECT * FROM json_populate_record(NULL::tenants, $1::json)
         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name`,
        [tRow.row],
      );
      let after = '00000000-0000-0000-0000-000000000000';
      for (;;) {
        const batch = (
          await src.query<{ rows: string | null; last: string | null }>(
            `SELECT json_agg(p ORDER BY p.id)::text AS rows, max(p.id::text) AS last
             FROM (SELECT * FROM pages WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT ${MOVE_BATCH_ROWS}) p`,
            [tenant, after],
          )
        ).rows[0]!;
        if (!batch.rows) break;
        await dst.query(
          `INSERT INTO pages SELECT (r).* FROM (
             SELECT json_populate_record(p, json_build_object('region', $2::text)) AS r
             FROM json_populate_recordset(NULL::pages, $1::json) p) x`,
          [batch.rows, to],
        );
        after = batch.last!;
      }
      const got = (await dst.query<{ n: string; sum: string }>(CHECKSUM_SQL, [tenant])).rows[0]!;
      if (got.n !== want.n || got.sum !== want.sum) {
        throw new MoveError(`verification failed: ${from} has ${want.n} pages (${want.sum}), ${to} got ${got.n} (${got.sum})`);
      }
      await dst.query('COMMIT');
      copied = true;

      await central.query('BEGIN');
      const flipped = await central.query('UPDATE workspaces SET region = $2 WHERE id = $1 AND region = $3', [tenant, to, from]);
      if (flipped.rowCount !== 1) throw new MoveError(`workspace ${tenant} changed region during the move`);
      await central.query(
        'INSERT INTO tenant_relocations (tenant_id, from_region, to_region, pages, checksum) VALUES ($1, $2, $3, $4, $5)',
        [tenant, from, to, want.n, want.sum],
      );
      await central.query('COMMIT');
      copied = false; // the copy is now the tenant's data: never undo it

      try {
        await src.query('DELETE FROM pages WHERE tenant_id = $1', [tenant]);
        await src.query('DELETE FROM tenants WHERE id = $1', [tenant]);
        await src.query('COMMIT');
      } catch (err) {
        throw new MoveError(
          `moved to ${to} and the control plane flipped, but removing the old copy in ${from} failed (${(err as Error).message}); rerun to finish`,
        );
      }
      return { tenant, from, to, pages: Number(want.n), checksum: want.sum, fencedMs: performance.now() - fenceStart, resumed: false };
    } catch (err) {
      await src.query('ROLLBACK').catch(() => {});
      await dst.query('ROLLBACK').catch(() => {});
      await central.query('ROLLBACK').catch(() => {});
      if (copied) {
        // Committed copy but no flip: the old region stays authoritative; remove the orphan copy.
        await dst.query('DELETE FROM pages WHERE tenant_id = $1', [tenant]).catch(() => {});
        await dst.query('DELETE FROM tenants WHERE id = $1', [tenant]).catch(() => {});
      }
      throw err;
    } finally {
      await src.end().catch(() => {});
      await dst.end().catch(() => {});
    }
  } finally {
    await central.end().catch(() => {});
  }
}

/** The cleanup half of a move whose flip already committed. Returns whether anything was left. */
async function deleteFromOld(url: string, tenant: string, lockTimeoutMs: number): Promise<boolean> {
  const c = await connect(url);
  try {
    await c.query('BEGIN');
    await c.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    const p = await c.query('DELETE FROM pages WHERE tenant_id = $1', [tenant]);
    const t = await c.query('DELETE FROM tenants WHERE id = $1', [tenant]);
    await c.query('COMMIT');
    return (p.rowCount ?? 0) + (t.rowCount ?? 0) > 0;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await c.end().catch(() => {});
  }
}
