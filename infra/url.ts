/**
 * npm run -s url                     the running local world's gateway URL
 * npm run -s url -- --client         its browser client
 * npm run -s url -- --central        the central app
 * npm run -s url -- --region R       region R's app stack
 *
 * Only the URL goes to stdout, so G=$(npm run -s url) works wherever the world's ports went
 * (a taken port falls back to a free one). Exits 1 when no world is running.
 */
import { failWith, parseCli } from './cli.ts';
import { readState } from './state.ts';

const USAGE = 'usage: npm run -s url [-- --client | --central | --region <region>] [--sandbox <dir>]';

const values = parseCli(USAGE, {
  client: { type: 'boolean', default: false },
  central: { type: 'boolean', default: false },
  region: { type: 'string' },
});
if (Number(values.client) + Number(values.central) + Number(values.region !== undefined) > 1) failWith(USAGE, 'choose one of --client, --central, --region');

let state;
try {
  state = await readState(values.sandbox);
  // A state file left by a world that crashed points at ports someone else may hold now.
  process.kill(state.pid, 0);
} catch (err) {
  failWith(USAGE, (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'the local world that wrote the state file is not running: start one with `npm run dev`' : (err as Error).message, 1);
}
let url: string | null | undefined;
if (values.client) url = state.clientUrl;
else if (values.central) url = state.centralUrl;
else if (values.region !== undefined) {
  url = state.regions[values.region]?.originUrl;
  if (!url) failWith(USAGE, `no region ${values.region} in this world (regions: ${Object.keys(state.regions).join(', ')})`);
} else url = state.gatewayUrl;
if (!url) failWith(USAGE, 'this world was started without a gateway', 1);
process.stdout.write(url + '\n');
