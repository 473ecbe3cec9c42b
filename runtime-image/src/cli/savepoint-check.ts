// `weir savepoint check`: does a savepoint (or the newest checkpoint under a directory) fit a
// pipeline? Run by people, and by the operator as a Kubernetes Job with the NEW image before an
// upgrade stops anything: only the new code can judge whether it restores the old state.
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compilePipeline } from '../pipeline/compile.ts';
import { formatPipelineErrors, parsePipelineYaml } from '../pipeline/validate.ts';
import { checkSavepointCompatibility, formatCompatibility } from '../snapshot/compat.ts';
import { readDataflowManifest } from '../snapshot/job-snapshot.ts';

/** Exit codes of `weir savepoint check` (the operator's Job podFailurePolicy matches on them). */
export const CheckExit = {
  compatible: 0,
  /** Wrong flags or arguments: a bug in whoever called it. */
  usage: 2,
  /** The savepoint does not fit the pipeline: retrying cannot help. */
  incompatible: 3,
  /** The check could not be made: unreadable or invalid pipeline, no or unreadable savepoint. */
  cannotCheck: 4,
} as const;

/** The machine-readable verdict written to `--report` (JSON). */
export interface CheckVerdict {
  compatible: boolean;
  /** Why not compatible, one line per problem ("<operator>: <message>"). */
  problems: string[];
  /** Set when the check could not be made (then `compatible` is false and `problems` empty). */
  error?: string;
  /** The snapshot checked (a directory with a manifest). */
  snapshot?: string;
  restored?: string[];
  notRestored?: string[];
  startingEmpty?: string[];
}

/** Kubernetes keeps at most 4096 bytes of a termination message. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;

/** The verdict as JSON within `maxBytes`, dropping detail (then problems, from the end) when it does not fit. */
export function verdictJson(v: CheckVerdict, maxBytes = TERMINATION_MESSAGE_MAX_BYTES): string {
  const fits = (s: string) => Buffer.byteLength(s) <= maxBytes;
  let text = JSON.stringify(v);
  if (fits(text)) return text;
  const slim: CheckVerdict = {
    compatible: v.compatible,
    problems: [...v.problems],
    ...(v.error === undefined ? {} : { error: v.error.slice(0, maxBytes / 2) }),
  };
  const total = v.problems.length;
  for (;;) {
    const shown = slim.problems.length;
    const withNote =
      shown < total ? { ...slim, problems: [...slim.problems, `… and ${total - shown} more problems`] } : slim;
    text = JSON.stringify(withNote);
    if (fits(text)) return text;
    if (shown === 0) {
      // One absurdly long error: keep the verdict, cut the words.
      return JSON.stringify({ compatible: v.compatible, problems: [], error: 'verdict too long to report' });
    }
    slim.problems.pop();
  }
}

export interface CheckIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

class CannotCheck extends Error {}

async function verdictOf(
  pipelineFile: string,
  savepoint: string,
  allowNonRestoredState: boolean,
): Promise<{ verdict: CheckVerdict; human: string }> {
  const path = resolve(pipelineFile);
  const text = await readFile(path, 'utf8').catch((err: unknown) => {
    throw new CannotCheck(`cannot read the pipeline ${pipelineFile}: ${(err as Error).message}`);
  });
  // YAML is a superset of JSON: the operator mounts the spec's pipeline as JSON.
  const parsed = parsePipelineYaml(text);
  if (!parsed.ok) throw new CannotCheck(formatPipelineErrors(parsed.errors, pipelineFile));
  let graph;
  try {
    graph = compilePipeline(parsed.pipeline, { baseDir: dirname(path) }).graph;
  } catch (err) {
    throw new CannotCheck(`the pipeline ${pipelineFile} does not compile: ${(err as Error).message}`);
  }
  let snapshot: string;
  let manifest;
  try {
    ({ snapshot, manifest } = await readDataflowManifest(resolve(savepoint)));
  } catch (err) {
    throw new CannotCheck((err as Error).message);
  }
  const report = checkSavepointCompatibility(graph, manifest, { allowNonRestoredState });
  return {
    verdict: {
      compatible: report.compatible,
      problems: report.problems.map((p) => `${p.operatorId}: ${p.message}`),
      snapshot,
      restored: [...report.restored],
      notRestored: [...report.notRestored],
      startingEmpty: [...report.startingEmpty],
    },
    human: formatCompatibility(report),
  };
}

/** `weir savepoint check <pipeline> <savepoint-dir> [--allow-non-restored-state] [--report <file>]`; returns the exit code. */
export async function savepointCheck(argv: string[], io: CheckIo): Promise<number> {
  let values: { 'allow-non-restored-state'?: boolean; report?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { 'allow-non-restored-state': { type: 'boolean' }, report: { type: 'string' } },
    }));
  } catch (err) {
    io.stderr(`${(err as Error).message}\n`);
    return CheckExit.usage;
  }
  const [file, savepoint, ...extra] = positionals;
  if (file === undefined || savepoint === undefined || extra.length > 0) {
    io.stderr(
      `usage: weir savepoint check <pipeline.yaml> <savepoint-dir> [--allow-non-restored-state] [--report <file>]\n`,
    );
    return CheckExit.usage;
  }
  let verdict: CheckVerdict;
  let human = '';
  try {
    ({ verdict, human } = await verdictOf(file, savepoint, values['allow-non-restored-state'] === true));
  } catch (err) {
    if (!(err instanceof CannotCheck)) throw err;
    verdict = { compatible: false, problems: [], error: err.message };
  }
  if (values.report !== undefined) {
    try {
      await writeFile(values.report, verdictJson(verdict));
    } catch (err) {
      io.stderr(`cannot write the report to ${values.report}: ${(err as Error).message}\n`);
      return CheckExit.cannotCheck;
    }
  }
  if (verdict.error !== undefined) {
    io.stderr(`cannot check: ${verdict.error}\n`);
    return CheckExit.cannotCheck;
  }
  io.stdout(`${human}\n`);
  return verdict.compatible ? CheckExit.compatible : CheckExit.incompatible;
}
