// A StreamApplication's status as the e2e suite reads it, and pure readings of it.
import { phaseDurations } from '../demo/view.ts';

/** A StreamApplication's status, as far as the suite reads it. */
export interface AppStatus {
  phase?: string;
  observedGeneration?: number;
  job?: { state?: string; startTime?: string; restarts?: number };
  checkpoints?: { lastCompleted?: { id: number; time: string } };
  savepoints?: { last?: SavepointRecord; history?: SavepointRecord[] };
  lastStableSpec?: string;
  operations?: Operation[];
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  replicas?: number;
}

export interface SavepointRecord {
  path: string;
  trigger: string;
  result: string;
}

export interface Operation {
  type: string;
  trigger?: string;
  outcome?: string;
  snapshot?: string;
  startedAt?: string;
  finishedAt?: string;
  durationSeconds?: number;
  message?: string;
}

/** What one lifecycle operation cost, measured from outside. */
export interface Measured {
  /** From the spec change until the first committed result of the job that runs afterwards. */
  readonly downtimeSeconds: number;
  /** Phases seen, with their durations, e.g. `Savepointing 2.1s → Cancelling 1.0s → …`. */
  readonly phases: string;
}

/** Phases in which a job runs: after a rollback the app stays RolledBack until the spec changes. */
export const RUNNING_PHASES = ['Running', 'Stable', 'RolledBack'];

/** The operations (status keeps them newest first) that started at or after `since`, newest first. */
export function operationsSince(s: AppStatus, since: number): Operation[] {
  // Status times have second precision: a second of slack.
  return (s.operations ?? []).filter((op) => Date.parse(op.startedAt ?? '') >= since - 1_000);
}

/** The newest operation of a type. */
export function latestOperation(s: AppStatus, type: string): Operation | undefined {
  return (s.operations ?? []).find((op) => op.type === type);
}

/** `Phase 1.2s → Phase 3.4s …` for the phases seen between `from` and `to`. */
export function phaseSpans(timeline: readonly { at: number; phase: string }[], from: number, to: number): string {
  const inside = timeline.filter((p) => p.at >= from && p.at <= to);
  const before = timeline.filter((p) => p.at < from).at(-1);
  return phaseDurations(before === undefined ? inside : [{ at: from, phase: before.phase }, ...inside], to);
}
