/**
 * The two configurations of the direct path: a regional data Worker's (its own region's
 * databases, as a Hyperdrive binding or a Neon URL) and the edge gateway's (service bindings
 * only: it refuses any database setting of the data path).
 */
import { describe, expect, it } from 'vitest';
import { parseDataWorkerConfig } from './data-worker.ts';
import { parseConfig } from './index.ts';
import { VALID_ENV } from './valid-env.fixture.ts';

const SECRET_URL = 'postgres://gateway:hunter2-pw@ep-cool.eu-central-1.aws.neon.tech/app';
const base = { DATA_REGION: 'eu-central-1', GATEWAY_ASSERTION_KEYS: { 'eu-central-1': [{ kid: 'eu-1', secret: 'x'.repeat(32) }] } };
const service = { fetch: async () => new Response(null) };

function issuesOf(env: Record<string, unknown>): string[] {
  const r = parseDataWorkerConfig({ ...base, ...env });
  if (r.ok) throw new Error('expected an invalid config');
  return r.error.issues;
}

describe('data Worker config: REGION_DATABASES and driver options', () => {
  it('has Neon-ready defaults and no database unless configured', () => {
    const r = parseDataWorkerConfig(base);
    if (!r.ok) throw r.error;
    expect(r.config.database).toBeUndefined();
    expect(r.config.zone).toBe('eu-central-1');
    expect(r.config.databaseDriver).toEqual({ useSecureWebSocket: true, pipelineConnect: 'password', connectTimeoutMs: 5000, retryAfterSeconds: 5 });
  });

  it('parses a JSON secret with a URL shorthand, endpoint objects, a replica and a role (Neon transport)', () => {
    const r = parseDataWorkerConfig({
      ...base,
      DB_USE_SECURE_WEBSOCKET: 'false',
      DB_PIPELINE_CONNECT: 'off',
      REGION_DATABASES: JSON.stringify({
        'eu-central-1': { primary: 'postgres://gateway@127.0.0.1:5432/eu', replica: { url: 'postgres://gateway@127.0.0.1:5433/eu', wsProxy: '127.0.0.1:7001', pipelineConnect: 'password' }, role: 'gateway' },
      }),
    });
    if (!r.ok) throw r.error;
    const db = r.config.database!;
    expect(db.primary).toMatchObject({ host: '127.0.0.1', port: 5432, wsProxy: undefined, pipelineConnect: false, transport: 'neon' });
    expect(db.replica).toMatchObject({ port: 5433, wsProxy: '127.0.0.1:7001', pipelineConnect: 'password', transport: 'neon' });
    expect(db.role).toBe('gateway');
  });

  it('a Hyperdrive endpoint takes its connection string from the named binding, never from a var', () => {
    const r = parseDataWorkerConfig({
      ...base,
      HYPERDRIVE_PRIMARY: { connectionString: 'postgres://gateway:pw@hd.internal.example:5432/app' },
      REGION_DATABASES: { 'eu-central-1': { primary: { hyperdrive: 'HYPERDRIVE_PRIMARY' }, replica: SECRET_URL } },
    });
    if (!r.ok) throw r.error;
    expect(r.config.database!.primary).toMatchObject({ host: 'hd.internal.example', port: 5432, transport: 'hyperdrive', pipelineConnect: false });
    expect(r.config.database!.replica).toMatchObject({ transport: 'neon' });
  });

  it("DATABASE_TIMEOUT_MS is the connect timeout; a same-zone standby database becomes the region's standby endpoint", () => {
    const r = parseDataWorkerConfig({
      ...base,
      DATA_ZONE: 'eu',
      DATABASE_TIMEOUT_MS: '750',
      REGION_DATABASES: JSON.stringify({ 'eu-central-1': { primary: SECRET_URL } }),
      REGION_STANDBY_DATABASES: JSON.stringify({ 'eu-central-1': { url: 'postgres://gateway@standby.example/eu', zone: 'eu', pipelineConnect: 'off' } }),
    });
    if (!r.ok) throw r.error;
    expect(r.config.databaseDriver.connectTimeoutMs).toBe(750);
    expect(r.config.database!.standby).toMatchObject({ host: 'standby.example', port: 5432, pipelineConnect: false });
  });

  it.each([
    // Another region's credentials never sit in this region's Worker.
    [{ REGION_DATABASES: { 'us-east-1': { primary: SECRET_URL } } }, 'REGION_DATABASES.us-east-1'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL }, 'us-east-1': { primary: SECRET_URL } } }, 'REGION_DATABASES.us-east-1'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: 'https://x.example/app' } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: 'postgres://h.example' } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: { url: SECRET_URL, wsProxy: 'wss://proxy.example/v2' } } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: { hyperdrive: 'NOT_BOUND' } } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: { hyperdrive: 'postgres://x' } } } }, 'REGION_DATABASES.eu-central-1.primary'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL, role: 'Robert"); DROP' } } }, 'REGION_DATABASES.eu-central-1.role'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL, extra: 1 } } }, 'REGION_DATABASES.eu-central-1'],
    [{ REGION_DATABASES: '{oops' }, 'REGION_DATABASES'],
    [{ DATA_REGION: 'EU' }, 'DATA_REGION'],
    // Only its own region's key ring: another region's key would let this Worker vouch for that region.
    [{ GATEWAY_ASSERTION_KEYS: { 'eu-central-1': [{ kid: 'eu-1', secret: 'x'.repeat(32) }], 'us-east-1': [{ kid: 'us-1', secret: 'y'.repeat(32) }] } }, 'GATEWAY_ASSERTION_KEYS.us-east-1'],
    [{ GATEWAY_ASSERTION_KEYS: { 'us-east-1': [{ kid: 'us-1', secret: 'y'.repeat(32) }] } }, 'GATEWAY_ASSERTION_KEYS.eu-central-1'],
    [{ DB_PIPELINE_CONNECT: 'maybe' }, 'DB_PIPELINE_CONNECT'],
    [{ DATABASE_TIMEOUT_MS: '5' }, 'DATABASE_TIMEOUT_MS'],
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL } }, REGION_STANDBY_DATABASES: { 'eu-central-1': { url: SECRET_URL, zone: 'us' } } }, 'REGION_STANDBY_DATABASES.eu-central-1.zone'],
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

describe('edge gateway config: service bindings only, no database of the data path', () => {
  const edge = { ...VALID_ENV, REGIONS: { ...VALID_ENV.REGIONS, 'us-east-1': { origin: 'https://us.example.com' } } };

  it('maps regions to their data Workers by binding name', () => {
    const r = parseConfig({ ...edge, DATA_WORKERS: { 'eu-central-1': 'DATA_EU' }, DATA_EU: service });
    if (!r.ok) throw r.error;
    expect([...r.config.dataWorkers]).toEqual([['eu-central-1', 'DATA_EU']]);
    // Nothing in the parsed config is a database URL or credential.
    expect(JSON.stringify(r.config, (_k, v) => (v instanceof Map ? [...v] : v))).not.toMatch(/postgres(ql)?:/);
  });

  it.each([
    [{ REGION_DATABASES: { 'eu-central-1': { primary: SECRET_URL } } }, 'REGION_DATABASES'],
    [{ REGION_STANDBY_DATABASES: JSON.stringify({ 'eu-central-1': { url: SECRET_URL, zone: 'eu' } }) }, 'REGION_STANDBY_DATABASES'],
    [{ DB_USE_SECURE_WEBSOCKET: 'false' }, 'DB_USE_SECURE_WEBSOCKET'],
    [{ DB_PIPELINE_CONNECT: 'off' }, 'DB_PIPELINE_CONNECT'],
    [{ DATA_WORKERS: { 'eu-central-1': 'DATA_EU' } }, 'DATA_WORKERS.eu-central-1'],
    [{ DATA_WORKERS: { 'eu-central-1': 'DATA_EU' }, DATA_EU: { connectionString: SECRET_URL } }, 'DATA_WORKERS.eu-central-1'],
    [{ DATA_WORKERS: { 'mars-1': 'DATA_EU' }, DATA_EU: service }, 'DATA_WORKERS.mars-1'],
    [{ DATA_WORKERS: { 'eu-central-1': 'https://data.example' } }, 'DATA_WORKERS.eu-central-1'],
  ])('refuses %j, naming the field and never the value', (env, field) => {
    const r = parseConfig({ ...edge, ...env });
    if (r.ok) throw new Error('expected an invalid config');
    expect(r.error.issues.some((i) => i.startsWith(`${field}:`) || i.startsWith(`${field}.`))).toBe(true);
    expect(r.error.issues.join('\n')).not.toMatch(/hunter2|ep-cool/);
  });
});
