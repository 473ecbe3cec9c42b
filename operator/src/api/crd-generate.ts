// `make crds`: writes the CRD generated from the schema into crds/ at the repository root.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CRD_FILE, renderCrdYaml } from './crd.ts';

const target = fileURLToPath(new URL(`../../../${CRD_FILE}`, import.meta.url));
writeFileSync(target, renderCrdYaml());
console.log(`wrote ${CRD_FILE}`);
