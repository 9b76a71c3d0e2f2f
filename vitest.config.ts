import { configDefaults, defineConfig } from 'vitest/config';
import { UNIT_TESTS } from './test/tiers.js';

// Two projects: 'unit' (the fast tier, `npm run test:unit`, listed in test/tiers.ts) and
// 'integration' (every other test file). `npm test` runs both, so the full suite is every file.
const unit = UNIT_TESTS.map((f) => `test/${f}`);

export default defineConfig({
  test: {
    // The addon is a native module: separate processes, not worker threads.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: unit } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...unit] } },
    ],
  },
});
