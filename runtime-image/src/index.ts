// The public surface of @weir/runtime. Everything else is internal.

// Dataflow API
export {
  PipelineBuilder,
  Stream,
  KeyedStream,
  WindowedStream,
  tumbling,
  sliding,
  session,
  type OperatorOptions,
} from './graph/builder.ts';
export { count, sum, min, max, avg, reduce, composite, type AggregateFunction } from './graph/aggregates.ts';
export {
  validateGraph,
  type Graph,
  type GraphNode,
  type NodeKind,
  type Edge,
  type LatenessPolicy,
} from './graph/graph.ts';
export type { WindowResult } from './operators/window.ts';
export type { KeyedProcessFunction, ProcessContext, StateDeclaration } from './operators/process.ts';
export type { AsyncIoOptions } from './operators/async-io.ts';
export type { ValueState, MapState, ListState } from './state/keyed-state.ts';
export type { TimeDomain } from './state/timers.ts';

// Event time and key groups
export { MIN_WATERMARK, MAX_WATERMARK, type WatermarkStrategy } from './core/watermarks.ts';
export type { TimeWindow, WindowSpec } from './core/windows.ts';
export {
  DEFAULT_MAX_PARALLELISM,
  keyGroupOf,
  keyGroupRangeFor,
  stableHash,
  taskIndexForKeyGroup,
  type KeyGroupRange,
} from './core/key-groups.ts';

// Jobs: the handle the CLI and the control API drive
export {
  startJob,
  JobState,
  type Job,
  type JobOptions,
  type JobMetrics,
  type JobResult,
  type CheckpointInfo,
  type CheckpointOptions,
  type SavepointRequest,
  type FaultSwitches,
} from './runtime/executor.ts';

// Snapshots
export {
  checkSavepointCompatibility,
  formatCompatibility,
  type CompatibilityOptions,
  type CompatibilityProblem,
  type CompatibilityReport,
} from './snapshot/compat.ts';
export {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  readManifest,
  parseManifest,
  latestCheckpoint,
  resolveSnapshotPath,
  type SnapshotManifest,
  type OperatorSnapshot,
} from './snapshot/format.ts';

// Connectors
export type {
  Json,
  SourceConnector,
  SourceSplit,
  SourceContext,
  SourceRecord,
  PollResult,
  SinkConnector,
  SinkContext,
} from './connectors/contract.ts';
export { generatorSource, type GeneratorOptions, type AdEvent } from './connectors/generator.ts';
export { fileSource, type FileSourceOptions } from './connectors/file-source.ts';
export { transactionalFileSink, readCommittedLines, type FileSinkOptions } from './connectors/file-sink.ts';
export { consoleSink, discardSink } from './connectors/console-sink.ts';
export { SinkBuffer, type BufferOptions } from './connectors/buffering.ts';

// Declarative pipelines (YAML, and the StreamApplication CRD's spec.pipeline)
export { pipelineJsonSchema, PipelineSpec } from './pipeline/schema.ts';
export {
  validatePipeline,
  parsePipelineYaml,
  formatPipelineErrors,
  type PipelineError,
  type PipelineValidation,
} from './pipeline/validate.ts';
export { compilePipeline, parseDuration, type CompiledPipeline } from './pipeline/compile.ts';
export { compileExpression } from './pipeline/expressions.ts';

// A user module (spec.entrypoint) exports an Entrypoint as its default
export type { Entrypoint, EntrypointContext } from './service/dataflow.ts';
