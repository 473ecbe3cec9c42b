/**
 * A write buffer for sinks: merges records by key (an upsert sink keeps only the newest revision
 * of each window result), and flushes when it holds `maxSize` keys, when `maxDelayMs` passed since
 * the first buffered record, or when the checkpoint barrier asks (`flush()` in preCommit).
 */
export interface BufferOptions<T> {
  readonly maxSize: number;
  readonly maxDelayMs?: number | undefined;
  /** Records with the same key replace each other (default: no merging). */
  readonly keyOf?: ((value: T) => string) | undefined;
  /** How to combine an older and a newer record with the same key (default: keep the newer). */
  readonly merge?: ((older: T, newer: T) => T) | undefined;
  readonly write: (values: readonly T[]) => Promise<void>;
  readonly now?: (() => number) | undefined;
}

export class SinkBuffer<T> {
  readonly #o: BufferOptions<T>;
  readonly #byKey = new Map<string, T>();
  #unkeyed: T[] = [];
  #firstAt: number | undefined;

  constructor(options: BufferOptions<T>) {
    if (!Number.isInteger(options.maxSize) || options.maxSize < 1)
      throw new RangeError(`buffer maxSize must be an integer >= 1, got ${options.maxSize}`);
    this.#o = options;
  }

  get size(): number {
    return this.#byKey.size + this.#unkeyed.length;
  }

  /** Adds values; resolves after a flush if the buffer became full or too old. */
  async add(values: readonly T[]): Promise<void> {
    const now = (this.#o.now ?? Date.now)();
    for (const v of values) {
      this.#firstAt ??= now;
      const keyOf = this.#o.keyOf;
      if (keyOf === undefined) {
        this.#unkeyed.push(v);
        continue;
      }
      const k = keyOf(v);
      const old = this.#byKey.get(k);
      if (old !== undefined) this.#byKey.delete(k); // re-insert: flush order follows the newest write
      this.#byKey.set(k, old !== undefined && this.#o.merge !== undefined ? this.#o.merge(old, v) : v);
    }
    if (this.size >= this.#o.maxSize || this.due(now)) await this.flush();
  }

  /** True when the oldest buffered record waited `maxDelayMs` (call from a timer or tick). */
  due(now: number): boolean {
    return this.#o.maxDelayMs !== undefined && this.#firstAt !== undefined && now - this.#firstAt >= this.#o.maxDelayMs;
  }

  async flush(): Promise<void> {
    if (this.size === 0) return;
    const values = [...this.#unkeyed, ...this.#byKey.values()];
    this.#unkeyed = [];
    this.#byKey.clear();
    this.#firstAt = undefined;
    await this.#o.write(values);
  }

  /** Drops everything buffered (abort). */
  clear(): void {
    this.#unkeyed = [];
    this.#byKey.clear();
    this.#firstAt = undefined;
  }
}
