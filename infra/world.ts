/**
 * The local multi-region world: a control plane (central app + database), one
 * app stack + database per region, a WebSocket proxy in front of every
 * database, and the gateway Worker under `wrangler dev` in front of it all.
 * Everything listens on 127.0.0.1; ports are OS-assigned unless asked for.
 *
 *   startWorld(options) → World     (state also written to <sandbox>/state.json)
 *   world.stop()                    stops everything, including wrangler's workerd
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CENTRAL_AUDIENCE, importKeyRing, newAssertionKeys } from '../src/identity-assertion/index.ts';
import { DEFAULT_TENANT_PACING } from '../src/config/traffic-limits.ts';
import { AUDIENCE, createTokenSigner, generateSigningKey } from './auth/tokens.ts';
import { createCentralApp } from './central/app.ts';
import { parseCentralConfig, type CentralConfigInput } from './central/config.ts';
import { migrate } from './db/migrate.ts';
import { startPgliteDatabase, startPostgresDatabase, type ProvisionedDb } from './db/provision.ts';
import type { Db } from './db/types.ts';
import { dataWorkerBinding, writeDataWorkerConfigs } from './data-workers/config.ts';
import { serveBrowserClient } from './browser-client/index.ts';
import { startWranglerDev, type WranglerDev } from './gateway/wrangler-dev.ts';
import { serveHttp, type HttpService } from './http/serve.ts';
import { startPgPool, type PgPool } from './pg-pool/index.ts';
import { freePort, onPreferredPort, type PortFallback } from './ports.ts';
import { createRegionApp } from './region/app.ts';
import { buildController, noRawRowsFromEnv, REPORTER_ROLE } from './controller/build.ts';
import { DEFAULT_SANDBOX_DIR, REPO_ROOT, writeState, statePath, type WorldState } from './state.ts';
import { startWsProxy, type Latency, type WsProxy } from './ws-proxy/index.ts';

export const REGIONS = ['us-east-1', 'eu-central-1', 'ap-southeast-2'] as const;
export const CENTRAL_REGION = 'us-east-1';

/** The local world's pacing within a window: the gateway's default, written out so `npm run dev` can print it. */
export const LOCAL_TENANT_PACING = DEFAULT_TENANT_PACING;

/**
 * The local world's per-tenant rate limits: low enough that a flood is visible locally. They name
 * wrangler.toml's top-level [[ratelimits]] bindings, whose limits must say the same (tested).
 */
export const LOCAL_TENANT_RATE_LIMITS = {
  api: { tenant: { binding: 'TENANT_API_RATE_LIMITER', limit: 300, period: 10 } },
  data: { tenant: { binding: 'TENANT_DATA_RATE_LIMITER', limit: 300, period: 10 } },
  'websocket-upgrade': { tenant: { binding: 'TENANT_WS_RATE_LIMITER', limit: 60, period: 60 } },
} as const;

export interface WorldOptions {
  /** Default: the three REGIONS. */
  regions?: readonly string[];
  /** Default: 'postgres' when pgUrl / LOCAL_PG_URL is set, else 'pglite'. */
  dbMode?: 'pglite' | 'postgres';
  /** Server for dbMode 'postgres' (one database per region + central is created on it). Default: LOCAL_PG_URL. */
  pgUrl?: string;
  /** Keep the per-world PostgreSQL databases after stop() (default false: dropped). */
  keepDatabases?: boolean;
  /** Start the gateway under wrangler dev (default true). */
  gateway?: boolean;
  /** Alternative wrangler config for the gateway (default: the project's wrangler.toml). */
  gatewayConfig?: string;
  gatewayLogLevel?: 'debug' | 'info' | 'log' | 'warn' | 'error' | 'none';
  /** Where state.json, gateway.env, logs and wrangler state go. Default <repo>/.sandbox. */
  sandboxDir?: string;
  /**
   * Preferred ports by service; a taken port falls back to an OS-assigned one.
   * Keys: 'gateway', 'client', 'central', 'central.db', 'central.ws', '<region>', '<region>.db', '<region>.ws'.
   * Anything not listed is OS-assigned.
   */
  ports?: Partial<Record<string, number>>;
  /** Initial latency of every ws proxy (see WsProxy.setLatency). */
  wsLatencyMs?: number | Partial<Latency>;
  /** GATEWAY_ASSERTION_KEYS; default: a fresh random key per region and for central. */
  assertionKeys?: Record<string, { kid: string; secret: string }[]>;
  /**
   * Build the controller node (global view for /admin, infra/controller) on the
   * same server. Default: on in 'postgres' mode; impossible on PGlite (no postgres_fdw).
   */
  controller?: boolean;
  /** Regions whose raw rows must not appear in global results (default: CONTROLLER_NO_RAW_ROWS, comma-separated). */
  noRawRows?: readonly string[];
  /** Progress messages (default: silent). */
  log?: (msg: string) => void;
  /** Every line wrangler prints. */
  onGatewayOutput?: (line: string) => void;
  /** Residency zone per region, passed to the gateway's REGIONS (default: none, each region its own zone). */
  regionZones?: Record<string, string>;
  /** Extra gateway vars (e.g. BREAKER_COOLDOWN_MS), written to the gateway's env file. */
  gatewayVars?: Record<string, string>;
  /** Called with every request a regional app receives (the load test checks what each region saw). */
  onRegionRequest?: (region: string, req: Request, role: 'primary' | 'standby') => void;
  /**
   * Regions that also get a standby app stack: a second instance of the region's app on the same
   * database, listed as the region's standby (in its zone) in the gateway's REGIONS.
   */
  regionStandbys?: readonly string[];
  /** Central's settings (infra/central/config.ts); default: development, with the cheaper development password hashing. */
  central?: Partial<CentralConfigInput>;
  /**
   * On PostgreSQL, the data Workers reach their databases through a session pool (infra/pg-pool), as
   * Hyperdrive's pool in production (default true). false: straight to the server, a backend forked per request.
   */
  dataPool?: boolean;
}

export interface DatabaseHandle {
  databaseUrl: string;
  wsProxyUrl: string;
  /** In-process access to the same database (the apps use this). */
  db: Db;
  wsProxy: WsProxy;
}

export interface RegionHandle extends DatabaseHandle {
  originUrl: string;
  /** Set for regions listed in `regionStandbys`. */
  standbyOriginUrl?: string;
  /** Kills the region's app stack (its HTTP server and open connections): the port then refuses. */
  stopApp(): Promise<void>;
  /** Brings it back on the same port. */
  startApp(): Promise<void>;
  /** The data Worker's session pool to this database (PostgreSQL with the gateway; see WorldOptions.dataPool). */
  dataPool?: Pick<PgPool, 'stats'>;
}

export interface World {
  state: WorldState;
  statePath: string;
  sandboxDir: string;
  gatewayUrl: string | null;
  /** The browser client (infra/browser-client), on its own origin; null without a gateway. */
  clientUrl: string | null;
  /** Services whose preferred port was taken, and where they went instead. */
  portFallbacks: PortFallback[];
  centralUrl: string;
  regions: Record<string, RegionHandle>;
  central: DatabaseHandle & { region: string };
  /** Stops everything started, in reverse order; throws (after stopping the rest) if something refused to stop. */
  stop(): Promise<void>;
}

/** Browser origins the local world's gateway allows (a dev server such as Vite's default), besides its own client's. */
export const LOCAL_CORS_ORIGINS = ['http://localhost:5173', 'http://127.0.0.1:5173'] as const;

/** The database a postgres:// URL names. */
const databaseOf = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

const dbName = (worldId: string, part: string) => `etr_${worldId}_${part.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;

/** The gateway's least-privilege login on the control plane (infra/sql/central/007_gateway_access.sql). */
const CONTROL_PLANE_GATEWAY_ROLE = 'gateway';
const asRole = (url: string, role: string) => {
  const u = new URL(url);
  u.username = role;
  u.password = '';
  return u.toString();
};

/** .env syntax: single quotes keep JSON (quotes, braces) literal. */
function envFile(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (v.includes("'") || v.includes('\n')) throw new Error(`${k}: value cannot be written to an env file`);
      return `${k}='${v}'`;
    })
    .join('\n') + '\n';
}

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const log = options.log ?? (() => {});
  const regions = [...(options.regions ?? REGIONS)];
  const pgUrl = options.pgUrl ?? process.env.LOCAL_PG_URL;
  const dbMode = options.dbMode ?? (pgUrl ? 'postgres' : 'pglite');
  if (dbMode === 'postgres' && !pgUrl) throw new Error("dbMode 'postgres' needs pgUrl or LOCAL_PG_URL");
  const ports = options.ports ?? {};
  const portFallbacks: PortFallback[] = [];
  const onFallback = (f: PortFallback) => {
    portFallbacks.push(f);
    log(`${f.service}: port ${f.preferred} is taken, using ${f.port}`);
  };
  const onPort = <T extends { port: number }>(service: string, start: (port: number) => Promise<T>) =>
    onPreferredPort(service, ports[service], start, onFallback);
  const sandboxDir = options.sandboxDir ?? DEFAULT_SANDBOX_DIR;
  const worldId = randomBytes(4).toString('hex');
  await mkdir(sandboxDir, { recursive: true });

  // Stopped in reverse order by stop(), or right away if starting fails half-way.
  const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
  const stopAll = async () => {
    const errors: unknown[] = [];
    for (const c of cleanups.splice(0).reverse()) {
      try {
        await c.run();
      } catch (e) {
        errors.push(new Error(`stopping ${c.what}: ${(e as Error).message}`, { cause: e }));
      }
    }
    if (errors.length) throw new AggregateError(errors, errors.map((e) => (e as Error).message).join('; '));
  };

  try {
    // Databases: one per region + central, migrated.
    const openDb = async (part: string, set: 'central' | 'region'): Promise<ProvisionedDb> => {
      const p =
        dbMode === 'pglite'
          ? await onPort(`${part}.db`, (port) => startPgliteDatabase({ port }))
          : await startPostgresDatabase({ serverUrl: pgUrl!, database: dbName(worldId, part), keep: options.keepDatabases });
      cleanups.push({ what: `${part} database`, run: () => p.close() });
      await migrate(p.db, set);
      return p;
    };
    log(`starting ${dbMode} databases`);
    const dbs: Record<string, ProvisionedDb> = {};
    if (dbMode === 'pglite') {
      // Independent of each other: start them together.
      const started = await Promise.all([openDb('central', 'central'), ...regions.map((r) => openDb(r, 'region'))]);
      ['central', ...regions].forEach((name, i) => (dbs[name] = started[i]!));
    } else {
      // One at a time: each CREATE DATABASE is a checkpointed copy of template1; overlapping them buys nothing.
      dbs.central = await openDb('central', 'central');
      for (const r of regions) dbs[r] = await openDb(r, 'region');
    }

    const proxies: Record<string, WsProxy> = {};
    for (const name of ['central', ...regions]) {
      const d = dbs[name]!;
      const proxy = await onPort(`${name}.ws`, (port) =>
        startWsProxy({
          target: { host: d.host, port: d.port },
          // On a shared PostgreSQL server the address alone would reach every database.
          database: databaseOf(d.url),
          port,
          latencyMs: options.wsLatencyMs,
        }),
      );
      cleanups.push({ what: `${name} ws proxy`, run: () => proxy.close() });
      proxies[name] = proxy;
    }

    // For the data Workers (started with the gateway): wrangler's local Hyperdrive has no pool, so each
    // data request would fork a backend and log in, which a deployment's Hyperdrive does not.
    // PGlite's connections are in-process and cheap.
    const dataPools: Record<string, PgPool> = {};
    if (dbMode === 'postgres' && options.dataPool !== false && options.gateway !== false) {
      for (const r of regions) {
        const d = dbs[r]!;
        const pool = await startPgPool({ target: { host: d.host, port: d.port }, database: databaseOf(d.url) });
        cleanups.push({ what: `${r} data pool`, run: () => pool.close() });
        dataPools[r] = pool;
      }
    }

    // The controller node (global view): real PostgreSQL only, since PGlite cannot load postgres_fdw.
    let controller: { databaseUrl: string; reporterUrl: string; wsProxyUrl: string } | null = null;
    let controllerProxy: WsProxy | undefined;
    if (dbMode === 'postgres' && options.controller !== false) {
      log('building the controller (postgres_fdw global view)');
      const ctl = await startPostgresDatabase({ serverUrl: pgUrl!, database: dbName(worldId, 'controller'), keep: options.keepDatabases });
      cleanups.push({ what: 'controller database', run: () => ctl.close() });
      const noRaw = options.noRawRows ?? noRawRowsFromEnv();
      await buildController({
        controllerUrl: ctl.url,
        regions: regions.map((r) => ({ name: r, url: dbs[r]!.url, rawRows: !noRaw.includes(r) })),
      });
      const reporter = new URL(ctl.url);
      reporter.username = REPORTER_ROLE;
      reporter.password = '';
      const proxy = await startWsProxy({ target: { host: ctl.host, port: ctl.port }, database: dbName(worldId, 'controller'), latencyMs: options.wsLatencyMs });
      cleanups.push({ what: 'controller ws proxy', run: () => proxy.close() });
      controllerProxy = proxy;
      controller = { databaseUrl: ctl.url, reporterUrl: reporter.toString(), wsProxyUrl: proxy.url };
    }

    // Regional app stacks.
    // One key per region and one for central: each app holds only its own ring.
    const assertionKeys = options.assertionKeys ?? newAssertionKeys([...regions, CENTRAL_AUDIENCE]);
    const ringOf = (name: string) => importKeyRing(assertionKeys[name] ?? []);
    const origins: Record<string, HttpService> = {};
    const appControl: Record<string, Pick<RegionHandle, 'stopApp' | 'startApp'>> = {};
    const standbys: Record<string, HttpService> = {};
    for (const region of regions) {
      const assertionKeys = await ringOf(region);
      const app = createRegionApp({ region, db: dbs[region]!.db, assertionKeys });
      const onRequest = options.onRegionRequest;
      const handler: typeof app.fetch = onRequest ? (req, ...rest) => (onRequest(region, req, 'primary'), app.fetch(req, ...rest)) : app.fetch;
      if (options.regionStandbys?.includes(region)) {
        const standby = createRegionApp({ region, db: dbs[region]!.db, assertionKeys });
        const standbyHandler: typeof app.fetch = onRequest ? (req, ...rest) => (onRequest(region, req, 'standby'), standby.fetch(req, ...rest)) : standby.fetch;
        const svc = await serveHttp(standbyHandler, { port: 0 });
        cleanups.push({ what: `${region} standby app`, run: () => svc.close() });
        standbys[region] = svc;
      }
      let svc: HttpService | undefined = await onPort(region, (port) => serveHttp(handler, { port }));
      const port = svc.port;
      cleanups.push({ what: `${region} app`, run: async () => svc?.close() });
      origins[region] = svc;
      appControl[region] = {
        stopApp: async () => {
          const s = svc;
          svc = undefined;
          await s?.close();
        },
        startApp: async () => {
          svc ??= await serveHttp(handler, { port });
        },
      };
    }

    // Central app: its URL is the token issuer, so the app is built once it listens.
    const signingKey = await generateSigningKey();
    let centralApp: ReturnType<typeof createCentralApp> | undefined;
    const central = await onPort('central', (port) => serveHttp((req, env) => centralApp!.fetch(req, env), { port }));
    cleanups.push({ what: 'central app', run: () => central.close() });
    const signer = await createTokenSigner(signingKey, { issuer: central.url, audience: AUDIENCE });
    centralApp = createCentralApp({
      db: dbs.central!.db,
      regionDbs: Object.fromEntries(regions.map((r) => [r, dbs[r]!.db])),
      signer,
      gatewayKeys: await ringOf(CENTRAL_AUDIENCE),
      config: parseCentralConfig({ environment: 'development', passwordHashing: 'development', ...options.central }),
    });

    // The gateway.
    let gateway: WranglerDev | undefined;
    let client: HttpService | undefined;
    const gatewayEnvPath = join(sandboxDir, 'gateway.env');
    if (options.gateway !== false) {
      // wrangler binds the port itself, so it is chosen first; the browser client needs the URL.
      const gatewayPort = await freePort(ports.gateway, { service: 'gateway', onFallback });
      const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
      const c = await onPort('client', (port) => serveBrowserClient({ gatewayUrl, regions, port }));
      cleanups.push({ what: 'browser client', run: () => c.close() });
      client = c;
      // The client's origin under both names a browser may use for it.
      const corsOrigins = new Set([...LOCAL_CORS_ORIGINS, c.url, `http://localhost:${c.port}`]);
      await writeFile(
        gatewayEnvPath,
        envFile({
          JWT_ISSUER: central.url,
          JWT_AUDIENCE: AUDIENCE,
          JWKS_URL: `${central.url}/.well-known/jwks.json`,
          CENTRAL_ORIGIN: central.url,
          REGIONS: JSON.stringify(
            Object.fromEntries(
              regions.map((r) => {
                const zone = options.regionZones?.[r];
                const standby = standbys[r] ? { standbys: [{ origin: standbys[r].url, zone: zone ?? r }] } : {};
                return [r, { origin: origins[r]!.url, ...(zone ? { zone } : {}), ...standby }];
              }),
            ),
          ),
          GATEWAY_ASSERTION_KEYS: JSON.stringify(assertionKeys),
          // Direct data path (/data/*): only the service bindings of the regional data Workers (below),
          // for this world's regions; the gateway holds no database of the data path.
          DATA_WORKERS: JSON.stringify(Object.fromEntries(regions.map((r) => [r, dataWorkerBinding(r)]))),
          // Audit log and tenant relocations (control plane), and /admin's global view (controller, postgres mode).
          CONTROL_PLANE_DATABASE_URL: dbMode === 'postgres' ? asRole(dbs.central!.url, CONTROL_PLANE_GATEWAY_ROLE) : dbs.central!.url,
          CONTROL_PLANE_WS_PROXY: proxies.central!.hostPort,
          ...(controller && controllerProxy
            ? { CONTROLLER_DATABASE_URL: controller.reporterUrl, CONTROLLER_WS_PROXY: controllerProxy.hostPort }
            : {}),
          TENANT_RATE_LIMITS: JSON.stringify(LOCAL_TENANT_RATE_LIMITS),
          TENANT_PACING: JSON.stringify(LOCAL_TENANT_PACING),
          CORS_ALLOWED_ORIGINS: [...corsOrigins].join(','),
          ...options.gatewayVars,
        }),
        { mode: 0o600 },
      );
      cleanups.push({ what: 'gateway env file', run: () => rm(gatewayEnvPath, { force: true }) });
      // One data Worker per region, beside the gateway in the same wrangler dev. On real PostgreSQL it logs
      // in as the non-privileged `gateway` role; PGlite has one superuser session, so every transaction
      // switches to that role instead (infra/sql/region/003_gateway_role.sql).
      const dataConfigs = await writeDataWorkerConfigs(
        sandboxDir,
        REPO_ROOT,
        assertionKeys,
        regions.map((r) => {
          const url = new URL(dbs[r]!.url);
          if (dbMode === 'postgres') url.username = 'gateway';
          const pool = dataPools[r];
          if (pool) {
            url.hostname = pool.host;
            url.port = String(pool.port);
          }
          return { region: r, databaseUrl: url.toString(), role: dbMode === 'postgres' ? undefined : 'gateway' };
        }),
      );
      cleanups.push({ what: 'data Worker configs', run: () => Promise.all(dataConfigs.map((p) => rm(p, { force: true }))).then(() => {}) });
      log('starting the gateway and the regional data Workers (wrangler dev)');
      gateway = await startWranglerDev({
        cwd: REPO_ROOT,
        envFile: gatewayEnvPath,
        persistTo: join(sandboxDir, 'wrangler-state'),
        logFile: join(sandboxDir, 'gateway.log'),
        port: gatewayPort,
        config: options.gatewayConfig,
        auxiliaryConfigs: dataConfigs,
        logLevel: options.gatewayLogLevel,
        onOutput: options.onGatewayOutput,
      });
      const g = gateway;
      cleanups.push({
        what: 'gateway (wrangler dev)',
        run: async () => {
          const left = await g.stop();
          if (left.length) throw new Error(`processes left running: ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
        },
      });
    }

    const state: WorldState = {
      worldId,
      startedAt: new Date().toISOString(),
      pid: process.pid,
      dbMode,
      gatewayUrl: gateway?.url ?? null,
      gatewayPid: gateway?.pid ?? null,
      clientUrl: client?.url ?? null,
      centralUrl: central.url,
      issuer: central.url,
      audience: AUDIENCE,
      jwksUrl: `${central.url}/.well-known/jwks.json`,
      assertionKeys,
      regions: Object.fromEntries(
        regions.map((r) => [r, { originUrl: origins[r]!.url, databaseUrl: dbs[r]!.url, wsProxyUrl: proxies[r]!.url }]),
      ),
      central: { region: CENTRAL_REGION, databaseUrl: dbs.central!.url, wsProxyUrl: proxies.central!.url },
      controller,
      signingKey,
      sandboxDir,
    };
    const path = await writeState(sandboxDir, state);
    // A state file must never outlive its world (tokens would be minted for nothing).
    cleanups.push({ what: 'state.json', run: () => rm(statePath(sandboxDir), { force: true }) });

    const handle = (name: string): DatabaseHandle => ({
      databaseUrl: dbs[name]!.url,
      wsProxyUrl: proxies[name]!.url,
      db: dbs[name]!.db,
      wsProxy: proxies[name]!,
    });
    let stopping: Promise<void> | undefined;
    return {
      state,
      statePath: path,
      sandboxDir,
      gatewayUrl: state.gatewayUrl,
      clientUrl: state.clientUrl,
      portFallbacks,
      centralUrl: central.url,
      regions: Object.fromEntries(
        regions.map((r) => [r, { ...handle(r), originUrl: origins[r]!.url, standbyOriginUrl: standbys[r]?.url, ...appControl[r]!, dataPool: dataPools[r] }]),
      ),
      central: { ...handle('central'), region: CENTRAL_REGION },
      stop: () => (stopping ??= stopAll()),
    };
  } catch (err) {
    await stopAll().catch((e) => log(`cleanup after failed start: ${(e as Error).message}`));
    throw err;
  }
}
