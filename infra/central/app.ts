/**
 * The control plane (central region): sign-up, login, token refresh and the
 * public keys the gateway verifies tokens with. The only place that knows
 * users, passwords and which region each tenant lives in.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Db } from '../db/types.ts';
import { ACCESS_TOKEN_TTL_SECONDS, type TokenSigner } from '../auth/tokens.ts';
import { HttpError, invalid, notFound, onError } from '../http/errors.ts';
import { jsonObject, optionalString, requiredString } from '../http/json-body.ts';
import { EmailTakenError, findUserByEmail, signUp, workspacesOf, type Workspace } from './accounts.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from './passwords.ts';

export interface CentralDeps {
  db: Db;
  /** Admin access to each region's database, to register new tenants there. */
  regionDbs: Record<string, Db>;
  signer: TokenSigner;
}

const EMAIL = { max: 254, trim: true, pattern: /^[^\s@]+@[^\s@]+\.[^\s@]+$/, patternHint: 'must be an email address' };
// The upper bound keeps a request from making the KDF hash megabytes.
const NEW_PASSWORD = { min: 8, max: 1024 };
const PASSWORD = { max: 1024 };
const WORKSPACE_NAME = { max: 100, trim: true };
const WORKSPACE_REF = { max: 100, trim: true };

const badCredentials = () => new HttpError(401, 'invalid_credentials', 'email or password is incorrect');
const badToken = (why: string) =>
  new HttpError(401, 'invalid_token', why, { headers: { 'www-authenticate': 'Bearer realm="edge-tenant-router", error="invalid_token"' } });

/** Picks the workspace a token is for: the named one (id or name), else the only one. */
function chooseWorkspace(all: Workspace[], wanted: string | undefined): Workspace {
  if (wanted !== undefined) {
    const byId = all.find((w) => w.id === wanted);
    if (byId) return byId;
    const byName = all.filter((w) => w.name === wanted);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) throw invalid('workspace is ambiguous: several of your workspaces have that name; use its id');
    throw new HttpError(403, 'not_a_member', 'workspace: you are not a member of that workspace');
  }
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw new HttpError(403, 'no_workspace', 'this user belongs to no workspace');
  throw new HttpError(400, 'invalid_request', 'workspace is required: this user belongs to several workspaces', {
    extra: { workspaces: all.map(({ id, name, region }) => ({ id, name, region })) },
  });
}

export function createCentralApp({ db, regionDbs, signer }: CentralDeps): Hono {
  const regions = Object.keys(regionDbs);
  const app = new Hono();
  app.onError(onError('central'));
  app.notFound(notFound);
  app.use('/auth/*', bodyLimit({ maxSize: 16 * 1024, onError: () => { throw new HttpError(413, 'payload_too_large', 'body too large'); } }));

  const issue = async (c: Context, status: 200 | 201, userId: string, w: Workspace) => {
    const token = await signer.sign({ sub: userId, tenantId: w.id, region: w.region });
    c.header('cache-control', 'no-store');
    return c.json(
      { token, token_type: 'Bearer', expires_in: ACCESS_TOKEN_TTL_SECONDS, user_id: userId, tenant_id: w.id, tenant_region: w.region },
      status,
    );
  };

  app.get('/healthz', (c) => c.json({ ok: true, service: 'central' }));

  app.get('/.well-known/jwks.json', (c) => {
    c.header('cache-control', 'public, max-age=60');
    return c.json(signer.jwks());
  });

  app.post('/auth/signup', async (c) => {
    const body = await jsonObject(c);
    const email = requiredString(body, 'email', EMAIL);
    const password = requiredString(body, 'password', NEW_PASSWORD);
    const workspaceName = requiredString(body, 'workspace', WORKSPACE_NAME);
    const region = requiredString(body, 'region', { max: 64 });
    const regionDb = regionDbs[region];
    if (!regionDb) throw invalid(`region must be one of ${regions.join(', ')}`);
    if (await findUserByEmail(db, email)) throw new HttpError(409, 'email_taken', 'email is already registered');
    try {
      const { userId, workspace } = await signUp(db, regionDb, { email, passwordHash: await hashPassword(password), workspaceName, region });
      return issue(c, 201, userId, workspace);
    } catch (err) {
      if (err instanceof EmailTakenError) throw new HttpError(409, 'email_taken', 'email is already registered');
      throw err;
    }
  });

  app.post('/auth/login', async (c) => {
    const body = await jsonObject(c);
    const email = requiredString(body, 'email', { max: 254, trim: true });
    const password = requiredString(body, 'password', PASSWORD);
    const wanted = optionalString(body, 'workspace', WORKSPACE_REF);
    const user = await findUserByEmail(db, email);
    if (!user) {
      await burnPasswordCheck(password);
      throw badCredentials();
    }
    if (!(await verifyPassword(password, user.password_hash))) throw badCredentials();
    return issue(c, 200, user.id, chooseWorkspace(await workspacesOf(db, user.id), wanted));
  });

  // Refresh, or switch to another of the user's workspaces, with a still-valid token.
  app.post('/auth/token', async (c) => {
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(c.req.header('authorization') ?? '');
    if (!m) throw badToken('authorization: a Bearer token is required');
    let claims;
    try {
      claims = await signer.verify(m[1]!);
    } catch {
      throw badToken('token is invalid or expired');
    }
    const body = await jsonObject(c, { allowEmpty: true });
    const wanted = optionalString(body, 'workspace', WORKSPACE_REF) ?? claims.tenant_id;
    // Membership is re-checked: a removed member cannot keep refreshing.
    return issue(c, 200, claims.sub, chooseWorkspace(await workspacesOf(db, claims.sub), wanted));
  });

  return app;
}
