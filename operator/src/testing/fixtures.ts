// Builders for tests: a valid spec, an observed world, a decide input.
import { defaultTuning, type DecideInput, type Observed } from '../decide/types.ts';
import type { StreamApplicationSpec, StreamApplicationStatus } from '../model.ts';
import type { RuntimeView } from '../runtime/client.ts';
import { loadValidationCases } from '../api/testdata/cases.ts';
import { formatErrors, validateStreamApplication } from '../model.ts';

/** A pipeline the API accepts, taken from the API's own validation cases so it tracks the schema. */
export function validPipeline(): Record<string, unknown> {
  const base = loadValidationCases().valid[0]?.object as { spec?: { pipeline?: Record<string, unknown> } } | undefined;
  const pipeline = base?.spec?.pipeline;
  if (pipeline === undefined) throw new Error('api/testdata/cases.yaml: the first valid case has no pipeline');
  return pipeline;
}

export const T0 = Date.parse('2026-01-01T00:00:00Z');

/** A valid spec, defaults applied by the API's own validation. */
export function spec(overrides: Partial<StreamApplicationSpec> = {}): StreamApplicationSpec {
  const result = validateStreamApplication({
    apiVersion: 'weir.dev/v1alpha1',
    kind: 'StreamApplication',
    metadata: { name: 'orders', namespace: 'ns' },
    spec: { image: 'weir/app:1', pipeline: validPipeline(), ...overrides },
  });
  if (!result.ok) throw new Error(`fixture spec is invalid: ${formatErrors(result.errors)}`);
  return result.value.spec;
}

export function runtime(
  overrides: {
    state?: RuntimeView['job']['state'];
    restarts?: number;
    completed?: number;
    startTime?: string;
    advancedAt?: string;
    lastCheckpoint?: string;
    failure?: string;
  } = {},
): RuntimeView {
  return {
    job: {
      state: overrides.state ?? 'RUNNING',
      restarts: overrides.restarts ?? 0,
      startTime: overrides.startTime ?? new Date(T0).toISOString(),
      ...(overrides.failure === undefined ? {} : { failure: overrides.failure }),
    },
    checkpoints: {
      completedSinceStart: overrides.completed ?? 0,
      ...(overrides.lastCheckpoint === undefined
        ? {}
        : { lastCompleted: { id: 7, time: new Date(T0).toISOString(), path: overrides.lastCheckpoint } }),
    },
    eventTime:
      overrides.advancedAt === undefined
        ? {}
        : { watermarkAdvancedAt: overrides.advancedAt, watermark: overrides.advancedAt },
  };
}

export function observed(overrides: Partial<Observed> = {}): Observed {
  return {
    nowMs: T0,
    workloads: { present: false, podsRemaining: 0 },
    ...overrides,
  };
}

export function input(parts: {
  spec?: StreamApplicationSpec;
  status?: StreamApplicationStatus;
  observed?: Partial<Observed>;
  generation?: number;
  deleting?: boolean;
}): DecideInput {
  return {
    generation: parts.generation ?? 1,
    deleting: parts.deleting ?? false,
    spec: parts.spec ?? spec(),
    validationErrors: [],
    status: parts.status ?? {},
    observed: observed(parts.observed),
    tuning: defaultTuning,
  };
}
