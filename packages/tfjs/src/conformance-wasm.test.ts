import { defineConformanceSuite } from '@prune/core/testing';
import { describe, it } from 'vitest';
import { createTfjsBackend } from './index.js';

defineConformanceSuite('tfjs-wasm', () => createTfjsBackend({ backend: 'wasm' }), { describe, it });
