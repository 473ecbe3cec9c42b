import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MANIFEST, SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type SnapshotManifest } from '../snapshot/format.ts';
import { CheckExit, savepointCheck, verdictJson, type CheckVerdict } from './savepoint-check.ts';

const pipeline = (windowId: string) => `name: cli-check
maxParallelism: 16
source:
  id: gen
  generator: { seed: 1, keys: 3, startTs: 0 }
steps:
  - keyBy: e.campaign
  - id: ${windowId}
    window: { tumbling: 1h, aggregate: { n: { count: true } } }
  - id: out
    sink: { discard: {} }
`;

// A savepoint as the runtime writes it: window state for operator 'per-second'.
const manifest: SnapshotManifest = {
  format: SNAPSHOT_FORMAT,
  version: SNAPSHOT_VERSION,
  kind: 'savepoint',
  job: 'cli-check',
  epoch: 7,
  createdAt: '2026-01-01T00:00:00.000Z',
  maxParallelism: 16,
  parallelism: 1,
  operators: {
    'per-second': {
      kind: 'window',
      variant: 'tumbling',
      keyed: true,
      files: [{ file: 'per-second-0-15.jsonl', start: 0, end: 15, bytes: 120 }],
      watermark: 0,
    },
  },
};

describe('weir savepoint check (the operator runs it as a Job with the new image)', () => {
  let dir = '';
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: (s: string) => out.push(s), stderr: (s: string) => err.push(s) };
  const check = async (...args: string[]) => {
    out.length = 0;
    err.length = 0;
    const code = await savepointCheck(args, io);
    return { code, stdout: out.join(''), stderr: err.join('') };
  };
  const report = async (): Promise<CheckVerdict> =>
    JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as CheckVerdict;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weir-check-'));
    await writeFile(join(dir, 'v1.yaml'), pipeline('per-second'));
    // The operator mounts spec.pipeline as JSON.
    await writeFile(
      join(dir, 'v2.json'),
      JSON.stringify({
        name: 'cli-check',
        maxParallelism: 16,
        source: { id: 'gen', generator: { seed: 1, keys: 3, startTs: 0 } },
        steps: [
          { keyBy: 'e.campaign' },
          { id: 'per-second-v2', window: { tumbling: '1h', aggregate: { n: { count: true } } } },
          { id: 'out', sink: { discard: {} } },
        ],
      }),
    );
    await writeFile(join(dir, 'bad.yaml'), 'name: cli-check\nsource: { id: gen }\nsteps: []\n');
    await mkdir(join(dir, 'sp'));
    await writeFile(join(dir, 'sp', MANIFEST), JSON.stringify(manifest));
    await mkdir(join(dir, 'torn'));
    await writeFile(join(dir, 'torn', MANIFEST), '{"format": "weir-snap');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('compatible: exit 0 and {compatible: true, problems: []} in the report', async () => {
    const r = await check(join(dir, 'v1.yaml'), join(dir, 'sp'), '--report', join(dir, 'report.json'));
    assert.equal(r.code, CheckExit.compatible, r.stderr);
    assert.match(r.stdout, /^compatible/);
    const v = await report();
    assert.equal(v.compatible, true);
    assert.deepEqual(v.problems, []);
    assert.deepEqual(v.restored, ['per-second']);
    assert.equal(v.snapshot, join(dir, 'sp'));
  });

  it('incompatible: exit 3 and the problems, naming the operator, in the report', async () => {
    const r = await check(join(dir, 'v2.json'), join(dir, 'sp'), '--report', join(dir, 'report.json'));
    assert.equal(r.code, CheckExit.incompatible);
    const v = await report();
    assert.equal(v.compatible, false);
    assert.equal(v.problems.length, 1);
    assert.match(v.problems[0] ?? '', /^per-second: the savepoint has state for operator 'per-second'/);
    assert.equal(v.error, undefined);
  });

  it('--allow-non-restored-state makes dropped state compatible', async () => {
    const r = await check(
      join(dir, 'v2.json'),
      join(dir, 'sp'),
      '--allow-non-restored-state',
      '--report',
      join(dir, 'report.json'),
    );
    assert.equal(r.code, CheckExit.compatible);
    assert.deepEqual((await report()).notRestored, ['per-second']);
  });

  it('could not check: exit 4 and the reason, for a missing or torn savepoint and an invalid pipeline', async () => {
    const cases: [string, string, RegExp][] = [
      [join(dir, 'v1.yaml'), join(dir, 'nowhere'), /no snapshot at .*nowhere/],
      [join(dir, 'v1.yaml'), join(dir, 'torn'), /manifest is not valid JSON/],
      [join(dir, 'bad.yaml'), join(dir, 'sp'), /steps: must NOT have fewer than 1 items/],
      [join(dir, 'missing.yaml'), join(dir, 'sp'), /cannot read the pipeline/],
    ];
    for (const [p, sp, why] of cases) {
      const r = await check(p, sp, '--report', join(dir, 'report.json'));
      assert.equal(r.code, CheckExit.cannotCheck, `${p} ${sp}`);
      const v = await report();
      assert.equal(v.compatible, false);
      assert.deepEqual(v.problems, []);
      assert.match(v.error ?? '', why);
      assert.match(r.stderr, why);
    }
  });

  it('usage errors exit 2 and write no verdict', async () => {
    assert.equal((await check(join(dir, 'v1.yaml'))).code, CheckExit.usage);
    assert.equal((await check(join(dir, 'v1.yaml'), join(dir, 'sp'), '--bogus')).code, CheckExit.usage);
  });

  it('an unwritable report is a failed check, not a silent pass', async () => {
    const r = await check(join(dir, 'v1.yaml'), join(dir, 'sp'), '--report', join(dir, 'no', 'such', 'dir', 'r'));
    assert.equal(r.code, CheckExit.cannotCheck);
    assert.match(r.stderr, /cannot write the report/);
  });
});

describe('verdictJson', () => {
  it('fits the 4096-byte termination message, keeping the verdict and saying how many problems were left out', () => {
    const problems = Array.from({ length: 200 }, (_, i) => `op-${i}: ${'x'.repeat(60)}`);
    const text = verdictJson({ compatible: false, problems, restored: ['a'] });
    assert.ok(Buffer.byteLength(text) <= 4096);
    const v = JSON.parse(text) as CheckVerdict;
    assert.equal(v.compatible, false);
    assert.equal(v.problems[0], problems[0]);
    assert.match(v.problems.at(-1) ?? '', /^… and \d+ more problems$/);
    const shown = v.problems.length - 1;
    assert.equal(v.problems.at(-1), `… and ${200 - shown} more problems`);
  });
  it('leaves a short verdict whole', () => {
    const v: CheckVerdict = { compatible: true, problems: [], restored: ['a'] };
    assert.equal(verdictJson(v), JSON.stringify(v));
  });
});
