// What the operator's /metrics and /healthz say, from a controller running against the real kube-apiserver.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubernetesForTests } from '@weir/e2e';
import { OperatorMetrics } from '../http/metrics.ts';
import type { Controller } from './controller.ts';
import { OperatorHarness, pollFor, testSpec } from './testing/harness.ts';

const cluster = await kubernetesForTests();
const skip = cluster.available ? false : cluster.reason;

describe('operator metrics against a real kube-apiserver', { skip }, () => {
  let h: OperatorHarness;
  let controller: Controller;
  const metrics = new OperatorMetrics();

  before(async () => {
    if (!cluster.available) return;
    h = await OperatorHarness.start(cluster.component.kubeConfig, 'weir-metrics');
    controller = await h.startOperator({ metrics });
  });
  after(async () => {
    if (cluster.available) await h.close();
  });

  it('counts every watched app by phase, suspended ones included, and reports healthy watches', async () => {
    await h.create('one', testSpec());
    await h.create('two', testSpec());
    await h.create('paused', testSpec({ state: 'suspended' }));
    await h.waitForPhase('one', 'Stable');
    await h.waitForPhase('two', 'Stable');
    await h.waitForPhase('paused', 'Suspended');
    const text = await pollFor('the gauge to show both Stable apps', async () => {
      const t = await metrics.registry.metrics();
      return t.includes('weir_operator_apps{phase="Stable"} 2') ? t : undefined;
    });
    assert.match(text, /weir_operator_apps\{phase="Suspended"\} 1/);
    assert.doesNotMatch(text, /weir_operator_apps\{phase="Pending"\}/);
    assert.equal(controller.healthy(0), true);
  });
});
