#!/usr/bin/env node
// weir: run, validate and check pipelines locally.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_WATERMARK, MIN_WATERMARK } from '../core/watermarks.ts';
import { compilePipeline, type CompiledPipeline } from '../pipeline/compile.ts';
import { formatPipelineErrors, parsePipelineYaml } from '../pipeline/validate.ts';
import { startJob, type Job, type JobMetrics } from '../runtime/executor.ts';
import { completedCheckpoints } from '../snapshot/format.ts';
import { runCoordinator, runWorker } from '../service/main.ts';
import { savepointCheck } from './savepoint-check.ts';

const USAGE = `usage:
  weir run <pipeline.yaml> [--from-savepoint <dir>] [--allow-non-restored-state] [--resume | --fresh]
                           [--parallelism <n>] [--checkpoint-dir <dir>] [--savepoint-dir <dir>] [--quiet]
  weir validate <pipeline.yaml>
  weir savepoint check <pipeline.yaml> <savepoint-dir> [--allow-non-restored-state] [--report <file>]
  weir coordinator | weir worker        (in the operator's pods: configured by WEIR_CONFIG, WEIR_POD_NAME,
                                         WEIR_RUNTIME_TOKEN, WEIR_ENTRYPOINT and the Kafka credentials)

run: live progress goes to stderr, sink output (console sink) to stdout.
     SIGTERM / Ctrl-C stops gracefully (final checkpoint; --resume continues from it); a second Ctrl-C cancels.
savepoint check: exit 0 compatible, 3 incompatible, 4 could not check (unreadable pipeline or savepoint),
     2 usage; --report writes the verdict as JSON {compatible, problems[], error?} (e.g. /dev/termination-log).`;

class UsageError extends Error {}

async function load(file: string | undefined): Promise<CompiledPipeline> {
  if (file === undefined) throw new UsageError('missing <pipeline.yaml>');
  const path = resolve(file);
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  });
  const parsed = parsePipelineYaml(text);
  if (!parsed.ok) throw new UsageError(formatPipelineErrors(parsed.errors, file));
  return compilePipeline(parsed.pipeline, { baseDir: dirname(path) });
}

function runDir(name: string): string {
  return join(process.env.WEIR_RUN ?? join(homedir(), '.cache', 'weir', 'run'), 'runtime', name);
}

function time(ts: number): string {
  if (ts <= MIN_WATERMARK) return '-';
  if (ts >= MAX_WATERMARK) return 'end';
  return new Date(ts).toISOString().slice(11, 19);
}

function progressLine(m: JobMetrics, prev: JobMetrics | undefined, dtMs: number): string {
  const rate = (a: number, b: number | undefined): string =>
    Math.round(((a - (b ?? 0)) * 1000) / Math.max(1, dtMs)).toLocaleString('en-US');
  const cp = m.lastCheckpoint;
  const parts = [
    m.state,
    `in ${rate(m.recordsIn, prev?.recordsIn)} rec/s`,
    `out ${rate(m.recordsOut, prev?.recordsOut)} rec/s`,
    `watermark ${time(m.watermark)}${m.watermarkLagMs !== undefined ? ` (lag ${(m.watermarkLagMs / 1000).toFixed(1)} s)` : ''}`,
    `backlog ${m.backlog ?? '-'}`,
    cp === undefined
      ? 'no checkpoint yet'
      : `checkpoint #${cp.epoch} ${((Date.now() - cp.completedAt) / 1000).toFixed(0)} s ago (${cp.durationMs} ms, ${(cp.bytes / 1024).toFixed(0)} KiB)`,
    `state ${m.stateEntries} keys`,
  ];
  if (m.lateDropped + m.lateToSideOutput > 0)
    parts.push(`late ${m.lateDropped} dropped, ${m.lateToSideOutput} to side output`);
  return parts.join(' | ');
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'from-savepoint': { type: 'string' },
      'allow-non-restored-state': { type: 'boolean' },
      resume: { type: 'boolean' },
      fresh: { type: 'boolean' },
      parallelism: { type: 'string' },
      'checkpoint-dir': { type: 'string' },
      'savepoint-dir': { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const compiled = await load(positionals[0]);
  const base = runDir(compiled.graph.name);
  const checkpointDir = resolve(values['checkpoint-dir'] ?? join(base, 'checkpoints'));
  const savepointDir = resolve(values['savepoint-dir'] ?? join(base, 'savepoints'));
  const parallelism = values.parallelism !== undefined ? Number(values.parallelism) : compiled.parallelism;
  if (parallelism !== undefined && !Number.isInteger(parallelism))
    throw new UsageError(`--parallelism must be an integer, got ${values.parallelism ?? ''}`);
  let restoreFrom = values['from-savepoint'];
  const existing = await completedCheckpoints(checkpointDir);
  if (restoreFrom === undefined && existing.length > 0) {
    if (values.resume === true) restoreFrom = checkpointDir;
    else if (values.fresh !== true) {
      throw new UsageError(
        `checkpoints of an earlier run are in ${checkpointDir}: pass --resume to continue from the newest, or --fresh to start over`,
      );
    }
  }
  if (values.fresh === true && existing.length > 0) {
    const { rm } = await import('node:fs/promises');
    await rm(checkpointDir, { recursive: true, force: true });
  }
  const job: Job = await startJob(compiled.graph, {
    parallelism,
    restoreFrom,
    allowNonRestoredState: values['allow-non-restored-state'],
    checkpoints: {
      dir: checkpointDir,
      intervalMs: compiled.checkpointIntervalMs ?? 10_000,
      retain: compiled.checkpointRetain ?? 3,
    },
    savepointDir,
  });
  const log = (line: string): void => {
    process.stderr.write(`[weir] ${line}\n`);
  };
  let signals = 0;
  const onSignal = (sig: string): void => {
    signals++;
    if (signals === 1) {
      log(`${sig}: stopping gracefully (final checkpoint); again to cancel`);
      void job.stop();
    } else {
      log(`${sig}: cancelling`);
      void job.cancel();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  log(
    `running '${job.name}' at parallelism ${parallelism ?? 1}${restoreFrom !== undefined ? ` from ${job.metrics().restoredFrom ?? restoreFrom}` : ''}; checkpoints in ${checkpointDir}`,
  );
  let prev: JobMetrics | undefined;
  let prevAt = Date.now();
  const interval = process.stderr.isTTY ? 1000 : 5000;
  const progress =
    values.quiet === true
      ? undefined
      : setInterval(() => {
          const m = job.metrics();
          const now = Date.now();
          log(progressLine(m, prev, now - prevAt));
          prev = m;
          prevAt = now;
        }, interval);
  const result = await job.done;
  clearInterval(progress);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const m = job.metrics();
  log(
    `${result.state}: ${m.recordsIn} records in, ${m.recordsOut} out${result.savepoint?.path !== undefined ? `; snapshot ${result.savepoint.path}` : ''}`,
  );
  if (result.error !== undefined) {
    log(`error: ${result.error.message}`);
    return 1;
  }
  return 0;
}

async function validate(argv: string[]): Promise<number> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  const c = await load(positionals[0]);
  process.stdout.write(
    `${positionals[0] ?? ''}: valid (${c.graph.nodes.length} operators: ${c.graph.nodes.map((n) => `${n.id} [${n.kind}]`).join(' → ')})\n`,
  );
  return 0;
}

/** How long `weir coordinator` / `weir worker` may take to wind down after their work has ended. */
const EXIT_GRACE_MS = 10_000;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'run') return await run(rest);
    if (cmd === 'validate') return await validate(rest);
    if (cmd === 'coordinator') return await runCoordinator();
    if (cmd === 'worker') return await runWorker();
    if (cmd === 'savepoint' && rest[0] === 'check')
      return await savepointCheck(rest.slice(1), {
        stdout: (t) => process.stdout.write(t),
        stderr: (t) => process.stderr.write(t),
      });
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    }
    throw new UsageError(`unknown command '${argv.join(' ')}'`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    process.stderr.write(`weir: ${(err as Error).message}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// A pod's process ends when its work has: what is still closing gets a few seconds (Kafka clients
// ending their sessions: cutting them short stalls the next version), then handles a client library
// leaves open (sockets, timers) must not keep it alive until the kubelet's SIGKILL (60 s).
if (process.argv[2] === 'coordinator' || process.argv[2] === 'worker') {
  setTimeout(() => {
    // Names what leaked, so that it can be closed where it was opened.
    const open = process.getActiveResourcesInfo().join(', ');
    process.stderr.write(`weir: still open ${EXIT_GRACE_MS} ms after the work ended, exiting anyway: ${open}\n`);
    process.exit(code);
  }, EXIT_GRACE_MS).unref();
}
