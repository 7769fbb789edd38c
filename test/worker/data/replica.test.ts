/**
 * Read replicas and read-your-writes against a REAL streaming replica (a hot
 * standby of the local PostgreSQL server, started by the global setup through
 * infra/replica/start-replica.sh). Replay is paused on the replica to make it lag
 * deterministically, instead of hoping for lag.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { adminQuery, availableBackends, bearer, callData, createPage, DATA, newTenant } from './support.ts';

const backends = availableBackends(['replica']);

describe.each(backends)('read replica (%s)', { timeout: 150_000 }, (backend) => {
  const replica = DATA.replica!;
  const region = replica.region;
  const pauseReplay = () => adminQuery(replica.adminReplica, 'SELECT pg_wal_replay_pause()');
  const resumeReplay = () => adminQuery(replica.adminReplica, 'SELECT pg_wal_replay_resume()');
  afterAll(async () => {
    await resumeReplay();
  });

  // A bound, not a timing assertion: replay normally takes milliseconds, but other work on a
  // shared server can write hundreds of MB of WAL (CREATE DATABASE copies) for it to replay first.
  async function replicaHasReplayed(lsn: string, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const [r] = await adminQuery<{ ok: boolean }>(replica.adminReplica, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]);
      if (r!.ok) return;
      if (Date.now() > end) throw new Error('replica did not catch up');
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  it('serves reads from the replica and writes on the primary', async () => {
    const [standby] = await adminQuery<{ standby: boolean }>(replica.adminReplica, 'SELECT pg_is_in_recovery() AS standby');
    expect(standby!.standby).toBe(true);
    const a = await newTenant(backend, region);
    const w = await createPage(backend, a, region, { title: 'on primary' });
    expect(w.status).toBe(201);
    expect(w.headers.get('x-db-source')).toBe('primary');
    await replicaHasReplayed(w.headers.get('x-db-bookmark')!);
    const r = await callData(backend, '/data/pages', { headers: await bearer(a, region) });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-db-source')).toBe('replica');
    expect(((await r.json()) as { items: Array<{ title: string }> }).items.map((p) => p.title)).toEqual(['on primary']);
  });

  it('a read carrying the bookmark of a write sees it even while the replica lags; without it the lag shows', async () => {
    const a = await newTenant(backend, region);
    await replicaHasReplayed((await adminQuery<{ lsn: string }>(replica.admin[region]!, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn);
    await pauseReplay();
    try {
      const w = await createPage(backend, a, region, { title: 'my write' });
      expect(w.status).toBe(201);
      const bookmark = w.headers.get('x-db-bookmark')!;
      const { id } = (await w.json()) as { id: string };

      // Without the bookmark: the lagging replica answers, and it has not seen the write.
      const stale = await callData(backend, `/data/pages/${id}`, { headers: await bearer(a, region) });
      expect([stale.status, stale.headers.get('x-db-source')]).toEqual([404, 'replica']);

      // With it: the replica is behind the bookmark, so the primary answers, with the write.
      const fresh = await callData(backend, `/data/pages/${id}`, { headers: { ...(await bearer(a, region)), 'x-db-bookmark': bookmark } });
      expect([fresh.status, fresh.headers.get('x-db-source')]).toEqual([200, 'primary']);
      expect(await fresh.json()).toMatchObject({ id, title: 'my write' });
      const list = await callData(backend, '/data/pages', { headers: { ...(await bearer(a, region)), 'x-db-bookmark': bookmark } });
      expect(((await list.json()) as { items: Array<{ id: string }> }).items.map((p) => p.id)).toEqual([id]);

      // Once the replica has replayed past the bookmark, the same read goes back to it.
      await resumeReplay();
      await replicaHasReplayed(bookmark);
      const caughtUp = await callData(backend, `/data/pages/${id}`, { headers: { ...(await bearer(a, region)), 'x-db-bookmark': bookmark } });
      expect([caughtUp.status, caughtUp.headers.get('x-db-source')]).toEqual([200, 'replica']);
    } finally {
      await resumeReplay();
    }
    // Read by the global setup's teardown, which prints REPLICA_TESTS_RAN for .ci/run (passing tests' logs are silenced).
    await adminQuery(replica.admin[region]!, 'INSERT INTO tenants (id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING', ['ws_replica_tests_ran']);
  });

  it('a read whose replica is unreachable is answered by the primary', async () => {
    const a = await newTenant(backend, region);
    await createPage(backend, a, region, { title: 'x' });
    const cfg = replica.regionDatabases[region] as { primary: unknown; replica: { url: string; wsProxy: string; pipelineConnect: string } };
    // A proxy address nothing listens on (port 9 on loopback: discard, closed here).
    const broken = { [region]: { primary: cfg.primary, replica: { ...cfg.replica, wsProxy: '127.0.0.1:9' } } };
    const r = await callData(backend, '/data/pages', { headers: await bearer(a, region) }, { REGION_DATABASES: JSON.stringify(broken) });
    expect([r.status, r.headers.get('x-db-source')]).toEqual([200, 'primary']);
  });
});
