// The dataflow a runtime pod runs: the inline pipeline the operator mounts (pipeline.json next to
// runtime.json), or a user's module (spec.entrypoint) whose default export builds the graph.
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KafkajsPort } from '../connectors/kafka/kafkajs.ts';
import { resolveConnection, type ConnectionSettings } from '../connectors/kafka/connection.ts';
import type { Graph } from '../graph/graph.ts';
import { compilePipeline } from '../pipeline/compile.ts';
import { KafkaClients } from '../pipeline/connectors.ts';
import { formatPipelineErrors, parsePipelineYaml } from '../pipeline/validate.ts';
import type { RuntimeConfig } from './config.ts';

/** What a user module's default export is given. */
export interface EntrypointContext {
  /** The StreamApplication's `spec.config`. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The Kafka connection settings of the app (`spec.kafka`), when it has them. */
  readonly kafka: ConnectionSettings | undefined;
  /** Kafka connectors built with these clients share the job's one transaction per epoch. */
  readonly clients: KafkaClients;
}

export type Entrypoint = (ctx: EntrypointContext) => Graph | Promise<Graph>;

export interface Dataflow {
  readonly graph: Graph;
  /** From the pipeline, when it sets one (the app's spec decides otherwise). */
  readonly checkpointIntervalMs: number | undefined;
  /** The clients its Kafka connectors use (the keyed exchange joins their transaction). */
  readonly kafka: KafkaClients;
}

/** Kafka blocks of the pipeline that name no brokers use the app's (`spec.kafka`, in runtime.json). */
export function appKafkaClients(config: RuntimeConfig, env: NodeJS.ProcessEnv = process.env): KafkaClients {
  const app = config.kafka;
  return new KafkaClients((s) =>
    Promise.resolve(
      new KafkajsPort(
        resolveConnection(
          {
            bootstrapServers: s.bootstrapServers ?? app?.bootstrapServers,
            tls: s.tls ?? app?.tls,
            sasl: s.sasl ?? app?.sasl,
          },
          env,
        ),
      ),
    ),
  );
}

/** Builds the dataflow anew (connectors are single-use: every (re)start of the job needs fresh ones). */
export async function loadDataflow(
  source: { readonly pipelineFile?: string | undefined; readonly entrypoint?: string | undefined },
  config: RuntimeConfig,
  kafka: KafkaClients = appKafkaClients(config),
): Promise<Dataflow> {
  if (source.entrypoint !== undefined) {
    const path = isAbsolute(source.entrypoint) ? source.entrypoint : resolve(source.entrypoint);
    const mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
    const build = mod.default;
    if (typeof build !== 'function') {
      throw new Error(`WEIR_ENTRYPOINT ${source.entrypoint}: its default export must be a function (ctx) => Graph`);
    }
    const app = config.kafka;
    const graph = await (build as Entrypoint)({
      config: config.config,
      kafka: app === null ? undefined : { bootstrapServers: app.bootstrapServers, tls: app.tls, sasl: app.sasl },
      clients: kafka,
    });
    return { graph, checkpointIntervalMs: undefined, kafka };
  }
  const file = source.pipelineFile;
  if (file === undefined) throw new Error('neither a pipeline file nor WEIR_ENTRYPOINT: nothing to run');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(
      `cannot read the pipeline ${file} (spec.pipeline, mounted from the app's ConfigMap): ${(err as Error).message}`,
      { cause: err },
    );
  }
  const parsed = parsePipelineYaml(text);
  if (!parsed.ok) throw new Error(formatPipelineErrors(parsed.errors, file));
  const c = compilePipeline(parsed.pipeline, { baseDir: dirname(file), kafka });
  return { graph: c.graph, checkpointIntervalMs: c.checkpointIntervalMs, kafka };
}
