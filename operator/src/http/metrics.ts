import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's metrics, in their own registry (no global state shared between instances). */
export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'weir_operator_reconciles_total',
    help: 'Reconcile passes, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly reconcileSeconds = new Histogram({
    name: 'weir_operator_reconcile_duration_seconds',
    help: 'Duration of one reconcile pass.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'weir_operator_reconcile_errors_total',
    help: 'Reconcile passes that failed and were retried with backoff.',
    registers: [this.registry],
  });
  /** Counts apps by phase from the watch cache, when this replica has one (it leads). */
  countAppsByPhase: (() => ReadonlyMap<string, number>) | undefined;
  readonly appsByPhase = new Gauge<'phase'>({
    name: 'weir_operator_apps',
    help: 'StreamApplications watched by the leader, by lifecycle phase (from status.phase; new apps count as Pending).',
    labelNames: ['phase'] as const,
    registers: [this.registry],
    // Counted when scraped, from every app the watch sees, not only the ones reconciled lately.
    collect: () => {
      const counts = this.countAppsByPhase?.();
      if (counts === undefined) return;
      this.appsByPhase.reset();
      for (const [phase, n] of counts) this.appsByPhase.set({ phase }, n);
    },
  });
  readonly transitionSeconds = new Histogram({
    name: 'weir_operator_phase_duration_seconds',
    help: 'Time spent in a phase before leaving it, by from/to phase.',
    labelNames: ['from', 'to'] as const,
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'weir_operator_queue_depth',
    help: 'Keys waiting in the work queue.',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'weir_operator_leader',
    help: '1 when this replica holds the leader lease.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'weir_operator_' });
  }
}
