/**
 * npm run bench:db [-- --latency 40 --samples 15 --db pglite|postgres|both --chart bench/results/direct.svg]
 *
 * Round trips per request over the long link between the client's edge location and the
 * tenant's region, with EVERY byte on that link delayed, connection setup included (a TCP
 * relay with a fixed delay per direction; opening a connection through it costs one round
 * trip, as a TCP handshake does). Three ways to answer a tenant's request, in one run:
 *   (i)   fresh connection per request (the design before the data Workers): the edge's data
 *         Worker runs at the edge, its database is far: each request opens a new connection
 *         (TCP connect, Postgres startup, then the pipelined transaction) over the long link;
 *   (ii)  the placed data Worker: the long link is edge → data Worker (here plain HTTP through
 *         the delaying relay on a kept-alive connection, not a service binding, and without the
 *         edge's own work, which is measured separately in npm run bench); the data Worker
 *         reaches its database over the local link, as Hyperdrive's warm pool next to it does;
 *   (iii) forward: the edge → HTTP (kept alive) → the region's app stack, whose database is local.
 * TLS is not in any of them (the local links are plain): in production a fresh connection (i)
 * adds at least one more round trip for it; (ii) and (iii) ride on connections that are already up.
 * Round trips = (median with delay − median without) / (2 × delay). Prints a table; nothing is asserted.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dataWorkerBinding, writeDataWorkerConfigs } from '../infra/data-workers/config.ts';
import { startWranglerDev, type WranglerDev } from '../infra/gateway/wrangler-dev.ts';
import { DEFAULT_LOCAL_PG_URL, tcpReachable } from '../infra/db/reachable.ts';
import { DEFAULT_SANDBOX_DIR, REPO_ROOT } from '../infra/state.ts';
import { startWorld } from '../infra/world.ts';
import { identityRequest, IDENTITY_HEADERS, importAssertionKey, signAssertion } from '../src/identity-assertion/index.ts';
import { directChart } from './lib/svg.ts';
import { startTcpDelay, type TcpDelay } from './tcp-delay.ts';

const { values: args } = parseArgs({
  options: {
    latency: { type: 'string', default: '40' },
    samples: { type: 'string', default: '15' },
    db: { type: 'string', default: 'both' },
    chart: { type: 'string' },
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
  const devs: WranglerDev[] = [];
  const relay = async (target: URL) => {
    const r = await startTcpDelay(target, { connectRoundTrip: true });
    relays.push(r);
    return r;
  };
  try {
    const dbUrl = (name: string, via?: TcpDelay) => {
      const url = new URL(world.regions[name]!.databaseUrl);
      if (dbMode === 'postgres') url.username = 'gateway';
      if (via) url.port = new URL(via.url).port;
      return url.toString();
    };
    const role = dbMode === 'postgres' ? undefined : 'gateway';
    // The gateway: regional origins behind delaying relays (iii); REGION's data Worker beside it, with its
    // database behind a delaying relay: the far database of (i).
    const regions: Record<string, { origin: string }> = {};
    const originRelays: Record<string, TcpDelay> = {};
    for (const [name, r] of Object.entries(world.regions)) {
      originRelays[name] = await relay(new URL(r.originUrl));
      regions[name] = { origin: originRelays[name]!.url };
    }
    const farDb = await relay(new URL(dbUrl(REGION)));
    const keys = world.state.assertionKeys;
    const edgeData = await writeDataWorkerConfigs(sandboxDir, REPO_ROOT, keys, Object.keys(world.regions).map((r) => ({ region: r, databaseUrl: dbUrl(r, r === REGION ? farDb : undefined), role })));
    const env = {
      JWT_ISSUER: world.state.issuer,
      JWT_AUDIENCE: world.state.audience,
      JWKS_URL: world.state.jwksUrl,
      CENTRAL_ORIGIN: world.centralUrl,
      REGIONS: JSON.stringify(regions),
      GATEWAY_ASSERTION_KEYS: JSON.stringify(world.state.assertionKeys),
      DATA_WORKERS: JSON.stringify(Object.fromEntries(Object.keys(world.regions).map((r) => [r, dataWorkerBinding(r)]))),
    };
    const envFile = join(sandboxDir, 'bench-gateway.env');
    await writeFile(envFile, Object.entries(env).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });
    const gateway = await startWranglerDev({ cwd: REPO_ROOT, envFile, persistTo: join(sandboxDir, 'wrangler-state'), logFile: join(sandboxDir, 'gateway.log'), logLevel: 'error', auxiliaryConfigs: edgeData });
    devs.push(gateway);
    // (ii): REGION's data Worker placed next to its database (direct local link), reached over the long link.
    const placedDir = join(sandboxDir, 'placed');
    await mkdir(placedDir, { recursive: true });
    const [placedConfig] = await writeDataWorkerConfigs(placedDir, REPO_ROOT, keys, [{ region: REGION, databaseUrl: dbUrl(REGION), role }]);
    const emptyEnv = join(placedDir, 'empty.env');
    await writeFile(emptyEnv, '');
    const placed = await startWranglerDev({ cwd: REPO_ROOT, envFile: emptyEnv, persistTo: join(placedDir, 'wrangler-state'), logFile: join(placedDir, 'data.log'), logLevel: 'error', config: placedConfig });
    devs.push(placed);
    const placedLink = await relay(new URL(placed.url));
    const gw = gateway.url;

    const signup = await fetch(`${gw}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `bench-${Date.now()}@example.com`, password: 'correct horse battery', workspace: 'bench', region: REGION }),
    });
    if (signup.status !== 201) throw new Error(`signup failed: ${signup.status} ${await signup.text()}`);
    const { token, tenant_id: tenantId, user_id: userId } = (await signup.json()) as { token: string; tenant_id: string; user_id: string };
    const auth = { authorization: `Bearer ${token}` };
    const json = { 'content-type': 'application/json' };
    const created = await fetch(`${gw}/data/pages`, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ title: 'bench page', body: 'x' }) });
    if (created.status !== 201) throw new Error(`create failed: ${created.status} ${await created.text()}`);
    const { id } = (await created.json()) as { id: string };
    let etag = created.headers.get('etag')!;
    const track = (res: Response) => {
      etag = res.headers.get('etag') ?? etag;
      return res;
    };

    // What the edge sends a data Worker: the identity headers and their assertion (src/data-routes).
    const key = await importAssertionKey(keys[REGION]![0]!.kid, keys[REGION]![0]!.secret);
    const signed = async (method: string, path: string): Promise<Record<string, string>> => {
      const identity = { tenantId, userId, region: REGION, requestId: crypto.randomUUID() };
      return {
        [IDENTITY_HEADERS.tenantId]: tenantId,
        [IDENTITY_HEADERS.userId]: userId,
        [IDENTITY_HEADERS.region]: REGION,
        [IDENTITY_HEADERS.requestId]: identity.requestId,
        [IDENTITY_HEADERS.assertion]: await signAssertion(identityRequest(method, path, identity), key),
      };
    };
    const patchBody = () => JSON.stringify({ body: `edit ${Math.random()}` });

    const cases: Array<[string, string, TcpDelay, () => Promise<Response>]> = [
      ['(i) fresh connection to a far database', 'GET /data/pages/:id', farDb, () => fetch(`${gw}/data/pages/${id}`, { headers: auth })],
      ['(i) fresh connection to a far database', 'PATCH /data/pages/:id', farDb, async () => track(await fetch(`${gw}/data/pages/${id}`, { method: 'PATCH', headers: { ...auth, ...json, 'if-match': etag }, body: patchBody() }))],
      ['(ii) placed data Worker, near database', 'GET /data/pages/:id', placedLink, async () => fetch(`${placedLink.url}/data/pages/${id}`, { headers: await signed('GET', `/data/pages/${id}`) })],
      ['(ii) placed data Worker, near database', 'PATCH /data/pages/:id', placedLink, async () => track(await fetch(`${placedLink.url}/data/pages/${id}`, { method: 'PATCH', headers: { ...(await signed('PATCH', `/data/pages/${id}`)), ...json, 'if-match': etag }, body: patchBody() }))],
      ['(iii) forward to the region\'s app stack', 'GET /api/pages/:id', originRelays[REGION]!, () => fetch(`${gw}/api/pages/${id}`, { headers: auth })],
    ];
    const rows: Array<Record<string, string | number>> = [];
    for (const [design, request, link, fn] of cases) {
      link.setLatency(0);
      const base = median(await timeIt(fn));
      link.setLatency(LATENCY);
      const slow = median(await timeIt(fn));
      link.setLatency(0);
      rows.push({
        db: dbMode,
        design,
        request,
        'ms (no delay)': Number(base.toFixed(1)),
        [`ms (+${LATENCY} ms each way)`]: Number(slow.toFixed(1)),
        'round trips': Number(((slow - base) / (2 * LATENCY)).toFixed(2)),
      });
    }
    return rows;
  } finally {
    for (const d of devs.reverse()) await d.stop();
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
console.log(`\nRound trips over the edge ↔ region link, every byte and each new connection delayed (${LATENCY} ms per direction, median of ${SAMPLES}; no TLS):`);
console.table(all);
if (args.chart) {
  const note = `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}; ${LATENCY} ms per direction, median of ${SAMPLES}, no TLS`;
  await writeFile(args.chart, directChart(all, note));
  console.log(`wrote ${args.chart}`);
}
