// A child process for the crash tests: runs the revenue test pipeline with frequent checkpoints,
// resuming from the newest checkpoint; env switches crash it inside a checkpoint on purpose.
import { join } from 'node:path';
import { transactionalFileSink } from '../connectors/file-sink.ts';
import { latestCheckpoint } from '../snapshot/format.ts';
import { startJob } from '../runtime/executor.ts';
import { revenueTestGraph } from './pipelines.ts';

const work = process.env.WEIR_CRASH_DIR;
if (work === undefined) throw new Error('WEIR_CRASH_DIR is required');
const crashPhase = process.env.WEIR_FAULT_CRASH_PHASE;
const crashAt = Number(process.env.WEIR_FAULT_CRASH_AT_CHECKPOINT ?? '1');
const parallelism = Number(process.env.WEIR_PARALLELISM ?? '1');
const checkpoints = join(work, 'checkpoints');
let seen = 0;

const graph = revenueTestGraph({
  eventsPerSplit: Number(process.env.WEIR_EVENTS_PER_SPLIT ?? '40000'),
  ratePerSecond: Number(process.env.WEIR_RATE ?? '50000'),
  sink: transactionalFileSink({ dir: join(work, 'out') }),
});
const restoreFrom = (await latestCheckpoint(checkpoints)) === undefined ? undefined : checkpoints;
const job = await startJob(graph, {
  parallelism,
  restoreFrom,
  checkpoints: { dir: checkpoints, intervalMs: 20, retain: 2 },
  faults: {
    onCheckpointPhase: (phase) => {
      if (phase === crashPhase && ++seen === crashAt) process.kill(process.pid, 'SIGKILL');
    },
  },
});
process.stdout.write(`started ${restoreFrom ?? 'fresh'}\n`);
const result = await job.done;
if (result.state !== 'finished') {
  process.stderr.write(`job ended ${result.state}: ${String(result.error?.stack)}\n`);
  process.exit(1);
}
process.stdout.write('finished\n');
