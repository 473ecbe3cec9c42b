// Which exchange records a reader may delete: the pure decision behind KafkaWriteScope's purging.

/**
 * Committed read positions of purgeable topics, newest last: the records below the positions of the
 * oldest commit still kept can go. Kept: as many commits as the reader's retained checkpoints
 * could restore (a restore needs the records from its positions on), plus the one in flight.
 */
export class PurgeHistory {
  readonly #keep = new Map<string, number>();
  readonly #history = new Map<string, Map<number, number>[]>();

  keep(topic: string, commits: number): void {
    this.#keep.set(topic, Math.max(1, commits));
  }

  watches(topic: string): boolean {
    return this.#keep.has(topic);
  }

  /** Records a commit's positions; returns per topic the partitions' offsets to delete below, if any. */
  committed(
    positions: readonly { topic: string; partitions: readonly { partition: number; offset: number }[] }[],
  ): Map<string, { partition: number; offset: number }[]> {
    const out = new Map<string, { partition: number; offset: number }[]>();
    for (const { topic, partitions } of positions) {
      const keep = this.#keep.get(topic);
      if (keep === undefined) continue;
      const history = this.#history.get(topic) ?? [];
      this.#history.set(topic, history);
      history.push(new Map(partitions.map((p) => [p.partition, p.offset])));
      if (history.length <= keep) continue;
      history.splice(0, history.length - keep);
      const oldest = history[0];
      if (oldest !== undefined)
        out.set(
          topic,
          [...oldest].map(([partition, offset]) => ({ partition, offset })),
        );
    }
    return out;
  }
}
