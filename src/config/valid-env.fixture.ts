/** A minimal valid gateway environment for config tests; each test overrides what it examines. */
export const VALID_ENV = {
  JWT_ISSUER: 'https://central.example.com',
  JWT_AUDIENCE: 'edge-tenant-router',
  JWKS_URL: 'https://central.example.com/.well-known/jwks.json',
  CENTRAL_ORIGIN: 'https://central.example.com',
  REGIONS: { 'eu-central-1': { origin: 'https://eu.example.com' } },
  GATEWAY_ASSERTION_SECRET: 'x'.repeat(32),
} as const;
