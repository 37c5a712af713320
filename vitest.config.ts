import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // probes the gpu.js backends once and prints which are skipped and why
    globalSetup: ['tests/global-setup.ts'],
    // a fixed fast-check seed (FC_SEED overrides): reproducible property runs
    setupFiles: ['tests/setup.ts'],
    testTimeout: 60000,
    // child processes, not worker threads: the `gl` native addon cannot be
    // loaded by a second worker thread ("Module did not self-register")
    pool: 'forks',
  },
});
