/**
 * The short tenant-move load run CI does (real PostgreSQL: the global view needs postgres_fdw):
 * readers and writers on both paths while two tenants, one with 2000 pages, move back and forth.
 * `npm run load -- --move --duration 30` runs the full one by hand (README: Moving tenants).
 */
import { expect, it } from 'vitest';
import { realPgUnavailable } from '../../infra/controller/fixture.ts';
import { formatMoveReport, runMoveLoad } from '../../infra/load/move.ts';

const skip = await realPgUnavailable();
if (skip) console.warn(`[skip] load --move: ${skip}`);

it.skipIf(!!skip)('moves tenants under load: no lost write, no short read, nothing served outside the home of the moment, the global view exact', async () => {
  const report = await runMoveLoad({ durationMs: 12_000, clients: 10, tenantsPerRegion: 1, seedPages: 2000, log: (m) => console.log(`[load] ${m}`) });
  console.log(formatMoveReport(report));
  expect(report.violations).toEqual([]);
  // The run did what it is for: moves happened, both kinds of refusal were met and recovered from.
  expect(report.moves.length).toBeGreaterThanOrEqual(2);
  expect(report.moves.some((m) => m.pages >= 2000)).toBe(true);
  const moving = Object.entries(report.tallies).filter(([k]) => k.startsWith('moving '));
  expect(moving.reduce((n, [, v]) => n + v.relocated, 0)).toBeGreaterThan(0);
  expect(report.tokenRefreshes).toBeGreaterThan(0);
  expect(moving.every(([, v]) => v.served > 0)).toBe(true);
  expect(report.samples).toBeGreaterThan(5);
}, 240_000);
