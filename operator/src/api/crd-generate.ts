// `make crds`: writes the CRD generated from the schema into crds/ and the Helm chart, and the
// chart's RBAC rules (see generated-files.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from './generated-files.ts';

for (const [path, content] of generatedFiles()) {
  const target = fileURLToPath(new URL(`../../../${path}`, import.meta.url));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  console.log(`wrote ${path}`);
}
