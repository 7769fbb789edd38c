/**
 * npm run bench:db [-- --latency 40 --samples 15 --db pglite|postgres|both]
 *
 * Counts network round trips per request over the long link between the gateway
 * and a region, for the two ways the gateway can answer a tenant's read:
 *   direct:  gateway (workerd, wrangler dev) → WebSocket → the region's Postgres
 *            (the local world's ws proxy, with a fixed delay per direction)
 *   forward: gateway → HTTP → the region's app stack (through a TCP relay with the
 *            same delay), whose database is local to it
 * Round trips = (median time with delay − median time without) / (2 × delay).
 * It runs the real local world (startWorld) with its own gateway env so that the
 * forwarding link can be delayed too. Prints a table; nothing is asserted.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWranglerDev } from '../infra/gateway/wrangler-dev.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../infra/db/reachable.ts';
import { DEFAULT_SANDBOX_DIR, REPO_ROOT } from '../infra/state.ts';
import { startWorld } from '../infra/world.ts';
import { startTcpDelay, type TcpDelay } from './tcp-delay.ts';

const { values: args } = parseArgs({
  options: {
    latency: { type: 'string', default: '40' },
    samples: { type: 'string', default: '15' },
    db: { type: 'string', default: 'both' },
  },
});
const LATENCY = Number(args.latency);
const SAMPLES = Number(args.samples);
const REGION = 'eu-central-1';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeIt(fn: () => Promise<Response>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SAMPLES + 2; i++) {
    const t0 = performance.now();
    const res = await fn();
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`benchmark request failed: ${res.status}`);
    if (i >= 2) out.push(performance.now() - t0); // the first two warm up the isolate and connections
  }
  return out;
}

async function run(dbMode: 'pglite' | 'postgres'): Promise<Array<Record<string, string | number>>> {
  await mkdir(DEFAULT_SANDBOX_DIR, { recursive: true });
  const sandboxDir = await mkdtemp(join(DEFAULT_SANDBOX_DIR, 'bench-db-'));
  const world = await startWorld({ dbMode, pgUrl: dbMode === 'postgres' ? process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL : undefined, sandboxDir, gateway: false });
  const relays: TcpDelay[] = [];
  let gateway: Awaited<ReturnType<typeof startWranglerDev>> | undefined;
  try {
    // The gateway's config: as the world's, but the regional origins behind delaying relays.
    const regions: Record<string, { origin: string }> = {};
    const databases: Record<string, unknown> = {};
    for (const [name, r] of Object.entries(world.regions)) {
      const relay = await startTcpDelay(new URL(r.originUrl));
      relays.push(relay);
      regions[name] = { origin: relay.url };
      const url = new URL(r.databaseUrl);
      if (dbMode === 'postgres') url.username = 'gateway';
      const primary = { url: url.toString(), wsProxy: r.wsProxy.hostPort, pipelineConnect: dbMode === 'postgres' ? 'off' : 'password' };
      databases[name] = dbMode === 'postgres' ? { primary } : { primary, role: 'gateway' };
    }
    const env = {
      JWT_ISSUER: world.state.issuer,
      JWT_AUDIENCE: world.state.audience,
      JWKS_URL: world.state.jwksUrl,
      CENTRAL_ORIGIN: world.centralUrl,
      REGIONS: JSON.stringify(regions),
      GATEWAY_ASSERTION_KEYS: JSON.stringify(world.state.assertionKeys),
      REGION_DATABASES: JSON.stringify(databases),
      DB_USE_SECURE_WEBSOCKET: 'false',
    };
    const envFile = join(sandboxDir, 'bench-gateway.env');
    await writeFile(envFile, Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
    gateway = await startWranglerDev({ cwd: REPO_ROOT, envFile, persistTo: join(sandboxDir, 'wrangler-state'), logFile: join(sandboxDir, 'gateway.log'), logLevel: 'error' });
    const gw = gateway.url;

    const signup = await fetch(`${gw}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `bench-${Date.now()}@example.com`, password: 'correct horse battery', workspace: 'bench', region: REGION }),
    });
    if (signup.status !== 201) throw new Error(`signup failed: ${signup.status} ${await signup.text()}`);
    const { token } = (await signup.json()) as { token: string };
    const auth = { authorization: `Bearer ${token}` };
    const created = await fetch(`${gw}/data/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'bench page', body: 'x' }) });
    const { id } = (await created.json()) as { id: string };

    const wsProxy = world.regions[REGION]!.wsProxy;
    const relay = relays[Object.keys(world.regions).indexOf(REGION)]!;
    const setDelay = (ms: number) => {
      wsProxy.setLatency(ms);
      relay.setLatency(ms);
    };
    const cases: Array<[string, () => Promise<Response>]> = [
      ['direct  GET /data/pages/:id', () => fetch(`${gw}/data/pages/${id}`, { headers: auth })],
      ['direct  GET /data/pages', () => fetch(`${gw}/data/pages?limit=20`, { headers: auth })],
      ['direct  POST /data/pages', () => fetch(`${gw}/data/pages`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"title":"b"}' })],
      ['forward GET /api/pages/:id', () => fetch(`${gw}/api/pages/${id}`, { headers: auth })],
    ];
    const rows: Array<Record<string, string | number>> = [];
    for (const [name, fn] of cases) {
      setDelay(0);
      const base = median(await timeIt(fn));
      setDelay(LATENCY);
      const slow = median(await timeIt(fn));
      setDelay(0);
      rows.push({
        db: dbMode,
        connect: dbMode === 'postgres' ? 'startup, then query' : 'pipelined',
        request: name,
        'ms (no delay)': Number(base.toFixed(1)),
        [`ms (+${LATENCY} ms each way)`]: Number(slow.toFixed(1)),
        'round trips': Number(((slow - base) / (2 * LATENCY)).toFixed(2)),
      });
    }
    return rows;
  } finally {
    await gateway?.stop();
    for (const r of relays) await r.close();
    await world.stop();
    await rm(sandboxDir, { recursive: true, force: true });
  }
}

const modes: Array<'pglite' | 'postgres'> = [];
if (args.db === 'pglite' || args.db === 'both') modes.push('pglite');
if (args.db === 'postgres' || args.db === 'both') {
  if (await tcpReachable(process.env.LOCAL_PG_URL || DEFAULT_LOCAL_PG_URL)) modes.push('postgres');
  else console.log('(no PostgreSQL reachable: real-PostgreSQL rows skipped)');
}
const all: Array<Record<string, string | number>> = [];
for (const m of modes) all.push(...(await run(m)));
console.log(`\nRound trips over the gateway ↔ region link (${LATENCY} ms injected per direction, median of ${SAMPLES}):`);
console.table(all);
