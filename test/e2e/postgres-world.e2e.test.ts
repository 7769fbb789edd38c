/**
 * The world on a real PostgreSQL server: one database per region + central,
 * named per world so parallel worlds never collide, migrated, used, and dropped
 * on stop (or kept when asked). Skipped when no server answers.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client as NeonClient, neonConfig } from '@neondatabase/serverless';
import pg from 'pg';
import WebSocket from 'ws';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CENTRAL_AUDIENCE, centralRequest, IDENTITY_HEADERS, identityRequest, importAssertionKey, signAssertion } from '../../src/identity-assertion/index.ts';
import { dropDatabase, listDatabases } from '../../infra/db/postgres-db.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../../infra/db/reachable.ts';
import { makeTestSandbox } from '../../infra/state.ts';
import { startWorld, type World } from '../../infra/world.ts';

// Whole worlds start here (databases, apps, maybe wrangler): far beyond the default timeouts.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 180_000 });

const pgUrl = process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL;
const reachable = await tcpReachable(pgUrl);
if (!reachable) console.warn(`[skip] postgres world: no PostgreSQL server reachable at ${pgUrl} (set LOCAL_PG_URL)`);

describe.skipIf(!reachable)(`world on real PostgreSQL (${pgUrl})`, () => {
  const worlds: World[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.stop().catch(() => {})));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  const start = async (keepDatabases = false) => {
    const sandboxDir = await makeTestSandbox('pg-world-');
    dirs.push(sandboxDir);
    const w = await startWorld({ dbMode: 'postgres', pgUrl, gateway: false, sandboxDir, keepDatabases });
    worlds.push(w);
    return w;
  };

  it('creates per-world databases, serves from them, and drops them on stop', async () => {
    const world = await start();
    const prefix = `etr_${world.state.worldId}_`;
    expect(await listDatabases(pgUrl, prefix)).toEqual(
      // controller: the global view's node (infra/controller), built on real PostgreSQL.
      ['ap_southeast_2', 'central', 'controller', 'eu_central_1', 'us_east_1'].map((s) => prefix + s),
    );
    expect(world.state.dbMode).toBe('postgres');
    expect(world.regions['eu-central-1']!.databaseUrl).toMatch(new RegExp(`/${prefix}eu_central_1$`));

    // Sign up centrally (as the gateway would: signed with central's key), write a page through the
    // region app: the row lands in that database.
    const centralKey = world.state.assertionKeys[CENTRAL_AUDIENCE]![0]!;
    const client = { clientIp: '127.0.0.1', requestId: 'req-pg-signup' };
    const signup = await fetch(`${world.centralUrl}/auth/signup`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [IDENTITY_HEADERS.clientIp]: client.clientIp,
        [IDENTITY_HEADERS.requestId]: client.requestId,
        [IDENTITY_HEADERS.assertion]: await signAssertion(centralRequest('POST', '/auth/signup', client), await importAssertionKey(centralKey.kid, centralKey.secret)),
      },
      body: JSON.stringify({ email: 'pg@example.com', password: 'correct horse', workspace: 'PG', region: 'eu-central-1' }),
    });
    expect(signup.status).toBe(201);
    const { tenant_id, user_id } = await signup.json();
    const id = { tenantId: tenant_id, userId: user_id, region: 'eu-central-1', requestId: 'req-pg' };
    const ring = world.state.assertionKeys['eu-central-1']!;
    const key = await importAssertionKey(ring[0]!.kid, ring[0]!.secret);
    const res = await fetch(`${world.regions['eu-central-1']!.originUrl}/api/pages`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [IDENTITY_HEADERS.tenantId]: id.tenantId,
        [IDENTITY_HEADERS.userId]: id.userId,
        [IDENTITY_HEADERS.region]: id.region,
        [IDENTITY_HEADERS.requestId]: id.requestId,
        [IDENTITY_HEADERS.assertion]: await signAssertion(identityRequest('POST', '/api/pages', id), key),
      },
      body: JSON.stringify({ title: 'on postgres' }),
    });
    expect(res.status).toBe(201);
    const page = await res.json();
    const c = new pg.Client({ connectionString: world.regions['eu-central-1']!.databaseUrl });
    await c.connect();
    try {
      expect((await c.query('SELECT tenant_id FROM pages WHERE id = $1', [page.id])).rows).toEqual([{ tenant_id }]);
    } finally {
      await c.end();
    }

    await world.stop();
    expect(await listDatabases(pgUrl, prefix)).toEqual([]);
  });

  it('keeps the databases when asked', async () => {
    const world = await start(true);
    const prefix = `etr_${world.state.worldId}_`;
    await world.stop();
    const kept = await listDatabases(pgUrl, prefix);
    expect(kept).toHaveLength(5); // central, 3 regions, controller
    for (const name of kept) await dropDatabase(pgUrl, name);
  });

  it('lets two worlds run side by side on one server', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(a.state.worldId).not.toBe(b.state.worldId);
    expect(await listDatabases(pgUrl, `etr_${a.state.worldId}_`)).toHaveLength(5);
    expect(await listDatabases(pgUrl, `etr_${b.state.worldId}_`)).toHaveLength(5);

    // Through a's ws proxy (as the Worker will), only a's database is reachable.
    const proxy = a.regions['eu-central-1']!;
    neonConfig.webSocketConstructor = WebSocket as unknown as typeof neonConfig.webSocketConstructor;
    neonConfig.wsProxy = () => new URL(proxy.wsProxyUrl).host;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
    const own = new NeonClient({ connectionString: proxy.databaseUrl });
    await own.connect();
    expect((await own.query('SELECT current_database() AS d')).rows[0].d).toBe(`etr_${a.state.worldId}_eu_central_1`);
    await own.end();
    const other = new NeonClient({ connectionString: b.regions['eu-central-1']!.databaseUrl });
    other.on('error', () => {});
    await expect(other.connect()).rejects.toThrow();

    await Promise.all([a.stop(), b.stop()]);
  });
});
