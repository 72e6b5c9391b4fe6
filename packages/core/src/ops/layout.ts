// Ops: layout (validation, shape logic, dispatch).
export {};
