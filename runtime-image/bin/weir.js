#!/usr/bin/env -S node --max-semi-space-size=16
// The `weir` command. A committed launcher (not the compiled file itself) so that `npm ci` can link
// and mark it executable before `make build` has produced dist/. The young generation is pinned at
// 16 MiB: larger ones did not raise throughput measurably but made the scavenges that promote fresh
// state (and so event-loop stalls) longer (see runtime-image/bench).
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('weir: the runtime is not built yet: run `make build` (or `npm run build`) first\n');
  process.exit(2);
}
await import(main.href);
