// A child process for the Kafka exactly-once crash test: runs the pipeline given in
// WEIR_PIPELINE (JSON), restoring from its checkpoint directory; env switches kill it at a named
// point of a checkpoint or of the restore.
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { compilePipeline } from '../pipeline/compile.ts';
import { startJob } from '../runtime/executor.ts';

const work = process.env.WEIR_CRASH_DIR;
const pipeline = process.env.WEIR_PIPELINE;
if (work === undefined || pipeline === undefined) throw new Error('WEIR_CRASH_DIR and WEIR_PIPELINE are required');
const crashPhase = process.env.WEIR_FAULT_CRASH_PHASE;
const crashAt = Number(process.env.WEIR_FAULT_CRASH_AT_CHECKPOINT ?? '1');
const checkpoints = join(work, 'checkpoints');
let seen = 0;
const kill = (phase: string): void => {
  writeSync(1, `fault ${phase}\n`); // synchronous: the kill follows at once
  process.kill(process.pid, 'SIGKILL');
};

const compiled = compilePipeline(JSON.parse(pipeline));
const job = await startJob(compiled.graph, {
  parallelism: compiled.parallelism,
  restoreFrom: checkpoints,
  checkpoints: { dir: checkpoints, intervalMs: compiled.checkpointIntervalMs, retain: 2 },
  faults: {
    onCheckpointPhase: (phase) => {
      if (phase === crashPhase && ++seen === crashAt) kill(phase);
    },
    onRestorePhase: (phase) => {
      if (phase === crashPhase) kill(phase);
    },
  },
});
process.stdout.write(`started\n`);
const timer = setInterval(() => {
  const m = job.metrics();
  process.stdout.write(`progress ${m.recordsIn} ${m.checkpointsCompleted}\n`);
}, 500);
const result = await job.done;
clearInterval(timer);
process.stderr.write(`job ended ${result.state}: ${String(result.error?.stack)}\n`);
process.exit(1);
