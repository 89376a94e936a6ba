import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Suites that start their own control plane, cloud and operator processes; two cores on CI machines.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
