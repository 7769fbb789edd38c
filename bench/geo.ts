/**
 * Part 4, geography: the seed's world simulated with latency proxies on every link.
 * Three regions (us-east-1 is also the central region), one client near each, each
 * client's tenant living in the client's region. A page load is five sequential
 * requests to the tenant's data over warm connections, for
 *   (a) central:  everything in us-east-1 (one region for all tenants)
 *   (b) gateway:  client → nearby edge (this gateway, in workerd) → the tenant's region
 *   (c) direct:   client → the tenant's region's app (the ideal, no gateway)
 * and (b0): the same edge hop through a bare pass-through Worker, which splits (b) − (c)
 * into what the platform costs and what the gateway adds.
 * (b) and (c) cross the same simulated links (last mile, then metro to data centre):
 * the only difference between them is the gateway.
 */
import { Agent, request } from 'node:http';
import type { BenchKeys } from './lib/keys.ts';
import { mintToken } from './lib/keys.ts';
import { startLatencyProxy, type LatencyProxy } from './lib/latency-proxy.ts';
import { median, SERVER_CPUS } from './lib/proc.ts';
import { startWorkerd } from './lib/workerd.ts';

export const CENTRAL = 'us-east-1';
/** Where each client sits, next to its tenant's home region. */
export const CLIENTS: Record<string, string> = { Virginia: 'us-east-1', Frankfurt: 'eu-central-1', Sydney: 'ap-southeast-2' };
/** Round-trip times between regions (ms); the seed gives Sydney ↔ us-east-1 ≈ 200 ms. */
export const INTER_REGION_RTT: Record<string, number> = {
  'us-east-1|eu-central-1': 90,
  'us-east-1|ap-southeast-2': 200,
  'eu-central-1|ap-southeast-2': 250,
};
/** Client ↔ its metro (where both the edge PoP and the way to the data centre start). */
export const LAST_MILE_RTT = 4;
/** Metro (or edge PoP) ↔ the region's data centre in the same metro. */
export const METRO_TO_DC_RTT = 2;
export const ROUND_TRIPS_PER_PAGE = 5;

function interRtt(a: string, b: string): number {
  if (a === b) return 0;
  return INTER_REGION_RTT[`${a}|${b}`] ?? INTER_REGION_RTT[`${b}|${a}`]!;
}

export interface GeoRow {
  client: string;
  region: string;
  centralMs: number;
  gatewayMs: number;
  /** The same edge hop through a bare pass-through Worker: the platform's share of (b) − (c). */
  passthroughMs: number;
  directMs: number;
}

export interface GeoResult {
  rows: GeoRow[];
  table: string;
}

export interface GeoOptions {
  dir: string;
  gatewayBundle: string;
  passthroughModule: string;
  gatewayBindings: Record<string, unknown>;
  /** The regional app (the same fast origin for every region: the links carry the geography). */
  origin: string;
  keys: BenchKeys;
  loads: number;
  /** Multiplies every RTT (the smoke run shrinks them). */
  scale: number;
  log: (s: string) => void;
}

function get(agent: Agent, url: string, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function pageLoad(base: string, token: string, loads: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // Warm the connections along the whole path (client, edge to region) first.
    for (let i = 0; i < 2; i++) await get(agent, `${base}/api/pages`, token);
    const times: number[] = [];
    for (let l = 0; l < loads; l++) {
      const t0 = performance.now();
      for (let i = 0; i < ROUND_TRIPS_PER_PAGE; i++) await get(agent, `${base}/api/pages?part=${i}`, token);
      times.push(performance.now() - t0);
    }
    return median(times);
  } finally {
    agent.destroy();
  }
}

export async function benchGeo(o: GeoOptions): Promise<GeoResult> {
  const originPort = Number(new URL(o.origin).port);
  const proxies: LatencyProxy[] = [];
  const link = async (targetPort: number, rtt: number) => {
    const p = await startLatencyProxy(targetPort, rtt * o.scale);
    proxies.push(p);
    return p;
  };
  const regions = Object.values(CLIENTS);
  try {
    // Data-centre side: from a metro (or its edge PoP) near `from` to the app in `to`.
    const toDc = new Map<string, LatencyProxy>();
    for (const from of regions) for (const to of regions) toDc.set(`${from}|${to}`, await link(originPort, METRO_TO_DC_RTT + interRtt(from, to)));
    // One gateway per edge location, its regions reached over that edge's links.
    const workers = regions.map((edge) => ({
      name: `edge-${edge}`,
      modulePath: o.gatewayBundle,
      bindings: {
        ...o.gatewayBindings,
        REGIONS: Object.fromEntries(regions.map((r) => [r, { origin: toDc.get(`${edge}|${r}`)!.url }])),
        CENTRAL_ORIGIN: toDc.get(`${edge}|${CENTRAL}`)!.url,
      },
    }));
    // Next to each edge gateway, a bare pass-through Worker to the tenant's home region over the same link.
    const passthroughs = regions.map((edge) => ({
      name: `pass-${edge}`,
      modulePath: o.passthroughModule,
      bindings: { ORIGIN: toDc.get(`${edge}|${edge}`)!.url },
    }));
    const workerd = await startWorkerd(o.dir, [...workers, ...passthroughs], { cpus: SERVER_CPUS, configName: 'workerd-geo.capnp' });
    const rows: GeoRow[] = [];
    for (const [client, region] of Object.entries(CLIENTS)) {
      const token = await mintToken(o.keys, { tenant_region: region, tenant_id: `ws_${region.replaceAll('-', '_')}` });
      const lastMile = async (port: number) => (await link(port, LAST_MILE_RTT)).url;
      const central = await pageLoad(await lastMile(toDc.get(`${region}|${CENTRAL}`)!.port), token, o.loads);
      const gateway = await pageLoad(await lastMile(workerd.ports[`edge-${region}`]!), token, o.loads);
      const passthrough = await pageLoad(await lastMile(workerd.ports[`pass-${region}`]!), token, o.loads);
      const direct = await pageLoad(await lastMile(toDc.get(`${region}|${region}`)!.port), token, o.loads);
      rows.push({ client, region, centralMs: central, gatewayMs: gateway, passthroughMs: passthrough, directMs: direct });
      o.log(`  ${client.padEnd(9)} (${region}) central ${central.toFixed(1)} ms, gateway ${gateway.toFixed(1)} ms, pass-through Worker ${passthrough.toFixed(1)} ms, direct ${direct.toFixed(1)} ms`);
    }
    await workerd.child.stop();
    return { rows, table: geoTable(rows, o.scale) };
  } finally {
    await Promise.all(proxies.map((p) => p.close()));
  }
}

function geoTable(rows: GeoRow[], scale: number): string {
  const lines = [
    `RTTs (ms${scale !== 1 ? `, ×${scale}` : ''}): last mile ${LAST_MILE_RTT}, metro→data centre ${METRO_TO_DC_RTT}, ` +
      Object.entries(INTER_REGION_RTT).map(([k, v]) => `${k.replace('|', '↔')} ${v}`).join(', '),
    '',
    '| client | tenant region | (a) all central (ms) | (b) via gateway (ms) | (b0) via bare pass-through Worker (ms) | (c) direct to region (ms) | (b) − (c) | of which platform (b0) − (c) | gateway (b) − (b0) | (b) / (c) | (b) within 5% and 2 ms of (c) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const diff = r.gatewayMs - r.directMs;
    const ok = diff <= 2 && r.gatewayMs <= r.directMs * 1.05;
    lines.push(
      `| ${r.client} | ${r.region} | ${r.centralMs.toFixed(1)} | ${r.gatewayMs.toFixed(1)} | ${r.passthroughMs.toFixed(1)} | ${r.directMs.toFixed(1)} | ${diff.toFixed(1)} | ${(r.passthroughMs - r.directMs).toFixed(1)} | ${(r.gatewayMs - r.passthroughMs).toFixed(1)} | ${(r.gatewayMs / r.directMs).toFixed(3)} | ${ok ? 'yes' : 'NO'} |`,
    );
  }
  return lines.join('\n');
}
