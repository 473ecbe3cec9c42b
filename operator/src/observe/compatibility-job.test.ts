import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckJobState } from '../ports.ts';
import { checkJobOutcome } from './compatibility-job.ts';

const labels = { 'weir.dev/spec-hash': 'abc', 'weir.dev/check-attempt': '2' };
const at = '2026-01-01T00:00:00.000Z';
const job = (over: Partial<CheckJobState>): CheckJobState => ({
  name: 'app-check-abc-2',
  labels,
  conditions: [],
  ...over,
});
const failed = (reason: string, message?: string) => [
  { type: 'Failed', status: 'True', reason, ...(message === undefined ? {} : { message }), lastTransitionTime: at },
];

describe('checkJobOutcome: the verdict of a check Job', () => {
  it('running until the Job has a Complete or Failed condition', () => {
    const o = checkJobOutcome(job({ conditions: [{ type: 'FailureTarget', status: 'True' }] }));
    assert.deepEqual(o, { name: 'app-check-abc-2', specHash: 'abc', attempt: 2, outcome: 'Running', problems: [] });
  });
  it('Complete: compatible', () => {
    const o = checkJobOutcome(
      job({
        conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: at }],
        terminated: { exitCode: 0, message: '{"compatible":true,"problems":[]}' },
      }),
    );
    assert.equal(o.outcome, 'Compatible');
    assert.equal(o.finishedAt, at);
  });
  it('Failed with the incompatible exit code: incompatible, with the problems from the termination message', () => {
    const o = checkJobOutcome(
      job({
        conditions: failed('PodFailurePolicy'),
        terminated: { exitCode: 3, message: '{"compatible":false,"problems":["sum: state missing"]}' },
      }),
    );
    assert.equal(o.outcome, 'Incompatible');
    assert.deepEqual(o.problems, ['sum: state missing']);
  });
  it('incompatible without a readable report still says so', () => {
    const o = checkJobOutcome(
      job({ conditions: failed('PodFailurePolicy'), terminated: { exitCode: 3, message: 'oops' } }),
    );
    assert.equal(o.outcome, 'Incompatible');
    assert.match(o.problems[0] ?? '', /without details: oops/);
  });
  it('"could not check" exit code: an error naming the runtime’s reason', () => {
    const o = checkJobOutcome(
      job({
        conditions: failed('PodFailurePolicy'),
        terminated: { exitCode: 4, message: '{"compatible":false,"problems":[],"error":"no snapshot at /x"}' },
      }),
    );
    assert.equal(o.outcome, 'Error');
    assert.equal(o.reason, 'the check could not be made: no snapshot at /x');
  });
  it('deadline exceeded (the pod never ran) and crashes: an error naming the Job’s reason and the exit', () => {
    const deadline = checkJobOutcome(
      job({ conditions: failed('DeadlineExceeded', 'Job was active longer than specified deadline') }),
    );
    assert.equal(deadline.outcome, 'Error');
    assert.equal(deadline.reason, 'DeadlineExceeded (Job was active longer than specified deadline)');
    const crash = checkJobOutcome(
      job({ conditions: failed('BackoffLimitExceeded'), terminated: { exitCode: 137, reason: 'OOMKilled' } }),
    );
    assert.equal(crash.reason, 'BackoffLimitExceeded; the check container exited with code 137 (OOMKilled)');
  });
});
