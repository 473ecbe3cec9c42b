import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OperatorMetrics } from './metrics.ts';
import { buildApp } from './server.ts';

describe('operator HTTP', () => {
  it('/healthz and /readyz follow the operator state', async () => {
    let ready = false;
    const app = buildApp({ registry: new OperatorMetrics().registry, healthy: () => true, ready: () => ready });
    assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await app.inject({ url: '/readyz' })).statusCode, 503);
    ready = true;
    assert.deepEqual((await app.inject({ url: '/readyz' })).json(), { status: 'ok' });
  });

  it('/metrics exposes reconciles, durations, errors, apps per phase and transition durations', async () => {
    const m = new OperatorMetrics();
    m.reconciles.inc({ result: 'ok' });
    m.reconcileSeconds.observe(0.02);
    m.errors.inc();
    m.countAppsByPhase = () =>
      new Map([
        ['Stable', 3],
        ['Savepointing', 1],
      ]);
    m.transitionSeconds.observe({ from: 'Deploying', to: 'Running' }, 4);
    const res = await buildApp({ registry: m.registry, healthy: () => true, ready: () => true }).inject({
      url: '/metrics',
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /weir_operator_reconciles_total\{result="ok"\} 1/);
    assert.match(res.body, /weir_operator_reconcile_duration_seconds_count 1/);
    assert.match(res.body, /weir_operator_reconcile_errors_total 1/);
    assert.match(res.body, /weir_operator_apps\{phase="Stable"\} 3/);
    assert.match(res.body, /weir_operator_apps\{phase="Savepointing"\} 1/);
    assert.match(res.body, /weir_operator_phase_duration_seconds_count\{from="Deploying",to="Running"\} 1/);
  });
});
