import { defineConformanceSuite } from '@prune/core/testing';
import { describe, it } from 'vitest';
import { createTfjsBackend } from './index.js';

defineConformanceSuite('tfjs-cpu', () => createTfjsBackend({ backend: 'cpu' }), { describe, it });
