import { defineConfig } from 'vitest/config';

// `npm test` runs both projects. Unit tests need nothing; integration tests run against a real
// Kafka broker and BigQuery emulator that test/support/global-setup.ts provides.
export default defineConfig({
  test: {
    globals: true,
    // kafkajs 2.2.4 schedules a negative timeout on Node 24; Node clamps it to 1 ms and warns each time.
    execArgv: ['--disable-warning=TimeoutNegativeWarning'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int-spec.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // The files share one broker and emulator (each uses its own topics and tables); running
          // them one at a time keeps a 2-core machine from turning timing into flakiness.
          fileParallelism: false,
        },
      },
      // npm run test:bigquery only (never npm test or CI): the opt-in smoke test against real BigQuery.
      ...(process.env.PLAYS_BIGQUERY_SMOKE === '1'
        ? [
            {
              extends: true as const,
              test: {
                name: 'bigquery',
                include: ['test/**/*.smoke-spec.ts'],
                globalSetup: ['test/support/bigquery-smoke-setup.ts'],
                testTimeout: 300_000,
                hookTimeout: 300_000,
              },
            },
          ]
        : []),
    ],
  },
});
