/**
 * npm run tenant:move -- --tenant T --to REGION [--sandbox DIR] [--lock-timeout-ms N]
 *
 * Moves tenant T's rows from its current home region to REGION in the running
 * local world (databases from state.json), verifies them, flips the control
 * plane and removes the old copy (see move.ts). Prints the result, including
 * how long the tenant's writes were fenced. Exit 2 on bad arguments, 1 on failure.
 */
import { failWith, parseCli } from '../cli.ts';
import { readState } from '../state.ts';
import { moveTenant } from './move.ts';

const USAGE = 'usage: npm run tenant:move -- --tenant <tenant id> --to <region> [--lock-timeout-ms <ms>] [--sandbox <dir>]';

// A declared function (not an arrow) so `fail(...)` narrows types after it.
function fail(msg: string, code = 2): never {
  return failWith(USAGE, msg, code);
}

const values = parseCli(USAGE, {
  tenant: { type: 'string' },
  to: { type: 'string' },
  'lock-timeout-ms': { type: 'string', default: '5000' },
});
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
    // The global view's move barrier (real PostgreSQL worlds have a controller).
    controllerUrl: state.controller?.databaseUrl,
    tenant: values.tenant,
    to: values.to,
    lockTimeoutMs,
  });
  process.stdout.write(
    r.resumed
      ? `finished an interrupted move of ${r.tenant}: ${r.from} tombstoned, ${r.to} serves it\n`
      : `moved ${r.tenant} ${r.from} → ${r.to}: ${r.pages} pages, checksum ${r.checksum}, writes fenced ${r.fencedMs.toFixed(0)} ms (${r.barrierWaitMs.toFixed(0)} ms of it waiting for global queries)\n` +
          `tokens issued before the move now get 409 tenant_relocated (from ${r.from} itself: tombstone of relocation ${r.relocationId}); clients get a fresh one from central\n`,
  );
} catch (err) {
  fail(`tenant:move failed: ${(err as Error).message}`, 1);
}
