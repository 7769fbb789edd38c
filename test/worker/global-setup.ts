/**
 * Starts the real servers the workerd tests talk to: a central origin that also
 * serves the JWKS (its key set can be swapped to test rotation) and one origin per
 * region. Their URLs and the test signing keys reach the Worker as bindings.
 */
import type { TestProject } from 'vitest/node';
import { exportJWK, generateKeyPair } from 'jose';
import { startRecordingOrigin, type RecordingOrigin } from '../support/recording-origin.ts';

export const REGION_NAMES = ['us-east-1', 'eu-central-1', 'ap-southeast-2'] as const;

declare module 'vitest' {
  export interface ProvidedContext {
    gatewayBindings: Record<string, string>;
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

export default async function setup(project: TestProject) {
  const es = await generateKeyPair('ES256', { extractable: true });
  const ed = await generateKeyPair('EdDSA', { extractable: true });
  const esPriv = { ...(await exportJWK(es.privateKey)), kid: 'es-1', alg: 'ES256' };
  const edPriv = { ...(await exportJWK(ed.privateKey)), kid: 'ed-1', alg: 'EdDSA' };
  const publicOf = ({ d: _d, ...pub }: Record<string, unknown>) => ({ ...pub, use: 'sig' });
  let jwks: unknown = { keys: [publicOf(esPriv), publicOf(edPriv)] };

  const origins: RecordingOrigin[] = [];
  const central = await startRecordingOrigin('central', (req, body) => {
    if (req.url === '/.well-known/jwks.json') return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(jwks) };
    if (req.url === '/__jwks' && req.method === 'PUT') {
      jwks = JSON.parse(body);
      return { status: 204, body: '' };
    }
    return undefined;
  });
  origins.push(central);
  const regions: Record<string, { origin: string }> = {};
  for (const name of REGION_NAMES) {
    const o = await startRecordingOrigin(name, regionFixtures);
    origins.push(o);
    regions[name] = { origin: o.url };
  }

  project.provide('gatewayBindings', {
    JWT_ISSUER: 'https://central.test',
    JWT_AUDIENCE: 'edge-tenant-router',
    JWKS_URL: `${central.url}/.well-known/jwks.json`,
    CENTRAL_ORIGIN: central.url,
    REGIONS: JSON.stringify(regions),
    GATEWAY_ASSERTION_SECRET: 'test-assertion-secret-0123456789abcdef',
    TEST_PRIVATE_JWKS: JSON.stringify({ keys: [esPriv, edPriv] }),
    TEST_ORIGINS: JSON.stringify(Object.fromEntries(origins.map((o) => [o.name, o.url]))),
  });

  return async () => {
    await Promise.all(origins.map((o) => o.close()));
  };
}
