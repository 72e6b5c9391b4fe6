// Ops: selection (validation, shape logic, dispatch).
export {};
