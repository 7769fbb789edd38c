/** The local session pool, against real PostgreSQL (and one fake server, for a login the local server cannot ask for). */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AUTHENTICATION_OK, message, MessageReader, readStartupPacket, readyForQuery } from '../db/pg-wire.ts';
import { startPostgresDatabase, type ProvisionedDb } from '../db/provision.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../db/reachable.ts';
import { startPgPool, type PgPool } from './index.ts';

vi.setConfig({ testTimeout: 20_000, hookTimeout: 60_000 });

const pgUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
const pgUp = await tcpReachable(pgUrl);
if (!pgUp) console.warn(`[skip] no PostgreSQL reachable at ${pgUrl}: the pool's real-PostgreSQL cases skipped`);

const waitFor = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

describe.skipIf(!pgUp)('on real PostgreSQL', () => {
  let db: ProvisionedDb;
  let pool: PgPool;
  let database: string;
  const user = () => new URL(pgUrl).username || 'postgres';
  const client = async (over: Partial<pg.ClientConfig> = {}) => {
    const c = new pg.Client({ host: pool.host, port: pool.port, database, user: user(), password: 'any', ...over });
    await c.connect();
    return c;
  };
  const pid = async (c: pg.Client) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

  beforeAll(async () => {
    database = `etr_test_${randomBytes(4).toString('hex')}_pool`;
    db = await startPostgresDatabase({ serverUrl: pgUrl, database });
    pool = await startPgPool({ target: { host: db.host, port: db.port }, database });
  });
  afterAll(async () => {
    await pool?.close();
    await db?.close();
  });

  it('serves the next client on the same server connection, its session reset', async () => {
    const before = pool.stats();
    const a = await client();
    const first = await pid(a);
    await a.query("SET statement_timeout = '1234ms'");
    await a.query('PREPARE left_behind AS SELECT 1');
    await a.query('CREATE TEMP TABLE scratch (x int)');
    await a.query('SELECT pg_advisory_lock(4242)');
    await a.end();
    await waitFor(() => pool.stats().idle === before.idle + 1, 'the connection to be kept');

    const b = await client();
    expect(await pid(b)).toBe(first);
    expect((await b.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]!.statement_timeout).toBe('0');
    expect((await b.query('SELECT name FROM pg_prepared_statements')).rows).toEqual([]);
    expect((await b.query("SELECT to_regclass('pg_temp.scratch') AS t")).rows[0].t).toBeNull();
    expect((await b.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242")).rows[0].n).toBe(0);
    await b.end();
    expect(pool.stats().opened - before.opened).toBe(1);
    expect(pool.stats().reused - before.reused).toBe(1);
  });

  it('closes a server connection its client left inside a transaction, which ends the transaction', async () => {
    const a = await client();
    const first = await pid(a);
    await a.query('BEGIN');
    await a.query('SELECT pg_advisory_xact_lock(4343)');
    // Gone without Terminate, the transaction open.
    (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    a.on('error', () => {});
    const b = await client();
    expect(await pid(b)).not.toBe(first);
    // The transaction ended with its connection: the lock is free.
    let free = false;
    for (let i = 0; i < 100 && !free; i++) {
      free = (await b.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(4343) AS ok')).rows[0]!.ok;
      if (!free) await new Promise((r) => setTimeout(r, 20));
    }
    expect(free).toBe(true);
    // And that server connection is gone, not kept.
    expect((await b.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [first])).rows[0].n).toBe(0);
    await b.end();
  });

  it('gives clients at once a server connection each, and keeps them all', async () => {
    const before = pool.stats();
    const cs = await Promise.all([client(), client(), client()]);
    const pids = await Promise.all(cs.map(pid));
    expect(new Set(pids).size).toBe(3);
    await Promise.all(cs.map((c) => c.end()));
    await waitFor(() => pool.stats().idle >= 3, 'three kept connections');
    const again = await Promise.all([client(), client(), client()]);
    expect(new Set(await Promise.all(again.map(pid)))).toEqual(new Set(pids));
    await Promise.all(again.map((c) => c.end()));
    expect(pool.stats().opened - before.opened).toBeLessThanOrEqual(3);
  });

  it('keeps apart clients of other startup parameters', async () => {
    const a = await client({ application_name: 'one' });
    const first = await pid(a);
    await a.end();
    await waitFor(() => pool.stats().idle >= 1, 'a kept connection');
    const b = await client({ application_name: 'two' });
    expect(await pid(b)).not.toBe(first);
    expect((await b.query('SHOW application_name')).rows[0].application_name).toBe('two');
    await b.end();
  });

  it('refuses another database with a PostgreSQL error, opening nothing', async () => {
    const before = pool.stats();
    await expect(client({ database: 'postgres' })).rejects.toThrow(/database "postgres" is not served here/);
    expect(pool.stats().opened).toBe(before.opened);
  });

  it('answers SSLRequest with N (no TLS) and goes on to the startup', async () => {
    const s = connect({ host: pool.host, port: pool.port });
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(80877103, 4);
    const got = await new Promise<Buffer>((resolve, reject) => {
      s.once('data', resolve);
      s.once('error', reject);
      s.write(ssl);
    });
    expect(got.toString()).toBe('N');
    s.destroy();
  });

  it('closes idle server connections after the idle timeout', async () => {
    const short = await startPgPool({ target: { host: db.host, port: db.port }, database, idleTimeoutMs: 100 });
    try {
      const a = new pg.Client({ host: short.host, port: short.port, database, user: user() });
      await a.connect();
      await a.end();
      await waitFor(() => short.stats().idle === 1, 'the kept connection');
      await waitFor(() => short.stats().idle === 0, 'the idle timeout');
    } finally {
      await short.close();
    }
  });
});

describe('on a server that asks for a password', () => {
  // The local PostgreSQL trusts loopback; this server asks for a cleartext password, as one could.
  let fake: ReturnType<typeof createServer>;
  let accepted = 0;
  let pool: PgPool;
  beforeAll(async () => {
    fake = createServer((s) => {
      accepted++;
      let started = false;
      let buf: Buffer = Buffer.alloc(0);
      const reader = new MessageReader();
      s.on('error', () => {});
      s.on('data', (chunk: Buffer) => {
        if (!started) {
          buf = Buffer.concat([buf, chunk]);
          const p = readStartupPacket(buf);
          if (typeof p === 'string') return;
          started = true;
          s.write(message('R', Buffer.from([0, 0, 0, 3]))); // AuthenticationCleartextPassword
          chunk = buf.subarray(p.length);
        }
        for (const m of reader.push(chunk)) {
          if (m.type === 'p') {
            const password = m.bytes.subarray(5, m.bytes.length - 1).toString();
            if (password === 'right') s.write(Buffer.concat([AUTHENTICATION_OK, readyForQuery('I')]));
            else s.end(message('E', Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed\0\0')));
          } else if (m.type === 'Q') {
            s.write(Buffer.concat([message('C', Buffer.from('SELECT 0\0')), readyForQuery('I')]));
          }
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    pool = await startPgPool({ target: { host: '127.0.0.1', port: (fake.address() as { port: number }).port }, database: 'app' });
  });
  afterAll(async () => {
    await pool.close();
    await new Promise((r) => fake.close(r));
  });

  it('relays the login, never reuses that connection, and a wrong password is refused by the server', async () => {
    const login = async (password: string) => {
      const c = new pg.Client({ host: pool.host, port: pool.port, database: 'app', user: 'u', password });
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
    };
    await login('right');
    await login('right');
    await expect(login('wrong')).rejects.toThrow(/password authentication failed/);
    expect(accepted).toBe(3);
    expect(pool.stats()).toMatchObject({ opened: 3, reused: 0, idle: 0 });
  });
});
