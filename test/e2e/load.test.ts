/**
 * The modest load run CI does: ~10 s, all regions, one region killed and brought back.
 * `npm run load -- --duration 60 --clients 96` runs a bigger one by hand.
 */
import { expect, it } from 'vitest';
import { runLoad } from '../../infra/load/run.ts';

it('keeps every acknowledged write, every tenant and every zone apart while a region dies and comes back', async () => {
  const report = await runLoad({ durationMs: 10_000, clients: 18, tenantsPerRegion: 2, log: (m) => console.log(`[load] ${m}`) });
  console.log(JSON.stringify({ ...report, violations: report.violations.slice(0, 20) }, null, 2));
  expect(report.violations).toEqual([]);
  expect(report.acknowledgedWrites).toBeGreaterThan(0);
  // The kill was felt (its tenants got errors while it was down) and healed.
  expect(Object.keys(report.errors).some((k) => k.startsWith(`down ${report.killRegion} `))).toBe(true);
  expect(report.recoveredServed).toBeGreaterThan(0);
}, 180_000);

it('fails a killed primary over to its same-zone standby: its tenants keep being served, nothing leaves the zone', async () => {
  const report = await runLoad({ durationMs: 8_000, clients: 18, tenantsPerRegion: 2, standby: true, log: (m) => console.log(`[load] ${m}`) });
  console.log(JSON.stringify({ ...report, violations: report.violations.slice(0, 20) }, null, 2));
  expect(report.violations).toEqual([]);
  expect(report.regionRequestsSeen[`${report.killRegion} standby`]).toBeGreaterThan(0);
  // Only requests caught mid-flight, or POSTs that met the dead primary before its circuit opened, fail.
  const killedErrors = Object.entries(report.errors).filter(([k]) => k.split(' ')[1] === report.killRegion).reduce((n, [, c]) => n + c, 0);
  expect(killedErrors).toBeLessThan(report.phases.down.served);
}, 180_000);
