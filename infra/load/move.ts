/**
 * `npm run load -- --move`: tenant moves under load, on real PostgreSQL (the global view needs
 * postgres_fdw). Readers and writers for tenants in every region go through the gateway, half on
 * the forwarding path (/api, the regional app stacks), half on the direct path (/data), while some
 * tenants (one seeded with `seedPages` pages) are moved back and forth between regions. The
 * gateway's relocation list is loaded once and never refreshed during the run
 * (RELOCATION_REFRESH_SECONDS=3600), so every refusal of a stale token comes from the region itself.
 * A client that gets 409 tenant_relocated gets a fresh token from central (POST /auth/token) and
 * goes on; one that gets 503 tenant_moving waits (Retry-After, capped) and retries.
 *
 * Afterwards it checks (move-checks.ts), from the databases and from what the clients saw:
 *   - no acknowledged write is lost: every 201'd page is in its tenant's final home database;
 *   - no 2xx list returned fewer pages than were acknowledged before it was sent;
 *   - no 2xx came from a region where the tenant did not live at that moment;
 *   - every refusal is 409 tenant_relocated or 503 tenant_moving with Retry-After, and no row of
 *     another tenant or region came back;
 *   - the global view (/admin/regions and global.pages) counted each row exactly once at every
 *     sampled moment: between the regions' own sums taken just before and after it;
 *   - the control plane recorded every move, and no move state is left in any region.
 */
import pg from 'pg';
import { signAdminToken } from '../auth/tokens.ts';
import { DEFAULT_LOCAL_PG_URL } from '../db/reachable.ts';
import { uuidv7 } from '../region/uuid-v7.ts';
import { moveTenant } from '../tenant-move/move.ts';
import { startWorld, type World } from '../world.ts';
import { inFreshWorld, json, signUpTenants, sleep } from './common.ts';
import { lostOrMisplacedWrites, type PageRow } from './checks.ts';
import { miscounts, residencesOf, servedOutsideResidence, shortReads, wrongRefusal, type Ack, type CountSample, type ListRead, type Served } from './move-checks.ts';

export interface MoveLoadOptions {
  durationMs: number;
  clients: number;
  tenantsPerRegion: number;
  /** How many tenants are moved back and forth (the first is seeded with seedPages pages). */
  movingTenants: number;
  seedPages: number;
  /** Pause between two moves. */
  moveEveryMs: number;
  /** How often the global view is sampled. */
  sampleEveryMs: number;
  pgUrl: string;
  log: (msg: string) => void;
}

export const MOVE_DEFAULTS: MoveLoadOptions = {
  durationMs: 30_000,
  clients: 16,
  tenantsPerRegion: 2,
  movingTenants: 2,
  seedPages: 2000,
  moveEveryMs: 1000,
  sampleEveryMs: 200,
  pgUrl: process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL,
  log: () => {},
};

/** The list size clients read: the API's maximum. */
const LIST_LIMIT = 100;
/** A client told to retry waits at most this long (so a short run still sees the move end). */
const MAX_RETRY_WAIT_MS = 200;

interface Tenant {
  id: string;
  home: string;
  token: string;
  /** The region the current token names. */
  region: string;
  moving: boolean;
}

export interface MoveRecord {
  tenant: string;
  from: string;
  to: string;
  pages: number;
  fencedMs: number;
  barrierWaitMs: number;
  /** After the old region's switch commit returned. */
  leftAt: number;
  /** Before the new region's arrival transaction began. */
  arrivedAt: number;
}

export interface Tally {
  requests: number;
  served: number;
  relocated: number;
  moving: number;
  other: number;
}

export interface MoveLoadReport {
  durationMs: number;
  clients: number;
  tenants: number;
  seedPages: number;
  moves: MoveRecord[];
  /** "moving /data", "moving /api", "other /data", "other /api" → tallies. */
  tallies: Record<string, Tally>;
  tokenRefreshes: number;
  acknowledgedWrites: number;
  listReads: number;
  samples: number;
  violations: string[];
}

export async function runMoveLoad(partial: Partial<MoveLoadOptions> = {}): Promise<MoveLoadReport> {
  const opts: MoveLoadOptions = { ...MOVE_DEFAULTS, ...partial };
  if (opts.clients < 2 * opts.movingTenants) throw new Error(`--clients must be at least 2 per moving tenant (${2 * opts.movingTenants})`);
  opts.log('starting the local world on PostgreSQL');
  const worldOptions = {
    dbMode: 'postgres' as const,
    pgUrl: opts.pgUrl,
    gatewayLogLevel: 'error' as const,
    // Relocations loaded on the first request, never refreshed during the run: the regions must refuse
    // stale tokens themselves. Rate limits off: closed-loop clients go as fast as the machine, and a 429
    // would count as a wrong refusal of the move; the limits have their own run (noisy.ts).
    gatewayVars: { RELOCATION_REFRESH_SECONDS: '3600', UPSTREAM_TIMEOUT_MS: '5000', TENANT_RATE_LIMITS: 'off' },
  };
  return inFreshWorld('etr-load-move-', (sandboxDir) => startWorld({ ...worldOptions, sandboxDir }), opts.log, (world) => drive(world, opts));
}

async function drive(world: World, opts: MoveLoadOptions): Promise<MoveLoadReport> {
  const { log } = opts;
  const gateway = world.gatewayUrl!;
  const regions = Object.keys(world.regions);
  const controllerUrl = world.state.controller?.databaseUrl;
  if (!controllerUrl) throw new Error('the world has no controller (global view): --move needs real PostgreSQL');
  const violations: string[] = [];
  const violate = (v: string) => {
    if (violations.length < 200) violations.push(v);
  };

  // Tenants sign up through the gateway, a few per region.
  const tenants: Tenant[] = (await signUpTenants(gateway, regions, opts.tenantsPerRegion, 'move')).map((t) => ({ ...t, home: t.region, moving: false }));
  // Moving tenants come from different regions, in turn.
  const moving: Tenant[] = [];
  for (let i = 0; moving.length < opts.movingTenants && i < tenants.length; i++) {
    const t = tenants[(i % regions.length) * opts.tenantsPerRegion + Math.floor(i / regions.length)];
    if (t && !t.moving) {
      t.moving = true;
      moving.push(t);
    }
  }
  const initialHomes = new Map(tenants.map((t) => [t.id, t.home]));

  const acks: Ack[] = [];
  // The big tenant's pages, as if written before the run: acknowledged at time 0.
  if (moving[0] && opts.seedPages > 0) {
    const t = moving[0];
    const ids = Array.from({ length: opts.seedPages }, () => uuidv7());
    await world.regions[t.home]!.db.query(
      `INSERT INTO pages (id, tenant_id, region, title, body) SELECT unnest($1::uuid[]), $2, $3, $2 || '|seed', 'seeded'`,
      [ids, t.id, t.home],
    );
    for (const id of ids) acks.push({ tenant: t.id, id, ackedAt: 0 });
  }
  log(`${tenants.length} tenants (${moving.map((t) => `${t.id} in ${t.home}`).join(', ')} will move; ${opts.seedPages} pages seeded for the first); ${opts.clients} clients for ${opts.durationMs} ms`);

  const reads: ListRead[] = [];
  const served: Served[] = [];
  const tallies: Record<string, Tally> = {};
  const tally = (t: Tenant, path: string) => (tallies[`${t.moving ? 'moving' : 'other'} ${path}`] ??= { requests: 0, served: 0, relocated: 0, moving: 0, other: 0 });
  let seq = 0;
  let tokenRefreshes = 0;
  const mine = new Map<string, string[]>(tenants.map((t) => [t.id, acks.filter((a) => a.tenant === t.id).map((a) => a.id)]));

  const refreshToken = async (t: Tenant) => {
    // The client recovery flow: a still-valid token buys a fresh one carrying the current home.
    const res = await fetch(`${gateway}/auth/token`, { method: 'POST', headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' }, body: '{}' });
    const body = (await json(res)) as { token?: string; tenant_region?: string };
    if (res.status !== 200 || !body.token || !body.tenant_region) {
      violate(`token refresh for ${t.id} failed: ${res.status} ${JSON.stringify(body)}`);
      return;
    }
    tokenRefreshes++;
    t.token = body.token;
    t.region = body.tenant_region;
  };

  const oneRequest = async (t: Tenant, path: '/data' | '/api') => {
    const ids = mine.get(t.id)!;
    const r = Math.random();
    const op = r < 0.35 || ids.length === 0 ? 'create' : r < 0.85 ? 'list' : 'get';
    const auth = { authorization: `Bearer ${t.token}` };
    const region = t.region;
    const sentAt = Date.now();
    let res: Response;
    try {
      if (op === 'create') {
        res = await fetch(`${gateway}${path}/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: `${t.id}|${++seq}`, body: 'load' }) });
      } else if (op === 'list') {
        res = await fetch(`${gateway}${path}/pages?limit=${LIST_LIMIT}`, { headers: auth });
      } else {
        res = await fetch(`${gateway}${path}/pages/${ids[Math.floor(Math.random() * ids.length)]!}`, { headers: auth });
      }
    } catch (err) {
      tally(t, path).requests++;
      tally(t, path).other++;
      violate(`${op} ${path} for ${t.id}: network error ${(err as Error).message}`);
      return;
    }
    const body = await json(res);
    const receivedAt = Date.now();
    const k = tally(t, path);
    k.requests++;
    if (res.ok) {
      k.served++;
      served.push({ tenant: t.id, region, sentAt, receivedAt, what: `${op} ${path}` });
      const rows = (op === 'list' ? ((body as { items?: unknown[]; pages?: unknown[] }).items ?? (body as { pages?: unknown[] }).pages ?? []) : [body]) as Array<{ id: string; title: string; region: string }>;
      for (const row of rows) {
        if (!row.title?.startsWith(`${t.id}|`)) violate(`tenant ${t.id} got a row of another tenant in a ${op} ${path}`);
        if (row.region !== region) violate(`tenant ${t.id} got a row from ${row.region} in a ${op} ${path} served by ${region}`);
      }
      if (op === 'create') {
        acks.push({ tenant: t.id, id: rows[0]!.id, ackedAt: receivedAt });
        ids.push(rows[0]!.id);
      } else if (op === 'list') {
        reads.push({ tenant: t.id, sentAt, receivedAt, limit: LIST_LIMIT, ids: rows.map((x) => x.id) });
      }
      return;
    }
    const code = (body as { error?: { code?: string } })?.error?.code;
    const wrong = wrongRefusal(res.status, code, res.headers.get('retry-after'));
    if (wrong) {
      k.other++;
      violate(`${op} ${path} for ${t.id} (token for ${region}): ${wrong}`);
      await sleep(50);
    } else if (code === 'tenant_relocated') {
      k.relocated++;
      await refreshToken(t);
    } else {
      k.moving++;
      await sleep(Math.min(Number(res.headers.get('retry-after')) * 1000, MAX_RETRY_WAIT_MS));
    }
  };

  // The global view, sampled: the regions' exact sums (no switch can happen while the barrier is
  // held in ACCESS SHARE) just before and just after each global count.
  const ctl = new pg.Client({ connectionString: controllerUrl });
  await ctl.connect();
  const reporter = new pg.Client({ connectionString: world.state.controller!.reporterUrl });
  await reporter.connect();
  const adminToken = await signAdminToken(world.state.signingKey, { issuer: world.state.issuer, sub: 'load-move', regions, ttlSeconds: 3600 });
  const exactSum = async () => {
    await ctl.query('BEGIN');
    try {
      await ctl.query('LOCK TABLE global.move_barrier IN ACCESS SHARE MODE');
      let n = 0;
      for (const r of regions) n += Number((await world.regions[r]!.db.query<{ n: string }>('SELECT count(*) AS n FROM pages')).rows[0]!.n);
      return n;
    } finally {
      await ctl.query('COMMIT');
    }
  };
  const samples: CountSample[] = [];
  const sampleOnce = async (viaAdmin: boolean) => {
    const before = await exactSum();
    let global: number;
    if (viaAdmin) {
      const res = await fetch(`${gateway}/admin/regions`, { headers: { authorization: `Bearer ${adminToken}` } });
      const body = (await json(res)) as { regions?: Array<{ pages: number | string }> };
      if (res.status !== 200 || !body.regions) {
        violate(`/admin/regions answered ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
        return;
      }
      global = body.regions.reduce((s, r) => s + Number(r.pages), 0);
    } else {
      global = Number((await reporter.query<{ n: string }>('SELECT count(*) AS n FROM global.pages')).rows[0]!.n);
    }
    samples.push({ at: Date.now(), before, global, after: await exactSum(), what: viaAdmin ? '/admin/regions' : 'global.pages' });
  };

  const moves: MoveRecord[] = [];
  const deadline = Date.now() + opts.durationMs;
  const clients = Array.from({ length: opts.clients }, async (_, i) => {
    // Each moving tenant gets one client on each path; the rest are spread over every tenant.
    const t = i < 2 * moving.length ? moving[Math.floor(i / 2)]! : tenants[(i - 2 * moving.length) % tenants.length]!;
    const path = i % 2 === 0 ? '/data' : '/api';
    while (Date.now() < deadline) await oneRequest(t, path);
  });
  const sampler = (async () => {
    for (let n = 0; Date.now() < deadline; n++) {
      await sampleOnce(n % 2 === 0);
      await sleep(opts.sampleEveryMs);
    }
  })();
  const mover = (async () => {
    await sleep(Math.min(2000, opts.durationMs / 5));
    // Back and forth: each moving tenant goes to the next region in the list, and on.
    const where = new Map(moving.map((t) => [t.id, t.home]));
    for (let n = 0; Date.now() < deadline - opts.durationMs / 6; n++) {
      const t = moving[n % moving.length]!;
      const from = where.get(t.id)!;
      const to = regions[(regions.indexOf(from) + 1) % regions.length]!;
      const at: Record<string, { before: number; after: number }> = {};
      try {
        const r = await moveTenant({
          centralUrl: world.state.central.databaseUrl,
          regionUrls: Object.fromEntries(regions.map((x) => [x, world.regions[x]!.databaseUrl])),
          controllerUrl,
          tenant: t.id,
          to,
          onStep: (s, when) => void (at[s] = when),
        });
        moves.push({ tenant: t.id, from, to, pages: r.pages, fencedMs: r.fencedMs, barrierWaitMs: r.barrierWaitMs, leftAt: at.switched!.after, arrivedAt: at.arrived!.before });
        where.set(t.id, to);
        log(`moved ${t.id} ${from} → ${to}: ${r.pages} pages, writes fenced ${r.fencedMs.toFixed(0)} ms (${r.barrierWaitMs.toFixed(0)} ms of it waiting for global queries)`);
      } catch (err) {
        violate(`moving ${t.id} ${from} → ${to} failed: ${(err as Error).message}`);
      }
      await sleep(opts.moveEveryMs);
    }
  })();
  await Promise.all([...clients, sampler, mover]);
  await ctl.end();
  await reporter.end();

  log('checking the databases');
  const central = world.central.db;
  const finalHome = new Map(
    (await central.query<{ id: string; region: string }>('SELECT id, region FROM workspaces WHERE id = ANY($1)', [tenants.map((t) => t.id)])).rows.map((r) => [r.id, r.region]),
  );
  const stored = new Map<string, PageRow[]>();
  for (const r of regions) {
    const db = world.regions[r]!.db;
    stored.set(r, (await db.query<PageRow>('SELECT id::text AS id, tenant_id, region, title FROM pages')).rows);
    const left = await db.query<{ n: string }>('SELECT (SELECT count(*) FROM tenant_moves) + (SELECT count(*) FROM incoming_rows) AS n');
    if (Number(left.rows[0]!.n) !== 0) violate(`${r} still holds move state (tenant_moves / incoming_rows) after the run`);
  }
  lostOrMisplacedWrites(
    acks.map((a) => ({ tenant: { id: a.tenant, region: finalHome.get(a.tenant)! }, pageId: a.id })),
    stored,
    finalHome,
  ).forEach(violate);
  for (const t of moving) {
    const recorded = Number((await central.query<{ n: string }>('SELECT count(*) AS n FROM tenant_relocations WHERE tenant_id = $1', [t.id])).rows[0]!.n);
    const done = moves.filter((m) => m.tenant === t.id).length;
    if (recorded !== done) violate(`tenant ${t.id}: ${done} moves done, ${recorded} recorded by the control plane`);
  }
  shortReads(reads, acks).forEach(violate);
  servedOutsideResidence(served, residencesOf(initialHomes, moves)).forEach(violate);
  miscounts(samples).forEach(violate);
  if (moves.length === 0) violate('no tenant was moved');
  if (samples.length === 0) violate('the global view was never sampled');

  return {
    durationMs: opts.durationMs,
    clients: opts.clients,
    tenants: tenants.length,
    seedPages: opts.seedPages,
    moves,
    tallies,
    tokenRefreshes,
    acknowledgedWrites: acks.length - (moving[0] ? opts.seedPages : 0),
    listReads: reads.length,
    samples: samples.length,
    violations,
  };
}

/** The report as the README shows it. */
export function formatMoveReport(r: MoveLoadReport): string {
  const lines: string[] = [];
  const fences = r.moves.map((m) => m.fencedMs).sort((a, b) => a - b);
  const median = fences.length ? fences[Math.floor(fences.length / 2)]! : NaN;
  lines.push(`load --move: ${r.clients} clients, ${r.tenants} tenants, ${r.durationMs / 1000} s; ${r.moves.length} moves (${r.seedPages} seeded pages on the first moving tenant), writes fenced median ${median.toFixed(0)} ms, max ${(fences.at(-1) ?? NaN).toFixed(0)} ms`);
  lines.push('');
  lines.push('| tenants, path | requests | 2xx | 409 tenant_relocated | 503 tenant_moving | other |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [k, v] of Object.entries(r.tallies).sort()) lines.push(`| ${k} | ${v.requests} | ${v.served} | ${v.relocated} | ${v.moving} | ${v.other} |`);
  lines.push('');
  lines.push(`acknowledged writes ${r.acknowledgedWrites}, 2xx list reads checked ${r.listReads}, token refreshes after 409 ${r.tokenRefreshes}, global-view samples ${r.samples}`);
  for (const m of r.moves) lines.push(`  moved ${m.tenant} ${m.from} → ${m.to}: ${m.pages} pages, fenced ${m.fencedMs.toFixed(0)} ms (of which ${m.barrierWaitMs.toFixed(0)} ms waiting for global queries)`);
  lines.push(
    r.violations.length
      ? `VIOLATIONS (${r.violations.length}):\n  ${r.violations.slice(0, 50).join('\n  ')}`
      : 'checks: no acknowledged write lost, no short read, nothing served outside the tenant\'s home of the moment, only 409/503 refusals, global view exactly once at every sample',
  );
  return lines.join('\n');
}
