// Ops: reduce (validation, shape logic, dispatch).
export {};
