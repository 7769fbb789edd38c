import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

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
