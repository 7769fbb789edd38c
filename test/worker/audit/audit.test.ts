/**
 * The audit log through the gateway: privileged actions land in the control-plane
 * database (PGlite with the central migrations, reached by @neondatabase/serverless
 * from workerd through the local ws proxy) and are read back with GET /admin/audit.
 */
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { MAX_INFLIGHT_AUDIT_WRITES } from '../../../src/audit/index.ts';
import { DENIALS_PER_ACTOR_PER_MINUTE } from '../../../src/audit/denials.ts';
import { bindings, callGateway, egressFor, errorBody, mintAdminToken, mintToken, newMarker } from '../helpers.ts';

const DB = { CONTROL_PLANE_DATABASE_URL: bindings.TEST_CONTROL_PLANE_DATABASE_URL, CONTROL_PLANE_WS_PROXY: bindings.TEST_CONTROL_PLANE_WS_PROXY };
const admin = (sub = 'ops-audit') => mintAdminToken({ sub });

interface Entry { id: number; at: string; actor: string; actorKind: string; action: string; target: string | null; result: string; requestId: string | null; detail: Record<string, unknown> }

async function readAudit(query: string, env: Record<string, unknown> = DB): Promise<Entry[]> {
  const res = await callGateway(`/admin/audit?${query}`, { headers: { authorization: `Bearer ${await admin()}` } }, env);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: Entry[] }).entries;
}

describe('audit log', () => {
  it('records a denied cross-region attempt (token region vs. requested region), with no subrequest', async () => {
    const marker = newMarker();
    const token = await mintToken({ claims: { sub: 'user-cross', tenant_id: 'ws_cross' } });
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1', 'x-request-id': marker } }, DB);
    expect(res.status).toBe(403);
    expect((await errorBody(res)).code).toBe('region_mismatch');
    expect(await egressFor(marker)).toEqual([]);

    const [row] = (await readAudit('action=tenant.region_denied&limit=200')).filter((e) => e.detail.clientRequestId === marker);
    expect(row).toMatchObject({
      actor: 'user-cross',
      actorKind: 'tenant_user',
      action: 'tenant.region_denied',
      target: 'ws_cross',
      result: 'denied',
      detail: { code: 'region_mismatch', tokenRegion: 'eu-central-1', requestedRegion: 'us-east-1', clientRequestId: marker },
    });
    expect(Date.now() - Date.parse(row!.at)).toBeLessThan(60_000);
    // request_id is the gateway's own (the one its answer carried), never the client's.
    expect(row!.requestId).toBe(res.headers.get('x-request-id'));
    expect(row!.requestId).not.toBe(marker);
  });

  it('writes nothing for a refused admin request (no query on refusal), and records the admin read itself', async () => {
    const marker = newMarker();
    const tenant = await mintToken({ claims: { sub: 'user-nosy' } });
    const res = await callGateway('/admin/audit', { headers: { authorization: `Bearer ${tenant}`, 'x-request-id': marker } }, DB);
    expect(res.status).toBe(403);

    const adminRes = await callGateway('/admin/audit?limit=200', { headers: { authorization: `Bearer ${await admin('ops-7')}`, 'x-request-id': `${marker}-r` } }, DB);
    const { entries } = (await adminRes.json()) as { entries: Entry[] };
    expect(entries.filter((e) => e.detail.clientRequestId === marker)).toEqual([]);
    expect(entries.find((e) => e.detail.clientRequestId === `${marker}-r`)).toMatchObject({
      actor: 'ops-7',
      actorKind: 'admin',
      action: 'admin.audit.read',
      result: 'allowed',
      detail: { limit: 200, actor: null, action: null, clientRequestId: `${marker}-r` },
    });
    const filtered = await readAudit('actor=ops-7&action=admin.audit.read');
    expect(filtered.length).toBeGreaterThan(0);
    expect(filtered.every((e) => e.actor === 'ops-7' && e.action === 'admin.audit.read')).toBe(true);
  });

  it('bounds and validates queries', async () => {
    const a = await admin();
    for (const q of ['limit=0', 'limit=201', 'limit=abc', "action=x'--"]) {
      const res = await callGateway(`/admin/audit?${q}`, { headers: { authorization: `Bearer ${a}` } }, DB);
      expect(res.status).toBe(400);
      expect((await errorBody(res)).code).toBe('invalid_request');
    }
    const rows = await readAudit('limit=1');
    expect(rows).toHaveLength(1);
  });

  it('without a database: events still become log lines, and reading answers 503', async () => {
    const res = await callGateway('/admin/audit', { headers: { authorization: `Bearer ${await admin()}` } });
    expect(res.status).toBe(503);
    const body = await res.text();
    expect(body).not.toMatch(/postgres|CONTROL_PLANE/);
  });

  it('an unreachable database never fails the denial itself, and leaks no URL', async () => {
    const token = await mintToken();
    const res = await callGateway(
      '/api/pages',
      { headers: { authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1' } },
      { CONTROL_PLANE_DATABASE_URL: 'postgres://postgres:pw@127.0.0.1:9/postgres', CONTROL_PLANE_WS_PROXY: '127.0.0.1:9' },
    );
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('127.0.0.1');
  });

  it('rejects a bad control-plane URL in config by field name, never echoing it', async () => {
    const res = await callGateway('/healthz', {}, { CONTROL_PLANE_DATABASE_URL: 'mysql://secret-pw@db' });
    expect(res.status).toBe(503);
    const ready = await callGateway('/readyz', {}, { CONTROL_PLANE_DATABASE_URL: 'mysql://secret-pw@db' });
    const body = await ready.text();
    expect(body).toContain('CONTROL_PLANE_DATABASE_URL');
    expect(body).not.toContain('secret-pw');
  });

  it('readiness reports the control-plane database, without letting it take the gateway out of rotation', async () => {
    const detail = { headers: { authorization: `Bearer ${await admin()}` } };
    const up = await callGateway('/readyz', detail, DB);
    const upBody = (await up.json()) as { status: string; checks: Array<{ name: string; ok: boolean; critical: boolean }> };
    expect(up.status).toBe(200);
    expect(upBody.checks.find((c) => c.name === 'database:control_plane')).toMatchObject({ ok: true, critical: false });

    const down = await callGateway('/readyz', detail, { CONTROL_PLANE_DATABASE_URL: DB.CONTROL_PLANE_DATABASE_URL, CONTROL_PLANE_WS_PROXY: '127.0.0.1:9' });
    const downBody = (await down.json()) as typeof upBody;
    expect(down.status).toBe(200);
    expect(downBody.status).toBe('ready');
    expect(downBody.checks.find((c) => c.name === 'database:control_plane')).toMatchObject({ ok: false, critical: false });
  });

  it('bounds denial rows per actor and reason (10 a minute); the rest are logged and counted, never silently dropped', async () => {
    const warn: string[] = [];
    vi.spyOn(console, 'warn').mockImplementation((l: unknown) => void warn.push(String(l)));
    vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const env = { ...bindings, ...DB };
      const app = createApp();
      const sub = `user-flood-${crypto.randomUUID().slice(0, 8)}`;
      const token = await mintToken({ claims: { sub, tenant_id: 'ws_flood' } });
      const marker = newMarker();
      for (let i = 0; i < 25; i++) {
        const res = await app.fetch(new Request('https://gateway.test/api/pages', { headers: { authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1', 'x-request-id': `${marker}-${i}` } }), env);
        expect(res.status).toBe(403);
      }
      // Another actor of another tenant is not affected by the first one's flood.
      const other = await mintToken({ claims: { sub: `${sub}-b`, tenant_id: 'ws_other' } });
      expect((await app.fetch(new Request('https://gateway.test/api/pages', { headers: { authorization: `Bearer ${other}`, 'x-tenant-region': 'us-east-1' } }), env)).status).toBe(403);
      const rows = await readAudit(`actor=${sub}&limit=200`);
      expect(rows).toHaveLength(DENIALS_PER_ACTOR_PER_MINUTE);
      expect(warn.filter((l) => l.includes('"msg":"audit_suppressed"') && l.includes(sub))).toHaveLength(25 - DENIALS_PER_ACTOR_PER_MINUTE);
      expect(await readAudit(`actor=${sub}-b&limit=200`)).toHaveLength(1);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('sheds audit writes beyond the in-flight cap to the log, and every request still gets its answer', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((l: unknown) => void lines.push(String(l)));
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      // A database that accepts connections and never answers: writes stay in flight until the connect timeout.
      const hung = new URL(bindings.TEST_HUNG_ORIGIN!).host;
      const env = { ...bindings, CONTROL_PLANE_DATABASE_URL: 'postgres://postgres:x@127.0.0.1:5432/postgres', CONTROL_PLANE_WS_PROXY: hung };
      const app = createApp();
      const extra = 4;
      // Distinct users (each within its per-actor audit bound), so the in-flight cap is what sheds.
      const tokens = await Promise.all(Array.from({ length: MAX_INFLIGHT_AUDIT_WRITES + extra }, (_, i) => mintToken({ claims: { sub: `user-shed-${i}` } })));
      const responses = await Promise.all(
        tokens.map((token) =>
          app.fetch(new Request('https://gateway.test/api/pages', { headers: { authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1' } }), env),
        ),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(MAX_INFLIGHT_AUDIT_WRITES + extra).fill(403));
      expect(lines.filter((l) => l.includes('"msg":"audit_write_shed"'))).toHaveLength(extra);
      expect(lines.filter((l) => l.includes('"msg":"audit_write_failed"'))).toHaveLength(MAX_INFLIGHT_AUDIT_WRITES);
    } finally {
      vi.restoreAllMocks();
    }
  }, 30_000); // the in-flight writes end at the control-db connect timeout
});
