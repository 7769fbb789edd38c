/**
 * `npm run load [-- --duration 60 --clients 96 --tenants-per-region 8 --kill ap-southeast-2 --standby]`
 * `npm run load -- --noisy [--db postgres|pglite ...]`: the noisy-neighbour run instead (see noisy.ts), on real
 *   PostgreSQL by default (LOCAL_PG_URL, default 127.0.0.1:5432).
 * `npm run load -- --move [--duration 30 --clients 16 --tenants-per-region 2 --pages 2000]`: tenant moves under load
 *   on real PostgreSQL (LOCAL_PG_URL, default 127.0.0.1:5432), see move.ts; the same flags, plus --pages.
 * Starts a fresh local world (PGlite, or PostgreSQL with LOCAL_PG_URL), runs the load test
 * (see run.ts), prints the report and exits non-zero on any violation.
 */
import { parseArgs } from 'node:util';
import { noisyCli } from './noisy.ts';
import { DEFAULTS, runLoad } from './run.ts';

// `--noisy`: the noisy-neighbour run, with its own options and report (noisy.ts).
if (process.argv.includes('--noisy')) process.exit(await noisyCli(process.argv.slice(2).filter((a) => a !== '--noisy')));

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: String(DEFAULTS.durationMs / 1000) },
    clients: { type: 'string', default: String(DEFAULTS.clients) },
    'tenants-per-region': { type: 'string', default: String(DEFAULTS.tenantsPerRegion) },
    kill: { type: 'string', default: DEFAULTS.killRegion },
    standby: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    move: { type: 'boolean', default: false },
    pages: { type: 'string' },
  },
});

const positive = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number`);
    process.exit(2);
  }
  return n;
};

if (values.move) {
  const { MOVE_DEFAULTS, formatMoveReport, runMoveLoad } = await import('./move.ts');
  const report = await runMoveLoad({
    durationMs: positive('duration', values.duration) * 1000,
    clients: Math.floor(positive('clients', values.clients)),
    tenantsPerRegion: Math.floor(positive('tenants-per-region', values['tenants-per-region'])),
    seedPages: values.pages === undefined ? MOVE_DEFAULTS.seedPages : Math.floor(positive('pages', values.pages)),
    log: (m) => console.error(`[load] ${m}`),
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatMoveReport(report));
  process.exit(report.violations.length ? 1 : 0);
}

const report = await runLoad({
  durationMs: positive('duration', values.duration) * 1000,
  clients: Math.floor(positive('clients', values.clients)),
  tenantsPerRegion: Math.floor(positive('tenants-per-region', values['tenants-per-region'])),
  killRegion: values.kill!,
  standby: values.standby,
  log: (m) => console.error(`[load] ${m}`),
});

if (values.json) {
  console.log(JSON.stringify(report, null, 2));
} else {
  const secs = report.durationMs / 1000;
  console.log(`load: ${report.clients} clients, ${report.tenants} tenants, ${secs} s, ${report.killRegion} killed from ${(secs / 3).toFixed(1)} s to ${((2 * secs) / 3).toFixed(1)} s${report.standby ? ' (it has a standby app stack)' : ''}`);
  console.log(`requests ${report.requests}, served ${report.served} (${(report.requests / secs).toFixed(0)} req/s), acknowledged writes ${report.acknowledgedWrites}`);
  for (const [p, v] of Object.entries(report.phases)) console.log(`  ${p.padEnd(6)} requests ${v.requests}, served ${v.served}`);
  console.log(`  ${report.killRegion} tenants served after it came back: ${report.recoveredServed}`);
  console.log('errors by kind (phase, home region, status, code):');
  const errs = Object.entries(report.errors).sort((a, b) => b[1] - a[1]);
  if (errs.length === 0) console.log('  none');
  for (const [k, n] of errs) console.log(`  ${String(n).padStart(6)}  ${k}`);
  console.log(`requests seen by each regional app: ${JSON.stringify(report.regionRequestsSeen)}`);
  console.log(report.violations.length ? `VIOLATIONS (${report.violations.length}):\n  ${report.violations.join('\n  ')}` : 'checks: no acknowledged write lost, no cross-tenant rows, no request outside its zone, healthy regions unaffected');
}
process.exit(report.violations.length ? 1 : 0);
