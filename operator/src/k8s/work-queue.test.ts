import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { WorkQueue, type WorkResult } from './work-queue.ts';

/** Lets pending promise callbacks run (fake timers do not advance microtasks). */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

function deferred(): { promise: Promise<WorkResult>; resolve: (r: WorkResult) => void } {
  let resolve!: (r: WorkResult) => void;
  const promise = new Promise<WorkResult>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('de-duplicates a key added many times before it runs', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const calls: string[] = [];
      const q = new WorkQueue((k) => (calls.push(k), Promise.resolve({})), {
        concurrency: 2,
        backoffBaseMs: 10,
        backoffMaxMs: 100,
      });
      q.add('ns/a', 50);
      q.add('ns/a', 20);
      q.add('ns/a', 80);
      mock.timers.tick(20);
      await flush();
      mock.timers.tick(100);
      await flush();
      assert.deepEqual(calls, ['ns/a']);
    } finally {
      mock.timers.reset();
    }
  });

  it('never runs two reconciles of one key at once; an add during processing runs it again after', async () => {
    const gates: ReturnType<typeof deferred>[] = [];
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        const d = deferred();
        gates.push(d);
        const r = await d.promise;
        running--;
        return r;
      },
      { concurrency: 4, backoffBaseMs: 10, backoffMaxMs: 100 },
    );
    q.add('ns/a');
    q.add('ns/a');
    await flush();
    assert.equal(gates.length, 1);
    q.add('ns/a');
    await flush();
    assert.equal(gates.length, 1, 'second add waits for the first to finish');
    gates[0]?.resolve({});
    await flush();
    assert.equal(gates.length, 2, 'then runs once more');
    gates[1]?.resolve({});
    await flush();
    assert.equal(maxRunning, 1);
    await q.shutdown();
  });

  it('runs different keys in parallel up to the concurrency', async () => {
    const gates: ReturnType<typeof deferred>[] = [];
    const q = new WorkQueue(
      () => {
        const d = deferred();
        gates.push(d);
        return d.promise;
      },
      { concurrency: 2, backoffBaseMs: 10, backoffMaxMs: 100 },
    );
    for (const k of ['a', 'b', 'c']) q.add(k);
    await flush();
    assert.equal(gates.length, 2);
    gates[0]?.resolve({});
    await flush();
    assert.equal(gates.length, 3);
    for (const g of gates) g.resolve({});
    await q.shutdown();
  });

  it('backs off exponentially per key on failure, capped, and resets after a success', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const times: number[] = [];
      const delays: number[] = [];
      let fail = 4;
      const q = new WorkQueue(
        () => {
          times.push(Date.now());
          return fail-- > 0 ? Promise.reject(new Error('apiserver said no')) : Promise.resolve({});
        },
        { concurrency: 1, backoffBaseMs: 100, backoffMaxMs: 500, onError: (_k, _e, d) => delays.push(d) },
      );
      q.add('k');
      for (let i = 0; i < 20; i++) {
        await flush();
        mock.timers.tick(100);
      }
      await flush();
      assert.deepEqual(delays, [100, 200, 400, 500]);
      assert.equal(times.length, 5);
      assert.deepEqual(
        times.slice(1).map((t, i) => t - (times[i] ?? 0)),
        [100, 200, 400, 500],
      );
    } finally {
      mock.timers.reset();
    }
  });

  it('requeues after the delay a reconcile asks for', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      let n = 0;
      const q = new WorkQueue(() => (n++, Promise.resolve({ requeueAfterMs: 1000 })), {
        concurrency: 1,
        backoffBaseMs: 1,
        backoffMaxMs: 1,
      });
      q.add('k');
      await flush();
      assert.equal(n, 1);
      mock.timers.tick(999);
      await flush();
      assert.equal(n, 1);
      mock.timers.tick(1);
      await flush();
      assert.equal(n, 2);
      await q.shutdown();
    } finally {
      mock.timers.reset();
    }
  });

  it('an earlier add replaces a later scheduled one; forget drops a key', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const calls: string[] = [];
      const q = new WorkQueue((k) => (calls.push(k), Promise.resolve({})), {
        concurrency: 1,
        backoffBaseMs: 1,
        backoffMaxMs: 1,
      });
      q.add('a', 1000);
      q.add('a', 10);
      q.add('b', 10);
      q.forget('b');
      mock.timers.tick(10);
      await flush();
      assert.deepEqual(calls, ['a']);
      mock.timers.tick(2000);
      await flush();
      assert.deepEqual(calls, ['a']);
    } finally {
      mock.timers.reset();
    }
  });

  it('shutdown waits for the reconcile in flight and takes no new keys', async () => {
    const d = deferred();
    let done = false;
    const q = new WorkQueue(
      async () => {
        const r = await d.promise;
        done = true;
        return r;
      },
      { concurrency: 1, backoffBaseMs: 1, backoffMaxMs: 1 },
    );
    q.add('a');
    await flush();
    const stopped = q.shutdown();
    q.add('b');
    d.resolve({});
    await stopped;
    assert.ok(done);
    assert.equal(q.depth, 0);
  });
});
