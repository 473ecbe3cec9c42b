import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkerReport } from '../api/contract.ts';
import {
  HEARTBEAT_TIMEOUT_MS,
  checkpointSummary,
  commandsFor,
  jobState,
  restartsOf,
  savepointProgress,
  type SavepointTask,
  type WorkerView,
} from './job-state.ts';

function report(index: number, over: Partial<WorkerReport> = {}): WorkerReport {
  return {
    index,
    incarnation: 'a',
    state: 'RUNNING',
    restarts: 0,
    metrics: { recordsIn: 0, recordsOut: 0, checkpointsCompleted: 0, operators: [], splits: [] },
    savepoints: [],
    ...over,
  };
}

function view(r: WorkerReport, seenAt = 1000, extra: Partial<WorkerView> = {}): WorkerView {
  return { report: r, seenAt, processRestarts: 0, everRan: r.state === 'RUNNING', ...extra };
}

const facts = (workers: (WorkerView | undefined)[], over: Partial<Parameters<typeof jobState>[0]> = {}) => ({
  parallelism: 2,
  workers,
  now: 1000,
  cancelRequested: false,
  stoppedWithSavepoint: false,
  ...over,
});

describe('job state from worker reports', () => {
  it('RUNNING only when every worker runs; CREATED while some never reported', () => {
    assert.equal(jobState(facts([view(report(0)), view(report(1))])), 'RUNNING');
    assert.equal(jobState(facts([view(report(0)), undefined])), 'CREATED');
  });
  it('RESTARTING when a worker that ran is lost, restarts, or comes back as a new process', () => {
    const lost = facts([view(report(0)), view(report(1))], { now: 1000 + HEARTBEAT_TIMEOUT_MS + 1 });
    assert.equal(jobState(lost), 'RESTARTING');
    assert.equal(jobState(facts([view(report(0)), view(report(1, { state: 'RESTARTING' }))])), 'RESTARTING');
    const reborn = view(report(1, { state: 'STARTING' }), 1000, { processRestarts: 1, everRan: true });
    assert.equal(jobState(facts([view(report(0)), reborn])), 'RESTARTING');
  });
  it('FAILED when a worker gave up; STOPPED after a stop-with-savepoint; CANCELED once every worker ended', () => {
    assert.equal(jobState(facts([view(report(0)), view(report(1, { state: 'FAILED' }))])), 'FAILED');
    assert.equal(jobState(facts([view(report(0)), view(report(1))], { stoppedWithSavepoint: true })), 'STOPPED');
    const cancelling = facts([view(report(0, { state: 'CANCELED' })), view(report(1))], { cancelRequested: true });
    assert.equal(jobState(cancelling), 'RUNNING');
    const cancelled = facts([view(report(0, { state: 'CANCELED' })), undefined], { cancelRequested: true });
    assert.equal(jobState(cancelled), 'CANCELED');
  });
  it('restarts add in-process and process restarts', () => {
    assert.equal(restartsOf([view(report(0, { restarts: 2 }), 0, { processRestarts: 1 }), undefined]), 3);
  });
});

describe('checkpoints and savepoints across workers', () => {
  const cp = (epoch: number, completedAt: number) => ({ epoch, completedAt, durationMs: 5, bytes: 10 });
  it('the job checkpoint is the oldest of the workers latest, once every worker has one', () => {
    const m = (n: number, c?: ReturnType<typeof cp>) =>
      view(
        report(0, { metrics: { ...report(0).metrics, checkpointsCompleted: n, ...(c ? { lastCheckpoint: c } : {}) } }),
      );
    assert.deepEqual(checkpointSummary(2, [m(3, cp(7, 500)), m(1)], '/ck'), { completedSinceStart: 0 });
    assert.deepEqual(checkpointSummary(2, [m(3, cp(7, 500)), m(2, cp(4, 400))], '/ck'), {
      completedSinceStart: 2,
      lastCompleted: { id: 4, time: new Date(400).toISOString(), path: '/ck' },
    });
  });
  it('a savepoint completes when every worker wrote its part and fails when one could not', () => {
    const sp = { id: 's1' };
    assert.equal(savepointProgress(sp, 2, [[{ id: 's1', state: 'COMPLETED' }], []]).state, 'IN_PROGRESS');
    assert.equal(
      savepointProgress(sp, 2, [[{ id: 's1', state: 'COMPLETED' }], [{ id: 's1', state: 'COMPLETED' }]]).state,
      'COMPLETED',
    );
    const failed = savepointProgress(sp, 2, [
      [{ id: 's1', state: 'COMPLETED' }],
      [{ id: 's1', state: 'FAILED', error: 'disk full' }],
    ]);
    assert.deepEqual(failed, { state: 'FAILED', error: 'worker 1: disk full' });
  });
  it('commands: the savepoint until done; a stop-with-savepoint that failed or was cancelled resumes the stopped worker', () => {
    const active: SavepointTask = { id: 's1', stop: true, dir: '/sp/s1', state: 'IN_PROGRESS' };
    const base = { last: active, cancel: false, previewing: [] };
    assert.deepEqual(commandsFor(1, report(1), { ...base, active }).savepoint, {
      id: 's1',
      dir: '/sp/s1/w1',
      stop: true,
    });
    const stopped = report(1, { state: 'STOPPED', savepoints: [{ id: 's1', state: 'COMPLETED', path: '/sp/s1/w1' }] });
    assert.deepEqual(commandsFor(1, stopped, { ...base, active }).savepoint?.id, 's1', 'repeated while in progress');
    assert.equal(commandsFor(1, stopped, { ...base, active }).resumeFrom, undefined, 'still in progress elsewhere');
    assert.equal(commandsFor(1, stopped, { ...base, active: undefined }).savepoint, undefined, 'withdrawn');
    for (const state of ['FAILED', 'CANCELED'] as const) {
      const ended = { ...active, state };
      assert.equal(commandsFor(1, stopped, { ...base, active: undefined, last: ended }).resumeFrom, '/sp/s1/w1');
    }
    const done = { ...active, state: 'COMPLETED' as const };
    assert.equal(
      commandsFor(1, stopped, { ...base, active: undefined, last: done }).resumeFrom,
      undefined,
      'the job ended there',
    );
    assert.deepEqual(commandsFor(1, report(1), { ...base, active, cancel: true }), { cancel: true, previewing: [] });
  });
  it('commands: a savepoint that does not end the job pauses every worker until all parts are written', () => {
    const sp: SavepointTask = { id: 'm1', stop: false, dir: '/sp/m1', state: 'IN_PROGRESS' };
    const paused = report(0, {
      state: 'STOPPED',
      pausedFor: 'm1',
      savepoints: [{ id: 'm1', state: 'COMPLETED', path: '/sp/m1/w0' }],
    });
    const o = { active: sp, last: sp, cancel: false, previewing: [] };
    assert.equal(commandsFor(0, paused, o).resumeFrom, undefined);
    const complete = { ...sp, state: 'COMPLETED' as const };
    assert.equal(commandsFor(0, paused, { ...o, active: undefined, last: complete }).resumeFrom, '/sp/m1/w0');
    // The job stays RUNNING while its workers pause for it.
    assert.equal(jobState(facts([view(paused), view(report(1))])), 'RUNNING');
  });
});
