import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/**
 * Rate limiters for the workerd tests, beside wrangler.toml's own. The suite at large runs with
 * TEST_SUITE_RATE_LIMITER (test/worker/global-setup.ts), whose limit no test reaches, so suites that
 * send many requests as one tenant are not limited by chance; the tenant-limit tests
 * (test/worker/tenant-limits) point TENANT_RATE_LIMITS / ADMIN_RATE_LIMIT at the small ones.
 */
export const TEST_RATE_LIMITERS = {
  TEST_SUITE_RATE_LIMITER: { namespace_id: '9100', simple: { limit: 1_000_000, period: 10 as const } },
  TEST_TENANT_RATE_LIMITER: { namespace_id: '9101', simple: { limit: 6, period: 10 as const } },
  TEST_TENANT_DATA_RATE_LIMITER: { namespace_id: '9102', simple: { limit: 6, period: 10 as const } },
  TEST_USER_RATE_LIMITER: { namespace_id: '9103', simple: { limit: 3, period: 10 as const } },
  TEST_ADMIN_RATE_LIMITER: { namespace_id: '9104', simple: { limit: 3, period: 60 as const } },
};

export default defineConfig({
  test: {
    // Logs of passing tests are noise (every request logs a line); a failing test still shows its own.
    silent: 'passed-only',
    projects: [
      {
        // Unit and integration tests inside the real workerd runtime.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { ...inject('gatewayBindings'), ...inject('globalViewBindings') },
              ratelimits: TEST_RATE_LIMITERS,
              hyperdrives: inject('hyperdriveBindings'),
              // The regional data Workers behind wrangler.toml's service bindings (test/worker/global-setup.ts).
              workers: inject('dataWorkers').map((w) => ({
                name: w.name,
                modules: true,
                scriptPath: w.scriptPath,
                compatibilityDate: '2026-11-01',
                compatibilityFlags: ['nodejs_compat'],
                bindings: w.bindings,
                hyperdrives: w.hyperdrives,
              })),
            },
          })),
        ],
        test: {
          name: 'worker',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts'],
          globalSetup: ['test/worker/global-setup.ts', 'test/worker/global-setup-global.ts'],
        },
      },
      {
        // The local world and end-to-end tests: real Node servers, PGlite, PostgreSQL, wrangler dev.
        test: {
          name: 'node',
          environment: 'node',
          include: ['infra/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/static/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
