// Fault switches for tests, off unless the app's `spec.config` turns them on (`weir.faults.*`), so that the
// cluster e2e suite can drive every failure through the StreamApplication alone.
import type { FaultSwitches } from '../runtime/executor.ts';

export const COMMIT_POINTS = [
  'barrier',
  'state-written',
  'manifest-written',
  'committed',
  'sinks-recovered',
  'state-loaded',
] as const;
export type CommitPoint = (typeof COMMIT_POINTS)[number];

export interface Faults {
  /** Every checkpoint waits this long at its barrier. */
  readonly checkpointDelayMs?: number;
  /** Checkpoints fail at their barrier (the job restarts from the latest completed one). */
  readonly failCheckpoints?: boolean;
  /** The job fails this long after each start (then restarts, with backoff). */
  readonly failTaskAfterMs?: number;
  /** The sources' watermark never advances. */
  readonly stallWatermark?: boolean;
  /** The worker process dies (SIGKILL) at this commit point... */
  readonly crashAt?: CommitPoint;
  /** ...of this worker only (default: every worker), once per process after this many epochs (default 1). */
  readonly crashWorker?: number;
  readonly crashAfterEpochs?: number;
  /** The control API answers this late... */
  readonly apiDelayMs?: number;
  /** ...or with 503 for this fraction of requests (health included: a probe sees it too). */
  readonly apiErrorRate?: number;
}

const NUMBERS = [
  'checkpointDelayMs',
  'failTaskAfterMs',
  'crashWorker',
  'crashAfterEpochs',
  'apiDelayMs',
  'apiErrorRate',
] as const;
const BOOLEANS = ['failCheckpoints', 'stallWatermark'] as const;

/** spec.config is a string map: a switch is the key `weir.faults.<name>`. */
export const FAULT_PREFIX = 'weir.faults.';

/** The switches in `spec.config` (`weir.faults.<name>`); unknown or malformed ones are an error naming them. */
export function parseFaults(config: Readonly<Record<string, unknown>>): Faults {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(config)) {
    if (!key.startsWith(FAULT_PREFIX)) continue;
    const k = key.slice(FAULT_PREFIX.length);
    const v = String(raw);
    if ((NUMBERS as readonly string[]).includes(k)) {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0)
        throw new Error(`spec.config.${key} must be a number ≥ 0, got '${v}'`);
      out[k] = n;
    } else if ((BOOLEANS as readonly string[]).includes(k)) {
      if (v !== 'true' && v !== 'false') throw new Error(`spec.config.${key} must be 'true' or 'false', got '${v}'`);
      out[k] = v === 'true';
    } else if (k === 'crashAt') {
      if (!(COMMIT_POINTS as readonly string[]).includes(v))
        throw new Error(`spec.config.${key} must be one of ${COMMIT_POINTS.join(', ')}`);
      out[k] = v;
    } else {
      throw new Error(
        `spec.config.${key} is not a fault switch (known: ${[...NUMBERS, ...BOOLEANS, 'crashAt'].join(', ')})`,
      );
    }
  }
  return out;
}

/** The engine's hooks for one worker's job. `die` ends the process (SIGKILL in production). */
export function engineFaults(f: Faults, worker: number, die: () => never): FaultSwitches | undefined {
  if (Object.keys(f).length === 0) return undefined;
  let epochs = 0;
  const crashHere = (point: CommitPoint): void => {
    if (point === 'barrier') epochs++;
    if (f.crashAt !== point || (f.crashWorker !== undefined && f.crashWorker !== worker)) return;
    if (epochs >= (f.crashAfterEpochs ?? 1) || point === 'sinks-recovered' || point === 'state-loaded') die();
  };
  return {
    stallWatermark: f.stallWatermark,
    onCheckpointPhase: async (phase) => {
      if (phase === 'barrier') {
        if (f.checkpointDelayMs !== undefined) await new Promise((r) => setTimeout(r, f.checkpointDelayMs));
        if (f.failCheckpoints === true) throw new Error('injected: the checkpoint failed at its barrier');
      }
      crashHere(phase);
    },
    onRestorePhase: (phase) => {
      crashHere(phase);
    },
  };
}
