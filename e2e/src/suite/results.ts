// What the example app must have committed, computed here from the input alone (never by the engine),
// and the comparison with what a read_committed reader found in the output topic.
//
// The example (runtime-image/examples/ad-revenue) computes, per campaign and per minute of event time,
// `sales` (records of type "sale") and `revenueCents` (the sum of `amount`).

export const WINDOW_MS = 60_000;

/** One input record, uniquely identified by `id`. */
export interface AdEvent {
  readonly id: number;
  readonly campaign: string;
  readonly type: 'impression' | 'click' | 'sale';
  readonly amount: number;
  /** Event time, epoch milliseconds. */
  readonly ts: number;
}

export interface Revenue {
  readonly sales: number;
  readonly revenueCents: number;
}

/** One result as the sink wrote it (value of an output record). */
export interface WindowResult {
  readonly key: string;
  readonly start: number;
  readonly value: Revenue;
  readonly revision?: number;
}

/** `<campaign>@<window start>`: one window's identity. */
export const windowId = (campaign: string, start: number): string => `${campaign}@${start}`;

/** The windows that the input must produce, with their values. */
export function expectedResults(events: Iterable<AdEvent>): Map<string, Revenue> {
  const out = new Map<string, { sales: number; revenueCents: number }>();
  for (const e of events) {
    const id = windowId(e.campaign, Math.floor(e.ts / WINDOW_MS) * WINDOW_MS);
    const r = out.get(id) ?? { sales: 0, revenueCents: 0 };
    if (e.type === 'sale') r.sales++;
    r.revenueCents += e.amount;
    out.set(id, r);
  }
  return out;
}

export interface Comparison {
  /** Expected windows with no result. */
  readonly missing: string[];
  /** Windows with more than one result (append semantics) or, under upsert, more than one per revision. */
  readonly duplicated: string[];
  /** Windows whose (latest) result has other values than expected, as `id: got ≠ want`. */
  readonly wrong: string[];
  /** Results for windows the input cannot produce. */
  readonly unexpected: string[];
}

/** Parses an output record's value; undefined for anything that is not a window result. */
export function parseResult(value: string): WindowResult | undefined {
  try {
    const r = JSON.parse(value) as Partial<WindowResult>;
    if (typeof r.key !== 'string' || typeof r.start !== 'number' || typeof r.value !== 'object') return undefined;
    return r as WindowResult;
  } catch {
    return undefined;
  }
}

/**
 * Append semantics (what exactly-once promises a plain reader): every expected window exactly once,
 * with the expected values. `ignore` names keys that are not results of the input (e.g. the flush).
 */
export function compareAppend(
  expected: ReadonlyMap<string, Revenue>,
  results: readonly WindowResult[],
  ignore: (key: string) => boolean = () => false,
): Comparison {
  const seen = new Map<string, WindowResult[]>();
  for (const r of results) {
    if (ignore(r.key)) continue;
    const id = windowId(r.key, r.start);
    seen.set(id, [...(seen.get(id) ?? []), r]);
  }
  const wrong: string[] = [];
  for (const [id, rs] of seen) {
    const want = expected.get(id);
    for (const r of rs) if (want !== undefined && !same(r.value, want)) wrong.push(describe(id, r.value, want));
  }
  return {
    missing: [...expected.keys()].filter((id) => !seen.has(id)),
    duplicated: [...seen].filter(([, rs]) => rs.length > 1).map(([id]) => id),
    wrong,
    unexpected: [...seen.keys()].filter((id) => !expected.has(id)),
  };
}

/**
 * Upsert semantics (what a compacted topic or an upserting consumer keeps): per window, the result with
 * the highest revision must hold the expected values; a revision written twice counts as duplicated.
 */
export function compareUpsert(
  expected: ReadonlyMap<string, Revenue>,
  results: readonly WindowResult[],
  ignore: (key: string) => boolean = () => false,
): Comparison {
  const latest = new Map<string, WindowResult>();
  const revisions = new Map<string, number[]>();
  for (const r of results) {
    if (ignore(r.key)) continue;
    const id = windowId(r.key, r.start);
    revisions.set(id, [...(revisions.get(id) ?? []), r.revision ?? 0]);
    const cur = latest.get(id);
    // Later in the topic wins among equal revisions: that is what compaction keeps.
    if (cur === undefined || (r.revision ?? 0) >= (cur.revision ?? 0)) latest.set(id, r);
  }
  const wrong: string[] = [];
  for (const [id, r] of latest) {
    const want = expected.get(id);
    if (want !== undefined && !same(r.value, want)) wrong.push(describe(id, r.value, want));
  }
  return {
    missing: [...expected.keys()].filter((id) => !latest.has(id)),
    duplicated: [...revisions].filter(([, revs]) => new Set(revs).size < revs.length).map(([id]) => id),
    wrong,
    unexpected: [...latest.keys()].filter((id) => !expected.has(id)),
  };
}

const same = (a: Revenue, b: Revenue): boolean => a.sales === b.sales && a.revenueCents === b.revenueCents;
const describe = (id: string, got: Revenue, want: Revenue): string =>
  `${id}: sales ${got.sales} revenueCents ${got.revenueCents} ≠ sales ${want.sales} revenueCents ${want.revenueCents}`;
