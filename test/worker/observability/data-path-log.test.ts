/** Requests on the direct data path are logged with upstream kind `database` and their region (PGlite backend). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bearer, callData, newTenant } from '../data/support.ts';

afterEach(() => vi.restoreAllMocks());

describe('data path log line', () => {
  it('names the database upstream by region and times it', async () => {
    const tenant = await newTenant('pglite', 'eu-central-1');
    const lines: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: unknown) => void lines.push(String(l)));
    const res = await callData('pglite', '/data/pages', { headers: await bearer(tenant, 'eu-central-1') });
    expect(res.status).toBe(200);
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request' && l.path === '/data/pages')!;
    // The edge routes /data/* as one pattern (the route table lives in the data Worker); the target is which database answered.
    expect(line).toMatchObject({ route: '/data/*', tenant, region: 'eu-central-1', upstream: { kind: 'database', name: 'eu-central-1', target: 'primary' }, status: 200 });
    // The data Worker logs its own line under the same request id, with its route pattern.
    const inner = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'data_request' && l.requestId === line.requestId);
    expect(inner).toMatchObject({ region: 'eu-central-1', route: '/data/pages', status: 200, source: 'primary' });
    expect(typeof line.durations.upstreamMs).toBe('number');
  });
});
