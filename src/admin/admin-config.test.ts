/** Config for /admin and relocations: defaults, bounds, and errors that name the field but never echo a secret. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.ts';
import { hasAdminRole } from '../admin-auth/index.ts';
import { VALID_ENV } from '../config/valid-env.fixture.ts';

const valid = VALID_ENV;

describe('admin and relocation config', () => {
  it('defaults: role=admin, 50 of at most 200 rows, 5 s timeout, no databases, 5 s relocation refresh', () => {
    const r = parseConfig(valid);
    if (!r.ok) throw r.error;
    expect(r.config.admin).toEqual({ roleClaim: 'role', roleValue: 'admin', defaultRows: 50, maxRows: 200, statementTimeoutMs: 5000 });
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
  ])('rejects a bad %s, naming it without echoing the value', (field, value) => {
    const r = parseConfig({ ...valid, [field]: value });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.issues.join('\n')).toContain(field);
    expect(r.error.issues.join('\n')).not.toContain('s3cret');
  });
});

describe('admin claims', () => {
  it('needs the configured role claim and value (string or list)', () => {
    const admin = { roleClaim: 'role', roleValue: 'admin' };
    expect(hasAdminRole({ sub: 'ops-1', role: 'admin' }, admin)).toBe(true);
    expect(hasAdminRole({ sub: 'ops-1', roles: ['viewer', 'admin'] }, { roleClaim: 'roles', roleValue: 'admin' })).toBe(true);
    for (const claims of [{ sub: 'u', role: 'member' }, { sub: 'u' }, { sub: 'u', role: 'Admin' }, { sub: 'u', role: ['admins'] }, { sub: 'u', role: { admin: true } }]) {
      expect(hasAdminRole(claims, admin)).toBe(false);
    }
  });
});
