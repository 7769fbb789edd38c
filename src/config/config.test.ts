import { describe, expect, it } from 'vitest';
import { bindings, callGateway, egressFor, errorBody, newMarker } from '../../test/worker/helpers.ts';
import { parseConfig } from './index.ts';
import { VALID_ENV } from './valid-env.fixture.ts';

const valid = VALID_ENV;

function issuesOf(env: Record<string, unknown>): string[] {
  const r = parseConfig(env);
  if (r.ok) throw new Error('expected an invalid config');
  return r.error.issues;
}

describe('config', () => {
  it('parses wrangler.toml-shaped values and applies defaults', () => {
    const r = parseConfig(valid);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.regions.get('eu-central-1')?.origin).toBe('https://eu.example.com');
    expect(r.config.jwt.algorithms).toEqual(['ES256']);
    expect(r.config.jwt.tenantClaim).toBe('tenant_id');
    expect(r.config.jwt.regionClaim).toBe('tenant_region');
    expect(r.config.forwardAuthorization).toBe(false);
  });

  it('accepts structured values as JSON strings (as .env files and --var pass them)', () => {
    const r = parseConfig({
      ...valid,
      REGIONS: JSON.stringify({ 'us-east-1': { origin: 'http://127.0.0.1:9000' } }),
      JWT_ALGORITHMS: '["ES256","EdDSA"]',
      JWT_CLOCK_TOLERANCE_SECONDS: '10',
      FORWARD_AUTHORIZATION: 'true',
    });
    expect(r.ok && [...r.config.regions.keys()]).toEqual(['us-east-1']);
    expect(r.ok && r.config.jwt.algorithms).toEqual(['ES256', 'EdDSA']);
    expect(r.ok && r.config.jwt.clockToleranceSeconds).toBe(10);
    expect(r.ok && r.config.forwardAuthorization).toBe(true);
  });

  it.each([
    [{ JWT_ISSUER: undefined }, 'JWT_ISSUER'],
    [{ CENTRAL_ORIGIN: 'http://central.example.com' }, 'CENTRAL_ORIGIN'],
    [{ CENTRAL_ORIGIN: 'https://central.example.com/base' }, 'CENTRAL_ORIGIN'],
    [{ REGIONS: { 'eu-central-1': { origin: 'https://user:pw@eu.example.com' } } }, 'REGIONS.eu-central-1.origin'],
    [{ REGIONS: { 'EU Central': { origin: 'https://eu.example.com' } } }, 'REGIONS.EU Central'],
    [{ REGIONS: {} }, 'REGIONS'],
    [{ REGIONS: '{not json' }, 'REGIONS'],
    [{ REGIONS: { 'eu-central-1': { origin: 'https://eu.example.com', oops: 1 } } }, 'REGIONS.eu-central-1'],
    [{ GATEWAY_ASSERTION_SECRET: 'x'.repeat(40) }, 'GATEWAY_ASSERTION_SECRET'],
    [{ GATEWAY_ASSERTION_KEYS: undefined }, 'GATEWAY_ASSERTION_KEYS'],
    [{ GATEWAY_ASSERTION_KEYS: { ...valid.GATEWAY_ASSERTION_KEYS, 'eu-central-1': [{ kid: 'eu-1', secret: 'short' }] } }, 'GATEWAY_ASSERTION_KEYS.eu-central-1.0.secret'],
    [{ GATEWAY_ASSERTION_KEYS: { ...valid.GATEWAY_ASSERTION_KEYS, 'eu-central-1': [{ kid: 'eu.1', secret: 'e'.repeat(32) }] } }, 'GATEWAY_ASSERTION_KEYS.eu-central-1.0.kid'],
    [{ GATEWAY_ASSERTION_KEYS: { central: valid.GATEWAY_ASSERTION_KEYS.central } }, 'GATEWAY_ASSERTION_KEYS.eu-central-1'],
    [{ GATEWAY_ASSERTION_KEYS: { 'eu-central-1': valid.GATEWAY_ASSERTION_KEYS['eu-central-1'] } }, 'GATEWAY_ASSERTION_KEYS.central'],
    [{ GATEWAY_ASSERTION_KEYS: { ...valid.GATEWAY_ASSERTION_KEYS, central: [{ kid: 'c-1', secret: 'e'.repeat(32) }] } }, 'GATEWAY_ASSERTION_KEYS.central.0.secret'],
    [{ GATEWAY_ASSERTION_KEYS: { ...valid.GATEWAY_ASSERTION_KEYS, central: [1, 2, 3].map((i) => ({ kid: `c-${i}`, secret: String(i).repeat(32) })) } }, 'GATEWAY_ASSERTION_KEYS.central'],
    [{ GATEWAY_ASSERTION_KEYS: { ...valid.GATEWAY_ASSERTION_KEYS, central: [{ kid: 'c', secret: '1'.repeat(32) }, { kid: 'c', secret: '2'.repeat(32) }] } }, 'GATEWAY_ASSERTION_KEYS.central'],
    [{ JWT_ALGORITHMS: ['HS256'] }, 'JWT_ALGORITHMS.0'],
    [{ JWT_ALGORITHMS: ['none'] }, 'JWT_ALGORITHMS.0'],
    [{ JWKS_URL: undefined }, 'JWKS_URL'],
    [{ JWT_CLOCK_TOLERANCE_SECONDS: 'lots' }, 'JWT_CLOCK_TOLERANCE_SECONDS'],
  ])('names the bad field: %j', (override, field) => {
    const issues = issuesOf({ ...valid, ...override });
    expect(issues.some((i) => i.startsWith(`${field}:`))).toBe(true);
  });

  it('never echoes a secret value in its errors', () => {
    const issues = issuesOf({ ...valid, GATEWAY_ASSERTION_KEYS: { 'eu-central-1': [{ kid: 'eu-1', secret: 'sekrit-value' }], central: [{ kid: 'c', secret: 'sekrit-value-shared-by-two-rings!' }], x: [{ kid: 'x', secret: 'sekrit-value-shared-by-two-rings!' }] } });
    expect(issues.length).toBeGreaterThan(1);
    expect(issues.join('\n')).not.toContain('sekrit-value');
  });

  it('a gateway with a bad config refuses every request with config_invalid and sends nothing anywhere', async () => {
    const marker = newMarker();
    const res = await callGateway(
      `/auth/login?m=${marker}`,
      { method: 'POST', body: '{}', headers: { 'x-request-id': marker } },
      { REGIONS: 'nope', JWKS_URL: bindings.JWKS_URL },
    );
    expect(res.status).toBe(500);
    const err = await errorBody(res);
    expect(err.code).toBe('config_invalid');
    expect(err.message).toContain('REGIONS');
    expect(JSON.stringify(err)).not.toContain('nope');
    expect(await egressFor(marker)).toEqual([]);
  });
});
