import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spec } from '../testing/fixtures.ts';
import {
  CHECK_EXIT,
  compatibilityCheckName,
  RESTORE_ANNOTATION,
  SPEC_HASH_ANNOTATION,
  type KubeObject,
} from '../names.ts';
import { appManifests, compatibilityCheckManifests, tokenSecret } from './manifests.ts';

const id = { name: 'orders', namespace: 'shop', uid: 'u-1' };
const byKind = (objs: KubeObject[], kind: string) => objs.filter((o) => o.kind === kind);
interface Pod {
  spec: {
    securityContext: Record<string, unknown>;
    containers: { securityContext: Record<string, unknown>; env: { name: string }[] }[];
  };
}

describe('appManifests', () => {
  const objs = appManifests(id, spec({ parallelism: 3, image: 'weir/app:1.2' }), {
    specHash: 'h1',
    restoreFrom: 'sp-1',
  });

  it('creates config, storage, services and both workloads, owned by the app except the storage', () => {
    assert.deepEqual(
      objs.map((o) => o.kind),
      ['ConfigMap', 'PersistentVolumeClaim', 'Service', 'Service', 'Deployment', 'StatefulSet'],
    );
    for (const o of objs) {
      assert.equal(o.metadata.namespace, 'shop');
      if (o.kind === 'PersistentVolumeClaim') {
        assert.equal(o.metadata.ownerReferences, undefined, 'savepoints outlive the app');
        continue;
      }
      assert.deepEqual(o.metadata.ownerReferences?.[0], {
        apiVersion: 'weir.dev/v1alpha1',
        kind: 'StreamApplication',
        name: 'orders',
        uid: 'u-1',
        controller: true,
        blockOwnerDeletion: true,
      });
      assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], 'orders');
      assert.equal(o.metadata.labels['app.kubernetes.io/managed-by'], 'weir-operator');
    }
  });

  it('runs P workers behind a headless Service, and the restore path reaches the runtime', () => {
    const sts = byKind(objs, 'StatefulSet')[0] as KubeObject & { spec: { replicas: number; serviceName: string } };
    assert.equal(sts.spec.replicas, 3);
    const headless = byKind(objs, 'Service').find((s) => s.metadata.name === sts.spec.serviceName) as KubeObject & {
      spec: { clusterIP: string };
    };
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(sts.metadata.annotations?.[SPEC_HASH_ANNOTATION], 'h1');
    assert.equal(sts.metadata.annotations[RESTORE_ANNOTATION], 'sp-1');
    const cm = byKind(objs, 'ConfigMap')[0] as KubeObject & { data: Record<string, string> };
    assert.equal((JSON.parse(cm.data['runtime.json'] ?? '{}') as { restoreFrom: string }).restoreFrom, 'sp-1');
    assert.ok(cm.data['pipeline.json']);
  });

  it('pods are non-root, read-only, without capabilities, with seccomp RuntimeDefault', () => {
    for (const w of [...byKind(objs, 'Deployment'), ...byKind(objs, 'StatefulSet')]) {
      const pod = (w as unknown as { spec: { template: Pod } }).spec.template;
      assert.equal(pod.spec.securityContext.runAsNonRoot, true);
      for (const c of pod.spec.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
        assert.deepEqual(c.securityContext.seccompProfile, { type: 'RuntimeDefault' });
        assert.ok(c.env.some((e) => e.name === 'WEIR_RUNTIME_TOKEN'));
      }
    }
  });

  it('uses a volume the user names instead of creating a PVC', () => {
    const s = spec();
    const own = appManifests(
      id,
      { ...s, checkpoints: { ...s.checkpoints, storage: { ...s.checkpoints.storage, existingClaim: 'shared' } } },
      { specHash: 'h' },
    );
    assert.equal(byKind(own, 'PersistentVolumeClaim').length, 0);
    assert.match(JSON.stringify(byKind(own, 'StatefulSet')), /"claimName":"shared"/);
  });

  it('passes Kafka SASL credentials from the user’s Secret, never inline', () => {
    const withKafka = appManifests(
      id,
      spec({
        kafka: {
          bootstrapServers: ['k:9092'],
          sasl: { mechanism: 'plain', secretRef: { name: 'kafka-user', usernameKey: 'u', passwordKey: 'p' } },
        },
      }),
      { specHash: 'h' },
    );
    const text = JSON.stringify(byKind(withKafka, 'StatefulSet'));
    assert.match(text, /"secretKeyRef":\{"name":"kafka-user","key":"p"\}/);
  });

  it('the token Secret carries the token', () => {
    assert.deepEqual(tokenSecret(id, 't0k').stringData, { token: 't0k' });
  });
});

describe('compatibilityCheckManifests (the pre-flight check as a Job with the new image)', () => {
  const longName = 'a'.repeat(45);
  const v2 = spec({ image: 'weir/app:2', allowNonRestoredState: true });
  const { job, configMapFor } = compatibilityCheckManifests({ ...id, name: longName }, v2, {
    specHash: '0123456789abcdef',
    attempt: 9,
    snapshot: '/var/lib/weir/checkpoints/chk-0000000007',
  });
  interface JobSpec {
    backoffLimit: number;
    activeDeadlineSeconds: number;
    ttlSecondsAfterFinished: number;
    podFailurePolicy: { rules: { action: string; onExitCodes?: { values: number[]; containerName: string } }[] };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        restartPolicy: string;
        automountServiceAccountToken: boolean;
        securityContext: Record<string, unknown>;
        containers: {
          name: string;
          image: string;
          args: string[];
          terminationMessagePath: string;
          securityContext: Record<string, unknown>;
          volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
        }[];
        volumes: { name: string; persistentVolumeClaim?: { claimName: string; readOnly: boolean } }[];
      };
    };
  }
  const js = job.spec as JobSpec;
  const [c] = js.template.spec.containers;
  if (c === undefined) throw new Error('the check Job has no container');

  it('is named from the app, the spec hash and the attempt, within 63 characters for a 45-character app name', () => {
    assert.equal(job.metadata.name, `${longName}-check-012345678-9`);
    assert.equal(job.metadata.name.length, 63);
    assert.throws(() => compatibilityCheckName('app', '0123456789', 10), /attempt must be 0\.\.9/);
  });

  it('is owned by the app and labelled as the operator-managed compatibility check, not as the app’s pods', () => {
    const owner = job.metadata.ownerReferences?.[0];
    assert.equal(owner?.kind, 'StreamApplication');
    assert.equal(owner.uid, 'u-1');
    for (const labels of [job.metadata.labels ?? {}, js.template.metadata.labels]) {
      assert.equal(labels['app.kubernetes.io/managed-by'], 'weir-operator');
      assert.equal(labels['app.kubernetes.io/component'], 'compatibility-check');
      assert.equal(labels['app.kubernetes.io/instance'], longName);
      assert.notEqual(labels['app.kubernetes.io/name'], 'weir-app', 'must not count as a pod of the running version');
    }
  });

  it('runs the NEW image with the check command, writing the verdict to the termination log', () => {
    assert.equal(c.image, 'weir/app:2');
    assert.deepEqual(c.args, [
      'savepoint',
      'check',
      '/etc/weir-check/pipeline.json',
      '/var/lib/weir/checkpoints/chk-0000000007',
      '--allow-non-restored-state',
      '--report',
      '/dev/termination-log',
    ]);
    assert.equal(c.terminationMessagePath, '/dev/termination-log');
  });

  it('mounts the state volume read-only and runs restricted: non-root, read-only root fs, no capabilities, RuntimeDefault seccomp', () => {
    assert.deepEqual(js.template.spec.volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, {
      claimName: `${longName}-state`,
      readOnly: true,
    });
    assert.equal(c.volumeMounts.find((m) => m.name === 'state')?.readOnly, true);
    assert.equal(js.template.spec.automountServiceAccountToken, false);
    assert.equal(js.template.spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(js.template.spec.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities, { drop: ['ALL'] });
  });

  it('is bounded: small backoffLimit, a deadline, a TTL, and a verdict exit code fails the Job at once', () => {
    assert.equal(js.template.spec.restartPolicy, 'Never', 'podFailurePolicy requires it');
    assert.ok(js.backoffLimit <= 2);
    assert.equal(js.activeDeadlineSeconds, v2.upgrade.savepointTimeoutSeconds);
    assert.ok(js.ttlSecondsAfterFinished > 0);
    const failJob = js.podFailurePolicy.rules.find((r) => r.action === 'FailJob');
    const onExit = failJob?.onExitCodes;
    assert.equal(onExit?.containerName, c.name);
    assert.deepEqual(onExit.values, [CHECK_EXIT.incompatible, CHECK_EXIT.cannotCheck]);
  });

  it('mounts the new pipeline from a ConfigMap owned by the Job (deleting the Job removes it)', () => {
    const cm = configMapFor('job-uid');
    assert.equal(cm.metadata.name, job.metadata.name);
    assert.deepEqual(cm.metadata.ownerReferences?.[0], {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: job.metadata.name,
      uid: 'job-uid',
      controller: true,
      blockOwnerDeletion: false,
    });
    assert.deepEqual(JSON.parse((cm.data as Record<string, string>)['pipeline.json'] ?? ''), v2.pipeline);
  });

  it('refuses an app without a pipeline (code apps are checked by the running runtime)', () => {
    const { pipeline: _none, ...codeApp } = spec();
    assert.throws(
      () =>
        compatibilityCheckManifests(
          id,
          { ...codeApp, entrypoint: 'app.js' },
          { specHash: 'h', attempt: 0, snapshot: 's' },
        ),
      /spec\.pipeline/,
    );
  });
});
