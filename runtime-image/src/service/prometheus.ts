// The job's metrics in the Prometheus format (`/metrics`), computed when scraped.
import { Gauge, type Registry } from 'prom-client';
import type { EventTimeDetail, OperatorMetrics } from '../api/contract.ts';

export interface JobMetricsView {
  running(): boolean;
  restarts(): number;
  eventTime(): EventTimeDetail;
  checkpointsCompleted(): number;
  operators(): OperatorMetrics[];
}

export function registerJobMetrics(registry: Registry, view: JobMetricsView): void {
  const gauge = (name: string, help: string, value: () => number | undefined): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = value();
        if (v !== undefined) this.set(v);
      },
    });
  };
  gauge('weir_job_running', '1 when the job is RUNNING', () => (view.running() ? 1 : 0));
  gauge('weir_job_restarts', 'Restarts since the job started (in-process and process restarts of its workers)', () =>
    view.restarts(),
  );
  gauge('weir_job_watermark_lag_seconds', 'Processing time minus the job watermark', () => view.eventTime().lagSeconds);
  gauge(
    'weir_job_records_lag',
    'Records the sources could read now but have not yet',
    () => view.eventTime().recordsLag,
  );
  gauge('weir_job_checkpoints_completed', 'Checkpoints every worker completed since the job started', () =>
    view.checkpointsCompleted(),
  );
  const perOperator = (name: string, help: string, pick: (o: OperatorMetrics) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['operator'],
      registers: [registry],
      collect() {
        this.reset();
        for (const o of view.operators()) {
          const v = pick(o);
          if (v !== undefined) this.set({ operator: o.operatorId }, v);
        }
      },
    });
  };
  perOperator('weir_operator_records_in', 'Records into the operator since the workers started', (o) => o.recordsIn);
  perOperator(
    'weir_operator_records_out',
    'Records out of the operator since the workers started',
    (o) => o.recordsOut,
  );
  perOperator(
    'weir_operator_records_in_per_second',
    'Records into the operator per second',
    (o) => o.recordsInPerSecond,
  );
  perOperator(
    'weir_operator_records_out_per_second',
    'Records out of the operator per second',
    (o) => o.recordsOutPerSecond,
  );
  perOperator('weir_operator_watermark_seconds', 'Input watermark of the operator (the minimum over workers)', (o) =>
    o.watermark === undefined ? undefined : Date.parse(o.watermark) / 1000,
  );
  perOperator(
    'weir_operator_backpressure',
    'Share of the time its input waited on the operator, 0..1',
    (o) => o.backpressure,
  );
  perOperator('weir_operator_checkpoint_duration_seconds', 'Duration of the latest checkpoint (slowest worker)', (o) =>
    o.checkpointDurationMs === undefined ? undefined : o.checkpointDurationMs / 1000,
  );
}
