// Ops: linalg (validation, shape logic, dispatch).
export {};
