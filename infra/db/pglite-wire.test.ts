import type { PGlite } from '@electric-sql/pglite';
import { createPglite } from './pglite-template.ts';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pgliteDb } from './pglite-db.ts';
import { startPgliteWire, type PgliteWire } from './pglite-wire.ts';
import { SessionLock } from './session-lock.ts';
import type { Db } from './types.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

describe('PGlite over the wire', () => {
  let pglite: PGlite;
  let wire: PgliteWire;
  let db: Db;
  let pool: pg.Pool;

  beforeAll(async () => {
    pglite = await createPglite();
    const lock = new SessionLock();
    wire = await startPgliteWire({ pglite, lock, maxConnections: 12 });
    db = pgliteDb(pglite, lock);
    pool = new pg.Pool({ connectionString: wire.url, max: 8 });
    await db.exec('CREATE TABLE t (x int)');
  });
  afterAll(async () => {
    await pool.end();
    await wire.close();
    await pglite.close();
  });

  it('listens on 127.0.0.1 with an OS-assigned port', () => {
    expect(wire.host).toBe('127.0.0.1');
    expect(wire.port).toBeGreaterThan(0);
  });

  // The case PGLiteSocketServer gets wrong: big messages arrive in several TCP
  // chunks and another connection's Parse/Bind must not slip in between.
  it('keeps concurrent parameterised queries and transactions apart', async () => {
    const big = 'y'.repeat(300_000);
    const results = await Promise.all(
      Array.from({ length: 150 }, async (_, i) => {
        if (i % 3 === 0) {
          const r = await pool.query('SELECT length($1::text) AS v', [big + i]);
          return r.rows[0].v === big.length + String(i).length;
        }
        if (i % 3 === 1) {
          const r = await pool.query('SELECT $1::int + 1 AS v', [i]);
          return r.rows[0].v === i + 1;
        }
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          const r = await c.query('SELECT $1::text AS v', ['t' + i]);
          await c.query('COMMIT');
          return r.rows[0].v === 't' + i;
        } finally {
          c.release();
        }
      }),
    );
    expect(results.every(Boolean)).toBe(true);
  });

  it('never runs an in-process query inside a wire client transaction, nor the reverse', async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('INSERT INTO t VALUES (1)');
      // Waits for the wire transaction to end instead of joining it.
      const inProcess = db.query('INSERT INTO t VALUES (2)');
      await new Promise((r) => setTimeout(r, 50));
      await c.query('ROLLBACK');
      await inProcess;

      const tx = db.transaction(async (q) => {
        await q.query('INSERT INTO t VALUES (3)');
        await new Promise((r) => setTimeout(r, 50));
        throw new Error('roll back');
      });
      const wireInsert = pool.query('INSERT INTO t VALUES (4)');
      await expect(tx).rejects.toThrow('roll back');
      await wireInsert;
      const rows = await db.query<{ x: number }>('SELECT x FROM t ORDER BY x');
      expect(rows.rows.map((r) => r.x)).toEqual([2, 4]);
    } finally {
      c.release();
    }
  });

  it('rolls back the transaction of a client that disconnects mid-way', async () => {
    const c = new pg.Client({ connectionString: wire.url });
    await c.connect();
    await c.query('BEGIN');
    await c.query('INSERT INTO t VALUES (99)');
    c.on('error', () => {});
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const r = await db.query('SELECT count(*)::int AS n FROM t WHERE x = 99');
    expect(r.rows[0]).toEqual({ n: 0 });
  });

  it('answers a Postgres error when over maxConnections', async () => {
    const clients = Array.from({ length: 14 }, () => new pg.Client({ connectionString: wire.url }));
    const outcomes = await Promise.allSettled(clients.map((c) => c.connect()));
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.length).toBeGreaterThan(0);
    expect(String(rejected[0]!.reason.message)).toMatch(/too many clients/);
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  });
});
