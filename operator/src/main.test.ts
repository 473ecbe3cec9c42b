import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from './main.ts';

describe('operator flags', () => {
  it('defaults: all namespaces, leader election, runtime through its Service', () => {
    const c = parseConfig([], {});
    assert.deepEqual(c.scope, { all: true });
    assert.equal(c.leaderElect, true);
    assert.equal(c.runtimeAccess, 'service');
  });
  it('a namespace list and the API server proxy, from flags or env', () => {
    assert.deepEqual(parseConfig(['--namespaces', 'a, b'], {}).scope, { all: false, namespaces: ['a', 'b'] });
    assert.deepEqual(parseConfig([], { WEIR_NAMESPACES: 'x' }).scope, { all: false, namespaces: ['x'] });
    assert.equal(parseConfig(['--runtime-access', 'proxy'], {}).runtimeAccess, 'proxy');
  });
  it('bad values name the flag', () => {
    assert.throws(() => parseConfig(['--runtime-access', 'ssh'], {}), /--runtime-access/);
    assert.throws(() => parseConfig(['--concurrency', '0'], {}), /--concurrency/);
    assert.throws(() => parseConfig(['--bogus'], {}), /bogus/);
    assert.throws(() => parseConfig(['--runtime-access', 'url'], {}), /--runtime-url/);
  });
});
