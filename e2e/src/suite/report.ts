// The e2e suite's results as a table people can read (Markdown, so docs/ can keep it as it is).
import { fileURLToPath } from 'node:url';

/** Where a run writes its table: e2e/results/full.md (make e2e) or ci.md (the subset in make test). */
export function resultsPath(full: boolean, env: NodeJS.ProcessEnv = process.env): string {
  return env.WEIR_E2E_RESULTS ?? fileURLToPath(new URL(`../../results/${full ? 'full' : 'ci'}.md`, import.meta.url));
}

export interface Row {
  readonly scenario: string;
  /** Downtime of each operation in the scenario, e.g. `12.3s, 15.0s`; empty when nothing stopped. */
  readonly downtime: string;
  /** Phases of each operation with their durations. */
  readonly phases: string;
  readonly lost: number;
  readonly duplicated: number;
  readonly note: string;
}

const cell = (text: string): string => (text === '' ? '–' : text.replaceAll('|', '\\|').replaceAll('\n', ' '));

/** A Markdown table of the rows, headed by when and where it was measured. */
export function reportTable(rows: readonly Row[], at: Date, where = 'the local single-node cluster'): string {
  const lines = [
    `Weir e2e results, ${at.toISOString().slice(0, 16).replace('T', ' ')} UTC, on ${where}.`,
    'Downtime: from the spec change until the first committed result of the job that runs afterwards',
    '(includes the wait for the next window to close and the next checkpoint to commit it).',
    '',
    '| scenario | downtime | phases | lost | duplicated | note |',
    '|---|---|---|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${cell(r.scenario)} | ${cell(r.downtime)} | ${cell(r.phases)} | ${r.lost} | ${r.duplicated} | ${cell(r.note)} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
