import { describe, expect, it } from 'vitest';
import { MAX_CORS_ORIGINS, parseConfig } from './index.ts';
import { VALID_ENV } from './valid-env.fixture.ts';

function corsOf(extra: Record<string, unknown>) {
  const r = parseConfig({ ...VALID_ENV, ...extra });
  if (!r.ok) throw new Error(r.error.message);
  return r.config.cors;
}

function issuesOf(extra: Record<string, unknown>): string[] {
  const r = parseConfig({ ...VALID_ENV, ...extra });
  if (r.ok) throw new Error('expected an invalid config');
  return r.error.issues;
}

describe('CORS config', () => {
  it.each([[{}], [{ CORS_ALLOWED_ORIGINS: '' }], [{ CORS_ALLOWED_ORIGINS: ' , ' }], [{ CORS_ALLOWED_ORIGINS: '[]' }], [{ CORS_ALLOWED_ORIGINS: [] }]])(
    'no allowed origin (%j) means CORS off',
    (extra) => {
      expect(corsOf(extra)).toBeUndefined();
    },
  );

  it.each([
    ['a comma-separated string (.env files)', 'http://localhost:5173, https://app.example.com'],
    ['a JSON string', '["http://localhost:5173","https://app.example.com"]'],
    ['a TOML array', ['http://localhost:5173', 'https://app.example.com']],
  ])('reads %s, with defaults for credentials (off) and max age (600 s)', (_name, value) => {
    const cors = corsOf({ CORS_ALLOWED_ORIGINS: value });
    expect([...cors!.allowedOrigins]).toEqual(['http://localhost:5173', 'https://app.example.com']);
    expect(cors!.allowCredentials).toBe(false);
    expect(cors!.maxAgeSeconds).toBe(600);
  });

  it('stores origins the way browsers send them (lowercase host, no default port, no trailing slash)', () => {
    const cors = corsOf({ CORS_ALLOWED_ORIGINS: 'HTTPS://App.Example.COM:443/, http://LOCALHOST:5173/' });
    expect([...cors!.allowedOrigins]).toEqual(['https://app.example.com', 'http://localhost:5173']);
  });

  it.each([
    ['*', 'wildcard'],
    ['https://*.example.com', 'wildcard'],
    ['null', 'must be an absolute URL'],
    ['app.example.com', 'must be an absolute URL'],
    ['http://app.example.com', 'must be https'],
    ['ftp://app.example.com', 'must be https'],
    ['https://app.example.com/path', 'origin only'],
    ['https://app.example.com?x=1', 'origin only'],
    ['https://user:pw@app.example.com', 'must not carry credentials'],
  ])('refuses %j (%s), naming the field', (entry, why) => {
    const issues = issuesOf({ CORS_ALLOWED_ORIGINS: ['https://ok.example.com', entry] });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^CORS_ALLOWED_ORIGINS\.1: /);
    expect(issues[0]).toContain(why);
  });

  it('a wildcard is refused with credentials on too (there is no way to combine them)', () => {
    expect(issuesOf({ CORS_ALLOWED_ORIGINS: '*', CORS_ALLOW_CREDENTIALS: 'true' }).join()).toContain('wildcard');
  });

  it(`allows at most ${MAX_CORS_ORIGINS} origins`, () => {
    const many = Array.from({ length: MAX_CORS_ORIGINS + 1 }, (_, i) => `https://app${i}.example.com`);
    expect(corsOf({ CORS_ALLOWED_ORIGINS: many.slice(0, -1) })!.allowedOrigins.size).toBe(MAX_CORS_ORIGINS);
    expect(issuesOf({ CORS_ALLOWED_ORIGINS: many }).join()).toMatch(/^CORS_ALLOWED_ORIGINS: /);
  });

  it('reads credentials and max age, and bounds the max age to 0–86400 s', () => {
    const cors = corsOf({ CORS_ALLOWED_ORIGINS: 'https://app.example.com', CORS_ALLOW_CREDENTIALS: 'true', CORS_MAX_AGE_SECONDS: '0' });
    expect([cors!.allowCredentials, cors!.maxAgeSeconds]).toEqual([true, 0]);
    expect(issuesOf({ CORS_MAX_AGE_SECONDS: '86401' }).join()).toMatch(/^CORS_MAX_AGE_SECONDS: /);
    expect(issuesOf({ CORS_ALLOW_CREDENTIALS: 'yes' }).join()).toMatch(/^CORS_ALLOW_CREDENTIALS: /);
  });
});
