import { names } from '../names.ts';
import type { KubePort } from '../ports.ts';
import type { TokenSource } from './client.ts';

/**
 * The runtime API token of an app, read from its Secret and cached: it never rotates while the app
 * lives, but an app deleted and created again under the same name has a new one, so `fresh` (asked
 * after a 401) reads the Secret again.
 */
export function secretToken(kube: Pick<KubePort, 'readSecretValue'>): TokenSource {
  const cache = new Map<string, string>();
  return async (app, fresh = false) => {
    const key = `${app.namespace}/${app.name}`;
    const hit = fresh ? undefined : cache.get(key);
    if (hit !== undefined) return hit;
    const token = await kube.readSecretValue(app.namespace, names(app.name).token, 'token');
    if (token !== undefined) {
      if (cache.size > 10_000) cache.clear();
      cache.set(key, token);
    }
    return token;
  };
}
