import {
  assignSession,
  slidingWindowsFor,
  tumblingWindowFor,
  type Session,
  type TimeWindow,
  type WindowSpec,
} from '../core/windows.ts';
import type { AggregateFunction } from '../graph/aggregates.ts';
import type { LatenessPolicy } from '../graph/graph.ts';
import type { StateTable } from '../state/keyed-state.ts';
import type { Timer, TimerQueue } from '../state/timers.ts';
import type { Operator, OperatorContext, Output, Rec } from '../runtime/operator.ts';
import type { RecordFailure } from './basic.ts';

/** What a window emits. `id` is stable per key and window so that sinks can upsert by it. */
export interface WindowResult<R> {
  readonly id: string;
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: R;
  /** 0 for the on-time firing, then +1 per late re-firing. */
  readonly revision: number;
}

/** One window of one key, as kept in state (short field names: there may be millions). */
interface Slot {
  s: number;
  e: number;
  a: unknown;
  /** Revisions emitted so far. */
  r: number;
  /** Highest event time (sessions). */
  m: number;
}

const FIRE = 'f';
const CLEANUP = 'c';

export function windowOperator(
  spec: WindowSpec,
  agg: AggregateFunction<unknown, unknown, unknown>,
  lateness: LatenessPolicy,
  onFailure?: RecordFailure,
): Operator {
  const allowed = lateness.allowedLatenessMs ?? 0;
  const lateToSide = lateness.tooLate === 'side';
  let ctx!: OperatorContext;
  let table!: StateTable;
  let timers!: TimerQueue;

  const result = (key: string, kg: number, slot: Slot): Rec => {
    const value: WindowResult<unknown> = {
      id: `${key}@${slot.s}`,
      key,
      start: slot.s,
      end: slot.e,
      value: agg.result(slot.a),
      revision: slot.r,
    };
    slot.r++;
    return { value, ts: slot.e - 1, key, kg };
  };

  // One namespace string per window start, shared by all keys (a million timers, not a million strings).
  const names = new Map<number, string>();
  const fireNs = (start: number): string => {
    let n = names.get(start);
    if (n === undefined) {
      if (names.size > 4096) names.clear();
      n = FIRE + String(start);
      names.set(start, n);
    }
    return n;
  };

  const registerFire = (key: string, kg: number, w: TimeWindow): void => {
    timers.register({ key, kg, ts: w.end - 1, ns: fireNs(w.start) });
  };

  /** Adds `value` to window `w` of a key; returns a re-fired result if the window had already fired. */
  const addToWindow = (slots: Slot[], key: string, kg: number, w: TimeWindow, value: unknown): Rec | undefined => {
    let slot: Slot | undefined;
    for (const s of slots) {
      if (s.s === w.start) {
        slot = s;
        break;
      }
    }
    if (slot === undefined) {
      // Aggregate first: a value the aggregate rejects leaves no empty window behind.
      slot = { s: w.start, e: w.end, a: agg.add(agg.create(), value), r: 0, m: w.start };
      slots.push(slot);
      return scheduleOrFire(key, kg, slot);
    }
    slot.a = agg.add(slot.a, value);
    return slot.r > 0 ? result(key, kg, slot) : undefined;
  };

  /** One record into its windows: results of re-fired windows to `emitted`, too-late records to `late`. */
  const addRecord = (r: Rec, wm: number, emitted: Rec[], late: Rec[]): void => {
    const key = r.key ?? '';
    const kg = r.kg;
    let slots = table.get(kg, key) as Slot[] | undefined;
    const created = slots === undefined;
    slots ??= [];
    if (spec.type === 'tumbling') {
      const w = tumblingWindowFor(r.ts, spec.sizeMs, spec.offsetMs);
      if (w.end - 1 + allowed <= wm) {
        late.push(r);
        return;
      }
      const refired = addToWindow(slots, key, kg, w, r.value);
      if (refired !== undefined) emitted.push(refired);
    } else if (spec.type === 'sliding') {
      let any = false;
      for (const w of slidingWindowsFor(r.ts, spec.sizeMs, spec.slideMs, spec.offsetMs)) {
        if (w.end - 1 + allowed <= wm) continue;
        any = true;
        const refired = addToWindow(slots, key, kg, w, r.value);
        if (refired !== undefined) emitted.push(refired);
      }
      if (!any) {
        late.push(r);
        return;
      }
    } else {
      // A session can only grow to ts + gap; if even that closed longer ago than allowed, the event is late.
      if (r.ts + spec.gapMs - 1 + allowed <= wm) {
        late.push(r);
        return;
      }
      processSession(slots, r, key, emitted);
    }
    if (created && slots.length > 0) table.set(kg, key, slots);
  };

  /** A new (or regrown) window: fire when the watermark passes it, or now if it already has (allowed lateness). */
  const scheduleOrFire = (key: string, kg: number, slot: Slot): Rec | undefined => {
    if (slot.e - 1 > ctx.watermark()) {
      registerFire(key, kg, { start: slot.s, end: slot.e });
      return undefined;
    }
    timers.register({ key, kg, ts: slot.e - 1 + allowed, ns: CLEANUP + String(slot.s) });
    return result(key, kg, slot);
  };

  const mergeAcc = (a: unknown, b: unknown): unknown => {
    if (agg.merge === undefined)
      throw new Error(`operator '${ctx.operatorId}': session windows need an aggregate with merge`);
    return agg.merge(a, b);
  };

  const processSession = (slots: Slot[], r: Rec, key: string, out: Rec[]): void => {
    if (spec.type !== 'session') return;
    const sessions: (Session & { slot: Slot })[] = slots.map((s) => ({ start: s.s, end: s.e, maxTs: s.m, slot: s }));
    const a = assignSession(sessions, r.ts, spec.gapMs, spec.maxLengthMs);
    let acc = agg.add(agg.create(), r.value);
    let revisions = 0;
    for (const s of a.absorbed as (Session & { slot: Slot })[]) {
      acc = mergeAcc(acc, s.slot.a);
      revisions = Math.max(revisions, s.slot.r);
      timers.delete(key, FIRE + String(s.start), s.end - 1);
      timers.delete(key, CLEANUP + String(s.start), s.end - 1 + allowed);
      slots.splice(slots.indexOf(s.slot), 1);
    }
    const slot: Slot = { s: a.window.start, e: a.window.end, a: acc, r: revisions, m: a.window.maxTs };
    slots.push(slot);
    const fired = scheduleOrFire(key, r.kg, slot);
    if (fired !== undefined) out.push(fired);
  };

  return {
    open(c) {
      ctx = c;
      if (c.keyed === undefined) throw new Error(`window operator '${c.operatorId}' needs keyed input`);
      table = c.keyed.state.table('windows');
      timers = c.keyed.timers.event;
    },

    processBatch(batch: Rec[], out: Output) {
      const emitted: Rec[] = [];
      const late: Rec[] = [];
      const wm = ctx.watermark();
      for (const r of batch) {
        if (onFailure === undefined) {
          addRecord(r, wm, emitted, late);
          continue;
        }
        // A record the aggregate rejects (an expression that fails on it) goes to the dead letters;
        // it fails before any window changed (a new window is added only once its aggregate exists).
        try {
          addRecord(r, wm, emitted, late);
        } catch (err) {
          onFailure(r, err);
        }
      }
      if (late.length > 0) {
        if (lateToSide) ctx.counters.lateToSideOutput += late.length;
        else ctx.counters.lateDropped += late.length;
      }
      if (emitted.length > 0 && late.length > 0 && lateToSide) {
        const p = out.emit(emitted);
        return p instanceof Promise ? p.then(() => out.emitTo('late', late)) : out.emitTo('late', late);
      }
      if (emitted.length > 0) return out.emit(emitted);
      if (late.length > 0 && lateToSide) return out.emitTo('late', late);
      return undefined;
    },

    onTimers(fired: readonly Timer[], _domain, out: Output) {
      const emitted: Rec[] = [];
      for (const t of fired) {
        const slots = table.get(t.kg, t.key) as Slot[] | undefined;
        if (slots === undefined) continue;
        const start = Number(t.ns.slice(1));
        const i = slots.findIndex((s) => s.s === start);
        const slot = slots[i];
        if (slot === undefined) continue;
        if (t.ns.startsWith(FIRE)) {
          if (slot.e - 1 !== t.ts) continue; // a session that has since grown
          emitted.push(result(t.key, t.kg, slot));
          if (allowed > 0) {
            timers.register({ key: t.key, kg: t.kg, ts: slot.e - 1 + allowed, ns: CLEANUP + String(slot.s) });
            continue;
          }
        } else if (slot.e - 1 + allowed !== t.ts) {
          continue;
        }
        slots.splice(i, 1);
        if (slots.length === 0) table.delete(t.kg, t.key);
      }
      return emitted.length > 0 ? out.emit(emitted) : undefined;
    },
  };
}
