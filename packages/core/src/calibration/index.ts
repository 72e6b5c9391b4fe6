export type {
  AccumulatorOptions,
  CalibrationAccumulation,
  CalibrationWeighting,
  UpdateOptions,
} from './batch.js';
export { ColumnNormAccumulator } from './column-norm.js';
export { HessianAccumulator } from './hessian.js';
