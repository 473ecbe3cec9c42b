// TypeScript types derived from the schemas: what a validated, defaulted StreamApplication looks like.
import type { Static } from '@sinclair/typebox';
import type {
  ConditionSchema,
  OperationRecordSchema,
  PHASES,
  SavepointRecordSchema,
  StreamApplicationSpecSchema,
  StreamApplicationStatusSchema,
} from './schema.ts';

export type StreamApplicationSpec = Static<typeof StreamApplicationSpecSchema>;
export type StreamApplicationStatus = Static<typeof StreamApplicationStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type SavepointRecord = Static<typeof SavepointRecordSchema>;
export type OperationRecord = Static<typeof OperationRecordSchema>;
export type Phase = (typeof PHASES)[number];
export type UpgradeMode = StreamApplicationSpec['upgrade']['mode'];

/** The part of Kubernetes object metadata the API and the operator read. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}

export interface StreamApplication {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: StreamApplicationSpec;
  status?: StreamApplicationStatus;
}
