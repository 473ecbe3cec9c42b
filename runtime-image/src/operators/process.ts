import { ListState, MapState, ValueState, type CurrentKey, type KeyedStateStore } from '../state/keyed-state.ts';
import type { Timer, TimerQueue, TimeDomain } from '../state/timers.ts';
import type { Operator, OperatorContext, Output, Rec } from '../runtime/operator.ts';
import type { RecordFailure } from './basic.ts';

export interface StateDeclaration {
  readonly kind: 'value' | 'map' | 'list';
  readonly ttlMs?: number | undefined;
}

export interface ProcessContext<OUT> {
  readonly key: string;
  /** Event time of the current record, or the timer's time in onTimer. */
  readonly timestamp: number;
  readonly watermark: number;
  now(): number;
  collect(value: OUT, ts?: number): void;
  /** Emits to a named side output port. */
  output(port: string, value: unknown, ts?: number): void;
  value<T>(name: string): ValueState<T>;
  map<V>(name: string): MapState<V>;
  list<T>(name: string): ListState<T>;
  registerEventTimer(ts: number): void;
  deleteEventTimer(ts: number): void;
  registerProcessingTimer(ts: number): void;
  deleteProcessingTimer(ts: number): void;
}

/** A keyed function with state and timers. Declare state up front so savepoint checks can see it. */
export interface KeyedProcessFunction<IN, OUT> {
  readonly state: Readonly<Record<string, StateDeclaration>>;
  processElement(value: IN, ctx: ProcessContext<OUT>): void;
  onTimer?(ts: number, domain: TimeDomain, ctx: ProcessContext<OUT>): void;
}

const USER = 'u';

/**
 * `onFailure`: a record whose processElement throws goes there and what it emitted is dropped (its
 * state writes stay: user code should validate before it writes).
 */
export function processOperator(fn: KeyedProcessFunction<unknown, unknown>, onFailure?: RecordFailure): Operator {
  let opCtx!: OperatorContext;
  let store!: KeyedStateStore;
  let eventTimers!: TimerQueue;
  let procTimers!: TimerQueue;
  const current: CurrentKey = { key: '', kg: 0 };
  let timestamp = 0;
  let main: Rec[] = [];
  let sides: [string, Rec][] = [];
  const handles = new Map<string, ValueState<unknown> | MapState<unknown> | ListState<unknown>>();

  const handle = (
    name: string,
    kind: StateDeclaration['kind'],
  ): ValueState<unknown> | MapState<unknown> | ListState<unknown> => {
    const decl = fn.state[name];
    if (decl === undefined) throw new Error(`state '${name}' is not declared by operator '${opCtx.operatorId}'`);
    if (decl.kind !== kind)
      throw new Error(`state '${name}' of operator '${opCtx.operatorId}' is ${decl.kind} state, not ${kind}`);
    let h = handles.get(name);
    if (h === undefined) {
      const table = store.table(name, { ttlMs: decl.ttlMs });
      h =
        kind === 'value'
          ? new ValueState(table, current)
          : kind === 'map'
            ? new MapState(table, current)
            : new ListState(table, current);
      handles.set(name, h);
    }
    return h;
  };

  const ctx: ProcessContext<unknown> = {
    get key() {
      return current.key;
    },
    get timestamp() {
      return timestamp;
    },
    get watermark() {
      return opCtx.watermark();
    },
    now: () => opCtx.now(),
    collect: (value, ts) => {
      main.push({ value, ts: ts ?? timestamp, key: current.key, kg: current.kg });
    },
    output: (port, value, ts) => {
      sides.push([port, { value, ts: ts ?? timestamp, key: current.key, kg: current.kg }]);
    },
    value: <T>(name: string) => handle(name, 'value') as ValueState<T>,
    map: <V>(name: string) => handle(name, 'map') as MapState<V>,
    list: <T>(name: string) => handle(name, 'list') as ListState<T>,
    registerEventTimer: (ts) => eventTimers.register({ key: current.key, kg: current.kg, ts, ns: USER }),
    deleteEventTimer: (ts) => eventTimers.delete(current.key, USER, ts),
    registerProcessingTimer: (ts) => procTimers.register({ key: current.key, kg: current.kg, ts, ns: USER }),
    deleteProcessingTimer: (ts) => procTimers.delete(current.key, USER, ts),
  };

  const flush = async (out: Output): Promise<void> => {
    const m = main;
    const s = sides;
    main = [];
    sides = [];
    if (m.length > 0) await out.emit(m);
    for (const [port, r] of s) await out.emitTo(port, [r]);
  };

  return {
    open(c) {
      opCtx = c;
      if (c.keyed === undefined) throw new Error(`process operator '${c.operatorId}' needs keyed input`);
      store = c.keyed.state;
      eventTimers = c.keyed.timers.event;
      procTimers = c.keyed.timers.processing;
      for (const [name, decl] of Object.entries(fn.state)) store.table(name, { ttlMs: decl.ttlMs });
    },
    processBatch(batch: Rec[], out: Output) {
      for (const r of batch) {
        current.key = r.key ?? '';
        current.kg = r.kg;
        timestamp = r.ts;
        if (onFailure === undefined) {
          fn.processElement(r.value, ctx);
          continue;
        }
        const [m, s] = [main.length, sides.length];
        try {
          fn.processElement(r.value, ctx);
        } catch (err) {
          main.length = m;
          sides.length = s;
          onFailure(r, err);
        }
      }
      return main.length > 0 || sides.length > 0 ? flush(out) : undefined;
    },
    onTimers(timers: readonly Timer[], domain: TimeDomain, out: Output) {
      if (fn.onTimer === undefined) return undefined;
      for (const t of timers) {
        current.key = t.key;
        current.kg = t.kg;
        timestamp = t.ts;
        fn.onTimer(t.ts, domain, ctx);
      }
      return main.length > 0 || sides.length > 0 ? flush(out) : undefined;
    },
  };
}
