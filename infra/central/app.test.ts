import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenSigner, generateSigningKey, type TokenSigner } from '../auth/tokens.ts';
import { migrate } from '../db/migrate.ts';
import { startPgliteDatabase, type ProvisionedDb } from '../db/provision.ts';
import type { Db } from '../db/types.ts';
import { createCentralApp } from './app.ts';

// Starting PGlite databases takes seconds on a loaded machine (initdb on a cold cache).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 60_000 });

const ISSUER = 'http://central.test';

describe('central app', () => {
  let central: ProvisionedDb;
  let eu: ProvisionedDb;
  let signer: TokenSigner;
  let app: ReturnType<typeof createCentralApp>;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const signup = (over: Record<string, unknown> = {}) =>
    post('/auth/signup', { email: 'ada@example.com', password: 'correct horse', workspace: 'Analytical', region: 'eu-central-1', ...over });

  beforeAll(async () => {
    [central, eu] = await Promise.all([startPgliteDatabase(), startPgliteDatabase()]);
    await migrate(central.db, 'central');
    await migrate(eu.db, 'region');
    signer = await createTokenSigner(await generateSigningKey(), { issuer: ISSUER });
    // Only eu-central-1 has a database here; a second, broken region proves errors stay generic.
    const broken = { query: async () => { throw new Error('connect ECONNREFUSED 10.0.0.1 secret detail'); } } as unknown as Db;
    app = createCentralApp({ db: central.db, regionDbs: { 'eu-central-1': eu.db, 'us-east-1': broken }, signer });
  });
  afterAll(async () => {
    await Promise.all([central.close(), eu.close()]);
  });

  it('signs up: user, workspace in the region, owner membership, tenant row in the region database', async () => {
    const res = await signup();
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900, tenant_region: 'eu-central-1' });
    expect(body.tenant_id).toMatch(/^ws_[0-9a-f]{20}$/);

    const claims = await signer.verify(body.token);
    expect(claims).toMatchObject({ iss: ISSUER, aud: 'edge-tenant-router', sub: body.user_id, tenant_id: body.tenant_id, tenant_region: 'eu-central-1' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(body.token)).toEqual({ alg: 'ES256', kid: signer.kid, typ: 'at+jwt' });

    const ws = await central.db.query('SELECT region FROM workspaces WHERE id = $1', [body.tenant_id]);
    expect(ws.rows).toEqual([{ region: 'eu-central-1' }]);
    const m = await central.db.query('SELECT role FROM memberships WHERE workspace_id = $1', [body.tenant_id]);
    expect(m.rows).toEqual([{ role: 'owner' }]);
    const t = await eu.db.query('SELECT name FROM tenants WHERE id = $1', [body.tenant_id]);
    expect(t.rows).toEqual([{ name: 'Analytical' }]);

    const u = await central.db.query<{ password_hash: string }>('SELECT password_hash FROM users WHERE id = $1', [body.user_id]);
    expect(u.rows[0]!.password_hash).toMatch(/^scrypt\$/);
    expect(u.rows[0]!.password_hash).not.toContain('correct horse');
  });

  it('answers 409 for an email already registered, whatever its case', async () => {
    const res = await signup({ email: 'ADA@example.COM' });
    expect(res.status).toBe(409);
    expect((await res.json()).error.code).toBe('email_taken');
  });

  it.each([
    [{ email: undefined }, 'email'],
    [{ email: 'not-an-email' }, 'email'],
    [{ email: 42 }, 'email'],
    [{ password: 'short' }, 'password'],
    [{ password: undefined }, 'password'],
    [{ workspace: '   ' }, 'workspace'],
    [{ workspace: undefined }, 'workspace'],
    [{ region: 'mars-north-1' }, 'region'],
    [{ region: undefined }, 'region'],
  ])('signup %j → 400 naming %s', async (over, field) => {
    const res = await signup({ email: 'new@example.com', ...over });
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(new RegExp(`^${field}\\b`));
  });

  it('answers 400 for a body that is not a JSON object', async () => {
    for (const raw of ['{nope', '[]', '"x"', '']) {
      const res = await post('/auth/signup', raw);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toEqual({ code: 'invalid_request', message: 'body must be a JSON object' });
    }
  });

  it('logs in; a wrong password and an unknown user get the same 401', async () => {
    const ok = await post('/auth/login', { email: 'Ada@Example.com', password: 'correct horse' });
    expect(ok.status).toBe(200);
    expect((await signer.verify((await ok.json()).token)).tenant_region).toBe('eu-central-1');

    const wrong = await post('/auth/login', { email: 'ada@example.com', password: 'correct horsE' });
    const unknown = await post('/auth/login', { email: 'nobody@example.com', password: 'correct horse' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(await wrong.json()).toEqual(await unknown.json());
  });

  it('login: 400 naming the field', async () => {
    const res = await post('/auth/login', { email: 'ada@example.com' });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/^password\b/);
  });

  it('requires "workspace" at login when the user has several, and honours it', async () => {
    const res = await signup({ email: 'grace@example.com', workspace: 'First' });
    const first = await res.json();
    // A second membership (no API for that yet): straight into the control plane.
    await central.db.query("INSERT INTO workspaces (id, name, region) VALUES ('ws_second0000', 'Second', 'eu-central-1')");
    await central.db.query("INSERT INTO memberships (user_id, workspace_id) VALUES ($1, 'ws_second0000')", [first.user_id]);

    const ambiguous = await post('/auth/login', { email: 'grace@example.com', password: 'correct horse' });
    expect(ambiguous.status).toBe(400);
    const err = (await ambiguous.json()).error;
    expect(err.message).toMatch(/^workspace is required/);
    expect(err.workspaces).toHaveLength(2);

    const byName = await post('/auth/login', { email: 'grace@example.com', password: 'correct horse', workspace: 'Second' });
    expect(decodeJwt((await byName.json()).token).tenant_id).toBe('ws_second0000');
    const notMine = await post('/auth/login', { email: 'grace@example.com', password: 'correct horse', workspace: 'ws_zzzzzzzzzz' });
    expect(notMine.status).toBe(403);

    // Switch workspace with the current token.
    const switched = await post('/auth/token', { workspace: 'ws_second0000' }, { authorization: `Bearer ${first.token}` });
    expect(switched.status).toBe(200);
    expect(decodeJwt((await switched.json()).token)).toMatchObject({ tenant_id: 'ws_second0000', sub: first.user_id });
    // Refresh keeps the current workspace.
    const refreshed = await app.request('/auth/token', { method: 'POST', headers: { authorization: `Bearer ${first.token}` } });
    expect(refreshed.status).toBe(200);
    const again = decodeJwt((await refreshed.json()).token);
    expect(again.tenant_id).toBe(first.tenant_id);
    expect(again.jti).not.toBe(decodeJwt(first.token).jti);
  });

  it('refuses /auth/token without a valid token', async () => {
    const none = await app.request('/auth/token', { method: 'POST' });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="edge-tenant-router"/);
    const login = await (await post('/auth/login', { email: 'ada@example.com', password: 'correct horse' })).json();
    const [h, p, s] = login.token.split('.');
    const forged = [h, Buffer.from(JSON.stringify({ ...decodeJwt(login.token), tenant_id: 'ws_second0000' })).toString('base64url'), s].join('.');
    const res = await app.request('/auth/token', { method: 'POST', headers: { authorization: `Bearer ${forged}` } });
    expect(res.status).toBe(401);
    expect(p).toBeTruthy();
  });

  it('publishes the public key only', async () => {
    const res = await app.request('/.well-known/jwks.json');
    const { keys } = await res.json();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: signer.kid, alg: 'ES256', use: 'sig' });
    expect(keys[0].d).toBeUndefined();
  });

  it('answers 500 without internals when something breaks', async () => {
    const spy = console.error;
    console.error = () => {};
    try {
      const res = await signup({ email: 'broken@example.com', region: 'us-east-1' });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'internal error' } });
      expect(text).not.toMatch(/ECONNREFUSED|secret|at /);
    } finally {
      console.error = spy;
    }
    // Nothing was created for the failed sign-up.
    const u = await central.db.query("SELECT 1 FROM users WHERE email = 'broken@example.com'");
    expect(u.rowCount).toBe(0);
  });
});
