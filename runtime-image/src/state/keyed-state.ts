import type { KeyGroupRange } from '../core/key-groups.ts';
import { rangeContains } from '../core/key-groups.ts';

/** Values kept in state must survive a JSON round trip (they go into checkpoints and savepoints). */
export type StateValue = unknown;

interface Expiring {
  v: StateValue;
  /** Expiry instant, processing time ms. */
  x: number;
}

/**
 * One named state of one operator instance: per key group a map key → value, so a snapshot
 * splits by key-group range. With a TTL, entries expire `ttlMs` after their last write and a
 * background sweep removes them even if nobody reads them again.
 */
export class StateTable {
  readonly name: string;
  readonly ttlMs: number | undefined;
  readonly range: KeyGroupRange;
  readonly #groups: Map<string, StateValue>[];
  readonly #now: () => number;
  #sweepGroup = 0;
  #sweepIter: Iterator<[string, StateValue]> | undefined;

  constructor(name: string, range: KeyGroupRange, now: () => number, ttlMs?: number) {
    if (ttlMs !== undefined && !(ttlMs > 0)) throw new RangeError(`state '${name}': ttlMs must be > 0, got ${ttlMs}`);
    this.name = name;
    this.range = range;
    this.ttlMs = ttlMs;
    this.#now = now;
    this.#groups = Array.from({ length: range.end - range.start }, () => new Map<string, StateValue>());
  }

  #group(kg: number): Map<string, StateValue> {
    const g = this.#groups[kg - this.range.start];
    if (g === undefined) {
      throw new RangeError(`state '${this.name}': key group ${kg} is outside [${this.range.start}, ${this.range.end})`);
    }
    return g;
  }

  get(kg: number, key: string): StateValue {
    const g = this.#group(kg);
    const raw = g.get(key);
    if (this.ttlMs === undefined || raw === undefined) return raw;
    const e = raw as Expiring;
    if (e.x <= this.#now()) {
      g.delete(key);
      return undefined;
    }
    return e.v;
  }

  set(kg: number, key: string, value: StateValue): void {
    if (value === undefined) {
      this.delete(kg, key);
      return;
    }
    const g = this.#group(kg);
    g.set(key, this.ttlMs === undefined ? value : ({ v: value, x: this.#now() + this.ttlMs } satisfies Expiring));
  }

  delete(kg: number, key: string): void {
    this.#group(kg).delete(key);
  }

  get size(): number {
    let n = 0;
    for (const g of this.#groups) n += g.size;
    return n;
  }

  /** Entries of one key group as stored (with expiry wrappers), for snapshots. */
  rawEntries(kg: number): Map<string, StateValue> {
    return this.#group(kg);
  }

  restoreEntries(kg: number, entries: readonly (readonly [string, StateValue])[]): void {
    const g = this.#group(kg);
    for (const [k, v] of entries) g.set(k, v);
  }

  /** Removes up to `budget` expired entries, continuing where the last sweep stopped. Returns how many it removed. */
  sweepExpired(budget: number): number {
    if (this.ttlMs === undefined) return 0;
    const now = this.#now();
    let removed = 0;
    let visited = 0;
    let groupsSeen = 0;
    while (visited < budget && groupsSeen <= this.#groups.length) {
      const g = this.#groups[this.#sweepGroup];
      if (g === undefined) break;
      this.#sweepIter ??= g.entries();
      const n = this.#sweepIter.next();
      if (n.done === true) {
        this.#sweepIter = undefined;
        this.#sweepGroup = (this.#sweepGroup + 1) % this.#groups.length;
        groupsSeen++;
        continue;
      }
      visited++;
      const [k, raw] = n.value;
      if ((raw as Expiring).x <= now) {
        g.delete(k);
        removed++;
      }
    }
    return removed;
  }
}

export interface StateOptions {
  readonly ttlMs?: number | undefined;
}

/** All keyed state of one operator instance (one key-group range). */
export class KeyedStateStore {
  readonly range: KeyGroupRange;
  readonly #tables = new Map<string, StateTable>();
  readonly #now: () => number;

  constructor(range: KeyGroupRange, now: () => number) {
    this.range = range;
    this.#now = now;
  }

  table(name: string, options: StateOptions = {}): StateTable {
    let t = this.#tables.get(name);
    if (t === undefined) {
      t = new StateTable(name, this.range, this.#now, options.ttlMs);
      this.#tables.set(name, t);
    } else if (t.ttlMs !== options.ttlMs) {
      throw new Error(`state '${name}' is declared twice with different TTLs (${t.ttlMs} and ${options.ttlMs})`);
    }
    return t;
  }

  tables(): IterableIterator<StateTable> {
    return this.#tables.values();
  }

  owns(kg: number): boolean {
    return rangeContains(this.range, kg);
  }

  sweepExpired(budget: number): number {
    let removed = 0;
    for (const t of this.#tables.values()) removed += t.sweepExpired(budget);
    return removed;
  }
}

/** The key a keyed function currently works on: state handles read and write under it. */
export interface CurrentKey {
  key: string;
  kg: number;
}

export class ValueState<T> {
  readonly #table: StateTable;
  readonly #current: CurrentKey;
  constructor(table: StateTable, current: CurrentKey) {
    this.#table = table;
    this.#current = current;
  }
  get(): T | undefined {
    return this.#table.get(this.#current.kg, this.#current.key) as T | undefined;
  }
  set(value: T): void {
    this.#table.set(this.#current.kg, this.#current.key, value);
  }
  clear(): void {
    this.#table.delete(this.#current.kg, this.#current.key);
  }
}

/** A map per key, stored as a plain object so it survives JSON. */
export class MapState<V> {
  readonly #table: StateTable;
  readonly #current: CurrentKey;
  constructor(table: StateTable, current: CurrentKey) {
    this.#table = table;
    this.#current = current;
  }
  #map(): Record<string, V> | undefined {
    return this.#table.get(this.#current.kg, this.#current.key) as Record<string, V> | undefined;
  }
  get(k: string): V | undefined {
    const m = this.#map();
    return m !== undefined && Object.hasOwn(m, k) ? m[k] : undefined;
  }
  set(k: string, v: V): void {
    const m = { ...this.#map(), [k]: v };
    this.#table.set(this.#current.kg, this.#current.key, m);
  }
  delete(k: string): void {
    const m = this.#map();
    if (m === undefined || !Object.hasOwn(m, k)) return;
    const next = { ...m };
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a map keyed by user data
    delete next[k];
    if (Object.keys(next).length === 0) this.clear();
    else this.#table.set(this.#current.kg, this.#current.key, next);
  }
  entries(): [string, V][] {
    return Object.entries(this.#map() ?? {});
  }
  clear(): void {
    this.#table.delete(this.#current.kg, this.#current.key);
  }
}

export class ListState<T> {
  readonly #table: StateTable;
  readonly #current: CurrentKey;
  constructor(table: StateTable, current: CurrentKey) {
    this.#table = table;
    this.#current = current;
  }
  get(): readonly T[] {
    return (this.#table.get(this.#current.kg, this.#current.key) as T[] | undefined) ?? [];
  }
  add(v: T): void {
    this.#table.set(this.#current.kg, this.#current.key, [...this.get(), v]);
  }
  update(values: readonly T[]): void {
    if (values.length === 0) this.clear();
    else this.#table.set(this.#current.kg, this.#current.key, [...values]);
  }
  clear(): void {
    this.#table.delete(this.#current.kg, this.#current.key);
  }
}
