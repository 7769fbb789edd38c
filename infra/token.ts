/**
 * npm run -s token -- --tenant T --region R [--sub U] [--ttl SECONDS]
 * npm run -s token -- --admin [--regions R1,R2] [--sub U] [--ttl SECONDS]   (for /admin: admin typ and audience, no tenant claims)
 *
 * Prints an access token signed with the running local world's key (from
 * <sandbox>/state.json), identical in form to what the central app issues.
 * Only the token goes to stdout, so TOKEN=$(npm run -s token -- ...) works.
 */
import { createTokenSigner, signAdminToken } from './auth/tokens.ts';
import { failWith, parseCli } from './cli.ts';
import { readState } from './state.ts';

const USAGE = `usage: npm run -s token -- --tenant <tenant id> --region <region> [--sub <user id>] [--ttl <seconds>] [--sandbox <dir>]\n       npm run -s token -- --admin [--regions <r1,r2>] [--sub <admin id>] [--ttl <seconds>] [--sandbox <dir>]`;

// A declared function (not an arrow) so `fail(...)` narrows types after it.
function fail(msg: string, code = 2): never {
  return failWith(USAGE, msg, code);
}

const values = parseCli(USAGE, {
  tenant: { type: 'string' },
  region: { type: 'string' },
  sub: { type: 'string' },
  ttl: { type: 'string', default: '900' },
  // An admin token for /admin (no tenant claims); see docs/global.md.
  admin: { type: 'boolean', default: false },
  // Regions an admin token may read (admin_regions); default every region of the world.
  regions: { type: 'string' },
});
if (values.admin && (values.tenant || values.region)) fail('--admin takes no --tenant or --region (admin tokens carry no tenant claims)');
if (!values.admin && !values.tenant) fail('--tenant is required');
if (!values.admin && !values.region) fail('--region is required');
const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl < 1 || ttl > 7 * 24 * 3600) fail('--ttl must be a whole number of seconds (1 to 604800)');

let state;
try {
  state = await readState(values.sandbox);
} catch (err) {
  fail((err as Error).message);
}
if (values.admin) {
  const regions = values.regions ? values.regions.split(',').map((r) => r.trim()) : Object.keys(state.regions);
  const token = await signAdminToken(state.signingKey, { issuer: state.issuer, sub: values.sub ?? 'dev-admin', regions, ttlSeconds: ttl });
  process.stdout.write(token + '\n');
  process.exit(0);
}
if (!state.regions[values.region!]) {
  // Allowed on purpose (tests of the gateway's 403), but say so.
  process.stderr.write(`note: region ${values.region} is not one of this world's regions (${Object.keys(state.regions).join(', ')})\n`);
}
const signer = await createTokenSigner(state.signingKey, { issuer: state.issuer, audience: state.audience });
process.stdout.write((await signer.sign({ sub: values.sub ?? 'dev-user', tenantId: values.tenant!, region: values.region!, ttlSeconds: ttl })) + '\n');
