/** The job's public surface: its options, states, metrics and the handle a CLI or the control API drives. */
export const JobState = {
  created: 'created',
  restoring: 'restoring',
  running: 'running',
  finished: 'finished',
  stopped: 'stopped',
  cancelled: 'cancelled',
  failed: 'failed',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

/** Hooks that let tests (and fault-injection e2e runs) hit every edge of the checkpoint protocol. */
export interface FaultSwitches {
  /** Called at each step of a checkpoint; throw or kill the process to simulate a crash there. */
  readonly onCheckpointPhase?: (
    phase: 'barrier' | 'state-written' | 'manifest-written' | 'committed',
    epoch: number,
  ) => void | Promise<void>;
  /** The sources' watermark stays where it is (a stalled upstream, for stability-gate tests). */
  readonly stallWatermark?: boolean | undefined;
  /** Called during restore: after the sinks recovered (fenced, markers read), and after state was loaded. */
  readonly onRestorePhase?: (phase: 'sinks-recovered' | 'state-loaded') => void;
}

export interface CheckpointOptions {
  readonly dir: string;
  readonly intervalMs?: number | undefined;
  /** Completed checkpoints to keep (default 3). */
  readonly retain?: number | undefined;
}

export interface JobOptions {
  readonly parallelism?: number | undefined;
  readonly checkpoints?: CheckpointOptions | undefined;
  /** Where savepoints go unless a trigger names a directory. */
  readonly savepointDir?: string | undefined;
  /** A snapshot directory, or a checkpoint directory (its newest completed checkpoint is used). */
  readonly restoreFrom?: string | undefined;
  readonly allowNonRestoredState?: boolean | undefined;
  /** Processing-time clock (ms). */
  readonly clock?: (() => number) | undefined;
  /** Records taken from a split per poll. */
  readonly batchSize?: number | undefined;
  readonly faults?: FaultSwitches | undefined;
  /**
   * The job's identity outside this process (Kafka transactional ids, commit-marker and lag groups,
   * client ids): must be unique among the jobs that share a broker. Default: the graph's name.
   */
  readonly identity?: string | undefined;
  /** This process's share of a job run as several workers (default: the whole job, `{ index: 0, count: 1 }`). */
  readonly worker?: { readonly index: number; readonly count: number } | undefined;
}

export interface CheckpointInfo {
  readonly epoch: number;
  readonly kind: 'checkpoint' | 'savepoint';
  readonly path: string | undefined;
  readonly completedAt: number;
  readonly durationMs: number;
  readonly bytes: number;
}

export interface JobMetrics {
  readonly state: JobState;
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** The combined watermark of the sources (MIN_WATERMARK before the first). */
  readonly watermark: number;
  /** Processing time minus watermark, when there is a watermark. */
  readonly watermarkLagMs: number | undefined;
  /** Records the sources could emit now but have not yet, where they know it. */
  readonly backlog: number | undefined;
  readonly lateDropped: number;
  readonly lateToSideOutput: number;
  /** Records the sources' catch-up policy dropped as too old (`dropOlderThan`). */
  readonly droppedTooOld: number;
  /** Records sent to the dead-letter topic (undecodable, or failing in an expression). */
  readonly deadLetters: number;
  /** Times a split was paused by event-time alignment, and how many are paused now. */
  readonly alignmentPauses: number;
  readonly splitsPaused: number;
  readonly stateEntries: number;
  /** Registered timers (one per open window and key): what event-time alignment keeps bounded. */
  readonly timers: number;
  readonly checkpointsCompleted: number;
  readonly checkpointsFailed: number;
  readonly lastCheckpoint: CheckpointInfo | undefined;
  readonly restoredFrom: string | undefined;
}

export interface SavepointRequest {
  /** Directory for this savepoint; default `<savepointDir>/sp-<epoch>`. */
  readonly dir?: string | undefined;
  /** Stop the job after the savepoint (for upgrades: windows are not fired). */
  readonly stop?: boolean | undefined;
  /** Before the savepoint, advance event time to the end so every window and timer fires (permanent stop). */
  readonly drain?: boolean | undefined;
}

export interface JobResult {
  readonly state: JobState;
  readonly error?: Error | undefined;
  readonly savepoint?: CheckpointInfo | undefined;
}

/** One operator of the job, over its instances in this process. */
export interface OperatorStats {
  readonly operatorId: string;
  readonly kind: string;
  readonly recordsIn: number;
  readonly recordsOut: number;
  /** Input watermark (the minimum over its instances). */
  readonly watermark: number;
  /** Time its input waited on it since the job started (ms). */
  readonly blockedMs: number;
}

export interface SplitStats {
  readonly operatorId: string;
  readonly split: string;
  readonly watermark: number;
  readonly paused: boolean;
}

export interface SampledRecord {
  readonly value: unknown;
  readonly ts: number;
}

/** The handle a CLI or the control API drives a job through. */
export interface Job {
  readonly name: string;
  readonly state: JobState;
  metrics(): JobMetrics;
  operators(): OperatorStats[];
  splits(): SplitStats[];
  /**
   * The live preview: samples exactly these operators' input from now on, and hands over (and
   * forgets) what was sampled since the last call.
   */
  preview(operatorIds: readonly string[]): Map<string, SampledRecord[]>;
  triggerCheckpoint(): Promise<CheckpointInfo>;
  triggerSavepoint(request?: SavepointRequest): Promise<CheckpointInfo>;
  /** Stop gracefully: a final checkpoint (so a restart resumes exactly), then stop without draining. */
  stop(): Promise<JobResult>;
  /** Stop now: no snapshot, uncommitted sink writes are aborted. */
  cancel(): Promise<JobResult>;
  readonly done: Promise<JobResult>;
}
