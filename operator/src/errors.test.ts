import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiException } from '@kubernetes/client-node';
import { failureKind, OperatorError, retryDelayMs } from './errors.ts';
import { RuntimeApiError } from './runtime/client.ts';

const api = (code: number) => new ApiException(code, `HTTP ${code}`, {}, {});

describe('failure kinds and retry delays', () => {
  it('a conflict retries at once, without escalating', () => {
    assert.equal(failureKind(api(409)), 'conflict');
    assert.equal(failureKind(new RuntimeApiError('refused', 409)), 'conflict');
    assert.equal(retryDelayMs(api(409), 7, 200, 60_000), 200);
  });

  it('a busy or unreachable peer backs off exponentially, up to the maximum', () => {
    for (const err of [api(500), api(503), api(429), new RuntimeApiError('x', 502), new TypeError('fetch failed')]) {
      assert.equal(failureKind(err), 'transient', String(err));
    }
    assert.equal(failureKind(new DOMException('t', 'TimeoutError')), 'transient');
    assert.deepEqual(
      [1, 2, 3, 20].map((n) => retryDelayMs(api(503), n, 200, 60_000)),
      [200, 400, 800, 60_000],
    );
  });

  it('a refusal that will not change waits the longest backoff', () => {
    for (const err of [api(403), api(422), api(400), new RuntimeApiError('bad token', 401)]) {
      assert.equal(failureKind(err), 'terminal', String(err));
      assert.equal(retryDelayMs(err, 1, 200, 60_000), 60_000);
    }
  });

  it('the runtime client error is an OperatorError with its status', () => {
    const e = new RuntimeApiError('x', 404);
    assert.ok(e instanceof OperatorError);
    assert.equal(e.status, 404);
    assert.equal(e.name, 'RuntimeApiError');
  });
});
