// The runtime as a service (`@weir/runtime/service`): the coordinator, its control API, workers.
export { buildControlApi, tokenMatches, type ControlApiDeps } from './http/app.ts';
export { Coordinator, type CoordinatorOptions } from './coordinator.ts';
export { Worker, type WorkerOptions } from './worker.ts';
export type { ControlPort } from './control.ts';
export {
  loadProcessSettings,
  parseRuntimeConfig,
  deploymentCheckpointDir,
  workerIndex,
  type RuntimeConfig,
  type ProcessSettings,
} from './config.ts';
export { loadDataflow, type Entrypoint, type EntrypointContext } from './dataflow.ts';
