/** Fails the build if SQL in the direct data path is ever built from anything but literals. */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from './sql-check.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const QUERY_DIR = join(ROOT, 'src/query');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

describe('SQL in src/query is literal-only', () => {
  const files = sourceFiles(QUERY_DIR);

  it('covers the route table and the driver', () => {
    const names = files.map((f) => relative(ROOT, f));
    expect(names).toEqual(expect.arrayContaining(['src/query/routes.ts', 'src/query/driver.ts', 'src/query/pipeline.ts']));
  });

  it.each(sourceFiles(QUERY_DIR).map((f) => [relative(ROOT, f), f]))('%s builds no SQL from data', (_name, file) => {
    expect(checkSource(file, readFileSync(file, 'utf8'))).toEqual([]);
  });

  it('every route in the table uses a sql literal', () => {
    const src = readFileSync(join(QUERY_DIR, 'routes.ts'), 'utf8');
    const routeSql = [...src.matchAll(/^\s*sql: (\S+)/gm)].map((m) => m[1]);
    expect(routeSql.length).toBeGreaterThanOrEqual(3);
    expect(routeSql.every((s) => s!.startsWith('sql`'))).toBe(true);
  });
});

describe('the check itself catches what it must', () => {
  it.each([
    ['tag with a substitution', 'const q = sql`SELECT * FROM pages WHERE id = ${id}`;', 'sql tag with substitutions'],
    ['tag as a function', "const q = sql([req.query('t')] as any);", 'sql called as a function'],
    ['template building SQL', 'const text = `SELECT * FROM pages WHERE title = \'${title}\'`;', 'SQL-looking template with substitutions'],
    ['concatenation', "const text = 'SELECT * FROM pages WHERE id = ' + id;", 'SQL-looking string concatenation'],
    ['+= concatenation', "let t = 'SELECT 1'; t += ' WHERE x = ' + x;", 'SQL-looking string concatenation'],
    ['join', "const t = ['SELECT *', 'FROM pages', where].join(' ');", 'SQL-looking string built by a call'],
    ['route sql from a call', 'const r = { sql: build(req) };', 'sql: must be a sql`...` literal (or a constant holding one)'],
    ['wire text from elsewhere', 'connection.parse({ text: userText });', 'wire text must be <step>.sql.text'],
    ['raw query text', "client.query('SELECT ' + x);", 'raw text passed to .query(); use a pipeline of sql literals'],
  ])('%s', (_name, code, rule) => {
    expect(checkSource('fixture.ts', code).map((f) => f.rule)).toContain(rule);
  });

  it('accepts the safe forms', () => {
    const ok = [
      "const q = sql`SELECT * FROM pages WHERE id = $1::uuid`;",
      'const r = { sql: sql`SELECT 1`, params: [] };',
      'connection.parse({ text: step.sql.text, types: [] });',
      'const msg = `route ${name} failed after ${n} statements`;',
    ].join('\n');
    expect(checkSource('fixture.ts', ok)).toEqual([]);
  });
});
