import { MIN_WATERMARK } from '../../core/watermarks.ts';

/** The header that marks a watermark record; its value is the producing worker. */
export const WATERMARK_HEADER = 'weir.watermark';

export interface WatermarkRecord {
  readonly watermark: number;
  /** The producing worker's index, and how many workers produce into the topic. */
  readonly producer: number;
  readonly producers: number;
  /** The producer stopped here, at this savepoint: nothing of it follows in the partition. */
  readonly stop?: string | undefined;
}

export function encodeWatermark(w: WatermarkRecord): string {
  return JSON.stringify(w);
}

export function decodeWatermark(value: Buffer | null): WatermarkRecord | undefined {
  if (value === null) return undefined;
  try {
    const w = JSON.parse(value.toString('utf8')) as Partial<WatermarkRecord> | null;
    if (typeof w?.watermark !== 'number' || typeof w.producer !== 'number' || typeof w.producers !== 'number')
      return undefined;
    return {
      watermark: w.watermark,
      producer: w.producer,
      producers: w.producers,
      ...(typeof w.stop === 'string' ? { stop: w.stop } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * One partition's event time from the watermark records in it (the seeds' Criteo design): the
 * newest watermark of each producing worker, and the minimum over them once every producer has
 * reported. A record from a smaller set of producers (the upstream job was rescaled) forgets the
 * producers that are gone.
 */
export class PartitionEventTime {
  readonly #byProducer = new Map<number, number>();
  readonly #stops = new Map<number, string>();
  #producers = 0;

  /** Returns the partition's watermark after this record (MIN_WATERMARK until every producer spoke). */
  observe(w: WatermarkRecord): number {
    if (w.producers !== this.#producers) {
      this.#producers = w.producers;
      for (const p of [...this.#byProducer.keys()]) if (p >= w.producers) this.#byProducer.delete(p);
    }
    if (w.watermark > (this.#byProducer.get(w.producer) ?? MIN_WATERMARK))
      this.#byProducer.set(w.producer, w.watermark);
    if (w.stop !== undefined) this.#stops.set(w.producer, w.stop);
    return this.current();
  }

  /** Whether every producer stopped at this savepoint (everything they wrote before it was read). */
  stoppedAt(savepoint: string): boolean {
    if (this.#producers === 0) return false;
    for (let p = 0; p < this.#producers; p++) if (this.#stops.get(p) !== savepoint) return false;
    return true;
  }

  current(): number {
    if (this.#producers === 0 || this.#byProducer.size < this.#producers) return MIN_WATERMARK;
    let min = Infinity;
    for (const v of this.#byProducer.values()) if (v < min) min = v;
    return min;
  }

  /** For snapshots: the producers' watermarks. */
  snapshot(): { producers: number; watermarks: [number, number][] } {
    return { producers: this.#producers, watermarks: [...this.#byProducer] };
  }

  restore(s: { producers: number; watermarks: [number, number][] } | undefined): void {
    if (s === undefined) return;
    this.#producers = s.producers;
    for (const [p, w] of s.watermarks) this.#byProducer.set(p, w);
  }
}
