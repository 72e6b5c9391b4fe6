// The docs' kernel capability tables must say what the backends report: regenerate them
// from the sources and compare with the committed files.
import { describe, expect, it } from 'vitest';
import * as core from '../packages/core/src/index.js';
import * as gpujs from '../packages/gpujs/src/index.js';
import * as tfjs from '../packages/tfjs/src/index.js';
import { capabilityDocs } from '../scripts/capabilities.mjs';

describe('kernel capability tables in the docs', () => {
  it('match backendCapabilities() of every backend (regenerate with node scripts/capabilities.mjs)', async () => {
    const docs = await capabilityDocs(core, tfjs, gpujs);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) expect(doc.current, doc.path).toBe(doc.expected);
  });
});
