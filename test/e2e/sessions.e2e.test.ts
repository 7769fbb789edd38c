/**
 * Sessions and workspaces through the real gateway (wrangler dev + workerd) and the
 * local world: refresh-token rotation and reuse, logout, a second workspace in another
 * region whose pages land only there, and one error shape on every route.
 */
import { rm } from 'node:fs/promises';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenSigner } from '../../infra/auth/tokens.ts';
import { makeTestSandbox } from '../../infra/state.ts';
import { startWorld, type World } from '../../infra/world.ts';
import { MALFORMED_JSON_MESSAGE } from '../../src/errors/messages.ts';
import { gatewayClient, PASSWORD } from './gateway-client.ts';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 });

let world: World;
let sandboxDir: string;
const { gw, signup } = gatewayClient(() => world.gatewayUrl!);
const post = (path: string, body: unknown, token?: string) =>
  gw(path, { method: 'POST', token, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function pagesByRegion(tenant: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, r] of Object.entries(world.regions)) {
    out[name] = (await r.db.query<{ title: string }>('SELECT title FROM pages WHERE tenant_id = $1 ORDER BY title', [tenant])).rows.map((p) => p.title);
  }
  return out;
}

beforeAll(async () => {
  sandboxDir = await makeTestSandbox('e2e-sessions-');
  world = await startWorld({ dbMode: 'pglite', sandboxDir });
}, 180_000);

afterAll(async () => {
  await world?.stop();
  if (!process.env.KEEP_SANDBOX) await rm(sandboxDir, { recursive: true, force: true });
}, 60_000);

describe('sessions through the gateway', () => {
  it('a refresh token works once; its reuse revokes the family; logout revokes', async () => {
    const s = await signup('rotate@example.com', 'eu-central-1');
    const first = (s as unknown as { refresh_token: string }).refresh_token;
    const r1 = await post('/auth/refresh', { refresh_token: first });
    expect(r1.status).toBe(200);
    const b1 = await r1.json();
    expect(decodeJwt(b1.token)).toMatchObject({ tenant_id: s.tenant_id, auth_time: decodeJwt(s.token).auth_time });
    expect((await gw('/api/pages', { token: b1.token })).status).toBe(200);

    const reuse = await post('/auth/refresh', { refresh_token: first });
    expect(reuse.status).toBe(401);
    expect(reuse.headers.get('cache-control')).toBe('no-store');
    const err = (await reuse.json()).error;
    expect(err).toMatchObject({ code: 'invalid_token', requestId: reuse.headers.get('x-request-id') });
    expect((await post('/auth/refresh', { refresh_token: b1.refresh_token })).status).toBe(401);

    const login = await (await post('/auth/login', { email: 'rotate@example.com', password: PASSWORD })).json();
    expect((await post('/auth/logout', { refresh_token: login.refresh_token })).status).toBe(204);
    expect((await post('/auth/refresh', { refresh_token: login.refresh_token })).status).toBe(401);
    expect((await post('/auth/token', {}, login.token)).status).toBe(401);
  });

  it('a second workspace in another region gets its own token; pages after a switch land only in the new region', async () => {
    const s = await signup('two-homes@example.com', 'eu-central-1', { workspace: 'Frankfurt' });
    const created = await post('/auth/workspaces', { name: 'Sydney', region: 'ap-southeast-2' }, s.token);
    expect(created.status, await created.clone().text()).toBe(201);
    const sydney = await created.json();
    expect(sydney).toMatchObject({ tenant_region: 'ap-southeast-2', workspace: { name: 'Sydney', region: 'ap-southeast-2', role: 'owner' } });

    // Back to Frankfurt with a switch, write there; then switch to Sydney and write there.
    const toEu = await (await post('/auth/token', { workspace: s.tenant_id }, sydney.token)).json();
    expect((await post('/api/pages', { title: 'eu page' }, toEu.token)).status).toBe(201);
    const toAp = await post('/auth/token', { workspace: 'Sydney' }, toEu.token);
    expect(toAp.status).toBe(200);
    const ap = await toAp.json();
    expect(decodeJwt(ap.token)).toMatchObject({ tenant_id: sydney.tenant_id, tenant_region: 'ap-southeast-2', auth_time: decodeJwt(s.token).auth_time });
    for (const title of ['ap page 1', 'ap page 2']) expect((await post('/api/pages', { title }, ap.token)).status).toBe(201);
    expect((await post('/data/pages', { title: 'ap direct' }, ap.token)).status).toBe(201);

    expect(await pagesByRegion(sydney.tenant_id)).toEqual({ 'us-east-1': [], 'eu-central-1': [], 'ap-southeast-2': ['ap direct', 'ap page 1', 'ap page 2'] });
    expect(await pagesByRegion(s.tenant_id)).toEqual({ 'us-east-1': [], 'eu-central-1': ['eu page'], 'ap-southeast-2': [] });

    // The listing, and a login without a workspace: the one used last (Sydney) plus the list.
    const list = await (await gw('/auth/workspaces', { token: ap.token })).json();
    expect(list.workspaces.map((w: { name: string; region: string }) => `${w.name}@${w.region}`)).toEqual(['Frankfurt@eu-central-1', 'Sydney@ap-southeast-2']);
    const login = await post('/auth/login', { email: 'two-homes@example.com', password: PASSWORD });
    expect(login.status).toBe(200);
    const lb = await login.json();
    expect(lb.tenant_id).toBe(sydney.tenant_id);
    expect(lb.workspaces).toHaveLength(2);
  });

  it('the owner adds a member, who can then switch into that workspace', async () => {
    const owner = await signup('owner-m@example.com', 'us-east-1', { workspace: 'Virginia' });
    const member = await signup('member-m@example.com', 'eu-central-1');
    const add = await post(`/auth/workspaces/${owner.tenant_id}/members`, { email: 'member-m@example.com' }, owner.token);
    expect(add.status).toBe(201);
    expect((await post(`/auth/workspaces/${owner.tenant_id}/members`, { email: 'owner-m@example.com' }, member.token)).status).toBe(403);
    const sw = await post('/auth/token', { workspace: owner.tenant_id }, member.token);
    expect(sw.status).toBe(200);
    const t = (await sw.json()).token;
    expect((await post('/api/pages', { title: 'by the member' }, t)).status).toBe(201);
    expect((await pagesByRegion(owner.tenant_id))['us-east-1']).toEqual(['by the member']);
  });

  it('/auth/token with a dev token (npm run token) is a 401, not a 500', async () => {
    const signer = await createTokenSigner(world.state.signingKey, { issuer: world.state.issuer, audience: world.state.audience });
    for (const dev of [
      await signer.sign({ sub: 'dev-user', tenantId: 'ws_x', region: 'mars-1' }),
      await signer.sign({ sub: 'dev-user', tenantId: 'ws_devdevdev01', region: 'eu-central-1' }),
    ]) {
      const res = await post('/auth/token', {}, dev);
      expect(res.status).toBe(401);
      const { error } = await res.json();
      expect(error).toMatchObject({ code: 'invalid_token', requestId: res.headers.get('x-request-id') });
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('one message for malformed JSON on every route: /api, /data, /auth/*', async () => {
    const s = await signup('json@example.com', 'eu-central-1');
    const routes: Array<[string, string | undefined]> = [
      ['/api/pages', s.token],
      ['/data/pages', s.token],
      ['/auth/login', undefined],
      ['/auth/signup', undefined],
      ['/auth/refresh', undefined],
      ['/auth/logout', undefined],
      ['/auth/workspaces', s.token],
      ['/auth/token', s.token],
      [`/auth/workspaces/${s.tenant_id}/members`, s.token],
    ];
    // The auth routes share the gateway's per-IP budget (30 a minute, and every call here comes from
    // 127.0.0.1), so they get one spelling each; the others all three.
    const limited = new Set(['/auth/login', '/auth/signup', '/auth/refresh', '/auth/logout', '/auth/token']);
    for (const [path, token] of routes) {
      for (const raw of limited.has(path) ? ['{"title":'] : ['{"title":', '[1]', 'null']) {
        const res = await post(path, raw, token);
        expect(res.status, `${path} ${raw}`).toBe(400);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const { error } = await res.json();
        expect(error, `${path} ${raw}`).toEqual({ code: 'invalid_request', message: MALFORMED_JSON_MESSAGE, requestId: res.headers.get('x-request-id') });
      }
    }
  });
});
