// Per-operator metrics of the job: the workers' counters summed, watermarks at their minimum,
// rates from the previous look at least a second ago.
import type { OperatorMetrics } from '../api/contract.ts';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import type { WorkerView } from './job-state.ts';

interface Sample {
  at: number;
  in: number;
  out: number;
  inRate: number;
  outRate: number;
}

export class OperatorRates {
  readonly #last = new Map<string, Sample>();

  totals(workers: readonly (WorkerView | undefined)[], now: number): OperatorMetrics[] {
    const byId = new Map<string, OperatorMetrics & { wm?: number }>();
    for (const w of workers) {
      for (const op of w?.report.metrics.operators ?? []) {
        let t = byId.get(op.operatorId);
        if (t === undefined) {
          t = {
            operatorId: op.operatorId,
            kind: op.kind,
            recordsIn: 0,
            recordsOut: 0,
            recordsInPerSecond: 0,
            recordsOutPerSecond: 0,
          };
          byId.set(op.operatorId, t);
        }
        t.recordsIn += op.recordsIn;
        t.recordsOut += op.recordsOut;
        if (op.watermark !== undefined) t.wm = Math.min(t.wm ?? Infinity, op.watermark);
        if (op.backpressure !== undefined) t.backpressure = Math.max(t.backpressure ?? 0, op.backpressure);
      }
    }
    // The job's checkpoint takes as long as its slowest worker, and is as big as all of them.
    const last = workers.map((w) => w?.report.metrics.lastCheckpoint);
    const duration = Math.max(0, ...last.map((c) => c?.durationMs ?? 0));
    const bytes = last.reduce((a, c) => a + (c?.bytes ?? 0), 0);
    return [...byId.values()].map(({ wm, ...t }) => {
      const { inRate, outRate } = this.#rate(t.operatorId, t.recordsIn, t.recordsOut, now);
      return {
        ...t,
        recordsInPerSecond: Math.round(inRate * 10) / 10,
        recordsOutPerSecond: Math.round(outRate * 10) / 10,
        ...(wm === undefined || wm <= MIN_WATERMARK || wm >= MAX_WATERMARK
          ? {}
          : { watermark: new Date(wm).toISOString() }),
        ...(last.some((c) => c !== undefined) ? { checkpointDurationMs: duration, checkpointBytes: bytes } : {}),
      };
    });
  }

  #rate(id: string, recordsIn: number, recordsOut: number, now: number): { inRate: number; outRate: number } {
    const prev = this.#last.get(id);
    if (prev !== undefined && now - prev.at < 1000) return prev;
    const dt = prev === undefined ? 0 : (now - prev.at) / 1000;
    const next: Sample = {
      at: now,
      in: recordsIn,
      out: recordsOut,
      inRate: prev === undefined ? 0 : Math.max(0, (recordsIn - prev.in) / dt),
      outRate: prev === undefined ? 0 : Math.max(0, (recordsOut - prev.out) / dt),
    };
    this.#last.set(id, next);
    return next;
  }
}
