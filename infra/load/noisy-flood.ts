/**
 * The noisy tenant, in a worker thread of its own, so that its client-side work does not sit on
 * the event loop that times the other tenants' requests. On each {floodUntil} message it sends
 * GET /api/pages as fast as `concurrency` connections allow until then, and posts back its counts.
 */
import { parentPort, workerData } from 'node:worker_threads';

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
}

const setup = workerData as FloodSetup;

async function flood(untilMs: number): Promise<FloodCounts> {
  const counts: FloodCounts = { requests: 0, statuses: {}, limitedWithoutHeaders: 0, elapsedMs: 0 };
  const t0 = Date.now();
  const url = `${setup.gatewayUrl}/api/pages?limit=5`;
  const headers = { authorization: `Bearer ${setup.token}` };
  await Promise.all(
    Array.from({ length: setup.concurrency }, async () => {
      while (Date.now() < untilMs) {
        let status = 0;
        try {
          const res = await fetch(url, { headers });
          status = res.status;
          if (status === 429 && !(res.headers.get('retry-after') && res.headers.get('ratelimit-policy') && res.headers.get('ratelimit'))) counts.limitedWithoutHeaders++;
          await res.arrayBuffer();
        } catch {
          status = 0;
        }
        counts.requests++;
        counts.statuses[status] = (counts.statuses[status] ?? 0) + 1;
      }
    }),
  );
  counts.elapsedMs = Date.now() - t0;
  return counts;
}

parentPort!.on('message', (msg: { floodUntil: number }) => {
  void flood(msg.floodUntil).then((c) => parentPort!.postMessage(c));
});
