import { defineConfig } from 'vitest/config';

// Unit tests (src/**/*.spec.ts) need nothing; integration tests (test/**/*.int-spec.ts) run
// against a real Kafka broker and BigQuery emulator that test/support/global-setup.ts provides.
export default defineConfig({
  test: {
    globals: true,
    root: './',
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts', 'test/**/*.int-spec.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration files share one broker and emulator; they use their own topics and tables.
    fileParallelism: false,
  },
});
