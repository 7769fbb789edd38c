import { readFileSync } from 'node:fs';
/**
 * npm run dev: the local world for humans. PGlite by default, real PostgreSQL
 * when LOCAL_PG_URL is set. Fixed, memorable ports when free (else any free
 * one); each can be set with ETR_PORT_<SERVICE>, e.g. ETR_PORT_GATEWAY=9000,
 * ETR_PORT_EU_CENTRAL_1=0 (0 = any), ETR_PORT_EU_CENTRAL_1_DB, ETR_PORT_CENTRAL_WS.
 * Ctrl-C (or SIGTERM/SIGHUP) stops everything, wrangler's workerd included.
 */
import { readState } from './state.ts';
import { LOCAL_TENANT_PACING, LOCAL_TENANT_RATE_LIMITS, REGIONS, startWorld } from './world.ts';

const services = ['gateway', 'client', 'central', 'central.db', 'central.ws', ...REGIONS.flatMap((r) => [r, `${r}.db`, `${r}.ws`])];
const DEFAULT_PORTS: Record<string, number> = {
  gateway: 8787,
  // Vite's default, so a front end started with `npm create vite` is allowed by the gateway's CORS too.
  client: 5173,
  central: 8788,
  'central.db': 55432,
  'central.ws': 55442,
};
REGIONS.forEach((r, i) => {
  DEFAULT_PORTS[r] = 8791 + i;
  DEFAULT_PORTS[`${r}.db`] = 55433 + i;
  DEFAULT_PORTS[`${r}.ws`] = 55443 + i;
});

const envName = (service: string) => 'ETR_PORT_' + service.replace(/[.-]/g, '_').toUpperCase();
const ports: Record<string, number> = {};
for (const s of services) {
  const raw = process.env[envName(s)];
  const n = raw === undefined ? DEFAULT_PORTS[s]! : Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    console.error(`${envName(s)} must be a port number (0 = any free port)`);
    process.exit(2);
  }
  ports[s] = n;
}

const sandboxDir = process.env.ETR_SANDBOX_DIR || undefined;

// One world per sandbox: a second one would overwrite the first one's state.json.
try {
  const prev = await readState(sandboxDir);
  process.kill(prev.pid, 0);
  console.error(`a local world is already running (pid ${prev.pid}, ${prev.sandboxDir}); stop it first`);
  process.exit(1);
} catch {
  // none, or a stale state file from a crashed run
}

const quietGateway = (line: string) =>
  /Request\.cf|workers\.cloudflare\.com|^\s+at |^\s*$/.test(line) || /"code":"not_found","detail":"GET \/healthz"/.test(line);

console.log('starting the local world…');
const t0 = Date.now();
const world = await startWorld({
  ports,
  sandboxDir,
  keepDatabases: process.env.KEEP_DATABASES === '1',
  log: (m) => console.log(`  ${m}`),
  onGatewayOutput: (line) => {
    if (!quietGateway(line)) console.log(`[gateway] ${line}`);
  },
});

const s = world.state;
const rows: string[][] = [['service', 'url', 'database', 'ws proxy']];
rows.push(['gateway', s.gatewayUrl ?? '-', '', '']);
rows.push(['browser client', s.clientUrl ?? '-', '', '']);
rows.push([`central (${s.central.region})`, s.centralUrl, s.central.databaseUrl, s.central.wsProxyUrl]);
for (const [r, e] of Object.entries(s.regions)) rows.push([r, e.originUrl, e.databaseUrl, e.wsProxyUrl]);
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
const fmt = (row: string[]) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
console.log(`\nlocal world up in ${((Date.now() - t0) / 1000).toFixed(1)} s (databases: ${s.dbMode})\n`);
for (const f of world.portFallbacks) console.log(`port ${f.preferred} (${f.service}) was taken: ${f.service} is on ${f.port}`);
if (world.portFallbacks.length) console.log('');
console.log(fmt(rows[0]!));
console.log(widths.map((w) => '─'.repeat(w)).join('  '));
for (const row of rows.slice(1)) console.log(fmt(row));
const anyRegion = Object.keys(s.regions)[1] ?? Object.keys(s.regions)[0]!;
console.log(`
state:   ${world.statePath}   (issuer ${s.issuer}; \`npm run -s url\` prints the gateway's URL)
browser: open ${s.clientUrl} (sign up, pages, refresh, a refused region: all through the gateway, across origins)
sign up: curl -s ${s.gatewayUrl}/auth/signup -H 'content-type: application/json' \\
           -d '{"email":"me@example.com","password":"correct horse","workspace":"Acme","region":"${anyRegion}"}'
token:   TOKEN=$(npm run -s token -- --tenant <tenant id> --region ${anyRegion})
call:    curl -s ${s.gatewayUrl}/api/pages -H "authorization: Bearer $TOKEN"
status:  echo "${s.gatewayUrl}/admin/status#token=$(npm run -s token -- --admin)"   (open that URL: live regions and traffic)
psql:    psql ${s.regions[anyRegion]!.databaseUrl}
limits:  ${Object.entries(LOCAL_TENANT_RATE_LIMITS).map(([cls, l]) => `${cls} ${l.tenant.limit} per ${l.tenant.period} s`).join(', ')} per tenant (429 rate_limited over it),
         paced: ${LOCAL_TENANT_PACING.burst * 100} % of a budget at once, the rest evenly over its period (waits up to ${LOCAL_TENANT_PACING.maxWaitMs} ms, else 429)
Ctrl-C stops everything.
`);

let stopping = false;
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local world…`);
  try {
    await world.stop();
    console.log('stopped.');
  } catch (err) {
    console.error(`stopped with problems: ${(err as Error).message}`);
    code = code || 1;
  }
  process.exit(code);
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void shutdown(sig));
// `kill <npm pid>` (or `timeout npm run dev`) ends npm without passing the signal on,
// and the `sh -c` between npm and us may linger; we watch both our parent and its
// parent, and stop rather than linger as an orphan when either is gone.
function watchedAncestors(): number[] {
  const out = [process.ppid];
  try {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    const grandparent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (grandparent > 1) out.push(grandparent);
  } catch {
    // no /proc (macOS): the parent alone is watched
  }
  return out;
}
const watched = watchedAncestors();
setInterval(() => {
  for (const pid of watched) {
    try {
      process.kill(pid, 0);
    } catch {
      void shutdown('parent process exited');
    }
  }
}, 1000).unref();
process.on('uncaughtException', (err) => {
  console.error(err);
  void shutdown('uncaught exception', 1);
});
