// Types of the runtime's control API, mirroring openapi.yaml next to this file: the contract the
// runtime's coordinator serves and the operator's RuntimeClient calls.

export const JobState = ['CREATED', 'RUNNING', 'RESTARTING', 'FAILED', 'STOPPED', 'CANCELED'] as const;
export type JobState = (typeof JobState)[number];

export interface JobSummary {
  state: JobState;
  /** deploymentHash of the spec the job was started from (annotated on its workloads). */
  specHash?: string;
  startTime?: string;
  restarts: number;
  restoredFrom?: string;
  failure?: string;
}

export interface CheckpointRef {
  id: number;
  time: string;
  path: string;
}

export interface CheckpointSummary {
  completedSinceStart: number;
  lastCompleted?: CheckpointRef;
}

export interface EventTimeSummary {
  watermark?: string;
  /** When the watermark last moved forward. */
  watermarkAdvancedAt?: string;
  lagSeconds?: number;
  recordsLag?: number;
}

export const SavepointState = ['IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELED'] as const;
export type SavepointState = (typeof SavepointState)[number];

export const SavepointTrigger = ['manual', 'periodic', 'upgrade', 'rescale', 'suspend', 'delete'] as const;
export type SavepointTrigger = (typeof SavepointTrigger)[number];

export interface SavepointRequest {
  /** Idempotency key: triggering twice with one requestId yields one savepoint. */
  requestId: string;
  stop: boolean;
  trigger: SavepointTrigger;
}

export interface SavepointStatus {
  id: string;
  state: SavepointState;
  path?: string;
  error?: string;
}

export interface CompatibilityRequest {
  image: string;
  pipeline?: Record<string, unknown>;
  entrypoint?: string;
  /** Snapshot to check against; absent = the running job's current state layout. */
  savepointPath?: string;
  allowNonRestoredState: boolean;
}

export interface CompatibilityResult {
  compatible: boolean;
  problems: string[];
}
