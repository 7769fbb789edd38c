import { describe, expect, it } from 'vitest';
import { parseConfig } from './index.ts';
import { VALID_ENV } from './valid-env.fixture.ts';

const base = { ...VALID_ENV, REGIONS: { ...VALID_ENV.REGIONS, 'us-east-1': { origin: 'https://us.example.com' } } };
const SECRET_URL = 'postgres://gateway:hunter2-pw@ep-cool.eu-central-1.aws.neon.tech/app';

function issuesOf(env: Record<string, unknown>): string[] {
  const r = parseConfig({ ...base, ...env });
  if (r.ok) throw new Error('expected an invalid config');
  return r.error.issues;
}

describe('REGION_DATABASES and driver options', () => {
  it('has Neon-ready defaults and no databases unless configured', () => {
    const r = parseConfig(base);
    expect(r.ok && r.config.databases.size).toBe(0);
    expect(r.ok && r.config.databaseDriver).toEqual({ useSecureWebSocket: true, pipelineConnect: 'password', connectTimeoutMs: 5000, retryAfterSeconds: 5 });
  });

  it('parses a JSON secret with a URL shorthand, endpoint objects, a replica and a role', () => {
    const r = parseConfig({
      ...base,
      DB_USE_SECURE_WEBSOCKET: 'false',
      DB_PIPELINE_CONNECT: 'off',
      REGION_DATABASES: JSON.stringify({
        'eu-central-1': { primary: 'postgres://gateway@127.0.0.1:5432/eu', replica: { url: 'postgres://gateway@127.0.0.1:5433/eu', wsProxy: '127.0.0.1:7001', pipelineConnect: 'password' }, role: 'gateway' },
      }),
    });
    if (!r.ok) throw r.error;
    const db = r.config.databases.get('eu-central-1')!;
    expect(db.primary).toMatchObject({ host: '127.0.0.1', port: 5432, wsProxy: undefined, pipelineConnect: false });
    expect(db.replica).toMatchObject({ port: 5433, wsProxy: '127.0.0.1:7001', pipelineConnect: 'password' });
    expect(db.role).toBe('gateway');
    expect(r.config.databases.has('us-east-1')).toBe(false);
  });

  it('DATABASE_TIMEOUT_MS is the connect timeout; a same-zone standby database becomes the region\'s standby endpoint', () => {
    const r = parseConfig({
      ...base,
      DATABASE_TIMEOUT_MS: '750',
      REGION_DATABASES: JSON.stringify({ 'eu-central-1': { primary: SECRET_URL } }),
      REGION_STANDBY_DATABASES: JSON.stringify({ 'eu-central-1': { url: 'postgres://gateway@standby.example/eu', zone: 'eu-central-1', pipelineConnect: 'off' } }),
    });
    if (!r.ok) throw r.error;
    expect(r.config.databaseDriver.connectTimeoutMs).toBe(750);
    expect(r.config.databases.get('eu-central-1')!.standby).toMatchObject({ host: 'standby.example', port: 5432, pipelineConnect: false });
  });

  it.each([
    [{ REGION_DATABASES: { 'eu-west-9': { primary: SECRET_URL } } }, 'REGION_DATABASES.eu-west-9'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: 'https://x.example/app' } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: 'postgres://h.example' } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: { url: SECRET_URL, wsProxy: 'wss://proxy.example/v2' } } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL, role: 'Robert"); DROP' } } }, 'REGION_DATABASES.eu-central-1.role'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL, extra: 1 } } }, 'REGION_DATABASES.eu-central-1'],
    [{ REGION_DATABASES: '{oops' }, 'REGION_DATABASES'],
    [{ DB_PIPELINE_CONNECT: 'maybe' }, 'DB_PIPELINE_CONNECT'],
    [{ DATABASE_TIMEOUT_MS: '5' }, 'DATABASE_TIMEOUT_MS'],
    // Renamed to DATABASE_TIMEOUT_MS: an old deploy is told, not silently given the default.
    [{ DB_CONNECT_TIMEOUT_MS: '3000' }, 'DB_CONNECT_TIMEOUT_MS'],
    [{ REGION_STANDBY_DATABASES: { 'eu-central-1': { url: SECRET_URL, zone: 'eu-central-1' } } }, 'REGION_STANDBY_DATABASES.eu-central-1'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL } }, REGION_STANDBY_DATABASES: { 'eu-central-1': { url: 'https://x.example/app', zone: 'eu-central-1' } } }, 'REGION_STANDBY_DATABASES.eu-central-1.url'],
    // Plain ws:// would carry credentials in the clear: allowed only to a proxy on this machine.
    [{ DB_USE_SECURE_WEBSOCKET: 'false', REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ DB_USE_SECURE_WEBSOCKET: 'false', REGION_DATABASES: { 'eu-central-1': { primary: { url: SECRET_URL, wsProxy: 'proxy.example.com/v2' } } } }, 'REGION_DATABASES.eu-central-1.primary'],
  ])('names the bad field: %j', (env, field) => {
    const issues = issuesOf(env);
    expect(issues.some((i) => i.startsWith(`${field}:`) || i.startsWith(`${field}.`))).toBe(true);
    // Connection strings are secrets: never echoed.
    expect(issues.join('\n')).not.toMatch(/hunter2|ep-cool/);
  });
});
