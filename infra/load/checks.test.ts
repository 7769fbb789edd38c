import { describe, expect, it } from 'vitest';
import { errorsOutsideKilledRegion, foreignRows, lostOrMisplacedWrites, requestsOutsideZone } from './checks.ts';

const a = { id: 'ws_a', region: 'eu-central-1' };
const row = (id: string, tenant: string, region: string) => ({ id, tenant_id: tenant, region, title: `${tenant}|1` });
const homeOf = new Map([['ws_a', 'eu-central-1'], ['ws_b', 'us-east-1']]);
const zones = { 'eu-central-1': 'eu', 'eu-west-1': 'eu', 'us-east-1': 'us' };

describe('load test checks', () => {
  it("flags a row of another tenant, or one from another region, in a tenant's answer", () => {
    expect(foreignRows(a, [row('1', 'ws_a', 'eu-central-1')], 'a list')).toEqual([]);
    expect(foreignRows(a, [row('2', 'ws_b', 'eu-central-1')], 'a list')).toHaveLength(1);
    expect(foreignRows(a, [{ ...row('3', 'ws_a', 'eu-central-1'), title: 'ws_b|9' }], 'a list')).toHaveLength(1);
    expect(foreignRows(a, [row('4', 'ws_a', 'us-east-1')], 'a get')).toHaveLength(1);
  });

  it('flags an acknowledged write missing from its home database, and a page stored outside its home', () => {
    const stored = new Map([
      ['eu-central-1', [row('p1', 'ws_a', 'eu-central-1')]],
      ['us-east-1', [row('p2', 'ws_a', 'us-east-1')]],
    ]);
    const found = lostOrMisplacedWrites([{ tenant: a, pageId: 'p1' }, { tenant: a, pageId: 'p9' }], stored, homeOf);
    expect(found).toEqual([
      'page p2 of tenant ws_a (home eu-central-1) is stored in us-east-1',
      "acknowledged page p9 of tenant ws_a is missing from eu-central-1's database",
    ]);
  });

  it('flags a request that reached a region outside its tenant zone, or carried another region tag', () => {
    expect(requestsOutsideZone([{ app: 'eu-central-1', tenant: 'ws_a', region: 'eu-central-1' }], homeOf, zones)).toEqual([]);
    expect(requestsOutsideZone([{ app: 'us-east-1', tenant: 'ws_a', region: 'eu-central-1' }], homeOf, zones)).toEqual([
      'region us-east-1 (zone us) received a request of tenant ws_a from zone eu',
    ]);
    // Another app of the same zone is allowed (a standby), but the tag must still be the home region.
    expect(requestsOutsideZone([{ app: 'eu-west-1', tenant: 'ws_a', region: 'eu-central-1' }], homeOf, zones)).toEqual([]);
    expect(requestsOutsideZone([{ app: 'eu-central-1', tenant: 'ws_a', region: 'us-east-1' }], homeOf, zones)).toHaveLength(1);
    expect(requestsOutsideZone([{ app: 'eu-central-1', tenant: 'ws_x', region: 'eu-central-1' }], homeOf, zones)).toHaveLength(1);
  });

  it('flags errors seen by tenants of regions that stayed up', () => {
    expect(errorsOutsideKilledRegion({ 'down eu-central-1 503 service_unavailable': 4 }, 'eu-central-1')).toEqual([]);
    expect(errorsOutsideKilledRegion({ 'down us-east-1 502 bad_gateway': 1 }, 'eu-central-1')).toHaveLength(1);
  });
});
