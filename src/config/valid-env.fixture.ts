/** A minimal valid gateway environment for config tests; each test overrides what it examines. */
export const VALID_ENV = {
  JWT_ISSUER: 'https://central.example.com',
  JWT_AUDIENCE: 'edge-tenant-router',
  JWKS_URL: 'https://central.example.com/.well-known/jwks.json',
  CENTRAL_ORIGIN: 'https://central.example.com',
  REGIONS: { 'eu-central-1': { origin: 'https://eu.example.com' } },
  GATEWAY_ASSERTION_KEYS: {
    'eu-central-1': [{ kid: 'eu-1', secret: 'e'.repeat(32) }],
    'us-east-1': [{ kid: 'us-1', secret: 'u'.repeat(32) }],
    central: [{ kid: 'central-1', secret: 'c'.repeat(32) }],
  },
} as const;
