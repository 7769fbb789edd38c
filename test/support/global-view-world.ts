/**
 * The global view's world for the workerd tests of /admin and tenant moves
 * (test/worker/admin): on the real PostgreSQL server, a control plane, three
 * region databases, a controller built over them (all regions with raw rows)
 * and a second controller where eu-central-1 may not show raw rows; a
 * WebSocket-to-TCP proxy the Worker's database driver reaches them through; and
 * a small control server (Node, loopback) the tests call to seed pages, read a
 * region's pages or audit rows, and run the real `moveTenant`.
 *
 * Runs in its own Node process (forked by test/worker/global-setup-global.ts):
 * the worker project's Vite resolver would give `ws` and `pg` their
 * browser/workerd builds.
 *
 * The database bindings are TEST_-prefixed so other worker tests keep a gateway
 * without them; admin tests pass them as env overrides. Without PostgreSQL,
 * GLOBAL_SKIP carries the reason and those tests skip with it printed.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { buildController } from '../../infra/controller/build.ts';
import { PG_URL, realPgUnavailable, startGlobalFixture } from '../../infra/controller/fixture.ts';
import { startPostgresDatabase } from '../../infra/db/provision.ts';
import { uuidv7 } from '../../infra/region/uuid-v7.ts';
import { moveTenant, type MoveStep } from '../../infra/tenant-move/move.ts';
import { startWsProxy } from '../../infra/ws-proxy/index.ts';


const REGIONS = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

export async function startGlobalViewWorld(): Promise<{ bindings: Record<string, string>; close(): Promise<void> }> {
  const skip = await realPgUnavailable();
  if (skip) return { bindings: { GLOBAL_SKIP: skip }, close: async () => {} };
  const f = await startGlobalFixture({ regions: REGIONS.map((name) => ({ name })) });
  // Same regions, second controller: eu-central-1 rows must never leave it through this one.
  let restricted: Awaited<ReturnType<typeof startPostgresDatabase>> | undefined;
  try {
    restricted = await startPostgresDatabase({ serverUrl: PG_URL, database: `${f.prefix}_controller_restricted` });
    await buildController({
      controllerUrl: restricted.url,
      regions: f.regionList.map((r) => ({ ...r, rawRows: r.name !== 'eu-central-1' })),
    });
  } catch (err) {
    // A half-started world must not leave databases behind.
    await restricted?.close().catch(() => {});
    await f.close();
    throw err;
  }
  const restrictedReporter = new URL(restricted!.url);
  restrictedReporter.username = 'admin_reporter';
  const pgTarget = new URL(PG_URL);
  const proxy = await startWsProxy({ target: { host: pgTarget.hostname, port: Number(pgTarget.port || 5432) } });
  const regionUrls = Object.fromEntries([...f.regions].map(([n, d]) => [n, d.url]));

  const locks: pg.Client[] = [];
  // A move held at one step (/move/start … /move/finish), so tests can look at what each region answers mid-move.
  let held: { release: () => void; done: Promise<unknown> } | undefined;
  const control = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      const url = new URL(req.url ?? '/', 'http://control');
      if (req.method === 'POST' && url.pathname === '/seed') {
        // A workspace in the control plane, its tenant row and pages in its region, as signup and the region app write them.
        const { tenant, region, titles } = (await readJson(req)) as { tenant: string; region: string; titles: string[] };
        await f.central.db.query('INSERT INTO workspaces (id, name, region) VALUES ($1, $1, $2)', [tenant, region]);
        const db = f.regions.get(region)!.db;
        await db.query('INSERT INTO tenants (id, name) VALUES ($1, $1)', [tenant]);
        const ids = titles.map(() => uuidv7());
        await db.query('INSERT INTO pages (id, tenant_id, region, title) SELECT unnest($1::uuid[]), $2, $3, unnest($4::text[])', [
          ids,
          tenant,
          region,
          titles,
        ]);
        return send(200, { ids });
      }
      if (req.method === 'GET' && url.pathname === '/pages') {
        const db = f.regions.get(url.searchParams.get('region')!)!.db;
        const r = await db.query('SELECT id, title, region FROM pages WHERE tenant_id = $1 ORDER BY id', [url.searchParams.get('tenant')]);
        return send(200, r.rows);
      }
      if (req.method === 'GET' && url.pathname === '/audit') {
        const r = await f.central.db.query(
          // Tests mark requests with their X-Request-Id, which the gateway keeps as the client request id.
          "SELECT actor, actor_kind, action, target, result, request_id, detail FROM audit_log WHERE detail->>'clientRequestId' = $1 ORDER BY id",
          [url.searchParams.get('requestId')],
        );
        return send(200, r.rows);
      }
      if (req.method === 'POST' && url.pathname === '/lock') {
        // Holds an ACCESS EXCLUSIVE lock on a region's pages until /unlock: the controller's remote scan waits on it.
        const { region } = (await readJson(req)) as { region: string };
        const c = new pg.Client({ connectionString: f.regions.get(region)!.url });
        await c.connect();
        await c.query('BEGIN');
        await c.query('LOCK TABLE pages IN ACCESS EXCLUSIVE MODE');
        locks.push(c);
        return send(200, {});
      }
      if (req.method === 'POST' && url.pathname === '/unlock') {
        for (const c of locks.splice(0)) await c.end();
        return send(200, {});
      }
      if (req.method === 'POST' && url.pathname === '/move') {
        const { tenant, to } = (await readJson(req)) as { tenant: string; to: string };
        return send(200, await moveTenant({ centralUrl: f.central.url, regionUrls, controllerUrl: f.controller.url, tenant, to }));
      }
      if (req.method === 'POST' && url.pathname === '/move/start') {
        // Starts a move and answers once it has committed `holdAt` (fenced, staged, flipped, switched); it waits there.
        const { tenant, to, holdAt } = (await readJson(req)) as { tenant: string; to: string; holdAt: MoveStep };
        if (held) return send(409, { error: 'a move is already held' });
        let reached!: () => void;
        const atStep = new Promise<void>((r) => (reached = r));
        let release!: () => void;
        const gate = new Promise<void>((r) => (release = r));
        const done = moveTenant({
          centralUrl: f.central.url,
          regionUrls,
          controllerUrl: f.controller.url,
          tenant,
          to,
          onStep: async (s) => {
            if (s !== holdAt) return;
            reached();
            await gate;
          },
        });
        held = { release, done: done.catch((e: Error) => ({ error: e.message })) };
        await Promise.race([atStep, held.done]);
        return send(200, { holding: holdAt });
      }
      if (req.method === 'POST' && url.pathname === '/move/finish') {
        const h = held;
        held = undefined;
        if (!h) return send(409, { error: 'no move is held' });
        h.release();
        return send(200, await h.done);
      }
      send(404, { error: 'no such control route' });
    } catch (err) {
      send(500, { error: (err as Error).message });
    }
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));

  const bindings = {
    TEST_CONTROLLER_DATABASE_URL: f.reporterUrl,
    TEST_CONTROLLER_RESTRICTED_DATABASE_URL: restrictedReporter.toString(),
    // As the gateway's own least-privilege login: the tests prove its grants are enough.
    TEST_CONTROL_PLANE_DATABASE_URL: f.gatewayControlPlaneUrl,
    // A database without audit_log: the audit write fails there.
    TEST_BROKEN_CONTROL_PLANE_DATABASE_URL: f.regions.get('us-east-1')!.url,
    // One proxy to the whole test server (not pinned to a database) serves every test database.
    TEST_DB_WS_PROXY: proxy.hostPort,
    // The direct path (REGION_DATABASES) on the same region databases, as the gateway's own role.
    TEST_GLOBAL_REGION_DATABASES: JSON.stringify(
      Object.fromEntries(
        [...f.regions].map(([n, d]) => {
          const u = new URL(d.url);
          u.username = 'gateway';
          u.password = '';
          return [n, { primary: { url: u.toString(), wsProxy: proxy.hostPort, pipelineConnect: 'off' } }];
        }),
      ),
    ),
    TEST_GLOBAL_CONTROL: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
  };

  return {
    bindings,
    close: async () => {
      for (const c of locks.splice(0)) await c.end().catch(() => {});
      held?.release();
      await held?.done;
      control.closeAllConnections();
      await new Promise<void>((resolve) => control.close(() => resolve()));
      await proxy.close();
      await restricted!.close();
      await f.close();
    },
  };
}

// Child-process entry (see test/worker/global-setup-global.ts): start, report the bindings over IPC, tear down on 'close' or disconnect.
if (process.argv.includes('--serve') && process.send) {
  startGlobalViewWorld().then(
    (world) => {
      let closing: Promise<void> | undefined;
      const shutdown = () => (closing ??= world.close().finally(() => process.exit(0)));
      process.on('message', (m) => m === 'close' && void shutdown());
      process.on('disconnect', () => void shutdown());
      process.send!({ info: world.bindings });
    },
    (err: Error) => {
      process.send!({ error: err.stack ?? err.message });
      process.exit(1);
    },
  );
}
