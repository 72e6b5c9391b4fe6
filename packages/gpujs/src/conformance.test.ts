import { afterAll, describe, expect, it } from 'vitest';
import { defineConformanceSuite } from '@prune/core/testing';
import { type GpujsBackend, createGpujsBackend } from './backend.js';
import { type GpujsMode, gpujsModeAvailability } from './modes.js';

const created: GpujsBackend[] = [];
afterAll(() => {
  for (const b of created) b.destroy();
});

function suite(mode: GpujsMode): void {
  defineConformanceSuite(`gpujs-${mode}`, () => {
    const backend = createGpujsBackend({ mode });
    created.push(backend);
    return backend;
  }, { describe, it });
}

suite('cpu');
suite('webasm');

// headlessgl needs the native `gl` module and an X display (CI: .ci/setup-headlessgl.sh,
// then the tests under `xvfb-run -a` with PRUNE_REQUIRE_HEADLESSGL=1).
const requireHeadlessgl = process.env.PRUNE_REQUIRE_HEADLESSGL === '1';
const headlessgl = gpujsModeAvailability('headlessgl');
if (requireHeadlessgl) {
  describe('headlessgl is required (PRUNE_REQUIRE_HEADLESSGL=1)', () => {
    it('is available', () => {
      expect(headlessgl.reason ?? 'available').toBe('available');
    });
  });
}
describe.skipIf(!headlessgl.available && !requireHeadlessgl)(
  `headlessgl${headlessgl.available ? '' : ` (unavailable: ${headlessgl.reason})`}`,
  () => suite('headlessgl'),
);
