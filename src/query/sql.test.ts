/** The runtime half of "no SQL from request data": only substitution-free `sql` literals reach the driver. */
import { describe, expect, it } from 'vitest';
import { runTransaction } from './driver.ts';
import { DATA_ROUTES, validateRouteTable, type DataRoute } from './routes.ts';
import { isSqlText, sql } from './sql.ts';

const neverRuns = { waitUntil: () => { throw new Error('no connection may be opened'); } };
const endpoint = { url: 'postgres://gateway@127.0.0.1:1/app', host: '127.0.0.1', port: 1, pipelineConnect: false as const, transport: 'neon' as const };
const driver = { useSecureWebSocket: false, pipelineConnect: false as const, connectTimeoutMs: 100, retryAfterSeconds: 1 };

describe('sql tag', () => {
  it('accepts a literal and counts its $n parameters', () => {
    const s = sql`SELECT $1::int + $2::int`;
    expect(isSqlText(s)).toBe(true);
    expect(s.paramCount).toBe(2);
  });

  it('refuses substitutions, even of harmless-looking values', () => {
    const userInput = "x'; DROP TABLE pages; --";
    const tag = sql as unknown as (s: TemplateStringsArray, ...v: unknown[]) => unknown;
    expect(() => tag`SELECT * FROM pages WHERE title = '${userInput}'`).toThrow(TypeError);
    expect(() => tag`SELECT ${1}`).toThrow(TypeError);
  });

  it('refuses a hand-made strings array (not a real template object)', () => {
    const fake = Object.assign(['SELECT 1'], { raw: ['SELECT 1'] }) as unknown as TemplateStringsArray;
    expect(() => sql(fake)).toThrow(TypeError);
  });

  it('the driver refuses statements that did not come from the tag, before connecting', async () => {
    const forged = Object.freeze({ text: 'SELECT 1', paramCount: 0 });
    await expect(
      runTransaction(endpoint, driver, { tenantId: 't', access: 'read', statementTimeoutMs: 100, steps: [{ sql: forged, values: [], rows: true }] }, neverRuns),
    ).rejects.toThrow(/not a sql/);
    await expect(
      runTransaction(endpoint, driver, { tenantId: 't', access: 'read', statementTimeoutMs: 100, steps: [{ sql: sql`SELECT $1::int`, values: [], rows: true }] }, neverRuns),
    ).rejects.toThrow(/parameter count/);
  });
});

describe('route table', () => {
  it('every route is a sql literal whose placeholders match its declared params', () => {
    for (const r of DATA_ROUTES) {
      expect(isSqlText(r.sql)).toBe(true);
      expect(r.sql.paramCount).toBe(r.params.length);
    }
    expect(DATA_ROUTES.map((r) => `${r.method} ${r.path} ${r.access}`)).toEqual([
      'GET /data/pages read',
      'GET /data/pages/:id read',
      'POST /data/pages write',
      'PATCH /data/pages/:id write',
      'DELETE /data/pages/:id write',
    ]);
  });

  it('a table whose SQL and params disagree is refused at load', () => {
    const bad: DataRoute = { ...DATA_ROUTES[1]!, params: [] };
    expect(() => validateRouteTable([bad])).toThrow(/\$1 but 0 params/);
    const noPathParam: DataRoute = { ...DATA_ROUTES[1]!, path: '/data/pages' };
    expect(() => validateRouteTable([noPathParam])).toThrow(/no :id in path/);
    const patch = DATA_ROUTES.find((r) => r.method === 'PATCH')!;
    expect(() => validateRouteTable([{ ...patch, bodyNeedsOneOf: ['nonexistent'] }])).toThrow(/bodyNeedsOneOf names no body param/);
    const del = DATA_ROUTES.find((r) => r.method === 'DELETE')!;
    expect(() => validateRouteTable([{ ...del, params: [...del.params, { name: 'x', from: 'body', schema: patch.params[2]!.schema }] }])).toThrow(/DELETE has no body|\$1 but 2/);
  });
});
