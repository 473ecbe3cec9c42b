// The StreamApplication API as the operator uses it (defined in ./api, issue 2).
export {
  GROUP,
  VERSION,
  KIND,
  PLURAL,
  API_VERSION,
  validateStreamApplication,
  formatErrors,
  type FieldError,
} from './api/index.ts';
export type {
  StreamApplication,
  StreamApplicationSpec,
  StreamApplicationStatus,
  Condition,
  SavepointRecord,
  OperationRecord,
  ObjectMeta,
} from './api/index.ts';
import type { OperationRecord, SavepointRecord } from './api/index.ts';
export type SavepointTrigger = SavepointRecord['trigger'];
export type OperationType = OperationRecord['type'];
export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled';
