/**
 * The per-request log line, trace context, Server-Timing and metrics, observed on
 * real requests through the gateway to real origins. Console output is captured
 * with a spy (the gateway runs in this isolate), nothing is replaced.
 */
import { env } from 'cloudflare:test';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { callGateway, egressFor, mintToken, newMarker, ORIGINS } from '../helpers.ts';

type Line = Record<string, any>;

let output: string[] = [];
beforeEach(() => {
  output = [];
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
      output.push(args.map(String).join(' '));
    });
  }
});
afterEach(() => vi.restoreAllMocks());

const requestLines = (): Line[] => output.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line).filter((l) => l.msg === 'request');

describe('one structured log line per request', () => {
  it('carries request id, route, tenant, region, upstream, status and split durations', async () => {
    const token = await mintToken();
    const res = await callGateway('/api/pages/42?x=1', { headers: { authorization: `Bearer ${token}`, 'x-request-id': 'req-abcdef-123' } });
    expect(res.status).toBe(200);
    const lines = requestLines();
    expect(lines).toHaveLength(1);
    const l = lines[0]!;
    expect(l).toMatchObject({
      level: 'info',
      clientRequestId: 'req-abcdef-123',
      method: 'GET',
      route: '/api/*',
      path: '/api/pages/42',
      tenant: 'ws_alpha',
      region: 'eu-central-1',
      upstream: { kind: 'region', name: 'eu-central-1', target: 'primary', attempts: 1 },
      status: 200,
    });
    // The request id is the gateway's own; the client's is logged apart from it.
    expect(l.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(l.requestId).toBe(res.headers.get('x-request-id'));
    expect(l.error).toBeUndefined();
    expect(typeof l.durations.verifyMs).toBe('number');
    expect(typeof l.durations.upstreamMs).toBe('number');
    expect(l.durations.totalMs).toBeGreaterThanOrEqual(l.durations.upstreamMs);
    expect(l.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(Date.parse(l.ts)).not.toBeNaN();
  });

  it('names the standby that answered when the primary was down, and the attempts it took', async () => {
    const token = await mintToken();
    const marker = newMarker();
    // The standby is a real origin; the primary is a closed port. Only one region, so no cross-zone check applies.
    const regions = { 'eu-central-1': { origin: 'http://127.0.0.1:9', zone: 'eu', standbys: [{ origin: ORIGINS['us-east-1'], zone: 'eu' }] } };
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}`, 'x-request-id': marker } }, { REGIONS: JSON.stringify(regions), RETRY_JITTER_MS: '0' });
    expect(res.status).toBe(200);
    const line = requestLines().find((l) => l.clientRequestId === marker)!;
    expect(line.upstream).toEqual({ kind: 'region', name: 'eu-central-1', target: 'standby 1', attempts: 2 });
    expect(JSON.stringify(line)).not.toContain('127.0.0.1');
  });

  it('logs a refused request once, with its error code and no upstream', async () => {
    const res = await callGateway('/api/pages');
    expect(res.status).toBe(401);
    const lines = requestLines();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', route: '/api/*', status: 401, error: { code: 'token_missing' } });
    expect(lines[0]!.upstream).toBeUndefined();
    expect(lines[0]!.durations.upstreamMs).toBeUndefined();
    expect(output.filter((l) => l.includes('"requestId"'))).toHaveLength(1);
  });

  it('labels central routes and unmatched paths with bounded route names', async () => {
    await callGateway('/auth/login', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    await callGateway('/no/such/route/9f3a');
    await callGateway('/healthz');
    await callGateway('/api/x', {}, { REGIONS: '{}' });
    const [central, unmatched, health, misconfigured] = requestLines();
    expect(health).toMatchObject({ route: '/healthz', status: 200 });
    expect(misconfigured).toMatchObject({ route: '/api/*', status: 500, error: { code: 'config_invalid' } });
    expect(central).toMatchObject({ route: '/auth/login', upstream: { kind: 'central', name: 'central' }, status: 200 });
    expect(unmatched).toMatchObject({ route: 'unmatched', status: 404, error: { code: 'not_found' } });
  });
});

describe('secrets never reach logs', () => {
  it('keeps tokens, passwords, cookies, API keys and query credentials out of every line', async () => {
    const token = await mintToken();
    const [h, p, s] = token.split('.') as [string, string, string];
    const tampered = `${h}.${btoa(JSON.stringify({ sub: 'x', tenant_id: 'ws_evil', tenant_region: 'us-east-1', exp: 4102444800 })).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')}.${s}`;
    const foreignRegion = await mintToken({ claims: { tenant_region: 'mars-north-1' } });
    const adminless = await mintToken({ claims: { role: 'member' } });
    const secrets = {
      password: 'pw-Sup3r-Secret-9931',
      cookie: 'sess-cookie-value-7720',
      apiKey: 'api-key-value-4451',
      query: 'query-token-value-1187',
      basic: btoa('alice:basic-pw-5512'),
    };
    const marker = newMarker();
    const common = { cookie: `session=${secrets.cookie}; theme=dark`, 'x-api-key': secrets.apiKey, 'x-request-id': marker };
    const responses = await Promise.all([
      callGateway(`/api/pages?access_token=${secrets.query}`, { headers: { ...common, authorization: `Bearer ${token}` } }),
      callGateway('/auth/login', {
        method: 'POST',
        headers: { ...common, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'a@example.com', password: secrets.password }),
      }),
      callGateway('/auth/token', { method: 'POST', headers: { ...common, authorization: `Bearer ${token}` } }),
      callGateway('/api/pages', { headers: { ...common, authorization: `Bearer ${tampered}` } }),
      callGateway('/api/pages', { headers: { ...common, authorization: `Bearer ${foreignRegion}` } }),
      callGateway('/api/pages', { headers: { ...common, authorization: `Basic ${secrets.basic}` } }),
      callGateway('/api/pages', { headers: { ...common, authorization: `Bearer ${token}`, 'x-tenant-region': 'us-east-1' } }),
      callGateway('/admin/status.json', { headers: { ...common, authorization: `Bearer ${adminless}` } }),
      callGateway(`/api/${token}`, { headers: { authorization: 'Bearer not.a.jwt' } }),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 401, 403, 401, 403, 403, 401]);
    for (const r of responses) await r.body?.cancel();
    // The credentials really did cross the gateway where they are meant to (so the test has teeth).
    const egress = await egressFor(marker);
    expect(egress.some((r) => r.origin === 'central' && r.body.includes(secrets.password))).toBe(true);
    expect(egress.some((r) => r.origin === 'eu-central-1' && String(r.headers.cookie).includes(secrets.cookie))).toBe(true);

    expect(requestLines()).toHaveLength(responses.length);
    const all = output.join('\n');
    for (const needle of [token, p, s, tampered.split('.')[1]!, foreignRegion.split('.')[2]!, adminless.split('.')[2]!, ...Object.values(secrets)]) {
      expect(all).not.toContain(needle);
    }
    // A token in the path is redacted in the line (paths are logged, they are not meant to carry credentials).
    expect(all).toContain('[redacted-jwt]');
  });
});

describe('trace context', () => {
  it('continues a caller trace: same trace id to the origin, the gateway span as its parent', async () => {
    const token = await mintToken();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const marker = newMarker();
    await callGateway('/api/pages', {
      headers: { authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=abc', 'x-request-id': marker },
    });
    const [line] = requestLines();
    expect(line).toMatchObject({ traceId, parentSpanId: parent, clientRequestId: marker });
    const [seen] = await egressFor(marker);
    expect(seen!.headers.traceparent).toBe(`00-${traceId}-${line!.spanId}-01`);
    expect(seen!.headers.tracestate).toBe('vendor=abc');
    expect(line!.spanId).not.toBe(parent);
  });

  it('starts a new trace when none or an invalid one is sent, and drops tracestate then', async () => {
    const token = await mintToken();
    const marker = newMarker();
    await callGateway(`/api/pages?n=1&m=${marker}`, { headers: { authorization: `Bearer ${token}` } });
    await callGateway(`/api/pages?n=2&m=${marker}`, {
      headers: { authorization: `Bearer ${token}`, traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc' },
    });
    const lines = requestLines();
    const seen = (await egressFor(marker)).sort((a, b) => a.url.localeCompare(b.url));
    expect(seen).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect(seen[i]!.headers.traceparent).toBe(`00-${lines[i]!.traceId}-${lines[i]!.spanId}-01`);
      expect(lines[i]!.parentSpanId).toBeUndefined();
    }
    expect(lines[1]!.traceId).not.toBe('0'.repeat(32));
    expect(seen[1]!.headers.tracestate).toBeUndefined();
  });

  it('passes the trace to the central origin too', async () => {
    const marker = newMarker();
    await callGateway('/.well-known/jwks.json', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', 'x-request-id': marker } });
    const [seen] = await egressFor(marker);
    expect(seen!.origin).toBe('central');
    expect(seen!.headers.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  });
});

describe('Server-Timing', () => {
  it('is on by default with verify, upstream and total', async () => {
    const token = await mintToken();
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get('server-timing')).toMatch(/^verify;dur=[\d.]+, upstream;dur=[\d.]+, total;dur=[\d.]+$/);
    const refused = await callGateway('/api/pages');
    expect(refused.headers.get('server-timing')).toMatch(/^total;dur=[\d.]+$/);
  });

  it('is absent when SERVER_TIMING is false', async () => {
    const token = await mintToken();
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } }, { SERVER_TIMING: 'false' });
    expect(res.status).toBe(200);
    expect(res.headers.get('server-timing')).toBeNull();
  });
});

describe('metrics (Analytics Engine)', () => {
  it('the wrangler.toml binding exists in workerd and the gateway writes to it without error', async () => {
    const dataset = (env as Record<string, any>).METRICS;
    expect(typeof dataset?.writeDataPoint).toBe('function');
    const token = await mintToken();
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(output.some((l) => l.includes('metrics_write_failed'))).toBe(false);
  });

  // Local Analytics Engine accepts writes and drops them, so the points are read back through a recording dataset.
  it('writes one point per request, per region and route, with status class and latencies', async () => {
    const points: any[] = [];
    const METRICS = { writeDataPoint: (p: unknown) => void points.push(p) };
    const token = await mintToken({ claims: { tenant_region: 'us-east-1', tenant_id: 'ws_beta' } });
    await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } }, { METRICS });
    await callGateway('/api/pages', {}, { METRICS });
    expect(points).toHaveLength(2);
    expect(points[0]).toMatchObject({ indexes: ['us-east-1'], blobs: ['/api/*', 'GET', '2xx', 'us-east-1', 'region', '', 'ws_beta'] });
    expect(points[0].doubles[0]).toBe(200);
    expect(points[0].doubles).toHaveLength(4);
    expect(points[1]).toMatchObject({ indexes: ['none'], blobs: ['/api/*', 'GET', '4xx', 'none', 'none', 'token_missing', ''] });
  });

  it('works without the binding, and a failing binding never fails the request', async () => {
    const token = await mintToken();
    const without = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } }, { METRICS: undefined });
    expect(without.status).toBe(200);
    const broken = { writeDataPoint: () => { throw new Error('dataset unavailable'); } };
    const res = await callGateway('/api/pages', { headers: { authorization: `Bearer ${token}` } }, { METRICS: broken });
    expect(res.status).toBe(200);
    expect(output.some((l) => l.includes('metrics_write_failed'))).toBe(true);
  });
});
