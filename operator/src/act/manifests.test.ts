import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spec } from '../testing/fixtures.ts';
import { appManifests, RESTORE_ANNOTATION, SPEC_HASH_ANNOTATION, tokenSecret, type KubeObject } from './manifests.ts';

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
