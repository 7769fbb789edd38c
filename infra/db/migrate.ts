/**
 * Applies infra/sql/<set>/NNN_name.sql in order, each once, each in its own
 * transaction together with its row in schema_migrations. The same files run
 * on PGlite and on real PostgreSQL. An applied file whose text changed is an
 * error: fix forward with a new migration instead.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from './types.ts';

export const SQL_DIR = new URL('../sql/', import.meta.url).pathname;
export type MigrationSet = 'central' | 'region';

const FILE = /^(\d{3})_[a-z0-9_-]+\.sql$/;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export async function loadMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((f) => FILE.test(f)).sort();
  const seen = new Set<string>();
  const out: Migration[] = [];
  for (const name of names) {
    const num = FILE.exec(name)![1]!;
    if (seen.has(num)) throw new Error(`two migrations numbered ${num} in ${dir}`);
    seen.add(num);
    const sql = await readFile(join(dir, name), 'utf8');
    out.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/** Returns the names applied by this call (empty when already up to date). */
export async function migrate(db: Db, set: MigrationSet | { dir: string }): Promise<string[]> {
  const dir = typeof set === 'string' ? join(SQL_DIR, set) : set.dir;
  const migrations = await loadMigrations(dir);
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const applied: string[] = [];
  for (const m of migrations) {
    const didApply = await db.transaction(async (tx) => {
      // Serialises concurrent runners on one database; released at commit.
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))");
      const prev = await tx.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE name = $1', [m.name]);
      if (prev.rows[0]) {
        if (prev.rows[0].checksum !== m.checksum) throw new Error(`migration ${m.name} was changed after it was applied`);
        return false;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [m.name, m.checksum]);
      return true;
    });
    if (didApply) applied.push(m.name);
  }
  return applied;
}
