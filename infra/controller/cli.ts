/**
 * npm run controller:build [-- --no-raw-rows eu-central-1 ...] [--sandbox DIR]
 * npm run controller:build -- --controller URL --region NAME=URL ... [--no-raw-rows NAME]
 *
 * Builds or updates the controller node (see build.ts) from the running local
 * world's state.json, or from explicit URLs. Idempotent: prints what it changed
 * ("up to date" when nothing). Residency: --no-raw-rows (repeatable) or
 * CONTROLLER_NO_RAW_ROWS=a,b. CONTROLLER_READER_PASSWORD sets global_reader's
 * password in the regions and in the reporting mappings. Exits 0 with a clear "skipped" message when the
 * world runs on PGlite (postgres_fdw needs a real PostgreSQL server) or no
 * server answers; 2 on bad arguments; 1 on failure.
 */
import { parseArgs } from 'node:util';
import { tcpReachable } from '../db/reachable.ts';
import { DEFAULT_SANDBOX_DIR, readState } from '../state.ts';
import { buildController, noRawRowsFromEnv, type ControllerRegion } from './build.ts';

const USAGE = `usage: npm run controller:build -- [--no-raw-rows <region>]... [--sandbox <dir>]
       npm run controller:build -- --controller <postgres url> --region <name>=<postgres url>... [--no-raw-rows <region>]...`;

function fail(msg: string, code = 2): never {
  process.stderr.write(`${msg}\n${code === 2 ? USAGE + '\n' : ''}`);
  process.exit(code);
}
function skip(why: string): never {
  process.stderr.write(`controller:build skipped: ${why}\n`);
  process.exit(0);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      controller: { type: 'string' },
      region: { type: 'string', multiple: true, default: [] },
      'no-raw-rows': { type: 'string', multiple: true, default: [] },
      sandbox: { type: 'string', default: process.env.ETR_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (err) {
  fail((err as Error).message);
}
if (values.help) {
  process.stdout.write(USAGE + '\n');
  process.exit(0);
}
const noRaw = [...values['no-raw-rows'], ...noRawRowsFromEnv()];

let controllerUrl: string;
let regions: ControllerRegion[];
if (values.controller || values.region.length) {
  if (!values.controller || !values.region.length) fail('--controller and --region go together');
  controllerUrl = values.controller;
  regions = values.region.map((spec) => {
    const i = spec.indexOf('=');
    if (i < 1) fail(`--region ${spec}: expected NAME=postgres://...`);
    return { name: spec.slice(0, i), url: spec.slice(i + 1), rawRows: true };
  });
} else {
  let state;
  try {
    state = await readState(values.sandbox);
  } catch (err) {
    fail((err as Error).message, 1);
  }
  const ctl = state.dbMode === 'postgres' ? state.controller : null;
  if (!ctl) skip('the local world runs on PGlite, which cannot load postgres_fdw; start it on a real server (LOCAL_PG_URL=postgres://... npm run dev)');
  controllerUrl = ctl.databaseUrl;
  regions = Object.entries(state.regions).map(([name, r]) => ({ name, url: r.databaseUrl, rawRows: true }));
}
for (const n of noRaw) if (!regions.some((r) => r.name === n)) fail(`--no-raw-rows ${n}: not one of the regions (${regions.map((r) => r.name).join(', ')})`);
regions = regions.map((r) => ({ ...r, rawRows: !noRaw.includes(r.name) }));

if (!(await tcpReachable(controllerUrl))) skip(`no PostgreSQL server answers at ${new URL(controllerUrl).host}`);
try {
  // Production: give the read-only remote role a password (else the mapping relies on trust auth).
  const { changes } = await buildController({ controllerUrl, regions, readerPassword: process.env.CONTROLLER_READER_PASSWORD || undefined });
  process.stdout.write(changes.length ? changes.map((c) => `changed: ${c}`).join('\n') + '\n' : 'up to date\n');
  const raw = regions.filter((r) => r.rawRows).map((r) => r.name);
  process.stdout.write(`global.pages partitions: ${raw.join(', ') || '(none)'}; counts only: ${noRaw.join(', ') || '(none)'}\n`);
} catch (err) {
  fail(`controller:build failed: ${(err as Error).message}`, 1);
}
