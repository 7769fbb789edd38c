/**
 * The control plane (central region): sign-up, login, sessions (refresh tokens,
 * logout, token exchange and workspace switch), workspaces and members, and the
 * public keys the gateway verifies tokens with. The only place that knows users,
 * passwords and which region each tenant lives in.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Db } from '../db/types.ts';
import { ACCESS_TOKEN_TTL_SECONDS, type AccessTokenPayload, type TokenSigner } from '../auth/tokens.ts';
import { HttpError, invalid, notFound, onError } from '../http/errors.ts';
import { jsonObject, optionalString, requiredString, type JsonObject } from '../http/json-body.ts';
import {
  addMember,
  createWorkspace,
  EmailTakenError,
  findUserByEmail,
  markUsed,
  mostRecentlyUsed,
  setPasswordHash,
  signUp,
  workspacesOf,
  type Workspace,
} from './accounts.ts';
import type { AssertionKeyRing } from '../../src/identity-assertion/index.ts';
import type { CentralConfig } from './config.ts';
import { requireGatewayClient, type GatewayClientEnv } from './gateway-client.ts';
import { FailureLimit } from './failure-limit.ts';
import { burnPasswordCheck, hashPassword, needsRehash, verifyPassword } from './passwords.ts';
import { liveSession, newRefreshToken, REFRESH_TOKEN_PATTERN, revokeByRefreshToken, rotateRefreshToken, startSession, type Session } from './sessions.ts';

export interface CentralDeps {
  db: Db;
  /** Admin access to each region's database, to register new tenants there. */
  regionDbs: Record<string, Db>;
  signer: TokenSigner;
  config: CentralConfig;
  /** Central's assertion keys (GATEWAY_ASSERTION_KEYS' `central` ring): /auth/* accepts only what the gateway signed. */
  gatewayKeys: AssertionKeyRing;
  /** Milliseconds since the epoch; tests move it to pass a session's lifetime. */
  clock?: () => number;
}

const EMAIL = { max: 254, trim: true, pattern: /^[^\s@]+@[^\s@]+\.[^\s@]+$/, patternHint: 'must be an email address' };
// The upper bound keeps a request from making the KDF hash megabytes.
const NEW_PASSWORD = { min: 8, max: 1024 };
const PASSWORD = { max: 1024 };
const WORKSPACE_NAME = { max: 100, trim: true };
const WORKSPACE_REF = { max: 100, trim: true };
const REFRESH_TOKEN = { max: 64 };
const WORKSPACE_ID = /^ws_[a-z0-9]{8,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MEMBER_ROLES = new Set(['member', 'admin']);

const bearerChallenge = { 'www-authenticate': 'Bearer realm="edge-tenant-router", error="invalid_token"' };
const badCredentials = () => new HttpError(401, 'invalid_credentials', 'email or password is incorrect');
const badToken = (why: string) => new HttpError(401, 'invalid_token', why, { headers: bearerChallenge });

const SESSION_ENDED: Record<'unknown' | 'revoked' | 'expired' | 'reused', string> = {
  unknown: 'refresh token is not valid',
  revoked: 'the session was ended: sign in again',
  expired: 'the session is older than its lifetime: sign in again',
  reused: 'refresh token was already used: the session is revoked, sign in again',
};

/** Picks the workspace a token is for: the named one (id or name), else the one used last. */
function chooseWorkspace(all: Workspace[], wanted: string | undefined): Workspace {
  if (wanted !== undefined) {
    const byId = all.find((w) => w.id === wanted);
    if (byId) return byId;
    const byName = all.filter((w) => w.name === wanted);
    if (byName.length === 1) return byName[0]!;
    if (byName.length > 1) throw invalid('workspace is ambiguous: several of your workspaces have that name; use its id');
    throw new HttpError(403, 'not_a_member', 'workspace: you are not a member of that workspace');
  }
  const recent = mostRecentlyUsed(all);
  if (!recent) throw new HttpError(403, 'no_workspace', 'this user belongs to no workspace');
  return recent;
}

const listed = (all: Workspace[]) => all.map(({ id, name, region, role }) => ({ id, name, region, role }));

export function createCentralApp({ db, regionDbs, signer, config, gatewayKeys, clock = Date.now }: CentralDeps): Hono<GatewayClientEnv> {
  // Own keys only: a region named "constructor" or "__proto__" is simply not configured.
  const regionDb = new Map(Object.entries(regionDbs));
  const regionList = [...regionDb.keys()].join(', ');
  const now = () => Math.floor(clock() / 1000);
  const failuresByIp = new FailureLimit(config.failedAuthPerIp);
  const failuresByAccount = new FailureLimit(config.failedAuthPerAccount);

  const app = new Hono<GatewayClientEnv>();
  app.onError(onError('central'));
  app.notFound(notFound);
  // Before anything else: a direct call is refused without reading its body or touching the database.
  app.use('/auth/*', requireGatewayClient(gatewayKeys));
  app.use('/auth/*', bodyLimit({ maxSize: 16 * 1024, onError: () => { throw new HttpError(413, 'payload_too_large', 'body too large'); } }));

  /** The client address the gateway saw (signed); '' where the platform gave none. */
  const clientIp = (c: Context<GatewayClientEnv>) => c.get('client').clientIp || 'unknown';

  /** Who an attempt counts against: the signed client address, and for logins the account. */
  interface Attempt {
    ip: string;
    account?: string;
  }
  const attempt = (c: Context<GatewayClientEnv>, email?: string): Attempt => ({ ip: clientIp(c), account: email?.toLowerCase() });
  /** 429 before any password or token work when the address or the account has failed too often. */
  const refuseIfLimited = (a: Attempt) => {
    const t = now();
    const wait = Math.max(failuresByIp.retryAfter(a.ip, t), a.account === undefined ? 0 : failuresByAccount.retryAfter(a.account, t));
    if (wait > 0) throw new HttpError(429, 'rate_limited', 'too many failed attempts; try again later', { headers: { 'retry-after': String(wait) } });
  };
  const failed = (a: Attempt) => {
    failuresByIp.fail(a.ip, now());
    if (a.account !== undefined) failuresByAccount.fail(a.account, now());
  };

  /** A token response: access token (with sid and the session's auth_time) and the next refresh token. */
  const issue = async (c: Context<GatewayClientEnv>, status: 200 | 201, session: Session, w: Workspace, opts: { refreshToken?: string; body?: Record<string, unknown> } = {}) => {
    const refreshToken = opts.refreshToken ?? (await newRefreshToken(db, session.id, w.id));
    await markUsed(db, session.userId, w.id);
    const token = await signer.sign({ sub: session.userId, tenantId: w.id, region: w.region, authTime: session.authTime, extra: { sid: session.id } });
    c.header('cache-control', 'no-store');
    return c.json(
      {
        token,
        token_type: 'Bearer',
        expires_in: ACCESS_TOKEN_TTL_SECONDS,
        refresh_token: refreshToken,
        session_expires_in: Math.max(0, session.expiresAt - now()),
        user_id: session.userId,
        tenant_id: w.id,
        tenant_region: w.region,
        ...opts.body,
      },
      status,
    );
  };

  /**
   * The caller's access token, verified, and the live session it names. A token central
   * did not issue (no session of ours, e.g. a dev token) or whose session ended is a 401.
   */
  const authenticate = async (c: Context<GatewayClientEnv>): Promise<{ claims: AccessTokenPayload; session: Session }> => {
    const who = attempt(c);
    refuseIfLimited(who);
    const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(c.req.header('authorization') ?? '');
    if (!m) throw badToken('authorization: a Bearer token is required');
    const reject = (why: string) => {
      failed(who);
      return badToken(why);
    };
    let claims: AccessTokenPayload;
    try {
      claims = await signer.verify(m[1]!);
    } catch {
      throw reject('token is invalid or expired');
    }
    if (typeof claims.sid !== 'string' || !UUID.test(claims.sid) || !UUID.test(claims.sub)) {
      throw reject('token is not a session of this control plane');
    }
    const check = await liveSession(db, claims.sid, claims.sub, now());
    if (!check.ok) throw reject(check.reason === 'unknown' ? 'token is not a session of this control plane' : SESSION_ENDED[check.reason]);
    return { claims, session: check.session };
  };

  const region = (body: JsonObject) => {
    const name = requiredString(body, 'region', { max: 64 });
    const target = regionDb.get(name);
    if (!target) throw invalid(`region must be one of ${regionList}`);
    return { name, db: target };
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
    const target = region(body);
    if (await findUserByEmail(db, email)) throw new HttpError(409, 'email_taken', 'email is already registered');
    try {
      const passwordHash = await hashPassword(password, config.passwordCost);
      const { userId, workspace } = await signUp(db, target.db, { email, passwordHash, workspaceName, region: target.name });
      const session = await startSession(db, userId, now(), config.sessionLifetimeSeconds);
      return issue(c, 201, session, workspace, { body: { workspaces: listed([workspace]) } });
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
    const who = attempt(c, email);
    refuseIfLimited(who);
    const user = await findUserByEmail(db, email);
    if (!user) {
      await burnPasswordCheck(password, config.passwordCost);
      failed(who);
      throw badCredentials();
    }
    if (!(await verifyPassword(password, user.password_hash))) {
      failed(who);
      throw badCredentials();
    }
    failuresByAccount.reset(who.account!);
    if (needsRehash(user.password_hash, config.passwordCost)) {
      await setPasswordHash(db, user.id, await hashPassword(password, config.passwordCost));
    }
    const all = await workspacesOf(db, user.id);
    const workspace = chooseWorkspace(all, wanted);
    const session = await startSession(db, user.id, now(), config.sessionLifetimeSeconds);
    return issue(c, 200, session, workspace, { body: { workspaces: listed(all) } });
  });

  // A new access token for the refresh token's workspace, and the next refresh token.
  app.post('/auth/refresh', async (c) => {
    const body = await jsonObject(c);
    const token = requiredString(body, 'refresh_token', REFRESH_TOKEN);
    const who = attempt(c);
    refuseIfLimited(who);
    if (!REFRESH_TOKEN_PATTERN.test(token)) {
      failed(who);
      throw badToken(SESSION_ENDED.unknown);
    }
    const r = await rotateRefreshToken(db, token, now());
    if (!r.ok) {
      failed(who);
      if (r.reason === 'not_a_member') throw new HttpError(403, 'not_a_member', 'workspace: you are no longer a member of that workspace');
      throw badToken(SESSION_ENDED[r.reason]);
    }
    const workspace = (await workspacesOf(db, r.session.userId)).find((w) => w.id === r.workspaceId);
    if (!workspace) throw new HttpError(403, 'not_a_member', 'workspace: you are no longer a member of that workspace');
    return issue(c, 200, r.session, workspace, { refreshToken: r.refreshToken });
  });

  // Ends the session the refresh token belongs to: every refresh token of it, and its access tokens' exchange.
  app.post('/auth/logout', async (c) => {
    const body = await jsonObject(c);
    const token = requiredString(body, 'refresh_token', REFRESH_TOKEN);
    // The same answer whether or not the token existed: logout is no oracle for valid tokens.
    if (REFRESH_TOKEN_PATTERN.test(token)) await revokeByRefreshToken(db, token);
    c.header('cache-control', 'no-store');
    return c.body(null, 204);
  });

  // Exchange a still-valid access token, or switch to another of the user's workspaces; auth_time is kept.
  app.post('/auth/token', async (c) => {
    const { claims, session } = await authenticate(c);
    const body = await jsonObject(c, { allowEmpty: true });
    const wanted = optionalString(body, 'workspace', WORKSPACE_REF) ?? claims.tenant_id;
    // Membership is re-checked: a removed member cannot keep refreshing.
    return issue(c, 200, session, chooseWorkspace(await workspacesOf(db, session.userId), wanted));
  });

  app.get('/auth/workspaces', async (c) => {
    const { claims, session } = await authenticate(c);
    c.header('cache-control', 'no-store');
    return c.json({ workspaces: listed(await workspacesOf(db, session.userId)), current: claims.tenant_id });
  });

  // A new workspace in any configured region, owned by the caller; answers with a token for it.
  app.post('/auth/workspaces', async (c) => {
    const { session } = await authenticate(c);
    const body = await jsonObject(c);
    const name = requiredString(body, 'name', WORKSPACE_NAME);
    const target = region(body);
    const workspace = await createWorkspace(db, target.db, { userId: session.userId, name, region: target.name });
    return issue(c, 201, session, workspace, { body: { workspace: listed([workspace])[0] } });
  });

  app.post('/auth/workspaces/:id/members', async (c) => {
    const { session } = await authenticate(c);
    const workspaceId = c.req.param('id');
    const body = await jsonObject(c);
    const email = requiredString(body, 'email', EMAIL);
    const role = optionalString(body, 'role', { max: 16 }) ?? 'member';
    if (!MEMBER_ROLES.has(role)) throw invalid('role must be member or admin');
    if (!WORKSPACE_ID.test(workspaceId)) throw new HttpError(403, 'not_owner', 'only the workspace owner can add members');
    const r = await addMember(db, { ownerId: session.userId, workspaceId, email, role: role as 'member' | 'admin' });
    if (!r.ok) {
      if (r.reason === 'not_owner') throw new HttpError(403, 'not_owner', 'only the workspace owner can add members');
      if (r.reason === 'user_not_found') throw new HttpError(404, 'user_not_found', 'no user has that email');
      throw new HttpError(409, 'already_member', 'that user is already a member');
    }
    c.header('cache-control', 'no-store');
    return c.json({ workspace_id: workspaceId, user_id: r.userId, role }, 201);
  });

  return app;
}
