// .github/workflows/e2e.yml runs the suite on kind in GitHub Actions, which our machines cannot do (no
// registry). This keeps it honest: actionlint (pinned, built from the Go module proxy) lints it, and
// every make target, file and setting it relies on must exist.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

import { runInfraScript } from '../components/component.ts';
import { parseVersionsEnv } from '../components/kubernetes.ts';
import { resultsPath } from './report.ts';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const workflowFile = `${repoRoot}.github/workflows/e2e.yml`;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string>;
}
interface Workflow {
  jobs: Record<string, { env?: Record<string, string>; steps: Step[]; 'timeout-minutes'?: number }>;
}

const workflow = parse(readFileSync(workflowFile, 'utf8')) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
const commands = steps.flatMap((s) => (s.run ?? '').split('\n')).filter((l) => l.trim() !== '');
const makefileTargets = new Set(
  [...readFileSync(`${repoRoot}Makefile`, 'utf8').matchAll(/^([a-z][a-z0-9-]*):/gm)].map((m) => m[1]),
);

describe('.github/workflows/e2e.yml (the suite on kind, for GitHub Actions)', () => {
  it('passes actionlint', { timeout: 600_000 }, async () => {
    await runInfraScript(`${repoRoot}e2e/infra/kubernetes/build.sh`, ['actionlint'], 600_000);
    const versions = parseVersionsEnv(readFileSync(`${repoRoot}e2e/infra/kubernetes/versions.env`, 'utf8'));
    const cache = process.env.WEIR_CACHE ?? `${process.env.HOME ?? ''}/.cache/weir`;
    const bin = `${cache}/actionlint-${versions.get('ACTIONLINT_VERSION') ?? ''}/bin/actionlint`;
    const result = await run(bin, ['-no-color', workflowFile]).then(
      () => '',
      (e: unknown) => (e as { stdout?: string }).stdout ?? (e instanceof Error ? e.message : 'actionlint failed'),
    );
    assert.equal(result, '');
  });

  it('calls only make targets that exist, and runs the suite with CLUSTER=kind', () => {
    const called = commands.flatMap((c) => [...c.matchAll(/\bmake\s+([a-z][a-z0-9-]*)/g)].map((m) => m[1] ?? ''));
    assert.ok(called.includes('e2e'), 'it runs make e2e');
    for (const target of called) assert.ok(makefileTargets.has(target), `make ${target} is a target of the Makefile`);
    const job = Object.values(workflow.jobs)[0];
    assert.equal(job?.env?.CLUSTER, 'kind');
    assert.equal(job.env.CI, 'true', 'a component that cannot start fails the run');
  });

  it('starts the broker on the runner before the suite', () => {
    const kafkaAt = commands.findIndex((c) => /\bmake\s+kafka\b/.test(c));
    const e2eAt = commands.findIndex((c) => /\bmake\s+e2e\b/.test(c));
    assert.ok(kafkaAt >= 0 && kafkaAt < e2eAt);
  });

  it('the files it reads exist or are what the suite writes', () => {
    const paths = commands.flatMap((c) =>
      [...c.matchAll(/(?:^|\s)((?:e2e|scripts|charts|docs)\/[\w./-]+)/g)].map((m) => m[1] ?? ''),
    );
    const written = resultsPath(true).slice(repoRoot.length);
    for (const p of paths) {
      assert.ok(
        existsSync(`${repoRoot}${p}`) || p.startsWith(written.replace(/[^/]+$/, '')),
        `${p} exists or is written by the suite`,
      );
    }
    assert.ok(paths.includes(written), `it publishes ${written}`);
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@') === true);
    assert.equal(upload?.with?.path, written.replace(/[^/]+$/, ''));
  });

  it('the kind binary it calls is where build.sh puts it', () => {
    const lib = readFileSync(`${repoRoot}e2e/infra/kubernetes/lib.sh`, 'utf8');
    assert.match(lib, /KIND_BIN="\$WEIR_CACHE\/kind-\$KIND_VERSION\/bin"/);
    assert.ok(commands.some((c) => c.includes('~/.cache/weir/kind-*/bin/kind')));
  });

  it('pins every action to a major version', () => {
    for (const s of steps.filter((x) => x.uses !== undefined)) assert.match(s.uses ?? '', /^[\w-]+\/[\w-]+@v\d+$/);
  });
});
