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

export const ErrorCode = ['UNAUTHORIZED', 'NOT_FOUND', 'CONFLICT', 'BAD_REQUEST', 'UNAVAILABLE'] as const;
export type ErrorCode = (typeof ErrorCode)[number];

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export interface SplitEventTime {
  operatorId: string;
  split: string;
  worker: number;
  watermark?: string;
  /** Held back by event-time alignment. */
  paused?: boolean;
}

export interface OperatorEventTime {
  operatorId: string;
  watermark?: string;
}

/** /v1/event-time: the summary the operator reads, and the detail a person looks at. */
export interface EventTimeDetail extends EventTimeSummary {
  sources?: SplitEventTime[];
  operators?: OperatorEventTime[];
}

export const WorkerState = [
  'UNKNOWN',
  'STARTING',
  'RUNNING',
  'RESTARTING',
  'STOPPED',
  'CANCELED',
  'FAILED',
  'LOST',
] as const;
export type WorkerState = (typeof WorkerState)[number];

export interface WorkerStatus {
  index: number;
  pod?: string;
  state: WorkerState;
  lastHeartbeat?: string;
  restarts: number;
  recordsIn?: number;
  recordsOut?: number;
  lastCheckpoint?: CheckpointRef;
  failure?: string;
}

export interface WorkerList {
  parallelism: number;
  workers: WorkerStatus[];
}

export interface OperatorMetrics {
  operatorId: string;
  kind: string;
  recordsIn: number;
  recordsOut: number;
  recordsInPerSecond: number;
  recordsOutPerSecond: number;
  watermark?: string;
  /** Share of the time its input waited on the operator (a sink's send in flight, async I/O at capacity), 0..1. */
  backpressure?: number;
  checkpointDurationMs?: number;
  checkpointBytes?: number;
}

export interface OperatorList {
  operators: OperatorMetrics[];
}

export interface PreviewRecord {
  worker: number;
  /** The record's event time. */
  time?: string;
  value: unknown;
}

export interface Preview {
  operatorId: string;
  records: PreviewRecord[];
}

// ---- internal: between the coordinator and its workers ----

/** One operator as one worker sees it (counters since the worker's job started). */
export interface WorkerOperatorMetrics {
  operatorId: string;
  kind: string;
  recordsIn: number;
  recordsOut: number;
  /** Input watermark, ms (absent before the first). */
  watermark?: number;
  backpressure?: number;
}

export interface WorkerSplitMetrics {
  operatorId: string;
  split: string;
  watermark?: number;
  paused: boolean;
}

export interface WorkerMetrics {
  recordsIn: number;
  recordsOut: number;
  /** The worker's combined source watermark, ms. */
  watermark?: number;
  /** When that watermark last rose, ms. */
  watermarkAdvancedAt?: number;
  backlog?: number;
  checkpointsCompleted: number;
  lastCheckpoint?: { epoch: number; completedAt: number; path?: string; durationMs: number; bytes: number };
  operators: WorkerOperatorMetrics[];
  splits: WorkerSplitMetrics[];
}

export interface WorkerSavepointReport {
  id: string;
  state: SavepointState;
  path?: string;
  error?: string;
}

export const WorkerReportState = ['STARTING', 'RUNNING', 'RESTARTING', 'STOPPED', 'CANCELED', 'FAILED'] as const;
export type WorkerReportState = (typeof WorkerReportState)[number];

export interface WorkerReport {
  index: number;
  pod?: string;
  /** Changes when the worker process restarts. */
  incarnation: string;
  state: WorkerReportState;
  /** In-process restarts of the worker's job. */
  restarts: number;
  failure?: string;
  /** Stopped for a savepoint that does not end the job (or restarting after it): not a failure. */
  pausedFor?: string;
  metrics: WorkerMetrics;
  savepoints: WorkerSavepointReport[];
  /** Sampled records by operator id (only operators the coordinator asked to preview). */
  preview?: Record<string, PreviewRecord[]>;
}

export interface WorkerCommands {
  savepoint?: { id: string; dir: string; stop: boolean };
  /** Restart from this snapshot: a stop-with-savepoint that failed elsewhere or was cancelled. */
  resumeFrom?: string;
  cancel: boolean;
  previewing: string[];
}
