/** Watermark sentinels that survive JSON (Infinity does not). */
export const MIN_WATERMARK = Number.MIN_SAFE_INTEGER;
export const MAX_WATERMARK = Number.MAX_SAFE_INTEGER;

export interface WatermarkStrategy {
  /** How far behind the highest event time seen an event may still arrive without being late. */
  readonly maxOutOfOrdernessMs: number;
  /** A split that emits nothing for this long stops holding the combined watermark back. */
  readonly idleTimeoutMs?: number | undefined;
  /**
   * Alignment: a split whose watermark runs more than this ahead of the slowest active split is
   * paused until the others catch up, so that replaying a backlog keeps window state bounded.
   */
  readonly maxDriftMs?: number | undefined;
}

/**
 * Per-split watermark generation with bounded out-of-orderness: watermark = max event time - bound - 1.
 * Time is injected (`now`) so idleness is testable with fake clocks.
 */
export class SplitWatermarks {
  readonly #strategy: WatermarkStrategy;
  #maxTs = MIN_WATERMARK;
  #explicit = MIN_WATERMARK;
  #lastActivity: number;
  #finished = false;

  constructor(strategy: WatermarkStrategy, now: number) {
    if (!(strategy.maxOutOfOrdernessMs >= 0)) {
      throw new RangeError(`maxOutOfOrdernessMs must be >= 0, got ${strategy.maxOutOfOrdernessMs}`);
    }
    if (strategy.idleTimeoutMs !== undefined && !(strategy.idleTimeoutMs > 0)) {
      throw new RangeError(`idleTimeoutMs must be > 0, got ${strategy.idleTimeoutMs}`);
    }
    this.#strategy = strategy;
    this.#lastActivity = now;
  }

  onEvent(ts: number, now: number): void {
    if (ts > this.#maxTs) this.#maxTs = ts;
    this.#lastActivity = now;
  }

  /** Data arrived that does not move the watermark (in-band watermarks): the split is not idle. */
  onActivity(now: number): void {
    this.#lastActivity = now;
  }

  /** Watermarks the source itself knows (e.g. the end of a bounded file). */
  onSourceWatermark(ts: number, now: number): void {
    if (ts > this.#explicit) this.#explicit = ts;
    this.#lastActivity = now;
  }

  finish(): void {
    this.#finished = true;
  }

  current(): number {
    if (this.#finished) return MAX_WATERMARK;
    const bounded =
      this.#maxTs === MIN_WATERMARK ? MIN_WATERMARK : this.#maxTs - this.#strategy.maxOutOfOrdernessMs - 1;
    return Math.max(bounded, this.#explicit);
  }

  isIdle(now: number): boolean {
    if (this.#finished) return false;
    const timeout = this.#strategy.idleTimeoutMs;
    return timeout !== undefined && now - this.#lastActivity >= timeout;
  }

  /** Restore after recovery: the split must not emit a watermark below what was checkpointed. */
  restore(watermark: number): void {
    if (watermark > this.#explicit) this.#explicit = watermark;
  }
}

/**
 * Combines the watermarks of several inputs: the minimum over the active ones, never decreasing.
 * Idle inputs are ignored; if every input is idle the watermark holds.
 */
export class WatermarkTracker {
  readonly #inputs: number[];
  readonly #idle: boolean[];
  #current = MIN_WATERMARK;

  constructor(inputCount: number, initial = MIN_WATERMARK) {
    if (!Number.isInteger(inputCount) || inputCount < 1) {
      throw new RangeError(`a watermark tracker needs at least one input, got ${inputCount}`);
    }
    this.#inputs = new Array<number>(inputCount).fill(MIN_WATERMARK);
    this.#idle = new Array<boolean>(inputCount).fill(false);
    this.#current = initial;
  }

  get current(): number {
    return this.#current;
  }

  get inputCount(): number {
    return this.#inputs.length;
  }

  /** Records input `index`'s watermark; returns the combined watermark if it advanced, else undefined. */
  update(index: number, watermark: number, idle = false): number | undefined {
    this.#check(index);
    if (watermark > (this.#inputs[index] ?? MIN_WATERMARK)) this.#inputs[index] = watermark;
    this.#idle[index] = idle;
    return this.#recompute();
  }

  /** A new input (a partition added to a topic): it holds the combined watermark until it reports or goes idle. */
  addInput(): number {
    this.#inputs.push(MIN_WATERMARK);
    this.#idle.push(false);
    return this.#inputs.length - 1;
  }

  setIdle(index: number, idle: boolean): number | undefined {
    this.#check(index);
    this.#idle[index] = idle;
    return this.#recompute();
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#inputs.length) {
      throw new RangeError(`watermark input ${index} does not exist (inputs: ${this.#inputs.length})`);
    }
  }

  #recompute(): number | undefined {
    let min = Infinity;
    for (let i = 0; i < this.#inputs.length; i++) {
      if (this.#idle[i] === true) continue;
      const w = this.#inputs[i] ?? MIN_WATERMARK;
      if (w < min) min = w;
    }
    if (min === Infinity || min <= this.#current) return undefined;
    this.#current = min;
    return min;
  }
}

/**
 * Event-time alignment: which splits to pause because their watermark runs more than `maxDriftMs`
 * ahead of the slowest active split. Splits without data yet, idle or finished ones do not hold
 * the others back (they would stall the job otherwise).
 */
export function splitsAhead(
  splits: readonly { readonly watermark: number; readonly active: boolean }[],
  maxDriftMs: number | undefined,
): boolean[] {
  if (maxDriftMs === undefined) return splits.map(() => false);
  let min = Infinity;
  for (const s of splits) if (s.active && s.watermark > MIN_WATERMARK && s.watermark < min) min = s.watermark;
  if (min === Infinity) return splits.map(() => false);
  return splits.map((s) => s.active && s.watermark > min + maxDriftMs);
}
