import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The gateway logs one JSON line per request (src/observability); tests that care capture them
    // with spies, so the hundreds of routine ones are kept out of the test output.
    onConsoleLog: (log) => !/"msg":"(request|audit)"/.test(log),
    projects: [
      {
        // Unit and integration tests inside the real workerd runtime.
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: inject('gatewayBindings') },
          })),
        ],
        test: {
          name: 'worker',
          include: ['src/**/*.test.ts', 'test/worker/**/*.test.ts'],
          globalSetup: ['test/worker/global-setup.ts'],
        },
      },
      {
        // The local world and end-to-end tests: real Node servers, PGlite, PostgreSQL, wrangler dev.
        test: {
          name: 'node',
          environment: 'node',
          include: ['infra/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
