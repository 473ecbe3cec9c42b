// One test runner for every package: Node's built-in runner, TypeScript run as is
// (Node 24 strips types), workspace imports resolved to sources (`--conditions=source`).
// Usage: npm test [-- <path or glob> ...]   (default: every *.test.ts in the workspaces)
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

const defaults = ['runtime-image/src/**/*.test.ts', 'operator/src/**/*.test.ts', 'e2e/src/**/*.test.ts'];
const selected = process.argv.slice(2);
const patterns = selected.length > 0 ? selected : defaults;
const coverage = process.env.WEIR_TEST_COVERAGE !== '0';

mkdirSync('coverage', { recursive: true });
const args = [
  '--conditions=source',
  '--test',
  `--test-concurrency=${process.env.WEIR_TEST_CONCURRENCY ?? '2'}`,
  `--test-timeout=${process.env.WEIR_TEST_TIMEOUT_MS ?? '600000'}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  ...(coverage
    ? [
        '--experimental-test-coverage',
        '--test-coverage-exclude=**/*.test.ts',
        '--test-coverage-exclude=**/node_modules/**',
        '--test-coverage-exclude=**/testing/**',
        '--test-reporter=lcov',
        '--test-reporter-destination=coverage/lcov.info',
      ]
    : []),
  ...patterns,
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
