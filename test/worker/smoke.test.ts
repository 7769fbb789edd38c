import { beforeEach, describe, expect, it } from 'vitest';
import { callGateway, mintToken, originRequests, resetOrigins } from './helpers.ts';

describe('smoke', () => {
  beforeEach(resetOrigins);
  it('forwards a tenant request to its region', async () => {
    const token = await mintToken();
    const res = await callGateway('/api/pages?x=1', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    const reqs = await originRequests('eu-central-1');
    expect(reqs.map((r) => r.url)).toEqual(['/api/pages?x=1']);
  });
});
