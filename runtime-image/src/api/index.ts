// The runtime's control API contract: owned by the runtime, imported by the operator as `@weir/runtime/api`.
export * from './contract.ts';
export * from './openapi.ts';
