import { describe, it } from 'vitest';
import { defineConformanceSuite } from '../testing/index.js';
import { referenceBackend } from './index.js';

// The reference backend against itself: proves every case builds its inputs, runs, and
// produces outputs of consistent shape and dtype on both of checkCase's runs.
defineConformanceSuite('reference', () => referenceBackend, { describe, it });
