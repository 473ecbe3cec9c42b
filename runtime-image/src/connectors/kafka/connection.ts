import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** How to reach the brokers: what the operator writes into `runtime.json` plus the secrets it mounts. */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly tls?:
    | { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined }
    | undefined;
  readonly sasl?:
    { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string } | undefined;
}

export interface ConnectionSettings {
  readonly bootstrapServers?: readonly string[] | undefined;
  readonly tls?: boolean | undefined;
  readonly sasl?: SaslMechanism | null | undefined;
}

/** Where the operator mounts the TLS files (`operator/src/act/manifests.ts`). */
export const KAFKA_TLS_DIR = '/etc/weir/kafka';

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Resolves a connection from settings (pipeline or runtime config), the environment
 * (`WEIR_KAFKA_BOOTSTRAP`, `WEIR_KAFKA_USERNAME`, `WEIR_KAFKA_PASSWORD`, `WEIR_KAFKA_TLS_DIR`) and the
 * mounted PEM files (`ca.pem`, `cert.pem`, `key.pem`); errors name the missing piece.
 */
export function resolveConnection(s: ConnectionSettings, env: NodeJS.ProcessEnv = process.env): KafkaConnection {
  const brokers =
    s.bootstrapServers ??
    (env.WEIR_KAFKA_BOOTSTRAP ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
  if (brokers.length === 0) {
    throw new Error('kafka: no brokers: set bootstrapServers in the pipeline or WEIR_KAFKA_BOOTSTRAP (host:port,...)');
  }
  const dir = env.WEIR_KAFKA_TLS_DIR ?? KAFKA_TLS_DIR;
  let tls: KafkaConnection['tls'];
  if (s.tls === true) {
    const [ca, cert, key] = ['ca', 'cert', 'key'].map((f) => readIfPresent(join(dir, `${f}.pem`)));
    if ((cert === undefined) !== (key === undefined)) {
      throw new Error(`kafka: mutual TLS needs both ${join(dir, 'cert.pem')} and ${join(dir, 'key.pem')}`);
    }
    tls = { ca, cert, key };
  }
  let sasl: KafkaConnection['sasl'];
  if (s.sasl !== undefined && s.sasl !== null) {
    const username = env.WEIR_KAFKA_USERNAME;
    const password = env.WEIR_KAFKA_PASSWORD;
    if (username === undefined || password === undefined) {
      throw new Error(`kafka: SASL ${s.sasl} needs WEIR_KAFKA_USERNAME and WEIR_KAFKA_PASSWORD`);
    }
    sasl = { mechanism: s.sasl, username, password };
  }
  return { brokers: [...brokers], tls, sasl };
}
