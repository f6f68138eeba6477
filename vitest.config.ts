import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ (server and web console) once for the suites that run them.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites start real redis-server processes on free ports; two
    // files at a time keeps a 2-core machine responsive.
    maxWorkers: 2,
  },
});
