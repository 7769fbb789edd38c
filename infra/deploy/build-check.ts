/**
 * For every deploy environment in wrangler.toml:
 *  - validates its [vars] with the gateway's own config schema (src/config), secrets
 *    replaced by placeholders, so a bad region, URL or limit fails here, not at the
 *    first request after a deploy;
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
// A computed specifier keeps the Worker's config module out of the Node-side type check (it is not erasable-only).
const configModule = '../../src/config/index.ts';
const { parseConfig } = (await import(configModule)) as {
  parseConfig(env: Record<string, unknown>): { ok: true } | { ok: false; error: { issues: string[] } };
};

let failed = false;
const rows: string[][] = [];
for (const env of envs) {
  const wc = unstable_readConfig({ config: join(root, 'wrangler.toml'), env });
  const parsed = parseConfig({ ...secretPlaceholders(wc.vars as Record<string, unknown>), ...(wc.vars as Record<string, unknown>) });
  const metrics = wc.analytics_engine_datasets.find((d: { binding: string }) => d.binding === 'METRICS')?.dataset ?? 'none';
  if (!parsed.ok) {
    console.error(`build:check: ${env}: [vars] invalid:\n  ${parsed.error.issues.join('\n  ')}`);
    failed = true;
  }
  const outdir = join(root, 'dist', env);
  rmSync(outdir, { recursive: true, force: true });
  try {
    execFileSync(process.execPath, [wranglerBin, 'deploy', '--dry-run', '--outdir', outdir, '--env', env], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    console.error(`build:check: ${env}: wrangler deploy --dry-run failed\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    failed = true;
    continue;
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
  rows.push([env, parsed.ok ? 'valid' : 'INVALID', metrics, relative(root, outdir), kib(raw), kib(gz), over ? `OVER ${kib(MAX_GZIP_BYTES)}` : 'ok']);
}

const header = ['env', 'config', 'metrics dataset', 'outdir', 'bundle', 'gzip', 'limit'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
process.exit(failed ? 1 : 0);
