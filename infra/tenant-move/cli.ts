/**
 * npm run tenant:move -- --tenant T --to REGION [--sandbox DIR] [--lock-timeout-ms N]
 *
 * Moves tenant T's rows from its current home region to REGION in the running
 * local world (databases from state.json), verifies them, flips the control
 * plane and removes the old copy (see move.ts). Prints the result, including
 * how long the tenant's writes were fenced. Exit 2 on bad arguments, 1 on failure.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_SANDBOX_DIR, readState } from '../state.ts';
import { moveTenant } from './move.ts';

const USAGE = 'usage: npm run tenant:move -- --tenant <tenant id> --to <region> [--lock-timeout-ms <ms>] [--sandbox <dir>]';

function fail(msg: string, code = 2): never {
  process.stderr.write(`${msg}\n${code === 2 ? USAGE + '\n' : ''}`);
  process.exit(code);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      tenant: { type: 'string' },
      to: { type: 'string' },
      'lock-timeout-ms': { type: 'string', default: '5000' },
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
if (!values.tenant) fail('--tenant is required');
if (!values.to) fail('--to is required');
const lockTimeoutMs = Number(values['lock-timeout-ms']);
if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 1 || lockTimeoutMs > 600_000) fail('--lock-timeout-ms must be 1 to 600000');

let state;
try {
  state = await readState(values.sandbox);
} catch (err) {
  fail((err as Error).message, 1);
}
try {
  const r = await moveTenant({
    centralUrl: state.central.databaseUrl,
    regionUrls: Object.fromEntries(Object.entries(state.regions).map(([n, x]) => [n, x.databaseUrl])),
    tenant: values.tenant,
    to: values.to,
    lockTimeoutMs,
  });
  process.stdout.write(
    r.resumed
      ? `finished an interrupted move of ${r.tenant}: old copy in ${r.from} removed (${r.to} is home)\n`
      : `moved ${r.tenant} ${r.from} → ${r.to}: ${r.pages} pages, checksum ${r.checksum}, writes fenced ${r.fencedMs.toFixed(0)} ms\n` +
          'tokens issued before the move now get 409 tenant_relocated from the gateway; clients get a fresh one from central\n',
  );
} catch (err) {
  fail(`tenant:move failed: ${(err as Error).message}`, 1);
}
