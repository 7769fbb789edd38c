/**
 * `npm run bench` — the gateway measured against its peers, in one run, as ratios.
 *
 *   npm run bench                 full run (about 8–10 minutes on 2 cores)
 *   npm run bench -- --smoke      harness check in well under a minute (numbers meaningless)
 *   options: --rounds N --duration S --rate R --connections C --no-forwarding --no-geo --no-token --no-db
 *
 * Needs Debian's `haproxy` (2.6, with jwt_verify) and `wrk` (and `taskset`, from
 * util-linux, to pin); it installs haproxy and wrk with apt-get when run as root and they are
 * missing, and otherwise says exactly what to install.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchForwarding, type Target, type TargetResult } from './forwarding.ts';
import { benchGeo, type GeoResult } from './geo.ts';
import { benchStages, benchTokenCpu, type StageResult, type TokenCpuResult } from './hot-path.ts';
import { buildBundle, gatewayBindings as benchGatewayBindings } from './lib/build.ts';
import { haproxyVersion, startJwtPeer, startOrigin } from './lib/haproxy.ts';
import { AUDIENCE, ISSUER, makeKeys, mintToken } from './lib/keys.ts';
import { CLIENT_CPUS, CPU_COUNT, HAS_TASKSET, median, SERVER_CPUS, stopAll, which } from './lib/proc.ts';
import { forwardingChart, geoChart } from './lib/svg.ts';
import { startWorkerd } from './lib/workerd.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OUT = join(ROOT, 'bench', 'out');
const RESULTS = join(ROOT, 'bench', 'results');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}
const SMOKE = process.argv.includes('--smoke');
const opts = {
  rounds: arg('rounds', SMOKE ? 1 : 5),
  duration: arg('duration', SMOKE ? 1 : 5),
  rate: arg('rate', 500),
  connections: arg('connections', 32),
  geo: !process.argv.includes('--no-geo'),
  forwarding: !process.argv.includes('--no-forwarding'),
  token: !process.argv.includes('--no-token'),
  db: !process.argv.includes('--no-db'),
};

const log = (s: string) => process.stderr.write(s + '\n');
/** Rounds of the stage table (each stage driven for 3 s per round, the order flipped every round). */
const STAGE_ROUNDS = SMOKE ? 1 : 5;

function ensureTools(): void {
  const missing = ['haproxy', 'wrk'].filter((t) => !which(t));
  if (missing.length && process.getuid?.() === 0 && which('apt-get')) {
    log(`[bench] installing ${missing.join(' ')} from Debian's packages`);
    spawnSync('apt-get', ['update'], { stdio: 'ignore' });
    spawnSync('apt-get', ['install', '-y', ...missing], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  const still = ['haproxy', 'wrk'].filter((t) => !which(t));
  if (still.length) {
    throw new Error(`missing ${still.join(', ')}: run  sudo apt-get update && sudo apt-get install -y haproxy wrk`);
  }
  const v = haproxyVersion();
  if (!v || !/^(2\.[5-9]|[3-9])/.test(v)) throw new Error(`haproxy ${v ?? '?'} has no jwt_verify (needs >= 2.5; Debian 12 ships 2.6)`);
}

const build = (name: string, config: string | undefined) => buildBundle(ROOT, join(OUT, 'build'), name, config);

function machine(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  const workerd = spawnSync(join(ROOT, 'node_modules', '.bin', 'workerd'), ['--version'], { encoding: 'utf8' }).stdout.trim();
  return `${CPU_COUNT} × ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${workerd}, HAProxy ${haproxyVersion()}, Node ${process.versions.node}`;
}

const ms = (us: number) => (us / 1000).toFixed(3);

function forwardingTable(rs: TargetResult[]): string {
  const lines = [
    '| target | throughput (req/s) | × pass-through | req per CPU-second | × pass-through | p50 (ms) | p99 (ms) | p50 added (ms) | p99 added (ms) | CPU µs/req | CPU × pass-through | fixed rate reached (req/s) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rs) {
    const base = r.name === 'passthrough';
    const v = r.vsPassthrough;
    lines.push(
      `| ${r.label} | ${r.rps.toFixed(0)} | ${v.rpsRatio.toFixed(2)} | ${r.reqPerCpuSecond.toFixed(0)} | ${v.capacityRatio.toFixed(2)} | ${ms(r.p50_us)} | ${ms(r.p99_us)} | ${base ? '—' : ms(v.p50AddedUs)} | ${base ? '—' : ms(v.p99AddedUs)} | ${r.cpuUsPerRequest.toFixed(0)} | ${v.cpuRatio.toFixed(2)} | ${r.fixedRps.toFixed(0)} |`,
    );
  }
  return lines.join('\n');
}

/** `a`'s rounds against `b`'s, paired by round (same round, same machine state), then the median. */
function pairedRatio(a: TargetResult, b: TargetResult, f: (r: TargetResult['rounds'][number]) => number): number {
  return median(a.rounds.map((r, i) => f(r) / f(b.rounds[i]!)));
}

/** The issue's targets for the forwarding path, each paired by round. */
function targetsVerdict(rs: TargetResult[]): string {
  const by = (n: string) => rs.find((r) => r.name === n)!;
  const gw = by('gateway');
  const off = by('gateway-nocache');
  const hono = by('hono-jose');
  const rps = (r: TargetResult['rounds'][number]) => r.throughput.rps;
  const perCpu = (r: TargetResult['rounds'][number]) => 1 / r.saturatedCpuUs;
  const v = gw.vsPassthrough;
  const p50 = v.p50AddedUs / 1000;
  const mark = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const x = (n: number) => `${n.toFixed(2)}×`;
  const vsHono = { rps: pairedRatio(gw, hono, rps), cpu: pairedRatio(gw, hono, perCpu) };
  const offVsHono = { rps: pairedRatio(off, hono, rps), cpu: pairedRatio(off, hono, perCpu) };
  return [
    `gateway vs hono+jose: throughput ${x(vsHono.rps)}, per CPU-second ${x(vsHono.cpu)} (target ≥ 1.2: ${mark(vsHono.rps >= 1.2 && vsHono.cpu >= 1.2)})`,
    `gateway vs pass-through: throughput ${x(v.rpsRatio)}, per CPU-second ${x(v.capacityRatio)} (target ≥ 0.7: ${mark(v.rpsRatio >= 0.7 && v.capacityRatio >= 0.7)}; moonshot 0.9: ${mark(v.rpsRatio >= 0.9 && v.capacityRatio >= 0.9)})`,
    `cache off vs hono+jose: throughput ${x(offVsHono.rps)}, per CPU-second ${x(offVsHono.cpu)} (target ≥ 1.0: ${mark(offVsHono.rps >= 1 && offVsHono.cpu >= 1)})`,
    `p50 added over pass-through at the fixed rate ${p50.toFixed(3)} ms (target ≤ 0.25: ${mark(p50 <= 0.25)}); p99 added ${(v.p99AddedUs / 1000).toFixed(3)} ms`,
  ].join('\n');
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg().map((x) => x.toFixed(2)).join(' ');
  ensureTools();
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
  if (!HAS_TASKSET || CPU_COUNT < 2) log('[bench] taskset or a second CPU missing: servers and load generator are not pinned apart');

  log('[bench] building Worker bundles (wrangler deploy --dry-run)');
  const gatewayBundle = build('gateway', undefined);
  const honoBundle = build('hono-jose', 'bench/workers/wrangler.hono-jose.toml');
  const hotPathBundle = build('hot-path', 'bench/workers/wrangler.hot-path.toml');

  const keys = makeKeys(OUT);
  const token = await mintToken(keys, {});
  const origin = await startOrigin(OUT, CLIENT_CPUS);
  const regionNames = ['us-east-1', 'eu-central-1', 'ap-southeast-2'];
  const gatewayBindings = benchGatewayBindings(keys, origin.url, regionNames);
  const workerd = await startWorkerd(
    OUT,
    [
      { name: 'passthrough', modulePath: join(ROOT, 'bench/workers/passthrough.js'), bindings: { ORIGIN: origin.url } },
      { name: 'gateway', modulePath: gatewayBundle, bindings: gatewayBindings },
      { name: 'gateway-nocache', modulePath: gatewayBundle, bindings: { ...gatewayBindings, JWT_VERIFIED_CACHE_SIZE: '0' } },
      {
        name: 'hono-jose',
        modulePath: honoBundle,
        bindings: { JWK: JSON.stringify(keys.publicJwk), ISSUER, AUDIENCE, REGIONS: Object.fromEntries(regionNames.map((n) => [n, origin.url])) },
      },
      { name: 'hot-path', modulePath: hotPathBundle, bindings: { ...gatewayBindings, ORIGIN: origin.url, BENCH_TOKEN: token } },
    ],
    { cpus: SERVER_CPUS },
  );
  const haproxy = await startJwtPeer(
    OUT,
    {
      publicKeyPemPath: keys.publicKeyPemPath,
      issuer: ISSUER,
      audience: AUDIENCE,
      regions: Object.fromEntries(regionNames.map((n) => [n, origin.url.replace('http://', '')])),
    },
    SERVER_CPUS,
  );

  const targets: Target[] = [
    { name: 'passthrough', label: 'bare pass-through Worker (platform limit)', url: workerd.url('passthrough'), server: workerd.child },
    { name: 'gateway', label: 'this gateway (verified-token cache on)', url: workerd.url('gateway'), server: workerd.child },
    { name: 'gateway-nocache', label: 'this gateway, cache off', url: workerd.url('gateway-nocache'), server: workerd.child },
    { name: 'hono-jose', label: 'hono + jose jwtVerify Worker (no cache)', url: workerd.url('hono-jose'), server: workerd.child },
    { name: 'haproxy', label: 'HAProxy 2.6 jwt_verify (native)', url: haproxy.url, server: haproxy.child },
  ];

  if (opts.forwarding) log(`[bench] forwarding path: ${opts.rounds} interleaved rounds × ${targets.length} targets, ${opts.duration} s per run`);
  const forwarding = !opts.forwarding ? undefined : await benchForwarding(targets, {
    token,
    rounds: opts.rounds,
    durationSeconds: opts.duration,
    connections: opts.connections,
    rate: opts.rate,
    clientCpus: CLIENT_CPUS,
    log,
  });

  let tokenCpu: TokenCpuResult[] | undefined;
  let stages: StageResult[] | undefined;
  if (opts.token) {
    log('[bench] token verification CPU per algorithm');
    tokenCpu = await benchTokenCpu(workerd.url('hot-path'), workerd.child, { perRun: SMOKE ? 50 : 400, rounds: SMOKE ? 1 : 5, log });
    log('[bench] hot path in cumulative stages (server CPU per request at saturation)');
    stages = await benchStages(workerd.url('hot-path'), workerd.child, { token, rounds: STAGE_ROUNDS, durationSeconds: SMOKE ? 1 : 3, clientCpus: CLIENT_CPUS, log });
  }

  let geo: GeoResult | undefined;
  if (opts.geo) {
    log('[bench] geography: simulated RTTs through latency proxies');
    geo = await benchGeo({ dir: OUT, gatewayBundle, passthroughModule: join(ROOT, 'bench/workers/passthrough.js'), gatewayBindings, origin: origin.url, keys, loads: SMOKE ? 1 : 5, scale: SMOKE ? 0.1 : 1, log });
  }
  await stopAll();

  // Part 3, the direct database path: bench/db-roundtrips.ts (real local world, ws proxy with injected latency).
  let db: string | undefined;
  if (opts.db) {
    log('[bench] direct database path vs forwarding (npm run bench:db)');
    const r = spawnSync(process.execPath, ['bench/db-roundtrips.ts', '--db', SMOKE ? 'pglite' : 'both', '--samples', SMOKE ? '3' : '9', '--chart', join(RESULTS, `direct${SMOKE ? '-smoke' : ''}.svg`)], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 600_000,
    });
    db = r.status === 0 ? r.stdout.trim() : `FAILED (exit ${r.status ?? r.signal}):\n${(r.stdout + r.stderr).trim().slice(-3000)}`;
    log(db);
  }

  const report: string[] = [];
  report.push(`# npm run bench${SMOKE ? ' -- --smoke (harness check only: numbers are not meaningful)' : ''}`);
  report.push(`machine: ${machine()}; servers pinned to CPU ${SERVER_CPUS ?? '-'}, wrk and origin to CPU ${CLIENT_CPUS ?? '-'}`);
  report.push(`load average before/after: ${loadBefore} / ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on this machine shows up as noise, above all in p99)`);
  report.push(`medians of ${opts.rounds} interleaved rounds (ratios and added latency: paired with the pass-through run of the same round); throughput: wrk -t1 -c${opts.connections} ${opts.duration}s; latency: 4 connections paced to ~${opts.rate} req/s`);
  if (forwarding) {
    report.push('');
    report.push('## Forwarding path');
    report.push(forwardingTable(forwarding));
    report.push('');
    report.push('targets (each ratio paired by round, then the median):');
    report.push(targetsVerdict(forwarding).split('\n').map((l) => `- ${l}`).join('\n'));
    const fixedMin = Math.min(...forwarding.map((r) => r.rps));
    if (fixedMin < 1.5 * opts.rate) report.push(`warning: the slowest target saturates at ${fixedMin.toFixed(0)} req/s, close to the fixed rate ${opts.rate}`);
  }
  if (tokenCpu) {
    report.push('');
    report.push('## Token verification CPU (workerd, this gateway\'s verifier)');
    report.push('| alg | cold: full verify + cache insert (µs) | warm: cache hit (µs) | cold / warm |');
    report.push('| --- | ---: | ---: | ---: |');
    for (const t of tokenCpu) report.push(`| ${t.alg} | ${t.coldUs.toFixed(1)} | ${t.warmUs.toFixed(1)} | ${(t.coldUs / t.warmUs).toFixed(0)}× |`);
  }
  if (stages) {
    report.push('');
    report.push('## Where the gateway\'s CPU goes (cumulative stages, each served by workerd and driven by wrk at saturation; server CPU per request)');
    report.push(`(median of ${STAGE_ROUNDS} rounds, min–max across rounds beside it; "added" is the median of each round's difference to the stage it adds to)`);
    report.push('| stage | CPU µs/request (median) | min–max | requests per CPU-second | added by this stage (µs) |');
    report.push('| --- | ---: | ---: | ---: | ---: |');
    for (const s of stages) {
      report.push(`| ${s.label} | ${s.cpuUs.toFixed(0)} | ${s.minUs.toFixed(0)}–${s.maxUs.toFixed(0)} | ${(1e6 / s.cpuUs).toFixed(0)} | ${s.addedUs === undefined ? '—' : s.addedUs.toFixed(0)} |`);
    }
  }
  if (geo) {
    report.push('');
    report.push('## Geography (five sequential round trips per page load)');
    report.push(geo.table);
  }
  if (db) {
    report.push('');
    report.push('## Direct database path (bench/db-roundtrips.ts: gateway under wrangler dev, real local world)');
    report.push('```');
    report.push(db);
    report.push('```');
  }
  report.push('');
  report.push(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const text = report.join('\n');
  process.stdout.write(text + '\n');
  // A partial run (--no-forwarding/--no-geo/--no-token) never overwrites the committed full results.
  const suffix = SMOKE ? '-smoke' : opts.forwarding && opts.geo && opts.token && opts.db ? '' : '-partial';
  writeFileSync(join(RESULTS, `bench${suffix}.md`), text + '\n');
  writeFileSync(join(RESULTS, `bench${suffix}.json`), JSON.stringify({ machine: machine(), opts, db, forwarding: forwarding?.map(({ rounds: _r, ...r }) => r), tokenCpu, stages, geo: geo?.rows }, null, 2) + '\n');
  if (forwarding) writeFileSync(join(RESULTS, `forwarding${suffix}.svg`), forwardingChart(forwarding, machine()));
  if (geo) writeFileSync(join(RESULTS, `geo${suffix}.svg`), geoChart(geo.rows));
  log(`[bench] wrote bench/results/bench${suffix}.{md,json}${forwarding ? `, forwarding${suffix}.svg` : ''}${geo ? `, geo${suffix}.svg` : ''}`);
}

main().catch(async (err) => {
  console.error(`[bench] failed: ${(err as Error).stack ?? err}`);
  await stopAll();
  process.exit(1);
});
