/**
 * The noisy tenant, in a worker thread of its own, so that its client-side work does not sit on
 * the event loop that times the other tenants' requests. On each {until, rps} message it sends
 * GET /api/pages until then and posts back its counts: at `rps` requests per second (open loop,
 * at most `concurrency` outstanding; a send that finds them all busy is skipped and counted), or,
 * with `rps` 0, as fast as `concurrency` connections allow (closed loop).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadClient } from './http-client.ts';

export interface FloodSetup {
  gatewayUrl: string;
  token: string;
  concurrency: number;
}

export interface FloodCounts {
  requests: number;
  /** Status → count (0: network error). */
  statuses: Record<string, number>;
  /** Every 429 carried Retry-After, RateLimit-Policy and RateLimit. */
  limitedWithoutHeaders: number;
  elapsedMs: number;
  /** Paced sends skipped because `concurrency` requests were still outstanding. */
  skipped: number;
  /** Connections opened (a request not sent on a kept-alive one). */
  connectionsOpened: number;
  /** How long each request took, in the order they were answered. */
  latenciesMs: number[];
}

const setup = workerData as FloodSetup;
const client = loadClient();

async function flood(untilMs: number, rps: number): Promise<FloodCounts> {
  const counts: FloodCounts = { requests: 0, statuses: {}, limitedWithoutHeaders: 0, elapsedMs: 0, skipped: 0, connectionsOpened: 0, latenciesMs: [] };
  const t0 = Date.now();
  const url = `${setup.gatewayUrl}/api/pages?limit=5`;
  const headers = { authorization: `Bearer ${setup.token}` };
  const one = async () => {
    let status = 0;
    const sentAt = performance.now();
    try {
      const res = await client.request(url, { headers });
      status = res.status;
      if (res.newConnection) counts.connectionsOpened++;
      if (status === 429 && !(res.header('retry-after') && res.header('ratelimit-policy') && res.header('ratelimit'))) counts.limitedWithoutHeaders++;
    } catch {
      status = 0;
    }
    counts.requests++;
    counts.latenciesMs.push(performance.now() - sentAt);
    counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
  };
  if (rps > 0) {
    const interval = 1000 / rps;
    const outstanding = new Set<Promise<void>>();
    for (let next = performance.now(); Date.now() < untilMs; next += interval) {
      if (outstanding.size >= setup.concurrency) counts.skipped++;
      else {
        const p = one().finally(() => outstanding.delete(p));
        outstanding.add(p);
      }
      const wait = next + interval - performance.now();
      if (wait > 0) await sleep(wait);
    }
    await Promise.all(outstanding);
  } else {
    await Promise.all(
      Array.from({ length: setup.concurrency }, async () => {
        while (Date.now() < untilMs) await one();
      }),
    );
  }
  counts.elapsedMs = Date.now() - t0;
  return counts;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What the parent asks for: send until `until` (epoch ms), at `rps` (0: closed loop, as fast as the connections allow). */
export interface FloodOrder {
  until: number;
  rps: number;
}

parentPort!.on('message', (msg: FloodOrder) => {
  void flood(msg.until, msg.rps).then((c) => parentPort!.postMessage(c));
});
