import { defineConfig } from 'vitest/config';

// Tests run against package sources (the "@prune/source" export condition), so no build
// is needed before `pnpm test` — except test/consumers.test.ts, which packs the built
// packages and builds them itself (turbo's cache makes that cheap when nothing changed).
export default defineConfig({
  resolve: { conditions: ['@prune/source'] },
  ssr: { resolve: { conditions: ['@prune/source'] } },
  test: {
    globals: true,
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
