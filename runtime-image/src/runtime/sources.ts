import type { ConnectorContext, Json, SourceSplit } from '../connectors/contract.ts';
import type { DeadLetterWriter } from '../connectors/contract.ts';
import { must } from '../core/must.ts';
import { MAX_WATERMARK, MIN_WATERMARK, SplitWatermarks, WatermarkTracker, splitsAhead } from '../core/watermarks.ts';
import type { OperatorSnapshot, SnapshotManifest } from '../snapshot/format.ts';
import type { Rec } from './operator.ts';
import { sampleInto, type NodeRuntime, type TaskGraph } from './tasks.ts';

interface SplitRuntime {
  readonly source: NodeRuntime;
  readonly split: SourceSplit<unknown>;
  readonly watermarks: SplitWatermarks;
  readonly input: number;
  done: boolean;
  /** Paused by event-time alignment. */
  paused: boolean;
}

/**
 * The job's sources: their splits, polled without blocking; event time per split (bounded
 * out-of-orderness, idleness, in-band watermarks) combined per source; event-time alignment.
 */
export class SourceDriver {
  readonly #splits: SplitRuntime[] = [];
  readonly #trackers = new Map<NodeRuntime, WatermarkTracker>();
  readonly #now: () => number;
  readonly #deadLetters: DeadLetterWriter | undefined;
  #watermark = MIN_WATERMARK;
  #recordsIn = 0;
  /** Split discovery in the background: never blocks polling, one at a time per source. */
  readonly #discovering = new Map<NodeRuntime, Promise<void>>();
  #discovered: { rt: NodeRuntime; splits: readonly SourceSplit<unknown>[] }[] = [];
  #discoveryFailure: Error | undefined;
  #alignmentPauses = 0;

  readonly #stalled: boolean;

  constructor(now: () => number, deadLetters: DeadLetterWriter | undefined, stallWatermark = false) {
    this.#now = now;
    this.#deadLetters = deadLetters;
    this.#stalled = stallWatermark;
  }

  /** Opens every source at the positions of the restored snapshot. */
  async open(
    tasks: TaskGraph,
    restored: SnapshotManifest | undefined,
    connector: (operatorId: string) => ConnectorContext,
  ): Promise<void> {
    for (const rt of tasks.nodes) {
      const node = rt.node;
      if (node.kind !== 'source') continue;
      const snap = restored?.operators[node.id];
      const positions = new Map<string, Json>(Object.entries(snap?.splits ?? {}).map(([k, v]) => [k, v.position]));
      const splits = await node.source.open({ ...connector(node.id), restored: positions });
      const tracker = new WatermarkTracker(Math.max(1, splits.length), snap?.watermark ?? MIN_WATERMARK);
      this.#trackers.set(rt, tracker);
      if (splits.length === 0) tracker.update(0, MAX_WATERMARK);
      splits.forEach((split, input) => {
        const w = new SplitWatermarks(node.watermarks, this.#now());
        const saved = snap?.splits?.[split.id];
        if (saved !== undefined) w.restore(saved.watermark);
        this.#splits.push({ source: rt, split, watermarks: w, input, done: false, paused: false });
      });

      this.#watermark = Math.max(this.#watermark, tracker.current);
    }
  }

  get exhausted(): boolean {
    return this.#splits.every((s) => s.done);
  }

  /** The combined watermark of all sources. */
  get watermark(): number {
    return this.#watermark;
  }

  get recordsIn(): number {
    return this.#recordsIn;
  }

  /** Records the sources' catch-up policies dropped. */
  get dropped(): number {
    let n = 0;
    for (const rt of this.#trackers.keys()) if (rt.node.kind === 'source') n += rt.node.source.dropped?.() ?? 0;
    return n;
  }

  get alignmentPauses(): number {
    return this.#alignmentPauses;
  }

  get splitsPaused(): number {
    return this.#splits.filter((s) => s.paused).length;
  }

  /** Each split's event time and whether alignment holds it back (for the control API). */
  splitStates(): { operatorId: string; split: string; watermark: number; paused: boolean }[] {
    return this.#splits.map((s) => ({
      operatorId: s.source.node.id,
      split: s.split.id,
      watermark: s.watermarks.current(),
      paused: s.paused,
    }));
  }

  backlog(): number | undefined {
    let backlog: number | undefined;
    for (const s of this.#splits) {
      const b = s.split.backlog?.();
      if (b !== undefined) backlog = (backlog ?? 0) + b;
    }
    return backlog;
  }

  /** Event-time alignment: pause the splits running too far ahead of the slowest, resume the rest. */
  #align(now: number): void {
    for (const [rt] of this.#trackers) {
      const drift = rt.node.kind === 'source' ? rt.node.watermarks.maxDriftMs : undefined;
      if (drift === undefined) continue;
      const splits = this.#splits.filter((s) => s.source === rt);
      const ahead = splitsAhead(
        splits.map((s) => ({ watermark: s.watermarks.current(), active: !s.done && !s.watermarks.isIdle(now) })),
        drift,
      );
      splits.forEach((s, i) => {
        const pause = ahead[i] === true;
        if (pause === s.paused) return;
        s.paused = pause;
        if (pause) {
          this.#alignmentPauses++;
          s.split.pause?.();
        } else s.split.resume?.();
      });
    }
  }

  /** Records with event times; the ones whose event time cannot be read go to the dead letters (or fail the job). */
  #stamp(
    rt: NodeRuntime,
    records: ReturnType<SourceSplit<unknown>['poll']>['records'],
  ): { batch: Rec[]; maxTs: number } {
    const node = rt.node;
    const extract = node.kind === 'source' ? node.timestamp : undefined;
    const batch: Rec[] = [];
    let maxTs = MIN_WATERMARK;
    for (const r of records) {
      let ts: number;
      try {
        ts = extract !== undefined ? extract(r.value) : r.ts;
        if (!Number.isFinite(ts)) throw new TypeError(`the event time is ${String(ts)}, not a number`);
      } catch (err) {
        const message = `no event time: ${err instanceof Error ? err.message : String(err)}`;
        if (this.#deadLetters === undefined) throw new Error(`source '${node.id}': ${message}`, { cause: err });
        this.#deadLetters.write({ operatorId: node.id, error: message, value: r.value, origin: r.origin });
        continue;
      }
      if (ts > maxTs) maxTs = ts;
      batch.push({ value: r.value, ts, key: undefined, kg: -1, origin: r.origin });
    }
    return { batch, maxTs };
  }

  /** Asks sources for new splits in the background; adds what earlier asks found. */
  #discover(): void {
    if (this.#discoveryFailure !== undefined) throw this.#discoveryFailure;
    for (const { rt, splits } of this.#discovered.splice(0)) {
      const tracker = must(this.#trackers.get(rt), 'source watermark tracker');
      for (const split of splits) {
        // (A source that opened with no split already reported "finished": its event time cannot go back.)
        const input = tracker.addInput();
        const node = rt.node;
        if (node.kind !== 'source') continue;
        this.#splits.push({
          source: rt,
          split,
          watermarks: new SplitWatermarks(node.watermarks, this.#now()),
          input,
          done: false,
          paused: false,
        });
      }
    }
    for (const rt of this.#trackers.keys()) {
      const node = rt.node;
      if (node.kind !== 'source' || node.source.discover === undefined || this.#discovering.has(rt)) continue;
      const ask = node.source
        .discover()
        .then((splits) => {
          if (splits.length > 0) this.#discovered.push({ rt, splits });
        })
        .catch((err: unknown) => {
          this.#discoveryFailure = new Error(`source '${node.id}': discovering new splits failed`, { cause: err });
        })
        .finally(() => this.#discovering.delete(rt));
      this.#discovering.set(rt, ask);
    }
  }

  /** Polls every split once (at most `batchSize` records each) into the graph; returns how many records came. */
  async poll(tasks: TaskGraph, batchSize: number): Promise<number> {
    let polled = 0;
    const now = this.#now();
    this.#discover();
    this.#align(now);
    for (const s of this.#splits) {
      if (s.done || s.paused) continue;
      const res = s.split.poll(batchSize);
      if (res.records.length > 0) {
        const { batch, maxTs } = this.#stamp(s.source, res.records);
        polled += res.records.length;
        this.#recordsIn += res.records.length;
        if (batch.length > 0) {
          if (s.split.watermarksInBand === true) s.watermarks.onActivity(now);
          else s.watermarks.onEvent(maxTs, now);
          s.source.recordsIn += batch.length;
          if (s.source.sample !== undefined) sampleInto(s.source.sample, batch);
          await tasks.send(must(s.source.tasks[0], 'source task'), { kind: 'data', batch });
        }
      }
      if (res.watermark !== undefined) s.watermarks.onSourceWatermark(res.watermark, now);
      if (res.done === true) {
        s.done = true;
        s.watermarks.finish();
      }
      must(this.#trackers.get(s.source), 'source watermark tracker').update(
        s.input,
        s.watermarks.current(),
        s.watermarks.isIdle(now),
      );
    }
    for (const s of this.#splits) if (!s.done) this.#trackers.get(s.source)?.setIdle(s.input, s.watermarks.isIdle(now));
    await this.#emitWatermarks(tasks);
    return polled;
  }

  async #emitWatermarks(tasks: TaskGraph): Promise<void> {
    if (this.#stalled) return;
    let min = Infinity;
    for (const [rt, t] of this.#trackers) {
      min = Math.min(min, t.current);
      await tasks.sourceWatermark(rt, t.current);
    }
    if (min !== Infinity && min > this.#watermark) this.#watermark = min;
  }

  /** Event time to the end (drain, bounded input): every window and timer fires. */
  async finishEventTime(tasks: TaskGraph): Promise<void> {
    for (const tracker of this.#trackers.values()) {
      for (let i = 0; i < tracker.inputCount; i++) tracker.update(i, MAX_WATERMARK);
    }
    await this.#emitWatermarks(tasks);
    this.#watermark = MAX_WATERMARK;
  }

  /** Each source's positions (after the last emitted record) and watermarks, for a snapshot. */
  snapshot(rt: NodeRuntime): OperatorSnapshot {
    const splits: Record<string, { position: Json; watermark: number }> = {};
    for (const s of this.#splits)
      if (s.source === rt) splits[s.split.id] = { position: s.split.snapshot(), watermark: s.watermarks.current() };
    return { kind: 'source', keyed: false, splits, watermark: must(rt.tasks[0], 'source task').outWm };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#discovering.values());
    for (const s of this.#splits) await s.split.close?.();
  }
}
