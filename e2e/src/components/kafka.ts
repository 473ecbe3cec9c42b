// A real Kafka broker for tests: `kafka()` starts (or reuses) one and says how to reach it.
//
// Providers, chosen by the environment (see `selectKafkaProvider`):
//  - external:        KAFKA_BROKERS=host:port[,host:port] names a running broker; used as is.
//  - host (default):  a single-node KRaft broker run as a host process by e2e/infra/kafka.sh
//                     (jars from Maven Central), shared by every test process and left running.
//  - testcontainers:  WEIR_COMPONENTS=testcontainers runs a Kafka container (needs Docker that can pull).
import { readdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';

import { availableForTests, runDir, runInfraScript, waitFor, type Availability } from './component.ts';

export const KafkaProviderKind = {
  external: 'external',
  host: 'host',
  testcontainers: 'testcontainers',
} as const;
export type KafkaProviderKind = (typeof KafkaProviderKind)[keyof typeof KafkaProviderKind];

export type KafkaProvider =
  | { readonly kind: 'external'; readonly brokers: readonly string[] }
  | { readonly kind: 'host' }
  | { readonly kind: 'testcontainers'; readonly image: string };

export interface KafkaBroker {
  readonly provider: KafkaProviderKind;
  /** Bootstrap addresses for clients on this host, e.g. ["127.0.0.1:19092"]. */
  readonly brokers: readonly string[];
  /**
   * Bootstrap addresses for containers and pods on this host's docker network (the host
   * broker's listener on the bridge gateway); empty when there is none.
   */
  readonly bridgeBrokers: readonly string[];
  /** A SASL_PLAINTEXT listener (SCRAM-SHA-512 and PLAIN) with its test user, where the broker has one. */
  readonly sasl?: SaslListener | undefined;
  /** Stops what this process started (a container); a shared host broker is left running. */
  stop(): Promise<void>;
}

/** Confluent Platform 7.9 carries Apache Kafka 3.9, as the host broker (kafkajs cannot speak Kafka 4). */
export const defaultKafkaImage = 'confluentinc/cp-kafka:7.9.2';

const infraDir = fileURLToPath(new URL('../../infra/', import.meta.url));
// A cold start fetches the jars from Maven Central first.
const hostStartTimeoutMs = 20 * 60_000;
const readyTimeoutMs = 60_000;

/** Parse a comma-separated list of host:port bootstrap addresses; names the bad entry. */
export function parseBrokers(value: string, source = 'KAFKA_BROKERS'): string[] {
  const entries = value.split(',').map((entry) => entry.trim());
  for (const entry of entries) {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65535) {
      throw new Error(`${source}: expected host:port entries separated by commas, got "${entry}" in "${value}"`);
    }
  }
  return entries;
}

/** Decide which broker to use from the environment; bad values are errors, not silent defaults. */
export function selectKafkaProvider(env: NodeJS.ProcessEnv): KafkaProvider {
  const components = env.WEIR_COMPONENTS ?? 'host';
  if (components !== 'host' && components !== 'testcontainers') {
    throw new Error(`WEIR_COMPONENTS must be "host" or "testcontainers", got "${components}"`);
  }
  const brokers = env.KAFKA_BROKERS;
  if (brokers !== undefined && brokers.trim() !== '') {
    return { kind: 'external', brokers: parseBrokers(brokers) };
  }
  if (components === 'testcontainers') {
    return { kind: 'testcontainers', image: env.WEIR_KAFKA_IMAGE ?? defaultKafkaImage };
  }
  return { kind: 'host' };
}

export interface SaslListener {
  readonly brokers: readonly string[];
  readonly username: string;
  readonly password: string;
}

export interface HostBrokerConnection {
  readonly version: string;
  readonly brokers: readonly string[];
  readonly bridgeBrokers: readonly string[];
  readonly sasl?: SaslListener | undefined;
}

/** Parse the connection.json that kafka.sh writes once its broker is ready. */
export function parseHostConnection(text: string): HostBrokerConnection {
  const data: unknown = JSON.parse(text);
  const strings = (value: unknown): value is string[] =>
    Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (typeof data !== 'object' || data === null) throw new Error('connection.json: expected an object');
  const { version, brokers, bridgeBrokers, sasl } = data as Record<string, unknown>;
  if (typeof version !== 'string') throw new Error('connection.json: "version" must be a string');
  if (!strings(brokers) || brokers.length === 0) {
    throw new Error('connection.json: "brokers" must be a non-empty list of host:port');
  }
  if (!strings(bridgeBrokers)) throw new Error('connection.json: "bridgeBrokers" must be a list of host:port');
  let saslListener: SaslListener | undefined;
  if (sasl !== undefined) {
    const s = sasl as Record<string, unknown>;
    if (!strings(s.brokers) || typeof s.username !== 'string' || typeof s.password !== 'string') {
      throw new Error('connection.json: "sasl" must have brokers, username and password');
    }
    saslListener = {
      brokers: parseBrokers(s.brokers.join(','), 'connection.json sasl'),
      username: s.username,
      password: s.password,
    };
  }
  return {
    version,
    brokers: parseBrokers(brokers.join(','), 'connection.json brokers'),
    bridgeBrokers: bridgeBrokers.length === 0 ? [] : parseBrokers(bridgeBrokers.join(','), 'connection.json'),
    ...(saslListener === undefined ? {} : { sasl: saslListener }),
  };
}

let shared: Promise<KafkaBroker> | undefined;

/** Start or reuse the test broker and wait until it answers metadata requests. One per process. */
export function kafka(): Promise<KafkaBroker> {
  shared ??= connect(selectKafkaProvider(process.env)).catch((error: unknown) => {
    shared = undefined; // let a later call retry rather than remember the failure
    throw error;
  });
  return shared;
}

/** For test files: the broker, or (outside CI only) a loud reason to skip. */
export function kafkaForTests(): Promise<Availability<KafkaBroker>> {
  return availableForTests('Kafka', kafka);
}

async function connect(provider: KafkaProvider): Promise<KafkaBroker> {
  switch (provider.kind) {
    case 'external': {
      await waitUntilServing(provider.brokers, readyTimeoutMs);
      return { provider: provider.kind, brokers: provider.brokers, bridgeBrokers: [], stop: () => Promise.resolve() };
    }
    case 'host': {
      await runInfraScript(join(infraDir, 'kafka.sh'), ['up'], hostStartTimeoutMs);
      const file = join(runDir(process.env, 'kafka'), 'connection.json');
      const connection = parseHostConnection(await readFile(file, 'utf8'));
      await waitUntilServing(connection.brokers, readyTimeoutMs);
      return {
        provider: provider.kind,
        brokers: connection.brokers,
        bridgeBrokers: connection.bridgeBrokers,
        sasl: connection.sasl,
        stop: () => Promise.resolve(),
      };
    }
    case 'testcontainers':
      return startContainer(provider.image);
  }
}

async function startContainer(image: string): Promise<KafkaBroker> {
  // Loaded lazily: only this provider needs a Docker client.
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const container = await new KafkaContainer(image)
    .withKraft()
    // The same broker settings as the host broker: transactions on one replica, explicit topics.
    .withEnvironment({
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .start();
  const brokers = [`${container.getHost()}:${container.getMappedPort(9093)}`];
  try {
    await waitUntilServing(brokers, readyTimeoutMs);
  } catch (error) {
    await container.stop();
    throw error;
  }
  return {
    provider: 'testcontainers',
    brokers,
    bridgeBrokers: [],
    stop: async () => {
      await container.stop();
    },
  };
}

/** A kafkajs client for a test broker; quiet unless something is wrong. */
export function kafkaClient(broker: Pick<KafkaBroker, 'brokers'>, clientId: string, config: Partial<KafkaConfig> = {}) {
  return new Kafka({ clientId, brokers: [...broker.brokers], logLevel: logLevel.ERROR, ...config });
}

/** Poll until the broker answers a metadata request with at least one broker. */
export async function waitUntilServing(brokers: readonly string[], timeoutMs: number): Promise<void> {
  const admin = new Kafka({
    clientId: 'weir-readiness',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await waitFor(async () => {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('the cluster reports no brokers');
    }, timeoutMs);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Kafka at ${brokers.join(',')} not serving after ${timeoutMs} ms: ${reason}`, { cause: error });
  } finally {
    await admin.disconnect();
  }
}

/** Create a topic and wait until its partitions have leaders. Fails if it already exists. */
export async function createTopic(
  broker: Pick<KafkaBroker, 'brokers'>,
  topic: string,
  numPartitions = 1,
): Promise<void> {
  const admin = kafkaClient(broker, 'weir-tests-admin').admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: false });
    if (!created) throw new Error(`topic ${topic} already exists`);
    // Then every partition has a leader. kafkajs' waitForLeaders gives up on UNKNOWN_TOPIC_OR_PARTITION,
    // which a busy broker answers for a moment after creating the topic.
    await waitFor(
      async () => {
        const md = await admin.fetchTopicMetadata({ topics: [topic] });
        const ps = md.topics.find((t) => t.name === topic)?.partitions ?? [];
        if (ps.length < numPartitions || ps.some((p) => p.leader < 0))
          throw new Error(`topic ${topic} has no leaders yet`);
      },
      30_000,
      100,
    );
  } finally {
    await admin.disconnect();
  }
}

export interface BrokerTransaction {
  readonly transactionalId: string;
  readonly state: string;
}

/** Parses `kafka-transactions.sh list` output (a header, then id, coordinator, producer id, state). */
export function parseTransactionList(text: string): BrokerTransaction[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 4 && cols[0] !== undefined && cols[0] !== '')
    .map((cols) => ({ transactionalId: cols[0] ?? '', state: cols[3] ?? '' }));
}

/**
 * Asks the broker for its transactions, as `kafka-transactions.sh list` does (kafkajs has no
 * ListTransactions), with the Kafka jars kafka.sh fetched; the answer is the broker's own.
 */
export async function listTransactions(
  broker: Pick<KafkaBroker, 'brokers'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BrokerTransaction[]> {
  const cache = env.WEIR_CACHE ?? join(env.HOME ?? homedir(), '.cache', 'weir');
  const homes = (await readdir(cache).catch(() => [])).filter((d) => d.startsWith('kafka-')).sort();
  const home = homes.at(-1);
  if (home === undefined) throw new Error(`no Kafka jars under ${cache} (make kafka fetches them)`);
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(
      'java',
      [
        '-cp',
        join(cache, home, 'lib', '*'),
        `-Dlog4j.configuration=file:${join(infraDir, 'kafka', 'log4j.properties')}`,
        'org.apache.kafka.tools.TransactionsCommand',
        '--bootstrap-server',
        broker.brokers.join(','),
        'list',
      ],
      { timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`kafka-transactions list failed: ${error.message}\n${stderr}`, { cause: error }));
        else resolve(stdout);
      },
    );
  });
  return parseTransactionList(out);
}
