/**
 * A failover target outside the region's residency zone is a configuration error found when
 * the config is validated (naming the field), never a run-time decision.
 */
import { describe, expect, it } from 'vitest';
import { parseDataWorkerConfig } from '../../../src/config/data-worker.ts';
import { parseConfig } from '../../../src/config/index.ts';
import { bindings, errorBody, mintToken } from '../helpers.ts';
import { gatewayWith, labOrigin } from './lab.ts';

const base = { ...bindings };
const issues = (env: Record<string, unknown>) => {
  const r = parseConfig({ ...base, ...env });
  return r.ok ? [] : r.error.issues;
};

describe('residency zones in config', () => {
  it('accepts standbys in the region zone and exposes zone and standbys', () => {
    const r = parseConfig({
      ...base,
      REGIONS: JSON.stringify({ 'eu-central-1': { origin: 'https://eu1.example.com', zone: 'eu', standbys: [{ origin: 'https://eu2.example.com', zone: 'eu' }] } }),
    });
    expect(r.ok).toBe(true);
    const region = r.ok ? r.config.regions.get('eu-central-1') : undefined;
    expect(region?.zone).toBe('eu');
    expect(region?.standbys).toEqual([{ origin: 'https://eu2.example.com', zone: 'eu' }]);
  });

  it('refuses a standby whose zone is not the region zone, naming the field', () => {
    const found = issues({
      REGIONS: JSON.stringify({ 'eu-central-1': { origin: 'https://eu1.example.com', zone: 'eu', standbys: [{ origin: 'https://us.example.com', zone: 'us' }] } }),
    });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^REGIONS\.eu-central-1\.standbys\.0\.zone: /);
  });

  it("refuses a standby that is another zone's region origin, even if it claims the right zone", () => {
    const found = issues({
      REGIONS: JSON.stringify({
        'eu-central-1': { origin: 'https://eu1.example.com', zone: 'eu', standbys: [{ origin: 'https://us.example.com', zone: 'eu' }] },
        'us-east-1': { origin: 'https://us.example.com', zone: 'us' },
      }),
    });
    expect(found.some((i) => /^REGIONS\.eu-central-1\.standbys\.0\.origin: .*outside zone eu/.test(i))).toBe(true);
  });

  it('treats a region without a zone as a zone of its own', () => {
    const found = issues({
      REGIONS: JSON.stringify({ 'eu-central-1': { origin: 'https://eu1.example.com', standbys: [{ origin: 'https://eu2.example.com', zone: 'eu' }] } }),
    });
    expect(found[0]).toMatch(/^REGIONS\.eu-central-1\.standbys\.0\.zone: /);
  });

  it("refuses a standby database outside the region zone (the region's data Worker config), without echoing the connection string", () => {
    const r = parseDataWorkerConfig({
      DATA_REGION: 'eu-central-1',
      DATA_ZONE: 'eu',
      GATEWAY_ASSERTION_KEYS: { 'eu-central-1': [{ kid: 'eu-1', secret: 'x'.repeat(32) }] },
      REGION_DATABASES: JSON.stringify({ 'eu-central-1': { primary: 'postgres://u:secretpw@eu-db.example.com/app' } }),
      REGION_STANDBY_DATABASES: JSON.stringify({ 'eu-central-1': { url: 'postgres://u:secretpw@us-db.example.com/app', zone: 'us' } }),
    });
    const found = r.ok ? [] : r.error.issues;
    expect(found).toEqual([expect.stringMatching(/^REGION_STANDBY_DATABASES\.eu-central-1\.zone: /)]);
    expect(found.join()).not.toContain('secretpw');
  });

  it('refuses a staleness cap shorter than the JWKS cache TTL', () => {
    expect(issues({ JWKS_CACHE_TTL_SECONDS: '600', JWKS_MAX_STALENESS_SECONDS: '60' })[0]).toMatch(/^JWKS_MAX_STALENESS_SECONDS: /);
  });
});

it('a gateway with a cross-zone standby refuses every request with config_invalid and sends nothing', async () => {
  const primary = await labOrigin();
  const gw = gatewayWith({
    REGIONS: JSON.stringify({ 'eu-central-1': { origin: primary.url, zone: 'eu', standbys: [{ origin: 'https://us.example.com', zone: 'us' }] } }),
  });
  const res = await gw('/api/pages', { headers: { authorization: `Bearer ${await mintToken()}` } });
  expect(res.status).toBe(500);
  const err = await errorBody(res);
  expect(err.code).toBe('config_invalid');
  expect(err.message).toContain('REGIONS.eu-central-1.standbys.0.zone');
  expect(await primary.seen()).toEqual([]);
  await primary.close();
});
