// Ops: elementwise (validation, shape logic, dispatch).
export {};
