export const TimeDomain = { event: 'event', processing: 'processing' } as const;
export type TimeDomain = (typeof TimeDomain)[keyof typeof TimeDomain];

/** A timer is part of keyed state: it belongs to a key (and so to a key group). */
export interface Timer {
  readonly key: string;
  readonly kg: number;
  readonly ts: number;
  /** Lets one operator keep several timers per key and time (e.g. one per window). */
  readonly ns: string;
}

/**
 * Timers of one time domain ordered by time; timers with equal (key, ns, ts) are deduplicated.
 * Stored as time → namespace → key → key group, without an object per timer: a window operator
 * over a million keys holds a million timers, and the garbage collector has to walk them all.
 */
export class TimerQueue {
  readonly #byTime = new Map<number, Map<string, Map<string, number>>>();
  readonly #heap: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  register(timer: Timer): boolean {
    let at = this.#byTime.get(timer.ts);
    if (at === undefined) {
      at = new Map();
      this.#byTime.set(timer.ts, at);
      this.#push(timer.ts);
    }
    let keys = at.get(timer.ns);
    if (keys === undefined) {
      keys = new Map();
      at.set(timer.ns, keys);
    }
    if (keys.has(timer.key)) return false;
    keys.set(timer.key, timer.kg);
    this.#size++;
    return true;
  }

  delete(key: string, ns: string, ts: number): boolean {
    if (this.#byTime.get(ts)?.get(ns)?.delete(key) !== true) return false;
    this.#size--;
    return true;
  }

  nextTime(): number | undefined {
    while (this.#heap.length > 0) {
      const top = this.#heap[0];
      if (top === undefined) return undefined;
      const at = this.#byTime.get(top);
      if (at !== undefined) {
        for (const keys of at.values()) if (keys.size > 0) return top;
      }
      this.#byTime.delete(top);
      this.#pop();
    }
    return undefined;
  }

  /** Removes and returns the timers of the earliest time if it is <= `upTo`. */
  popDue(upTo: number): Timer[] | undefined {
    const t = this.nextTime();
    if (t === undefined || t > upTo) return undefined;
    const at = this.#byTime.get(t);
    this.#byTime.delete(t);
    this.#pop();
    const out: Timer[] = [];
    if (at === undefined) return out;
    for (const [ns, keys] of at) for (const [key, kg] of keys) out.push({ key, kg, ts: t, ns });
    this.#size -= out.length;
    return out;
  }

  *all(): IterableIterator<Timer> {
    for (const [ts, at] of this.#byTime)
      for (const [ns, keys] of at) for (const [key, kg] of keys) yield { key, kg, ts, ns };
  }

  #push(v: number): void {
    const h = this.#heap;
    h.push(v);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] ?? -Infinity;
      if (parent <= v) break;
      h[i] = parent;
      i = p;
    }
    h[i] = v;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] ?? Infinity) < (h[l] ?? Infinity) ? r : l;
      const child = h[c] ?? Infinity;
      if (child >= last) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
  }
}
