import type { OperationRecord, SavepointTrigger, StreamApplicationSpec, StreamApplicationStatus } from '../model.ts';
import type { CompatibilityResult, SavepointStatus } from '@weir/runtime/api';
import type { RuntimeView } from '../runtime/client.ts';

export const Phase = {
  Pending: 'Pending',
  Deploying: 'Deploying',
  Running: 'Running',
  Stable: 'Stable',
  Savepointing: 'Savepointing',
  Cancelling: 'Cancelling',
  Upgrading: 'Upgrading',
  RollingBack: 'RollingBack',
  RolledBack: 'RolledBack',
  Suspending: 'Suspending',
  Suspended: 'Suspended',
  Restarting: 'Restarting',
  Failed: 'Failed',
  Deleting: 'Deleting',
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

export function isPhase(v: unknown): v is Phase {
  return typeof v === 'string' && Object.hasOwn(Phase, v);
}

/** What the operator saw this pass. Built by observe/, read by decide/. */
export interface Observed {
  nowMs: number;
  workloads: {
    /** The coordinator Deployment or the worker StatefulSet exists. */
    present: boolean;
    /** deploymentHash annotated on the workloads. */
    specHash?: string;
    /** Pods of the app still present (old pods must be gone before a new version starts). */
    podsRemaining: number;
    /** Container restarts of the deployed version's pods; read only when the runtime does not answer. */
    podRestarts?: number;
  };
  /** Absent when the runtime API did not answer. */
  runtime?: RuntimeView;
  /** The status of status.pendingSavepoint, when one is pending and the runtime answered. */
  savepoint?: SavepointStatus;
  /**
   * The runtime answered but does not know status.pendingSavepoint (the trigger never reached it, e.g. the
   * operator restarted in between): decide asks again (the trigger is idempotent on its id).
   */
  savepointUnknown?: true;
  /** The pre-flight check of the desired spec, for desiredHash, when decide asked for one. */
  compatibility?: CompatibilityResult & { specHash: string };
  /** The app's pre-flight check Jobs (read only while a check by Job is needed). */
  compatibilityChecks?: CompatibilityCheckJob[];
}

/** A pre-flight check run as a Job with the new image, as observe understood its outcome. */
export interface CompatibilityCheckJob {
  name: string;
  specHash: string;
  attempt: number;
  /** Running: not finished; Compatible / Incompatible: the new image's verdict; Error: it could not judge. */
  outcome: 'Running' | 'Compatible' | 'Incompatible' | 'Error';
  problems: string[];
  /** Why an Error: deadline, image not pullable, crash, unreadable savepoint or pipeline. */
  reason?: string;
  /** When it finished (ISO time). */
  finishedAt?: string;
}

export interface DecideInput {
  generation: number;
  deleting: boolean;
  /** The validated spec with defaults applied; absent when validation failed. */
  spec: StreamApplicationSpec | undefined;
  validationErrors: { path: string; message: string }[];
  status: StreamApplicationStatus;
  observed: Observed;
  tuning: Tuning;
}

export interface Tuning {
  /** How often a transitional phase polls the world. */
  pollMs: number;
  /** How often a settled app is looked at again. */
  settledResyncMs: number;
  /** First delay of the exponential backoff of retried savepoints and recoveries. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Savepoint failures in one phase before it reports Stalled. */
  stallAfterFailures: number;
  /** Job restarts within one deployment that count as crash-looping. */
  crashLoopRestarts: number;
  /**
   * The runtime's live summary (watermark, lag, latest checkpoint) is rewritten at most this often
   * when nothing else in status changed: a Running app is looked at every pollMs, and 1,000 apps
   * writing their watermark every 2 s would be 500 writes a second to the API server.
   */
  liveStatusRefreshMs: number;
}

export const defaultTuning: Tuning = {
  pollMs: 2_000,
  settledResyncMs: 30_000,
  backoffBaseMs: 10_000,
  backoffMaxMs: 300_000,
  stallAfterFailures: 3,
  crashLoopRestarts: 3,
  liveStatusRefreshMs: 15_000,
};

export type Action =
  | { kind: 'apply'; spec: StreamApplicationSpec; specHash: string; restoreFrom?: string }
  | { kind: 'deleteWorkloads' }
  | { kind: 'triggerSavepoint'; id: string; stop: boolean; trigger: SavepointTrigger }
  /** Abort a savepoint past its timeout, so the runtime stops working on it (best effort). */
  | { kind: 'cancelSavepoint'; id: string }
  | { kind: 'disposeSavepoint'; path: string }
  | {
      kind: 'startCompatibilityCheck';
      spec: StreamApplicationSpec;
      specHash: string;
      attempt: number;
      snapshot: string;
    }
  | { kind: 'deleteCompatibilityCheck'; name: string }
  | { kind: 'removeFinalizer' };

export interface Decision {
  phase: Phase;
  /** CamelCase reason of this pass, used for Events and conditions. */
  reason: string;
  message: string;
  actions: Action[];
  /** Status fields to replace (undefined values remove the field). */
  patch: Partial<StreamApplicationStatus>;
  stalled?: { reason: string; message: string };
  /** Requeue after this delay; undefined = only on change or periodic resync. */
  requeueAfterMs?: number;
  warning?: boolean;
  /** Tell this pass in an Event even without a phase change: a milestone users need later (the final savepoint's path). */
  event?: boolean;
}

export type { OperationRecord };
