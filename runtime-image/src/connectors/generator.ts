import type { Json, PollResult, SourceConnector, SourceRecord, SourceSplit } from './contract.ts';

/** A deterministic ad event, the seeds' use case: impressions, clicks and sales per campaign. */
export interface AdEvent {
  readonly type: 'impression' | 'click' | 'sale';
  readonly campaign: string;
  readonly ad: number;
  /** Sale amount in cents (0 for impressions and clicks). */
  readonly amount: number;
  readonly ts: number;
}

export interface GeneratorOptions {
  readonly seed?: number | undefined;
  /** Events per second over all splits in wall-clock time; absent = as fast as possible. */
  readonly ratePerSecond?: number | undefined;
  /** Distinct campaigns (the key count). */
  readonly keys?: number | undefined;
  readonly splits?: number | undefined;
  /** Events per split; absent = unbounded. */
  readonly eventsPerSplit?: number | undefined;
  /** Event time of the first event; absent = wall clock when the job first starts (kept across restores). */
  readonly startTs?: number | undefined;
  /** Event-time distance between consecutive events of a split (default: 1000 / per-split rate, or 1). */
  readonly eventSpacingMs?: number | undefined;
  /** Events are up to this much out of order. */
  readonly skewMs?: number | undefined;
  /** Fraction of events that arrive late, `latenessMs` behind. */
  readonly lateFraction?: number | undefined;
  readonly latenessMs?: number | undefined;
}

interface Position {
  next: number;
  startTs: number;
}

/** A stateless random stream: the i-th value depends only on (seed, split, i, salt), so restore is just the index. */
function rand(seed: number, split: number, i: number, salt: number): number {
  let h =
    Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^
    Math.imul(split + 1, 0xc2b2ae35) ^
    Math.imul(i, 0x27d4eb2f) ^
    Math.imul(salt, 0x165667b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export function validateGeneratorOptions(o: GeneratorOptions): void {
  const check = (name: string, v: number | undefined, ok: (n: number) => boolean, what: string): void => {
    if (v !== undefined && !ok(v)) throw new RangeError(`generator.${name} must be ${what}, got ${v}`);
  };
  check('ratePerSecond', o.ratePerSecond, (n) => n > 0, '> 0');
  check('keys', o.keys, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
  check('splits', o.splits, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
  check('eventsPerSplit', o.eventsPerSplit, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
  check('skewMs', o.skewMs, (n) => n >= 0, '>= 0');
  check('lateFraction', o.lateFraction, (n) => n >= 0 && n <= 1, 'in [0, 1]');
  check('latenessMs', o.latenessMs, (n) => n >= 0, '>= 0');
  check('eventSpacingMs', o.eventSpacingMs, (n) => n > 0, '> 0');
}

export function generatorSource(options: GeneratorOptions = {}): SourceConnector<AdEvent> {
  validateGeneratorOptions(options);
  const seed = options.seed ?? 1;
  const keys = options.keys ?? 100;
  const splitCount = options.splits ?? 1;
  const perSplitRate = options.ratePerSecond !== undefined ? options.ratePerSecond / splitCount : undefined;
  const spacing = options.eventSpacingMs ?? (perSplitRate !== undefined ? 1000 / perSplitRate : 1);
  const skew = options.skewMs ?? 0;
  const lateFraction = options.lateFraction ?? 0;
  const lateness = options.latenessMs ?? 0;
  const campaigns = Array.from({ length: keys }, (_, i) => `campaign-${i}`);
  return {
    type: 'generator',
    open(ctx) {
      const splits: SourceSplit<AdEvent>[] = [];
      for (let s = 0; s < splitCount; s++) {
        const id = `generator-${s}`;
        const restored = ctx.restored.get(id) as Position | undefined;
        const pos: Position = restored ?? { next: 0, startTs: options.startTs ?? ctx.now() };
        const openedAt = ctx.now();
        const firstIndex = pos.next;
        const due = (): number => {
          const total = options.eventsPerSplit ?? Infinity;
          const byRate =
            perSplitRate === undefined
              ? Infinity
              : firstIndex + Math.floor(((ctx.now() - openedAt) * perSplitRate) / 1000);
          return Math.min(total, byRate);
        };
        splits.push({
          id,
          poll(max: number): PollResult<AdEvent> {
            const end = Math.min(due(), pos.next + max);
            const records: SourceRecord<AdEvent>[] = [];
            for (let i = pos.next; i < end; i++) {
              const r = rand(seed, s, i, 0);
              const type = r < 0.8 ? 'impression' : r < 0.95 ? 'click' : 'sale';
              let ts = pos.startTs + Math.floor(i * spacing);
              if (skew > 0) ts -= Math.floor(rand(seed, s, i, 1) * skew);
              if (lateFraction > 0 && rand(seed, s, i, 2) < lateFraction) ts -= lateness;
              const value: AdEvent = {
                type,
                campaign: campaigns[Math.floor(rand(seed, s, i, 3) * keys)] ?? '',
                ad: Math.floor(rand(seed, s, i, 4) * 10),
                amount: type === 'sale' ? 100 + Math.floor(rand(seed, s, i, 5) * 9900) : 0,
                ts,
              };
              records.push({ value, ts });
            }
            pos.next = Math.max(pos.next, end);
            return { records, done: options.eventsPerSplit !== undefined && pos.next >= options.eventsPerSplit };
          },
          snapshot: (): Json => ({ next: pos.next, startTs: pos.startTs }),
          backlog: () => {
            const d = due();
            return d === Infinity ? undefined : Math.max(0, d - pos.next);
          },
        });
      }
      return Promise.resolve(splits);
    },
  };
}
