/**
 * Barrier alignment for one task with several input channels: a channel that delivered the
 * barrier of epoch N is blocked (its later data must wait) until every channel delivered it.
 */
export class BarrierAligner {
  readonly #channels: number;
  #epoch: number | undefined;
  readonly #arrived = new Set<number>();

  constructor(channels: number) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`channels must be >= 1, got ${channels}`);
    this.#channels = channels;
  }

  /** Returns true when this barrier completes the alignment (the task snapshots and forwards it). */
  onBarrier(channel: number, epoch: number): boolean {
    if (channel < 0 || channel >= this.#channels) throw new RangeError(`barrier on unknown channel ${channel}`);
    if (this.#epoch === undefined) {
      this.#epoch = epoch;
    } else if (epoch !== this.#epoch) {
      throw new Error(`barrier of epoch ${epoch} arrived on channel ${channel} while aligning epoch ${this.#epoch}`);
    }
    if (this.#arrived.has(channel)) throw new Error(`channel ${channel} delivered the barrier of epoch ${epoch} twice`);
    this.#arrived.add(channel);
    if (this.#arrived.size < this.#channels) return false;
    this.#arrived.clear();
    this.#epoch = undefined;
    return true;
  }

  /** A checkpoint is part-way: some channel delivered its barrier, not all have. */
  get aligning(): boolean {
    return this.#epoch !== undefined;
  }

  isBlocked(channel: number): boolean {
    return this.#arrived.has(channel);
  }

  /** Abandon a checkpoint (e.g. it failed): unblocks every channel. */
  reset(): void {
    this.#arrived.clear();
    this.#epoch = undefined;
  }
}

/** Epoch ids: strictly increasing, continuing after the epoch a job was restored from. */
export class EpochCounter {
  #last: number;
  constructor(lastCompleted = 0) {
    this.#last = lastCompleted;
  }
  next(): number {
    this.#last += 1;
    return this.#last;
  }
  get last(): number {
    return this.#last;
  }
}

/** Which completed checkpoints to delete so that only the newest `retain` remain. */
export function checkpointsToDelete(completedEpochs: readonly number[], retain: number): number[] {
  if (!Number.isInteger(retain) || retain < 1) throw new RangeError(`checkpoint retention must be >= 1, got ${retain}`);
  const sorted = [...completedEpochs].sort((a, b) => b - a);
  return sorted.slice(retain).sort((a, b) => a - b);
}

/** Whether a periodic checkpoint is due (none in flight, interval elapsed since the last one started). */
export function checkpointDue(
  now: number,
  lastStartedAt: number,
  intervalMs: number | undefined,
  inFlight: boolean,
): boolean {
  return intervalMs !== undefined && !inFlight && now - lastStartedAt >= intervalMs;
}
