/**
 * Starts the real servers the workerd tests talk to: a central origin that also
 * serves the JWKS (its key set can be swapped to test rotation) and one origin per
 * region. Their URLs and the test signing keys reach the Worker as bindings.
 */
import type { IncomingMessage } from 'node:http';
import { CENTRAL_AUDIENCE, newAssertionKeys } from '../../src/identity-assertion/index.ts';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TestProject } from 'vitest/node';
import { exportJWK, generateKeyPair } from 'jose';
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { startDataDatabasesProcess } from '../support/data-databases-process.ts';
import { buildDataWorkerBundle } from '../support/data-worker-bundle.ts';
import { startFaultLab } from '../support/fault-origin.ts';
import { startRecordingOrigin, type RecordingOrigin } from '../support/recording-origin.ts';

/** The suite's tenant and admin rate-limit policy: a budget no test reaches (see vitest.config.ts). */
const SUITE_POLICY = { binding: 'TEST_SUITE_RATE_LIMITER', limit: 1_000_000, period: 10 };

export const REGION_NAMES = ['us-east-1', 'eu-central-1', 'ap-southeast-2'] as const;

declare module 'vitest' {
  export interface ProvidedContext {
    gatewayBindings: Record<string, string>;
    /** Hyperdrive bindings (name → local connection string) of the data path's databases. */
    hyperdriveBindings: Record<string, string>;
    /** The regional data Workers the gateway's service bindings (wrangler.toml) reach: auxiliary Workers in the pool. */
    dataWorkers: Array<{ name: string; scriptPath: string; bindings: Record<string, string>; hyperdrives: Record<string, string> }>;
  }
}

/**
 * Responses a careless or compromised origin might send, for the response-hardening tests
 * (test/worker/security/bodies-and-responses.test.ts). Paths under /api/__hostile/.
 */
function hostileResponses(req: IncomingMessage): { status: number; headers?: Record<string, string | string[]>; body: string } | undefined {
  const self = `http://${req.headers.host}`;
  // Any Location an origin might send: /api/__hostile/location?to=<encoded>, `{self}` = this origin.
  if (req.url?.startsWith('/api/__hostile/location?')) {
    const to = new URL(req.url, self).searchParams.get('to') ?? '';
    return { status: 302, headers: { location: to.replaceAll('{self}', self) }, body: '' };
  }
  switch (req.url) {
    case '/api/__hostile/redirect-offhost':
      return { status: 302, headers: { location: 'http://10.1.2.3:8080/admin?token=x' }, body: '' };
    case '/api/__hostile/redirect-protocol-relative':
      return { status: 302, headers: { location: '//internal-db.eu.example:5432/x' }, body: '' };
    case '/api/__hostile/redirect-self':
      return { status: 303, headers: { location: `${self}/api/pages/7?x=1` }, body: '' };
    case '/api/__hostile/redirect-relative':
      return { status: 302, headers: { location: '/api/pages/8' }, body: '' };
    case '/api/__hostile/cookies':
      return {
        status: 200,
        headers: {
          'set-cookie': [
            'session=abc; Path=/; HttpOnly; Secure; SameSite=Lax',
            'pref=dark; Path=/; Max-Age=3600',
            `internal=1; Domain=${req.headers.host?.split(':')[0]}; Path=/`,
            'tracker=1; Domain=.evil.example; Path=/',
            'scoped=1; Domain=gateway.test; Path=/',
          ],
        },
        body: '{}',
      };
    case '/api/__hostile/cors':
      // An origin doing its own (wide open) CORS: the gateway's allowlist must still decide.
      return {
        status: 200,
        headers: {
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          'access-control-allow-methods': 'TRACE',
          'access-control-expose-headers': 'x-internal',
          'content-type': 'application/json',
        },
        body: '{}',
      };
    case '/api/__hostile/fingerprint':
      return {
        status: 200,
        headers: { server: 'nginx/1.18.0 (Ubuntu)', 'x-powered-by': 'Express', 'x-aspnet-version': '4.0.30319', 'content-type': 'application/json' },
        body: '{}',
      };
    default:
      return undefined;
  }
}

/** Canned origin behaviours, chosen by path, for response-side tests. */
function regionFixtures(req: { url?: string }): { status: number; headers?: Record<string, string | string[]>; body: string } | undefined {
  switch (req.url) {
    case '/api/fixtures/redirect':
      return { status: 302, headers: { location: 'https://elsewhere.example/next' }, body: '' };
    case '/api/fixtures/cookies':
      return { status: 200, headers: { 'set-cookie': ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure'] }, body: 'ok' };
    case '/api/fixtures/hop-by-hop':
      return { status: 200, headers: { connection: 'x-internal-hop', 'x-internal-hop': 'secret', 'keep-alive': 'timeout=5', 'x-kept': 'yes' }, body: 'ok' };
    default:
      return undefined;
  }
}

/** The control-plane database (PGlite + central migrations + ws proxy) in its own Node process; see the script. */
async function startControlPlaneDb(): Promise<{ url: string; wsProxy: string; stop(): Promise<void> }> {
  const script = new URL('../support/control-plane-db.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const info = await new Promise<{ url: string; wsProxy: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`control-plane database process exited (${code}) before it was ready`)));
  });
  return {
    ...info,
    async stop() {
      child.stdin!.end(); // the script stops on stdin end; SIGTERM too, in case
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export default async function setup(project: TestProject) {
  const es = await generateKeyPair('ES256', { extractable: true });
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const esPriv = { ...(await exportJWK(es.privateKey)), kid: 'es-1', alg: 'ES256' };
  const edPriv = { ...(await exportJWK(ed.privateKey)), kid: 'ed-1', alg: 'EdDSA' };
  const publicOf = ({ d: _d, ...pub }: Record<string, unknown>) => ({ ...pub, use: 'sig' });
  let jwks: unknown = { keys: [publicOf(esPriv), publicOf(edPriv)] };

  const origins: RecordingOrigin[] = [];
  // Named key sets (PUT /__jwks/<name>, served at /jwks/<name>.json) let a test rotate keys
  // without touching the shared default set other test files verify against in parallel.
  const namedJwks = new Map<string, string>();
  const central = await startRecordingOrigin('central', (req, body) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/.well-known/jwks.json') return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(jwks) };
    if (req.url === '/__jwks' && req.method === 'PUT') {
      jwks = JSON.parse(body);
      return { status: 204, body: '' };
    }
    const named = /^\/__jwks\/([\w-]+)$/.exec(path ?? '');
    if (named && req.method === 'PUT') {
      namedJwks.set(named[1]!, body);
      return { status: 204, body: '' };
    }
    const served = /^\/jwks\/([\w-]+)\.json$/.exec(path ?? '');
    if (served && namedJwks.has(served[1]!)) return { status: 200, headers: { 'content-type': 'application/json' }, body: namedJwks.get(served[1]!)! };
    return undefined;
  });
  origins.push(central);
  const regions: Record<string, { origin: string }> = {};
  for (const name of REGION_NAMES) {
    const o = await startRecordingOrigin(name, (req) => hostileResponses(req) ?? regionFixtures(req));
    origins.push(o);
    regions[name] = { origin: o.url };
  }

  // Accepts connections and never answers: what a hung origin looks like to a probe.
  const hungSockets = new Set<Socket>();
  const hung = createServer((sock) => {
    hungSockets.add(sock);
    sock.on('close', () => hungSockets.delete(sock));
  });
  await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));

  const controlPlane = await startControlPlaneDb();
  // Regional databases for the direct data path (test/worker/data): PGlite by default,
  // plus real PostgreSQL and a streaming replica when the local server is reachable.
  const data = await startDataDatabasesProcess(REGION_NAMES);

  // Controllable origins and JWKS servers for the fault tests (test/worker/faults).
  const lab = await startFaultLab(() => jwks);

  const assertionKeys = newAssertionKeys([...REGION_NAMES, CENTRAL_AUDIENCE]);
  project.provide('gatewayBindings', {
    JWT_ISSUER: 'https://central.test',
    JWT_AUDIENCE: 'edge-tenant-router',
    JWKS_URL: `${central.url}/.well-known/jwks.json`,
    CENTRAL_ORIGIN: central.url,
    REGIONS: JSON.stringify(regions),
    // One key ring per region and central (src/identity-assertion); tests read it to verify what origins saw.
    GATEWAY_ASSERTION_KEYS: JSON.stringify(assertionKeys),
    TEST_PRIVATE_JWKS: JSON.stringify({ keys: [esPriv, edPriv] }),
    TEST_ORIGINS: JSON.stringify(Object.fromEntries(origins.map((o) => [o.name, o.url]))),
    TEST_HUNG_ORIGIN: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`,
    // Not CONTROL_PLANE_*: only the audit tests turn the database on (through env overrides).
    TEST_CONTROL_PLANE_DATABASE_URL: controlPlane.url,
    TEST_CONTROL_PLANE_WS_PROXY: controlPlane.wsProxy,
    // The data tests give each region's data Worker its REGION_DATABASES per backend
    // (test/worker/data-workers.ts); the gateway itself gets no database setting at all.
    TEST_DATA_DATABASES: JSON.stringify(data.info),
    TEST_FAULT_LAB: lab.url,
    // Every request still goes through the tenant limiter, against a budget no test reaches
    // (vitest.config.ts); test/worker/tenant-limits uses small budgets of its own.
    TENANT_RATE_LIMITS: JSON.stringify(Object.fromEntries(['api', 'data', 'websocket-upgrade'].map((cls) => [cls, { tenant: SUITE_POLICY }]))),
    ADMIN_RATE_LIMIT: JSON.stringify(SUITE_POLICY),
  });
  project.provide('hyperdriveBindings', data.info.hyperdrives);
  // Behind wrangler.toml's service bindings: each region's real data Worker (the deploy bundle), on that
  // region's PGlite database over the Hyperdrive transport (miniflare's local Hyperdrive), as in production.
  // Inside the repo (git-ignored): workerd resolves module names relative to the working directory.
  const scriptPath = await buildDataWorkerBundle(new URL(`../../.wrangler/test-data-worker-${process.pid}`, import.meta.url).pathname);
  project.provide(
    'dataWorkers',
    REGION_NAMES.map((region) => ({
      name: `etr-data-${region}`,
      scriptPath,
      bindings: {
        DATA_REGION: region,
        // Only its own region's key ring, the one the edge signs its requests with.
        GATEWAY_ASSERTION_KEYS: JSON.stringify({ [region]: assertionKeys[region] }),
        REGION_DATABASES: JSON.stringify({ [region]: { primary: { hyperdrive: 'HYPERDRIVE' }, role: 'gateway' } }),
      },
      hyperdrives: { HYPERDRIVE: data.info.hyperdrives[`HD_PGLITE_${region.toUpperCase().replaceAll('-', '_')}`]! },
    })),
  );

  return async () => {
    await rm(dirname(scriptPath), { recursive: true, force: true });
    await controlPlane.stop();
    for (const s of hungSockets) s.destroy();
    await new Promise<void>((resolve) => hung.close(() => resolve()));
    await data.close();
    await Promise.all([...origins.map((o) => o.close()), lab.close()]);
  };
}
