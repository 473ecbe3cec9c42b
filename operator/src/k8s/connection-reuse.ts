// @kubernetes/client-node 2.0 builds a new undici Agent (so a new TLS connection) for every
// request: ~75 ms per call against a loaded apiserver instead of ~5 ms, and much garbage. This
// makes a KubeConfig reuse one dispatcher per cluster and TLS identity.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';

const patched = new WeakSet<KubeConfig>();

type CreateDispatcher = (
  cluster: { server?: string; proxyUrl?: string } | null,
  agentOptions: Record<string, unknown>,
) => unknown;

export function reuseConnections(kc: KubeConfig): KubeConfig {
  if (patched.has(kc)) return kc;
  const original = Reflect.get(kc, 'createDispatcher') as CreateDispatcher | undefined;
  // Another client-node version: leave it alone rather than break it.
  if (typeof original !== 'function') return kc;
  const cache = new Map<string, unknown>();
  const create: CreateDispatcher = (cluster, agentOptions) => {
    const identity = createHash('sha256');
    for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
      const v = agentOptions[k];
      identity.update(`${k}=${fingerprint(v)};`);
    }
    const key = `${cluster?.server ?? ''}|${cluster?.proxyUrl ?? ''}|${identity.digest('hex')}`;
    if (!cache.has(key)) cache.set(key, original.call(kc, cluster, agentOptions));
    return cache.get(key);
  };
  Reflect.set(kc, 'createDispatcher', create);
  patched.add(kc);
  return kc;
}

function fingerprint(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  return v === undefined ? '' : JSON.stringify(v);
}
