import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { reuseConnections } from './connection-reuse.ts';

describe('reuseConnections', () => {
  it('one dispatcher per cluster and TLS identity, instead of one per request', () => {
    const kc = reuseConnections(new KubeConfig());
    const create = Reflect.get(kc, 'createDispatcher') as (c: unknown, o: unknown) => unknown;
    const cluster = { name: 'c', server: 'https://127.0.0.1:6443', skipTLSVerify: false };
    const a = create.call(kc, cluster, { ca: Buffer.from('ca'), cert: Buffer.from('cert'), key: Buffer.from('key') });
    const b = create.call(kc, cluster, { ca: Buffer.from('ca'), cert: Buffer.from('cert'), key: Buffer.from('key') });
    const other = create.call(kc, cluster, {
      ca: Buffer.from('ca'),
      cert: Buffer.from('cert2'),
      key: Buffer.from('key2'),
    });
    assert.ok(a !== undefined);
    assert.equal(a, b);
    assert.notEqual(a, other);
  });
});
