import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Dawn keeps one instance per process; WebGPU tests share a worker file each.
    pool: 'forks',
  },
});
