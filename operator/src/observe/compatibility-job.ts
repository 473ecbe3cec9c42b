// What a pre-flight check Job says, read from its conditions and its pod's termination message
// (where `weir savepoint check --report /dev/termination-log` writes the verdict). Pure.
import { CHECK_ATTEMPT_LABEL, CHECK_EXIT, CHECK_SPEC_HASH_LABEL } from '../names.ts';
import type { CompatibilityCheckJob } from '../decide/types.ts';
import type { CheckJobState } from '../ports.ts';

interface Report {
  compatible?: unknown;
  problems?: unknown;
  error?: unknown;
}

function parseReport(message: string | undefined): Report | undefined {
  if (message === undefined || message.trim() === '') return undefined;
  try {
    const r = JSON.parse(message) as unknown;
    return typeof r === 'object' && r !== null ? r : undefined;
  } catch {
    return undefined;
  }
}

function problemsOf(r: Report | undefined): string[] {
  return Array.isArray(r?.problems) ? r.problems.filter((p): p is string => typeof p === 'string') : [];
}

export function checkJobOutcome(job: CheckJobState): CompatibilityCheckJob {
  const base = {
    name: job.name,
    specHash: job.labels[CHECK_SPEC_HASH_LABEL] ?? '',
    attempt: Number(job.labels[CHECK_ATTEMPT_LABEL] ?? 0),
  };
  const cond = (type: string) => job.conditions.find((c) => c.type === type && c.status === 'True');
  const complete = cond('Complete');
  const failed = cond('Failed');
  const t = job.terminated;
  const report = parseReport(t?.message);
  if (complete !== undefined) {
    return {
      ...base,
      outcome: 'Compatible',
      problems: [],
      ...(complete.lastTransitionTime === undefined ? {} : { finishedAt: complete.lastTransitionTime }),
    };
  }
  if (failed === undefined) return { ...base, outcome: 'Running', problems: [] };
  const finished = failed.lastTransitionTime === undefined ? {} : { finishedAt: failed.lastTransitionTime };
  if (t?.exitCode === CHECK_EXIT.incompatible) {
    const problems = problemsOf(report);
    return {
      ...base,
      outcome: 'Incompatible',
      problems:
        problems.length > 0 ? problems : [`the check reported incompatible state without details: ${t.message ?? ''}`],
      ...finished,
    };
  }
  let reason: string;
  if (t?.exitCode === CHECK_EXIT.cannotCheck) {
    reason = `the check could not be made: ${typeof report?.error === 'string' ? report.error : (t.message ?? 'no reason given')}`;
  } else {
    const jobWhy = `${failed.reason ?? 'Failed'}${failed.message === undefined ? '' : ` (${failed.message})`}`;
    const podWhy =
      t === undefined
        ? ''
        : `; the check container exited with code ${t.exitCode}${t.reason === undefined ? '' : ` (${t.reason})`}`;
    reason = `${jobWhy}${podWhy}`;
  }
  return { ...base, outcome: 'Error', problems: [], reason: reason.slice(0, 1000), ...finished };
}
