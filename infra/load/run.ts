/**
 * The load test: many concurrent clients of many tenants in every region read and write pages
 * through the gateway for a fixed time, while one region's app stack is killed and brought
 * back. Afterwards it checks, from the databases and from what each regional app saw:
 *   - no acknowledged write was lost (every 201'd page is in its home region's database),
 *   - no page is in a region other than its tenant's home,
 *   - no tenant saw another tenant's rows,
 *   - no request reached a region outside its tenant's residency zone,
 *   - tenants of the regions that stayed up got no gateway errors (a dead region hurts only its own).
 * `runLoad` returns a report with the violations; the CLI (main.ts) exits non-zero on any.
 */
import { startWorld, type World } from '../world.ts';
import { inFreshWorld, json, signUpTenants, sleep } from './common.ts';
import { errorsOutsideKilledRegion, foreignRows, lostOrMisplacedWrites, requestsOutsideZone, type PageRow } from './checks.ts';

export interface LoadOptions {
  durationMs: number;
  clients: number;
  tenantsPerRegion: number;
  /** The region whose app stack is killed at 1/3 of the run and brought back at 2/3. */
  killRegion: string;
  /** Residency zone of each region (the gateway gets them too). */
  zones: Record<string, string>;
  /** Give the killed region a standby app stack (same zone, same database): its tenants should then barely notice. */
  standby: boolean;
  /** Gateway vars for the run (shorter cool-down so recovery shows in a short run). */
  gatewayVars: Record<string, string>;
  log: (msg: string) => void;
}

export const DEFAULT_ZONES: Record<string, string> = { 'us-east-1': 'us', 'eu-central-1': 'eu', 'ap-southeast-2': 'apac' };

export const DEFAULTS: LoadOptions = {
  durationMs: 10_000,
  clients: 24,
  tenantsPerRegion: 3,
  killRegion: 'eu-central-1',
  standby: false,
  zones: DEFAULT_ZONES,
  // Per-tenant rate limits off: these clients are closed loop, so their rate is the machine's speed,
  // and a fast machine would push a healthy region's tenants past the local 300 per 10 s and count
  // its 429s as harm from the outage. The limits have their own run (noisy.ts).
  gatewayVars: { BREAKER_COOLDOWN_MS: '1000', UPSTREAM_TIMEOUT_MS: '5000', TENANT_RATE_LIMITS: 'off' },
  log: () => {},
};

type Phase = 'before' | 'down' | 'after';

interface Tenant {
  id: string;
  region: string;
  token: string;
}

type Page = PageRow;

export interface LoadReport {
  durationMs: number;
  clients: number;
  tenants: number;
  killRegion: string;
  standby: boolean;
  requests: number;
  served: number;
  /** "<phase> <home region> <status> <error code>" → count. */
  errors: Record<string, number>;
  /** Per phase: requests and 2xx answers. */
  phases: Record<Phase, { requests: number; served: number }>;
  /** Served requests for the killed region's tenants after it came back. */
  recoveredServed: number;
  acknowledgedWrites: number;
  /** Requests each regional app received ("<region>" or "<region> standby"). */
  regionRequestsSeen: Record<string, number>;
  violations: string[];
}

export async function runLoad(partial: Partial<LoadOptions> = {}): Promise<LoadReport> {
  const opts: LoadOptions = { ...DEFAULTS, ...partial, gatewayVars: { ...DEFAULTS.gatewayVars, ...partial.gatewayVars } };
  const { log } = opts;
  // What each regional app received: tenant and claimed region of every request.
  const seen: Array<{ app: string; role: string; tenant: string | null; region: string | null }> = [];
  log('starting the local world');
  const worldOptions = {
    regionZones: opts.zones,
    gatewayVars: opts.gatewayVars,
    gatewayLogLevel: 'error' as const,
    regionStandbys: opts.standby ? [opts.killRegion] : [],
    onRegionRequest: (app: string, req: Request, role: 'primary' | 'standby') => seen.push({ app, role, tenant: req.headers.get('x-tenant-id'), region: req.headers.get('x-tenant-region') }),
  };
  return inFreshWorld('etr-load-', (sandboxDir) => startWorld({ ...worldOptions, sandboxDir }), log, (world) => drive(world, opts, seen));
}

async function drive(world: World, opts: LoadOptions, seen: Array<{ app: string; role: string; tenant: string | null; region: string | null }>): Promise<LoadReport> {
  const { log } = opts;
  const gateway = world.gatewayUrl!;
  const regions = Object.keys(world.regions);
  if (!regions.includes(opts.killRegion)) throw new Error(`--kill: ${opts.killRegion} is not a region of the world`);
  const violations: string[] = [];
  const violate = (v: string) => {
    if (violations.length < 200) violations.push(v);
  };

  // Tenants sign up through the gateway (central), a few per region.
  const tenants: Tenant[] = await signUpTenants(gateway, regions, opts.tenantsPerRegion, 'load');
  const homeOf = new Map(tenants.map((t) => [t.id, t.region]));
  log(`${tenants.length} tenants signed up; ${opts.clients} clients for ${opts.durationMs} ms, killing ${opts.killRegion} from 1/3 to 2/3`);
  seen.length = 0; // signups are not tenant traffic

  const acked: Array<{ tenant: Tenant; page: Page }> = [];
  const ackedBy = new Map<string, Page[]>(tenants.map((t) => [t.id, []]));
  const errors: Record<string, number> = {};
  const phases: Record<Phase, { requests: number; served: number }> = { before: { requests: 0, served: 0 }, down: { requests: 0, served: 0 }, after: { requests: 0, served: 0 } };
  let phase: Phase = 'before';
  let recoveredServed = 0;
  let seq = 0;

  const checkRows = (t: Tenant, rows: Page[], what: string) => foreignRows(t, rows, what).forEach(violate);

  const oneRequest = async (t: Tenant): Promise<void> => {
    const mine = ackedBy.get(t.id)!;
    const r = Math.random();
    const auth = { authorization: `Bearer ${t.token}` };
    let op: string;
    let res: Response;
    const startedIn = phase;
    try {
      if (r < 0.35 || mine.length === 0) {
        op = 'create';
        const title = `${t.id}|${++seq}`;
        res = await fetch(`${gateway}/api/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title, body: 'load' }) });
      } else if (r < 0.7) {
        op = 'list';
        res = await fetch(`${gateway}/api/pages?limit=20`, { headers: auth });
      } else if (r < 0.9) {
        op = 'get';
        res = await fetch(`${gateway}/api/pages/${mine[Math.floor(Math.random() * mine.length)]!.id}`, { headers: auth });
      } else {
        op = 'update';
        res = await fetch(`${gateway}/api/pages/${mine[Math.floor(Math.random() * mine.length)]!.id}`, {
          method: 'PATCH',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ body: `updated ${++seq}` }),
        });
      }
    } catch (err) {
      phases[startedIn].requests++;
      const key = `${startedIn} ${t.region} network ${(err as Error).message}`;
      errors[key] = (errors[key] ?? 0) + 1;
      return;
    }
    phases[startedIn].requests++;
    const body = await json(res);
    if (res.ok) {
      phases[startedIn].served++;
      if (startedIn === 'after' && t.region === opts.killRegion) recoveredServed++;
      if (op === 'create') {
        const page = body as Page;
        if (res.status !== 201) violate(`create answered ${res.status}`);
        checkRows(t, [page], 'a create answer');
        acked.push({ tenant: t, page });
        mine.push(page);
      } else if (op === 'list') checkRows(t, (body as { pages: Page[] }).pages, 'a list');
      else checkRows(t, [body as Page], `a ${op}`);
      return;
    }
    const code = (body as { error?: { code?: string } })?.error?.code ?? 'unknown';
    const key = `${startedIn} ${t.region} ${res.status} ${code}`;
    errors[key] = (errors[key] ?? 0) + 1;
    if ((op === 'get' || op === 'update') && res.status === 404) violate(`tenant ${t.id}: acknowledged page not found by ${op}`);
    // A client that is told to come back later does so (capped, so a short run still sees recovery).
    const retryAfter = Number(res.headers.get('retry-after'));
    await sleep(retryAfter > 0 ? Math.min(retryAfter * 1000, 250) : 50);
  };

  const deadline = Date.now() + opts.durationMs;
  const clients = Array.from({ length: opts.clients }, async (_, i) => {
    const t = tenants[i % tenants.length]!;
    while (Date.now() < deadline) await oneRequest(t);
  });
  const chaos = (async () => {
    await sleep(opts.durationMs / 3);
    log(`killing ${opts.killRegion}'s app stack`);
    phase = 'down';
    await world.regions[opts.killRegion]!.stopApp();
    await sleep(opts.durationMs / 3);
    await world.regions[opts.killRegion]!.startApp();
    phase = 'after';
    log(`${opts.killRegion}'s app stack is back`);
  })();
  await Promise.all([...clients, chaos]);

  // Checks against the databases: every acknowledged page is in its home region's database.
  log('checking the databases');
  const stored = new Map<string, Page[]>();
  for (const region of regions) {
    stored.set(region, (await world.regions[region]!.db.query<Page>('SELECT id::text AS id, tenant_id, region, title FROM pages')).rows);
  }
  lostOrMisplacedWrites(acked.map(({ tenant, page }) => ({ tenant, pageId: page.id })), stored, homeOf).forEach(violate);

  // What each regional app saw: only tenants of its own zone, claiming its own region.
  const regionRequestsSeen: Record<string, number> = Object.fromEntries(regions.map((r) => [r, 0]));
  for (const s of seen) {
    const key = s.role === 'primary' ? s.app : `${s.app} ${s.role}`;
    regionRequestsSeen[key] = (regionRequestsSeen[key] ?? 0) + 1;
  }
  requestsOutsideZone(seen, homeOf, opts.zones).forEach(violate);

  // A dead region hurts only its own tenants.
  errorsOutsideKilledRegion(errors, opts.killRegion).forEach(violate);
  if (opts.standby && !seen.some((s) => s.role === 'standby')) violate(`${opts.killRegion}'s standby never received a request while its primary was down`);
  if (recoveredServed === 0) violate(`no request of ${opts.killRegion}'s tenants was served after it came back`);

  const requests = phases.before.requests + phases.down.requests + phases.after.requests;
  return {
    durationMs: opts.durationMs,
    clients: opts.clients,
    tenants: tenants.length,
    killRegion: opts.killRegion,
    standby: opts.standby,
    requests,
    served: phases.before.served + phases.down.served + phases.after.served,
    errors,
    phases,
    recoveredServed,
    acknowledgedWrites: acked.length,
    regionRequestsSeen,
    violations,
  };
}
