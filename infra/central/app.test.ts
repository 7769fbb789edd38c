import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MALFORMED_JSON_MESSAGE } from '../../src/errors/messages.ts';
import { centralRequest, IDENTITY_HEADERS, importKeyRing, newAssertionKeys, signAssertion, type AssertionKeyRing } from '../../src/identity-assertion/index.ts';
import { createTokenSigner, generateSigningKey, type TokenSigner } from '../auth/tokens.ts';
import { migrate } from '../db/migrate.ts';
import { startPgliteDatabase, type ProvisionedDb } from '../db/provision.ts';
import type { Db } from '../db/types.ts';
import { createCentralApp } from './app.ts';
import { parseCentralConfig, type CentralConfigInput } from './config.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const ISSUER = 'http://central.test';
const PASSWORD = 'correct horse';
const HOUR = 3600;

let central: ProvisionedDb;
let eu: ProvisionedDb;
let ap: ProvisionedDb;
let signer: TokenSigner;
/** Queries sent to the control-plane database, to prove refused requests send none. */
let queries = 0;
let counted: Db;
let clockMs = Date.now();
/** Central's ring, as the gateway holds it. */
let gatewayKeys: AssertionKeyRing;

type App = ReturnType<typeof createCentralApp>;
function makeApp(config: Partial<CentralConfigInput> = {}): App {
  // Only eu-central-1 and ap-southeast-2 have databases; a broken us-east-1 proves errors stay generic.
  const broken = { query: async () => { throw new Error('connect ECONNREFUSED 10.0.0.1 secret detail'); } } as unknown as Db;
  return createCentralApp({
    db: counted,
    regionDbs: { 'eu-central-1': eu.db, 'ap-southeast-2': ap.db, 'us-east-1': broken },
    signer,
    gatewayKeys,
    config: parseCentralConfig({ environment: 'test', passwordHashing: 'development', ...config }),
    clock: () => clockMs,
  });
}

interface CallOptions {
  body?: unknown;
  token?: string;
  ip?: string;
  headers?: Record<string, string>;
  /** Send it as a direct caller would: without the gateway's assertion. */
  direct?: boolean;
}
/** A request as the gateway sends it: client address and request id, signed with central's key. */
async function call(app: App, method: string, path: string, o: CallOptions = {}) {
  const client = { clientIp: o.ip ?? '192.0.2.1', requestId: o.headers?.['x-request-id'] ?? crypto.randomUUID() };
  const headers: Record<string, string> = { [IDENTITY_HEADERS.clientIp]: client.clientIp, [IDENTITY_HEADERS.requestId]: client.requestId, ...o.headers };
  if (!o.direct) headers[IDENTITY_HEADERS.assertion] = await signAssertion(centralRequest(method, path, client), gatewayKeys.keys[0]!);
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  return app.request(path, { method, headers, body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body) });
}

beforeAll(async () => {
  [central, eu, ap] = await Promise.all([startPgliteDatabase(), startPgliteDatabase(), startPgliteDatabase()]);
  await migrate(central.db, 'central');
  await migrate(eu.db, 'region');
  await migrate(ap.db, 'region');
  signer = await createTokenSigner(await generateSigningKey(), { issuer: ISSUER });
  gatewayKeys = await importKeyRing(newAssertionKeys(['central']).central!);
  const db = central.db;
  counted = {
    kind: db.kind,
    query: (sql, params) => (queries++, db.query(sql, params)),
    exec: (sql) => db.exec(sql),
    transaction: (fn) => (queries++, db.transaction(fn)),
    close: () => db.close(),
  };
});
afterAll(async () => {
  await Promise.all([central?.close(), eu?.close(), ap?.close()]);
});

describe('sign-up and login', () => {
  let app: App;
  const post = (path: string, body: unknown, o: CallOptions = {}) => call(app, 'POST', path, { ...o, body });
  const signup = (over: Record<string, unknown> = {}) =>
    post('/auth/signup', { email: 'ada@example.com', password: PASSWORD, workspace: 'Analytical', region: 'eu-central-1', ...over });
  beforeAll(() => {
    app = makeApp();
  });

  it('signs up: user, workspace in the region, owner membership, tenant row in the region database, a session', async () => {
    const res = await signup();
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, tenant_region: 'eu-central-1', session_expires_in: 12 * HOUR });
    expect(body.tenant_id).toMatch(/^ws_[0-9a-f]{20}$/);
    expect(body.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);

    const claims = await signer.verify(body.token);
    expect(claims).toMatchObject({ iss: ISSUER, aud: 'edge-tenant-router', sub: body.user_id, tenant_id: body.tenant_id, tenant_region: 'eu-central-1' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.auth_time).toBe(Math.floor(clockMs / 1000));
    expect(claims.sid).toMatch(/^[0-9a-f-]{36}$/);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(body.token)).toEqual({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' });

    const ws = await central.db.query('SELECT region FROM workspaces WHERE id = $1', [body.tenant_id]);
    expect(ws.rows).toEqual([{ region: 'eu-central-1' }]);
    const m = await central.db.query('SELECT role FROM memberships WHERE workspace_id = $1', [body.tenant_id]);
    expect(m.rows).toEqual([{ role: 'owner' }]);
    expect((await eu.db.query('SELECT name FROM tenants WHERE id = $1', [body.tenant_id])).rows).toEqual([{ name: 'Analytical' }]);
    expect((await ap.db.query('SELECT 1 FROM tenants WHERE id = $1', [body.tenant_id])).rowCount).toBe(0);

    const u = await central.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [body.user_id]);
    expect(u.rows[0]!.password_hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(u.rows[0]!.password_hash).not.toContain(PASSWORD);
  });

  it('answers 409 for an email already registered, whatever its case', async () => {
    const res = await signup({ email: 'ADA@example.COM' });
    expect(res.status).toBe(409);
    expect((await res.json()).error.code).toBe('email_taken');
  });

  it.each<[Record<string, unknown>, string]>([
    [{ email: undefined }, 'email'],
    [{ email: 'not-an-email' }, 'email'],
    [{ email: 42 }, 'email'],
    [{ password: 'short' }, 'password'],
    [{ password: undefined }, 'password'],
    [{ workspace: '   ' }, 'workspace'],
    [{ workspace: undefined }, 'workspace'],
    [{ region: 'mars-north-1' }, 'region'],
    [{ region: undefined }, 'region'],
    // Names every plain object has: configuration is looked up by own key only.
    ...['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype'].map((r): [Record<string, unknown>, string] => [{ region: r }, 'region']),
  ])('signup %j → 400 naming %s, and nothing is created', async (over, field) => {
    const email = `new-${Math.random().toString(36).slice(2)}@example.com`;
    const res = await signup({ email, ...over });
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(new RegExp(`^${field}\\b`));
    expect((await central.db.query('SELECT 1 FROM users WHERE email = $1', [email])).rowCount).toBe(0);
  });

  it('answers one message for a body that is not a JSON object, on every route that reads one', async () => {
    for (const path of ['/auth/signup', '/auth/login', '/auth/refresh', '/auth/logout', '/auth/workspaces']) {
      for (const raw of ['{nope', '[]', '"x"', '', 'null']) {
        const res = await post(path, raw);
        if (path === '/auth/workspaces') {
          expect(res.status).toBe(401); // the token is checked before the body is read
          continue;
        }
        expect(res.status, `${path} ${raw}`).toBe(400);
        expect((await res.json()).error).toMatchObject({ code: 'invalid_request', message: MALFORMED_JSON_MESSAGE });
      }
    }
  });

  it('logs in; a wrong password and an unknown user get the same 401', async () => {
    const ok = await post('/auth/login', { email: 'Ada@Example.com', password: PASSWORD });
    expect(ok.status).toBe(200);
    const body = await ok.json();
    expect((await signer.verify(body.token)).tenant_region).toBe('eu-central-1');
    expect(body.workspaces).toEqual([{ id: body.tenant_id, name: 'Analytical', region: 'eu-central-1', role: 'owner' }]);

    const wrong = await post('/auth/login', { email: 'ada@example.com', password: 'correct horsE' }, { ip: '192.0.2.77' });
    const unknown = await post('/auth/login', { email: 'nobody@example.com', password: PASSWORD }, { ip: '192.0.2.77' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const [w, u] = [(await wrong.json()).error, (await unknown.json()).error];
    expect({ ...w, requestId: 'x' }).toEqual({ ...u, requestId: 'x' });
  });

  it('login: 400 naming the field', async () => {
    const res = await post('/auth/login', { email: 'ada@example.com' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/^password\b/);
  });

  it('answers 500 without internals when something breaks, in the one error shape', async () => {
    const spy = console.error;
    console.error = () => {};
    try {
      const res = await signup({ email: 'broken@example.com', region: 'us-east-1' });
      expect(res.status).toBe(500);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const text = await res.text();
      const { error } = JSON.parse(text);
      expect(error).toEqual({ code: 'internal', message: 'internal error', requestId: res.headers.get('x-request-id') });
      expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(text).not.toMatch(/ECONNREFUSED|secret|at /);
    } finally {
      console.error = spy;
    }
    // Nothing was created for the failed sign-up.
    expect((await central.db.query("SELECT 1 FROM users WHERE email = 'broken@example.com'")).rowCount).toBe(0);
  });

  it("errors carry the gateway's request id and Cache-Control: no-store; 404s too", async () => {
    for (const res of [
      await post('/auth/login', { email: 'x@example.com' }, { headers: { 'x-request-id': 'gw-req-123' } }),
      await call(app, 'GET', '/nope', { headers: { 'x-request-id': 'gw-req-123' } }),
    ]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect((await res.json()).error.requestId).toBe('gw-req-123');
    }
    // A client-made id that is not a plain token is not echoed.
    const odd = await post('/auth/login', { email: 'x@example.com' }, { headers: { 'x-request-id': 'a b<script>' } });
    expect((await odd.json()).error.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('publishes the public key only', async () => {
    const res = await app.request('/.well-known/jwks.json');
    const { keys } = await res.json();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: signer.kid, alg: 'ES256', use: 'sig' });
    expect(keys[0].d).toBeUndefined();
  });
});

describe('sessions: refresh tokens', () => {
  let app: App;
  let n = 0;
  const post = (path: string, body: unknown, o: CallOptions = {}) => call(app, 'POST', path, { ...o, body });
  /** A fresh user (own account, own address, so limits never mix between tests). */
  async function newUser(region = 'eu-central-1') {
    const email = `s${++n}-${Date.now()}@example.com`;
    const res = await post('/auth/signup', { email, password: PASSWORD, workspace: `W${n}`, region });
    expect(res.status).toBe(201);
    return { email, ...(await res.json()) } as { email: string; token: string; refresh_token: string; tenant_id: string; user_id: string };
  }
  const refresh = (refresh_token: string, ip = '192.0.2.10') => post('/auth/refresh', { refresh_token }, { ip });
  beforeAll(() => {
    app = makeApp();
  });

  it('rotates on every use: each refresh answers a new access token and a new refresh token; auth_time stays', async () => {
    const a = await newUser();
    const first = await signer.verify(a.token);
    let current = a.refresh_token;
    const seen = new Set([current]);
    for (let i = 0; i < 3; i++) {
      const res = await refresh(current);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = await res.json();
      expect(seen.has(body.refresh_token)).toBe(false);
      seen.add(body.refresh_token);
      const claims = await signer.verify(body.token);
      expect(claims).toMatchObject({ sub: a.user_id, tenant_id: a.tenant_id, tenant_region: 'eu-central-1', auth_time: first.auth_time, sid: first.sid });
      current = body.refresh_token;
    }
  });

  it('stores refresh tokens only as hashes', async () => {
    const a = await newUser();
    const rows = await central.db.query<{ token_hash: Uint8Array }>(
      'SELECT t.token_hash FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id WHERE s.user_id = $1',
      [a.user_id],
    );
    expect(rows.rows).toHaveLength(1);
    const stored = Buffer.from(rows.rows[0]!.token_hash);
    expect(stored).toHaveLength(32);
    expect(stored.equals(createHash('sha256').update(a.refresh_token).digest())).toBe(true);
    const dump = JSON.stringify((await central.db.query('SELECT * FROM refresh_tokens')).rows) + JSON.stringify((await central.db.query('SELECT * FROM auth_sessions')).rows);
    expect(dump).not.toContain(a.refresh_token.slice(3));
  });

  it('reuse of a rotated refresh token revokes the whole family with 401: the newer token and the access tokens too', async () => {
    const a = await newUser();
    const r1 = await (await refresh(a.refresh_token)).json();
    const reuse = await refresh(a.refresh_token);
    expect(reuse.status).toBe(401);
    expect(reuse.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect((await reuse.json()).error).toMatchObject({ code: 'invalid_token', message: expect.stringMatching(/already used/) });
    // The token rotated to is dead too, and so is exchanging the session's access tokens.
    expect((await refresh(r1.refresh_token)).status).toBe(401);
    expect((await post('/auth/token', {}, { token: r1.token })).status).toBe(401);
    const s = await central.db.query('SELECT revoke_reason FROM auth_sessions WHERE user_id = $1', [a.user_id]);
    expect(s.rows).toEqual([{ revoke_reason: 'reuse' }]);
    // Another session of the same user is untouched.
    const other = await (await post('/auth/login', { email: a.email, password: PASSWORD })).json();
    expect((await refresh(other.refresh_token)).status).toBe(200);
  });

  it('two concurrent uses of one refresh token: at most one succeeds, and the family is revoked', async () => {
    const a = await newUser();
    const results = await Promise.all([refresh(a.refresh_token), refresh(a.refresh_token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    const winner = await results.find((r) => r.status === 200)!.json();
    expect((await refresh(winner.refresh_token)).status).toBe(401);
  });

  it('logout revokes the family: its refresh tokens and access-token exchange; unknown tokens get the same 204', async () => {
    const a = await newUser();
    const r1 = await (await refresh(a.refresh_token)).json();
    const out = await post('/auth/logout', { refresh_token: r1.refresh_token });
    expect(out.status).toBe(204);
    expect((await refresh(r1.refresh_token)).status).toBe(401);
    const exchange = await post('/auth/token', {}, { token: r1.token });
    expect(exchange.status).toBe(401);
    expect((await exchange.json()).error.message).toMatch(/ended/);
    expect((await post('/auth/logout', { refresh_token: 'rt_' + 'A'.repeat(43) })).status).toBe(204);
    expect((await post('/auth/logout', { refresh_token: r1.refresh_token })).status).toBe(204);
    expect((await post('/auth/logout', {})).status).toBe(400);
  });

  it('refuses malformed and unknown refresh tokens with 401, and a missing one with 400', async () => {
    for (const t of ['rt_short', 'x'.repeat(46), 'rt_' + 'B'.repeat(43)]) expect((await refresh(t)).status).toBe(401);
    const missing = await post('/auth/refresh', {});
    expect(missing.status).toBe(400);
    expect((await missing.json()).error.message).toMatch(/^refresh_token is required/);
  });

  it('ends at the absolute lifetime (12 h from sign-in): refresh and exchange then answer 401', async () => {
    const start = clockMs;
    try {
      const a = await newUser();
      clockMs = start + (12 * HOUR - 60) * 1000;
      const late = await refresh(a.refresh_token);
      expect(late.status).toBe(200);
      const body = await late.json();
      expect(body.session_expires_in).toBe(60);
      clockMs = start + 12 * HOUR * 1000;
      const expired = await refresh(body.refresh_token);
      expect(expired.status).toBe(401);
      expect((await expired.json()).error.message).toMatch(/lifetime/);
      const exchange = await post('/auth/token', {}, { token: body.token });
      expect(exchange.status).toBe(401);
    } finally {
      clockMs = start;
    }
  });

  it('the lifetime is configurable', async () => {
    const start = clockMs;
    const short = makeApp({ sessionLifetimeSeconds: 600 });
    try {
      const res = await call(short, 'POST', '/auth/signup', { body: { email: `short-${Date.now()}@example.com`, password: PASSWORD, workspace: 'S', region: 'eu-central-1' } });
      const body = await res.json();
      expect(body.session_expires_in).toBe(600);
      clockMs = start + 601_000;
      expect((await call(short, 'POST', '/auth/refresh', { body: { refresh_token: body.refresh_token } })).status).toBe(401);
    } finally {
      clockMs = start;
    }
    expect(() => parseCentralConfig({ environment: 'test', sessionLifetimeSeconds: 10 })).toThrow(/sessionLifetimeSeconds/);
  });

  it('a removed member cannot refresh into that workspace (403)', async () => {
    const a = await newUser();
    await central.db.query('DELETE FROM memberships WHERE user_id = $1', [a.user_id]);
    const res = await refresh(a.refresh_token);
    expect(res.status).toBe(403);
    expect((await res.json()).error.code).toBe('not_a_member');
  });
});

describe('token exchange and workspaces', () => {
  let app: App;
  let n = 0;
  const post = (path: string, body: unknown, o: CallOptions = {}) => call(app, 'POST', path, { ...o, body });
  async function newUser(region = 'eu-central-1', workspace?: string) {
    const email = `w${++n}-${Date.now()}@example.com`;
    const res = await post('/auth/signup', { email, password: PASSWORD, workspace: workspace ?? `First ${n}`, region });
    expect(res.status).toBe(201);
    return { email, ...(await res.json()) } as { email: string; token: string; refresh_token: string; tenant_id: string; user_id: string };
  }
  beforeAll(() => {
    app = makeApp();
  });

  it('exchanges a valid access token for a new one of the same session, keeping auth_time', async () => {
    const a = await newUser();
    const before = await signer.verify(a.token);
    clockMs += 5000;
    try {
      const res = await call(app, 'POST', '/auth/token', { token: a.token });
      expect(res.status).toBe(200);
      const after = await signer.verify((await res.json()).token);
      expect(after).toMatchObject({ tenant_id: a.tenant_id, sub: a.user_id, auth_time: before.auth_time, sid: before.sid });
      expect(after.jti).not.toBe(before.jti);
    } finally {
      clockMs -= 5000;
    }
  });

  it('refuses /auth/token with a token central did not issue or cannot resolve: 401, never 500', async () => {
    expect((await call(app, 'POST', '/auth/token')).status).toBe(401);
    const a = await newUser();
    // What `npm run token` makes: same key and claims, but no session of ours behind it.
    const dev = await signer.sign({ sub: 'dev-user', tenantId: 'ws_x', region: 'mars-1' });
    const devUuid = await signer.sign({ sub: a.user_id, tenantId: a.tenant_id, region: 'eu-central-1' });
    const badSid = await signer.sign({ sub: a.user_id, tenantId: a.tenant_id, region: 'eu-central-1', extra: { sid: 'not-a-uuid' } });
    const otherSid = await signer.sign({ sub: a.user_id, tenantId: a.tenant_id, region: 'eu-central-1', extra: { sid: crypto.randomUUID() } });
    const someoneElses = await signer.sign({ sub: crypto.randomUUID(), tenantId: a.tenant_id, region: 'eu-central-1', extra: { sid: decodeJwt(a.token).sid } });
    const [h, , s] = a.token.split('.');
    const forged = [h, Buffer.from(JSON.stringify({ ...decodeJwt(a.token), tenant_id: 'ws_second0000' })).toString('base64url'), s].join('.');
    const otherKey = await createTokenSigner(await generateSigningKey(), { issuer: ISSUER });
    const foreign = await otherKey.sign({ sub: a.user_id, tenantId: a.tenant_id, region: 'eu-central-1', extra: { sid: decodeJwt(a.token).sid } });
    for (const token of [dev, devUuid, badSid, otherSid, someoneElses, forged, foreign, 'not.a.jwt']) {
      for (const [method, path] of [['POST', '/auth/token'], ['GET', '/auth/workspaces'], ['POST', '/auth/workspaces']] as const) {
        const res = await call(app, method, path, { token, body: method === 'POST' ? { name: 'x', region: 'eu-central-1' } : undefined });
        expect(res.status, `${path} ${token.slice(0, 20)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="edge-tenant-router"/);
      }
    }
  });

  it('a user with several workspaces logs in to the one used last and gets the list; never a 400', async () => {
    const a = await newUser('eu-central-1', 'Home');
    const created = await post('/auth/workspaces', { name: 'Sydney office', region: 'ap-southeast-2' }, { token: a.token });
    expect(created.status).toBe(201);
    const second = await created.json();
    expect(second.workspace).toEqual({ id: second.tenant_id, name: 'Sydney office', region: 'ap-southeast-2', role: 'owner' });

    const login = async (workspace?: string) => post('/auth/login', { email: a.email, password: PASSWORD, ...(workspace ? { workspace } : {}) });
    // The workspace created last was used last.
    let res = await login();
    expect(res.status).toBe(200);
    let body = await res.json();
    expect(body.tenant_id).toBe(second.tenant_id);
    expect(body.workspaces.map((w: { name: string }) => w.name)).toEqual(['Home', 'Sydney office']);
    // Switching back makes Home the most recent.
    const sw = await post('/auth/token', { workspace: a.tenant_id }, { token: body.token });
    expect(sw.status).toBe(200);
    res = await login();
    body = await res.json();
    expect(body.tenant_id).toBe(a.tenant_id);
    // Naming one still works, by id or by name; one that is not yours is a 403.
    expect((await (await login('Sydney office')).json()).tenant_id).toBe(second.tenant_id);
    expect((await login('ws_zzzzzzzzzz')).status).toBe(403);
  });

  it('POST /auth/workspaces creates the tenant in that region only, and answers a token for it in the same session', async () => {
    const a = await newUser();
    const res = await post('/auth/workspaces', { name: 'APAC', region: 'ap-southeast-2' }, { token: a.token });
    expect(res.status).toBe(201);
    const body = await res.json();
    const claims = await signer.verify(body.token);
    const original = await signer.verify(a.token);
    expect(claims).toMatchObject({ sub: a.user_id, tenant_id: body.tenant_id, tenant_region: 'ap-southeast-2', sid: original.sid, auth_time: original.auth_time });
    expect((await ap.db.query('SELECT name FROM tenants WHERE id = $1', [body.tenant_id])).rows).toEqual([{ name: 'APAC' }]);
    expect((await eu.db.query('SELECT 1 FROM tenants WHERE id = $1', [body.tenant_id])).rowCount).toBe(0);
    expect((await central.db.query('SELECT region FROM workspaces WHERE id = $1', [body.tenant_id])).rows).toEqual([{ region: 'ap-southeast-2' }]);
    // Its refresh token is bound to the new workspace.
    const refreshed = await (await post('/auth/refresh', { refresh_token: body.refresh_token })).json();
    expect(decodeJwt(refreshed.token).tenant_id).toBe(body.tenant_id);
    // Every unconfigured region is a 400 and creates nothing.
    for (const region of ['mars-1', 'constructor', '__proto__', 'toString', '']) {
      const bad = await post('/auth/workspaces', { name: 'X', region }, { token: a.token });
      expect(bad.status, region).toBe(400);
    }
    expect((await central.db.query("SELECT 1 FROM workspaces WHERE name = 'X'")).rowCount).toBe(0);
  });

  it('GET /auth/workspaces lists the caller’s workspaces with their regions', async () => {
    const a = await newUser('eu-central-1', 'Listed');
    await post('/auth/workspaces', { name: 'Listed AP', region: 'ap-southeast-2' }, { token: a.token });
    const res = await call(app, 'GET', '/auth/workspaces', { token: a.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body.current).toBe(a.tenant_id);
    expect(body.workspaces.map((w: { name: string; region: string; role: string }) => [w.name, w.region, w.role])).toEqual([
      ['Listed', 'eu-central-1', 'owner'],
      ['Listed AP', 'ap-southeast-2', 'owner'],
    ]);
  });

  it('the owner adds a member by email; the member can then switch to it; nobody else can add', async () => {
    const owner = await newUser('ap-southeast-2', 'Shared');
    const member = await newUser('eu-central-1', 'Own');
    const add = (token: string, body: unknown, id = owner.tenant_id) => post(`/auth/workspaces/${id}/members`, body, { token });
    const res = await add(owner.token, { email: member.email.toUpperCase() });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ workspace_id: owner.tenant_id, user_id: member.user_id, role: 'member' });
    expect((await add(owner.token, { email: member.email })).status).toBe(409);
    expect((await add(owner.token, { email: 'nobody-here@example.com' })).status).toBe(404);
    expect((await add(owner.token, { email: member.email, role: 'owner' })).status).toBe(400);
    // A member is not the owner; nor is anyone for a workspace that does not exist.
    const third = await newUser();
    const byMember = await add(member.token, { email: third.email });
    expect(byMember.status).toBe(403);
    expect((await byMember.json()).error.code).toBe('not_owner');
    expect((await add(owner.token, { email: third.email }, 'ws_doesnotexist')).status).toBe(403);
    expect((await add(owner.token, { email: third.email }, 'constructor')).status).toBe(403);

    const sw = await post('/auth/token', { workspace: owner.tenant_id }, { token: member.token });
    expect(sw.status).toBe(200);
    const claims = await signer.verify((await sw.json()).token);
    expect(claims).toMatchObject({ sub: member.user_id, tenant_id: owner.tenant_id, tenant_region: 'ap-southeast-2', auth_time: (await signer.verify(member.token)).auth_time });
    expect((await post('/auth/token', { workspace: third.tenant_id }, { token: member.token })).status).toBe(403);
  });
});

describe('central limits failed sign-ins itself', () => {
  it('per account: after the limit even the right password gets 429 with Retry-After, and no query or password work is done', async () => {
    const app = makeApp({ failedAuthPerAccount: { max: 3, windowSeconds: 60 }, failedAuthPerIp: { max: 100, windowSeconds: 60 } });
    const email = `limited-${Date.now()}@example.com`;
    expect((await call(app, 'POST', '/auth/signup', { body: { email, password: PASSWORD, workspace: 'L', region: 'eu-central-1' } })).status).toBe(201);
    for (let i = 0; i < 3; i++) {
      // A different address each time: only the account limit can trigger.
      expect((await call(app, 'POST', '/auth/login', { ip: `198.51.100.${i}`, body: { email, password: 'wrong password' } })).status).toBe(401);
    }
    const before = queries;
    const limited = await call(app, 'POST', '/auth/login', { ip: '198.51.100.99', body: { email: email.toUpperCase(), password: PASSWORD } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await limited.json()).error.code).toBe('rate_limited');
    expect(queries - before).toBe(0);
    // The window passes; the right password works again.
    const start = clockMs;
    try {
      clockMs = start + 61_000;
      expect((await call(app, 'POST', '/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    } finally {
      clockMs = start;
    }
  });

  it('per client address, across accounts, and for refresh tokens too', async () => {
    const app = makeApp({ failedAuthPerIp: { max: 4, windowSeconds: 60 } });
    const ip = '203.0.113.50';
    for (let i = 0; i < 2; i++) expect((await call(app, 'POST', '/auth/login', { ip, body: { email: `ghost${i}@example.com`, password: 'x' } })).status).toBe(401);
    for (let i = 0; i < 2; i++) expect((await call(app, 'POST', '/auth/refresh', { ip, body: { refresh_token: 'rt_' + String(i).repeat(43) } })).status).toBe(401);
    const before = queries;
    expect((await call(app, 'POST', '/auth/login', { ip, body: { email: 'ghost9@example.com', password: 'x' } })).status).toBe(429);
    expect((await call(app, 'POST', '/auth/refresh', { ip, body: { refresh_token: 'rt_' + 'C'.repeat(43) } })).status).toBe(429);
    expect(queries - before).toBe(0);
    // Another address is unaffected.
    expect((await call(app, 'POST', '/auth/login', { ip: '203.0.113.51', body: { email: 'ghost9@example.com', password: 'x' } })).status).toBe(401);
  });
});

describe('password hashing cost', () => {
  it('defaults to OWASP scrypt (N=2^17, r=8, p=1) and upgrades a weaker stored hash on the next successful login', async () => {
    const dev = makeApp();
    const owasp = makeApp({ passwordHashing: 'owasp' });
    const email = `upgrade-${Date.now()}@example.com`;
    const res = await call(dev, 'POST', '/auth/signup', { body: { email, password: PASSWORD, workspace: 'U', region: 'eu-central-1' } });
    const { user_id } = await res.json();
    const stored = async () => (await central.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [user_id])).rows[0]!.password_hash;
    expect(await stored()).toMatch(/^scrypt\$16384\$8\$1\$/);
    // A failed login changes nothing.
    expect((await call(owasp, 'POST', '/auth/login', { body: { email, password: 'wrong password' } })).status).toBe(401);
    expect(await stored()).toMatch(/^scrypt\$16384\$/);
    expect((await call(owasp, 'POST', '/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    const upgraded = await stored();
    expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    // The upgraded hash verifies, and is not downgraded by a development-cost app.
    expect((await call(owasp, 'POST', '/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    expect((await call(dev, 'POST', '/auth/login', { body: { email, password: PASSWORD } })).status).toBe(200);
    expect(await stored()).toBe(upgraded);
  });

  it('the development cost is an explicit setting that staging and production refuse', () => {
    expect(parseCentralConfig({ environment: 'production' }).passwordCost).toEqual({ N: 2 ** 17, r: 8, p: 1 });
    expect(parseCentralConfig({ environment: 'development', passwordHashing: 'development' }).passwordCost.N).toBe(2 ** 14);
    for (const environment of ['staging', 'production'] as const) {
      expect(() => parseCentralConfig({ environment, passwordHashing: 'development' })).toThrow(/passwordHashing: development password hashing is refused/);
    }
    expect(() => parseCentralConfig({ environment: 'prod' as 'production' })).toThrow(/environment/);
  });
});

describe('only through the gateway', () => {
  let app: App;
  const body = JSON.stringify({ email: 'ada@example.com', password: PASSWORD });
  const signed = async (over: { method?: string; path?: string; clientIp?: string; requestId?: string; kid?: 'other' | 'region'; at?: number } = {}) => {
    const client = { clientIp: over.clientIp ?? '192.0.2.1', requestId: over.requestId ?? 'rid-1' };
    const key =
      over.kid === 'region'
        ? (await importKeyRing(newAssertionKeys(['eu-central-1'])['eu-central-1']!)).keys[0]!
        : over.kid === 'other'
          ? (await importKeyRing([{ kid: gatewayKeys.keys[0]!.kid, secret: 'x'.repeat(64) }])).keys[0]!
          : gatewayKeys.keys[0]!;
    return signAssertion(centralRequest(over.method ?? 'POST', over.path ?? '/auth/login', client), key, over.at);
  };
  const send = (headers: Record<string, string>, path = '/auth/login', method = 'POST') =>
    app.request(path, { method, headers: { 'content-type': 'application/json', ...headers }, body: method === 'POST' ? body : undefined });
  const asGateway = (assertion: string, over: Record<string, string> = {}) => ({
    [IDENTITY_HEADERS.clientIp]: '192.0.2.1',
    [IDENTITY_HEADERS.requestId]: 'rid-1',
    [IDENTITY_HEADERS.assertion]: assertion,
    ...over,
  });
  beforeAll(async () => {
    app = makeApp({ passwordHashing: 'owasp' });
  });

  it('a direct call to /auth/login gets 401 and does no query and no password work', async () => {
    const now = Math.floor(Date.now() / 1000);
    const variants: Array<[string, Record<string, string>]> = [
      ['no assertion', { [IDENTITY_HEADERS.clientIp]: '192.0.2.1', [IDENTITY_HEADERS.requestId]: 'rid-1' }],
      ['garbage', asGateway('v2.central.1.abc')],
      ['a key of the right id but another secret', asGateway(await signed({ kid: 'other' }))],
      ["a region's key", asGateway(await signed({ kid: 'region' }))],
      ['signed for another path', asGateway(await signed({ path: '/auth/signup' }))],
      ['signed for another method', asGateway(await signed({ method: 'GET' }))],
      ['another client address than signed', asGateway(await signed(), { [IDENTITY_HEADERS.clientIp]: '198.51.100.7' })],
      ['another request id than signed', asGateway(await signed(), { [IDENTITY_HEADERS.requestId]: 'rid-2' })],
      ['too old', asGateway(await signed({ at: now - 120 }))],
      ['from the future', asGateway(await signed({ at: now + 120 }))],
    ];
    for (const [what, headers] of variants) {
      const before = queries;
      const res = await send(headers);
      expect(res.status, what).toBe(401);
      expect((await res.json()).error.code, what).toBe('gateway_assertion_required');
      expect(queries - before, what).toBe(0);
    }
    // The same request, signed, is served.
    expect((await send(asGateway(await signed()))).status).toBe(200);
  });

  it('every /auth route refuses direct calls; the JWKS and health stay public', async () => {
    for (const [method, path] of [
      ['POST', '/auth/signup'], ['POST', '/auth/login'], ['POST', '/auth/refresh'], ['POST', '/auth/logout'], ['POST', '/auth/token'],
      ['GET', '/auth/workspaces'], ['POST', '/auth/workspaces'], ['POST', '/auth/workspaces/ws_0123456789/members'],
    ] as const) {
      const before = queries;
      const res = await call(app, method, path, { direct: true, body: method === 'POST' ? {} : undefined });
      expect(res.status, path).toBe(401);
      expect(queries - before, path).toBe(0);
    }
    expect((await app.request('/.well-known/jwks.json')).status).toBe(200);
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('property: any client-chosen assertion, address or request id that the gateway did not sign → 401, no query', async () => {
    const valid = await signed();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.constantFrom(valid, valid.replace(/.$/, 'A'), valid.toUpperCase(), valid.replace('v2.', 'v1.'))),
        fc.oneof(fc.constant('192.0.2.1'), fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 20 })),
        fc.oneof(fc.constant('rid-1'), fc.uuid(), fc.string({ maxLength: 20 })),
        async (assertion, ip, rid) => {
          fc.pre(!(assertion === valid && ip === '192.0.2.1' && rid === 'rid-1'));
          const before = queries;
          let res: Response;
          try {
            res = await send({ [IDENTITY_HEADERS.clientIp]: ip, [IDENTITY_HEADERS.requestId]: rid, [IDENTITY_HEADERS.assertion]: assertion });
          } catch {
            return; // not a valid header value at all: no request was made
          }
          expect(res.status).toBe(401);
          expect(queries - before).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
