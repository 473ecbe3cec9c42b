// Public surface of the StreamApplication API.
export * from './schema.ts';
export type * from './types.ts';
export {
  validateStreamApplication,
  formatErrors,
  evaluateCelRules,
  STREAM_APPLICATION_JSON_SCHEMA,
  type FieldError,
  type ValidationResult,
} from './validate.ts';
export { buildCrd, renderCrdYaml, CRD_NAME, CRD_FILE } from './crd.ts';
