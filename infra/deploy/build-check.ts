/**
 * For every deploy environment in wrangler.toml, for the edge gateway and for each
 * regional data Worker (workers/data/<region>.toml):
 *  - validates its [vars] with that Worker's own config schema (src/config: the gateway's,
 *    or the data Worker's), secrets replaced by placeholders and bindings by stand-ins of
 *    their kind, so a bad region, URL or limit fails here, not at the first request after
 *    a deploy;
 *  - checks what ties them together: the edge holds no database setting or URL; each of its
 *    DATA_WORKERS names a service binding whose service is that region's data Worker in the
 *    same environment; each data Worker serves the region its file is named after, has a
 *    placement region hint and a Hyperdrive binding whose id has Hyperdrive's shape;
 *  - builds the production bundle with `wrangler deploy --dry-run --outdir` (bundles,
 *    checks bindings, uploads nothing) and prints its size.
 * Exits non-zero when a config is invalid, a build fails or a bundle is over the
 * Workers size limit. Usage: `npm run build:check [-- ENV...]`.
 * (Run with --experimental-transform-types: src/config is Worker code, not erasable-only.)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Workers Free plan limit on the compressed Worker (the paid plan allows 10 MiB). */
const MAX_GZIP_BYTES = 3 * 1024 * 1024;

/** Secrets are never in wrangler.toml; validation uses placeholders of a valid shape (a distinct assertion key per region and central). */
const secretPlaceholders = (vars: Record<string, unknown>): Record<string, unknown> => {
  const regions = vars.REGIONS && typeof vars.REGIONS === 'object' ? Object.keys(vars.REGIONS) : [];
  return { GATEWAY_ASSERTION_KEYS: Object.fromEntries([...regions, 'central'].map((r, i) => [r, [{ kid: `placeholder-${i}`, secret: String(i).repeat(32) }]])) };
};

const root = join(import.meta.dirname, '..', '..');
const wranglerBin = join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

function environments(): string[] {
  const toml = readFileSync(join(root, 'wrangler.toml'), 'utf8');
  // Top-level environment tables only: `[env.NAME]`, not `[env.NAME.vars]`.
  return [...toml.matchAll(/^\[env\.([A-Za-z0-9_-]+)\]\s*$/gm)].map((m) => m[1]!);
}

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

const requested = process.argv.slice(2);
const envs = requested.length > 0 ? requested : environments();
if (envs.length === 0) {
  console.error('build:check: wrangler.toml declares no [env.*] environments');
  process.exit(1);
}

const { unstable_readConfig } = await import('wrangler');
// Computed specifiers keep the Workers' config modules out of the Node-side type check (they are not erasable-only).
type Parse = (env: Record<string, unknown>) => { ok: true } | { ok: false; error: { issues: string[] } };
const configModule = '../../src/config/index.ts';
const dataConfigModule = '../../src/config/data-worker.ts';
const { parseConfig } = (await import(configModule)) as {
  parseConfig(env: Record<string, unknown>): { ok: true; config: { trafficLimits: unknown } } | { ok: false; error: { issues: string[] } };
};
const trafficModule = '../../src/config/traffic-limits.ts';
const { rateLimitBindingMismatches } = (await import(trafficModule)) as {
  rateLimitBindingMismatches(limits: unknown, bindings: ReadonlyArray<{ name: string; simple?: { limit: number; period: number } }>): string[];
};
const { parseDataWorkerConfig } = (await import(dataConfigModule)) as { parseDataWorkerConfig: Parse };

const DATA_DIR = join(root, 'workers', 'data');
const dataWorkerFiles = readdirSync(DATA_DIR).filter((f) => f.endsWith('.toml')).sort();
/** `wrangler hyperdrive create` prints ids of this shape; the committed ones are placeholders of it. */
const HYPERDRIVE_ID = /^[0-9a-f]{32}$/;
/** Placement with a region hint: `<cloud>:<region>`. */
const PLACEMENT_REGION = /^(aws|gcp|azure):[a-z0-9-]+$/;
/** Stand-ins for bindings while validating: a service answers fetch, a Hyperdrive binding has a connection string. */
const serviceStandIn = { fetch: () => Promise.resolve(new Response(null)) };
const hyperdriveStandIn = { connectionString: 'postgres://placeholder:placeholder@hyperdrive.invalid:5432/placeholder' };

let failed = false;
const rows: string[][] = [];
const fail = (what: string, message: string) => {
  console.error(`build:check: ${what}: ${message}`);
  failed = true;
};
type Read = { name?: string; vars: Record<string, unknown>; ratelimits?: Array<{ name: string; simple?: { limit: number; period: number } }>; services?: Array<{ binding: string; service: string }>; hyperdrive: Array<{ binding: string; id: string }>; placement?: { region?: string }; analytics_engine_datasets: Array<{ binding: string; dataset: string }> };

for (const env of envs) {
  const wc = unstable_readConfig({ config: join(root, 'wrangler.toml'), env }) as unknown as Read;
  const services = wc.services ?? [];
  const parsed = parseConfig({ ...secretPlaceholders(wc.vars), ...Object.fromEntries(services.map((s) => [s.binding, serviceStandIn])), ...wc.vars });
  const metrics = wc.analytics_engine_datasets.find((d) => d.binding === 'METRICS')?.dataset ?? 'none';
  if (!parsed.ok) fail(env, `[vars] invalid:\n  ${parsed.error.issues.join('\n  ')}`);
  else {
    // The binding's limit lives in [[ratelimits]]; the policy that names it must say the same.
    const mismatches = rateLimitBindingMismatches(parsed.config.trafficLimits, wc.ratelimits ?? []);
    if (mismatches.length > 0) fail(env, `rate limits disagree with [[ratelimits]]:\n  ${mismatches.join('\n  ')}`);
  }
  // The edge holds no database of the data path: no URL anywhere in its vars, no Hyperdrive binding.
  if (/postgres(ql)?:\/\//i.test(JSON.stringify(wc.vars))) fail(env, 'the gateway\'s [vars] contain a database URL');
  if (wc.hyperdrive.length > 0) fail(env, 'the gateway has a Hyperdrive binding; databases belong to the data Workers');
  rows.push(build(`${env}: edge`, ['--env', env], join(root, 'dist', env, 'edge'), parsed.ok, `metrics ${metrics}`));
  const dataWorkers = (typeof wc.vars.DATA_WORKERS === 'string' ? JSON.parse(wc.vars.DATA_WORKERS) : wc.vars.DATA_WORKERS ?? {}) as Record<string, string>;

  // Each region's data Worker in this environment.
  for (const file of dataWorkerFiles) {
    const region = file.replace(/\.toml$/, '');
    const what = `${env}: workers/data/${file}`;
    const dc = unstable_readConfig({ config: join(DATA_DIR, file), env }) as unknown as Read;
    const hd = dc.hyperdrive;
    const dataParsed = parseDataWorkerConfig({ GATEWAY_ASSERTION_KEYS: { [region]: [{ kid: 'placeholder', secret: 'p'.repeat(32) }] }, ...Object.fromEntries(hd.map((h) => [h.binding, hyperdriveStandIn])), ...dc.vars });
    if (!dataParsed.ok) fail(what, `[vars] invalid:\n  ${dataParsed.error.issues.join('\n  ')}`);
    if (dc.vars.DATA_REGION !== region) fail(what, `DATA_REGION must be ${region} (the file's name)`);
    if (!PLACEMENT_REGION.test(dc.placement?.region ?? '')) fail(what, 'needs [placement] region = "<cloud>:<region>" (run next to its database)');
    if (hd.length === 0) fail(what, 'needs a [[hyperdrive]] binding');
    for (const h of hd) if (!HYPERDRIVE_ID.test(h.id)) fail(what, `hyperdrive ${h.binding}: id must be 32 hex digits (wrangler hyperdrive create prints it)`);
    const binding = dataWorkers[region];
    const service = services.find((s) => s.binding === binding);
    if (!binding || !service) fail(env, `DATA_WORKERS.${region} must name one of the gateway's [[services]]`);
    else if (service.service !== dc.name) fail(env, `service binding ${binding} targets ${service.service}, but ${region}'s data Worker in ${env} is ${dc.name}`);
    rows.push(build(what, ['-c', join(DATA_DIR, file), '--env', env], join(root, 'dist', env, 'data', region), dataParsed.ok, `${dc.placement?.region ?? '-'}`));
  }
  for (const region of Object.keys(dataWorkers)) {
    if (!dataWorkerFiles.includes(`${region}.toml`)) fail(env, `DATA_WORKERS.${region}: no workers/data/${region}.toml`);
  }
}

/** Bundles one Worker with `wrangler deploy --dry-run` and returns its table row. */
function build(what: string, args: string[], outdir: string, valid: boolean, note: string): string[] {
  rmSync(outdir, { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir, ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    fail(what, `wrangler deploy --dry-run failed\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    return [what, valid ? 'valid' : 'INVALID', note, relative(root, outdir), '-', '-', 'BUILD FAILED'];
  }
  let raw = 0;
  let gz = 0;
  for (const f of files(outdir)) {
    if (f.endsWith('.map') || f.endsWith('.md')) continue; // source maps and wrangler's README are not code
    const bytes = readFileSync(f);
    raw += statSync(f).size;
    gz += gzipSync(bytes).length;
  }
  const over = gz > MAX_GZIP_BYTES;
  if (over) failed = true;
  return [what, valid ? 'valid' : 'INVALID', note, relative(root, outdir), kib(raw), kib(gz), over ? `OVER ${kib(MAX_GZIP_BYTES)}` : 'ok'];
}

const header = ['worker', 'config', 'binding / placement', 'outdir', 'bundle', 'gzip', 'limit'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
process.exit(failed ? 1 : 0);
