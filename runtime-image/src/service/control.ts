// The port the control API serves from: the coordinator implements it; tests may fake it.
import type {
  CheckpointSummary,
  CompatibilityRequest,
  CompatibilityResult,
  EventTimeDetail,
  JobSummary,
  OperatorList,
  Preview,
  SavepointRequest,
  SavepointStatus,
  WorkerCommands,
  WorkerList,
  WorkerReport,
} from '../api/contract.ts';

export interface ControlPort {
  job(): JobSummary;
  /** Cancels without a savepoint; idempotent. */
  cancelJob(): JobSummary;
  checkpoints(): CheckpointSummary;
  eventTime(): EventTimeDetail;
  /** Idempotent on requestId; throws a CONFLICT ControlError when the job cannot take one now. */
  triggerSavepoint(req: SavepointRequest): Promise<SavepointStatus>;
  savepoint(id: string): SavepointStatus | undefined;
  cancelSavepoint(id: string): Promise<SavepointStatus | undefined>;
  disposeSavepoint(path: string): Promise<void>;
  checkCompatibility(req: CompatibilityRequest): Promise<CompatibilityResult>;
  workers(): WorkerList;
  operators(): OperatorList;
  /** undefined: no such operator. */
  preview(operatorId: string, limit: number): Preview | undefined;
  /** A worker's heartbeat: what it reports, and what it should do now. */
  heartbeat(report: WorkerReport): Promise<WorkerCommands>;
}
