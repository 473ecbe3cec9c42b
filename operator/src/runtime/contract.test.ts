// The closed sets of values that the runtime contract (openapi.yaml), its TypeScript mirror
// (types.ts) and the CRD's status (api/schema.ts → crds/) share must stay one set each.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { CRD_FILE, JOB_STATES, SAVEPOINT_TRIGGERS } from '../api/index.ts';
import { runtimeApiDocument } from '@weir/runtime/api';
import { JobState, SavepointState, SavepointTrigger } from '@weir/runtime/api';

interface Schema {
  enum?: string[];
  properties?: Record<string, Schema>;
}

function documentEnum(schema: string, field: string): string[] | undefined {
  return (runtimeApiDocument().components.schemas[schema] as Schema).properties?.[field]?.enum;
}

function crdStatusEnum(...path: string[]): string[] | undefined {
  const crd = parse(readFileSync(new URL(`../../../${CRD_FILE}`, import.meta.url), 'utf8')) as {
    spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  let node: Schema | undefined = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.status;
  for (const p of path) node = node?.properties?.[p];
  return node?.enum;
}

describe('closed sets shared by the runtime contract and the CRD', () => {
  it('job states', () => {
    assert.deepEqual(documentEnum('JobSummary', 'state'), [...JobState]);
    assert.deepEqual([...JOB_STATES], [...JobState]);
    assert.deepEqual(crdStatusEnum('job', 'state'), [...JobState], 'status.job.state is an enum in crds/');
  });
  it('savepoint triggers', () => {
    assert.deepEqual(documentEnum('SavepointRequest', 'trigger'), [...SavepointTrigger]);
    assert.deepEqual([...SAVEPOINT_TRIGGERS], [...SavepointTrigger]);
    assert.deepEqual(crdStatusEnum('pendingSavepoint', 'trigger'), [...SavepointTrigger]);
  });
  it('savepoint states, CANCELED included', () => {
    assert.deepEqual(documentEnum('SavepointStatus', 'state'), [...SavepointState]);
    assert.ok(SavepointState.includes('CANCELED'));
  });
});
