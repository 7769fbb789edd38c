/**
 * /readyz and the status page see each region's database on the direct data path, as
 * that region's data Worker reports it (a signed probe through its service binding),
 * and, where a streaming replica exists, its lag. Real databases: PGlite always, real
 * PostgreSQL with a replica when the local server allows it.
 */
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../src/app.ts';
import { edgeWithDataWorkers } from '../data-workers.ts';
import { mintAdminToken, mintToken } from '../helpers.ts';
import { availableBackends, DATA } from '../data/support.ts';

interface Check { name: string; kind: string; region?: string; ok: boolean; critical: boolean; detail?: string; lagSeconds?: number }

const app = createApp();
async function readyz(env: Record<string, unknown>): Promise<{ status: number; body: { status: string; checks: Check[] } }> {
  const res = await app.fetch(new Request('https://gateway.test/readyz', { headers: { authorization: `Bearer ${await mintAdminToken()}` } }), env);
  return { status: res.status, body: (await res.json()) as { status: string; checks: Check[] } };
}

describe('database readiness', () => {
  it('probes each configured region database (PGlite), not critical', async () => {
    const env = edgeWithDataWorkers({ REGION_DATABASES: JSON.stringify(DATA.pglite!.regionDatabases), READINESS_TIMEOUT_MS: '8000' });
    const { status, body } = await readyz(env);
    expect(status).toBe(200);
    const dbChecks = body.checks.filter((c) => c.kind === 'database' && c.region);
    expect(dbChecks.map((c) => c.region).sort()).toEqual(Object.keys(DATA.pglite!.regionDatabases).sort());
    for (const c of dbChecks) expect(c).toMatchObject({ ok: true, critical: false, detail: 'select 1' });
  });

  it('reports a region database that cannot be reached without failing readiness or naming its URL', async () => {
    const dbs = { ...(DATA.pglite!.regionDatabases as Record<string, unknown>), 'us-east-1': { primary: { url: 'postgres://gateway:pw@127.0.0.1:9/app', wsProxy: '127.0.0.1:9' } } };
    const { status, body } = await readyz(edgeWithDataWorkers({ REGION_DATABASES: JSON.stringify(dbs), READINESS_TIMEOUT_MS: '8000' }));
    expect(status).toBe(200);
    expect(body.checks.find((c) => c.name === 'database:us-east-1')).toMatchObject({ ok: false, critical: false, detail: 'unreachable' });
    expect(JSON.stringify(body)).not.toMatch(/postgres:|127\.0\.0\.1|pw/);
  });

  for (const backend of availableBackends(['replica'])) {
    it(`shows replica lag per region (${backend}) in /readyz and on the status page`, async () => {
      const env = edgeWithDataWorkers({ REGION_DATABASES: JSON.stringify(DATA[backend]!.regionDatabases), READINESS_TIMEOUT_MS: '8000' });
      const { body } = await readyz(env);
      const lagChecks = body.checks.filter((c) => c.kind === 'replica_lag');
      expect(lagChecks.length).toBeGreaterThan(0);
      for (const c of lagChecks) {
        expect(c.ok).toBe(true);
        expect(typeof c.lagSeconds).toBe('number');
        expect(c.lagSeconds).toBeGreaterThanOrEqual(0);
      }
      const admin = await mintAdminToken({ sub: 'ops-lag' });
      const res = await app.fetch(new Request('https://gateway.test/admin/status.json', { headers: { authorization: `Bearer ${admin}` } }), env);
      const d = (await res.json()) as { regions: Array<{ name: string; lagSeconds: number | null }> };
      const region = lagChecks[0]!.region!;
      expect(typeof d.regions.find((r) => r.name === region)!.lagSeconds).toBe('number');
    });
  }
});
