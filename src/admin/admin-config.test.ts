/** Config for /admin and relocations: defaults, bounds, and errors that name the field but never echo a secret. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.ts';
import { adminScope } from '../admin-auth/index.ts';
import { VALID_ENV } from '../config/valid-env.fixture.ts';

const valid = VALID_ENV;

describe('admin and relocation config', () => {
  it('defaults: admin typ and audience of their own, 50 of at most 200 rows, 5 s timeout, no databases, 5 s relocation refresh', () => {
    const r = parseConfig(valid);
    if (!r.ok) throw r.error;
    expect(r.config.admin).toEqual({ tokenTyp: 'admin+jwt', tokenAudience: 'edge-tenant-router-admin', defaultRows: 50, maxRows: 200, statementTimeoutMs: 5000 });
    expect(r.config.controllerDb).toBeUndefined();
    expect(r.config.controlPlaneDb).toBeUndefined();
    expect(r.config.relocation).toEqual({ refreshSeconds: 5, windowSeconds: 86400 });
  });

  it('takes the database URLs (secrets) and a loopback ws proxy', () => {
    const r = parseConfig({
      ...valid,
      CONTROLLER_DATABASE_URL: 'postgres://admin_reporter@db.example.com/controller',
      CONTROL_PLANE_DATABASE_URL: 'postgresql://gw:pw@db.example.com/central',
      CONTROLLER_WS_PROXY: '127.0.0.1:5433',
      ADMIN_MAX_ROWS: '20',
    });
    if (!r.ok) throw r.error;
    expect(r.config.controllerDb).toEqual({ url: 'postgres://admin_reporter@db.example.com/controller', wsProxy: '127.0.0.1:5433' });
    expect(r.config.admin.defaultRows).toBe(20); // never above the maximum
  });

  it.each([
    ['CONTROLLER_DATABASE_URL', 'https://user:s3cret@db.example.com/x'],
    ['CONTROL_PLANE_DATABASE_URL', 'postgres://user:s3cret@db.example.com/'],
    ['CONTROLLER_WS_PROXY', 'proxy.example.com:443'],
    ['CONTROL_PLANE_WS_PROXY', '10.0.0.8:5432'],
    ['ADMIN_MAX_ROWS', '5000'],
    ['ADMIN_STATEMENT_TIMEOUT_MS', '10'],
    ['RELOCATION_REFRESH_SECONDS', '0'],
    ['ADMIN_TOKEN_TYP', 'application/AT+JWT'],
    ['ADMIN_TOKEN_AUDIENCE', 'edge-tenant-router'],
    ['ADMIN_ROLE_CLAIM', 'role'],
    ['ADMIN_ROLE_VALUE', 'admin'],
  ])('rejects a bad %s, naming it without echoing the value', (field, value) => {
    const r = parseConfig({ ...valid, [field]: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.issues.join('\n')).toContain(field);
    expect(r.error.issues.join('\n')).not.toContain('s3cret');
  });
});

describe('admin claims', () => {
  const r = parseConfig({ ...valid, REGIONS: { 'eu-central-1': { origin: 'https://eu.example.com' }, 'us-east-1': { origin: 'https://us.example.com' } } });
  if (!r.ok) throw r.error;
  const config = r.config;

  it('the scope is the configured regions the token lists in admin_regions; all of them make a global admin', () => {
    expect(adminScope({ sub: 'ops-1', admin_regions: ['eu-central-1'] }, config)).toEqual({
      ok: true,
      admin: { subject: 'ops-1', regions: new Set(['eu-central-1']), allRegions: false },
    });
    const all = adminScope({ sub: 'ops-1', admin_regions: ['us-east-1', 'eu-central-1', 'mars-1'] }, config);
    expect(all.ok && all.admin.allRegions).toBe(true);
  });

  it('no scope without admin_regions naming a configured region, with tenant claims, or a bad sub; roles never count', () => {
    for (const claims of [
      { sub: 'u', role: 'admin' },
      { sub: 'u', roles: ['admin'], admin: true },
      { sub: 'u', admin_regions: [] },
      { sub: 'u', admin_regions: 'eu-central-1' },
      { sub: 'u', admin_regions: ['EU-CENTRAL-1', ' eu-central-1', 'constructor', '__proto__'] },
      { sub: 'u', admin_regions: ['eu-central-1'], tenant_id: 'ws_a' },
      { sub: 'u', admin_regions: ['eu-central-1'], tenant_region: 'eu-central-1' },
      { sub: 'bad sub', admin_regions: ['eu-central-1'] },
      { admin_regions: ['eu-central-1'] },
    ]) {
      expect(adminScope(claims, config).ok, JSON.stringify(claims)).toBe(false);
    }
  });
});
