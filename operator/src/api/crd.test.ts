import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { buildCrd } from './crd.ts';
import { generatedFiles } from './generated-files.ts';
import type { JsonSchema } from './schema-walk.ts';

const repoFile = (path: string) => new URL(`../../../${path}`, import.meta.url);

/** Every sub-schema with the path that leads to it. */
function* schemas(schema: JsonSchema, path = ''): Generator<[string, JsonSchema]> {
  yield [path, schema];
  for (const [k, s] of Object.entries(schema.properties ?? {})) yield* schemas(s, `${path}.${k}`);
  if (schema.items) yield* schemas(schema.items, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* schemas(schema.additionalProperties, `${path}{}`);
}

const openApi = (): JsonSchema => {
  const [version] = buildCrd().spec.versions;
  assert.ok(version);
  return version.schema.openAPIV3Schema;
};

describe('StreamApplication CRD', () => {
  it('crds/ and the chart (its CRD and RBAC rules) are up to date with the code (run `make crds`)', () => {
    for (const [path, content] of generatedFiles()) {
      assert.equal(readFileSync(repoFile(path), 'utf8'), content, `${path} is stale: run make crds`);
    }
  });

  it('is structural: every field has a type, or is int-or-string / preserves unknown fields', () => {
    for (const [path, s] of schemas(openApi())) {
      const typed =
        typeof s.type === 'string' ||
        s['x-kubernetes-int-or-string'] === true ||
        s['x-kubernetes-preserve-unknown-fields'] === true;
      assert.ok(typed, `${path || '(root)'} has no type`);
      assert.equal(s.additionalProperties === false, false, `${path} uses additionalProperties: false`);
      assert.ok(!(s.properties && s.additionalProperties), `${path} has both properties and additionalProperties`);
    }
  });

  it('describes every field, for kubectl explain', () => {
    for (const [path, s] of schemas(openApi())) {
      if (path === '.metadata' || path.endsWith('{}') || path.endsWith('[]')) continue;
      assert.ok(
        typeof s.description === 'string' && s.description.length > 0,
        `${path || '(root)'} has no description`,
      );
    }
  });

  it('maps the scale subresource to parallelism and has the status subresource', () => {
    const version = buildCrd().spec.versions[0];
    assert.deepEqual(version?.subresources, {
      status: {},
      scale: {
        specReplicasPath: '.spec.parallelism',
        statusReplicasPath: '.status.replicas',
        labelSelectorPath: '.status.selector',
      },
    });
  });

  it('has the short names and printer columns users look for', () => {
    const crd = buildCrd();
    assert.deepEqual(crd.spec.names.shortNames, ['sapp', 'streamapp']);
    const columns = crd.spec.versions[0]?.additionalPrinterColumns.map((c) => c.name);
    assert.deepEqual(columns, ['Phase', 'Ready', 'Parallelism', 'Image', 'Last-Savepoint', 'Lag', 'Age']);
  });

  it('needs no field that has a default', () => {
    for (const [path, s] of schemas(openApi())) {
      for (const name of s.required ?? []) {
        assert.equal(s.properties?.[name]?.default, undefined, `${path}.${name} is required yet has a default`);
      }
    }
  });
});
