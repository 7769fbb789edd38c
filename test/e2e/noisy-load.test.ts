/**
 * The short noisy-neighbour run `npm test` does (one phase of each condition: without the noisy
 * tenant, with it within its budget, with its flood); the full
 * run with its latency target is `npm run load -- --noisy` (README). Asserted here: isolation, not
 * timing — the other tenants get no 429 and no 503, and the noisy tenant is limited (refused, its
 * 429s carrying the RateLimit fields, or paced to its budget). The p99 comparison is printed, not asserted (a timed test on a shared machine
 * would test the machine).
 */
import { expect, it } from 'vitest';
import { realPgUnavailable } from '../../infra/controller/fixture.ts';
import { CONDITIONS, formatNoisyReport, noisyLimited, runNoisy } from '../../infra/load/noisy.ts';

// The run's default world is on PostgreSQL; where none is reachable (a laptop), this runs on PGlite.
const pgSkip = await realPgUnavailable();
const db = pgSkip ? 'pglite' : 'postgres';
if (pgSkip) console.warn(`[noisy] on PGlite: ${pgSkip}`);

it(`a flooding tenant is limited while the other tenants of its region and the rest are not (${db})`, async () => {
  const report = await runNoisy({ durationMs: 15_000, phases: 3, tenantsPerRegion: 2, db, log: (m) => console.log(`[noisy] ${m}`) });
  expect(report.databases).toMatch(db === 'postgres' ? /^PostgreSQL at / : /^PGlite$/);
  console.log(formatNoisyReport(report));
  for (const cond of CONDITIONS) {
    expect(report.others[cond].requests).toBeGreaterThan(0);
    expect(Object.keys(report.others[cond].errors).filter((k) => k.startsWith('429') || k.startsWith('503'))).toEqual([]);
  }
  // Refused, or held to its budget's pace (its requests wait for their turns).
  expect(noisyLimited(report)).toBe(true);
  expect(report.noisy.limitedWithoutHeaders).toBe(0);
  // Within its budget the same tenant is served, not limited.
  expect(report.control.limited).toBe(0);
  expect(report.control.statuses['200']).toBeGreaterThan(0);
  // The CPU table found the world's processes under load: the Workers' workerd, the world's apps, the clients.
  for (const cond of ['busy', 'flood'] as const) {
    for (const role of ['workerd: the Workers', 'world: apps, proxies, pools, PGlite (Node)', 'load clients (Node)'] as const) expect(report.cpuCores[cond][role]).toBeGreaterThan(0);
    if (db === 'postgres') expect(report.cpuCores[cond]['PostgreSQL (the server, exited backends included)']).toBeGreaterThan(0);
  }
}, 180_000);
