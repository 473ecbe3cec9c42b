import { names } from '../names.ts';
import type { KubePort } from '../ports.ts';
import type { AppRef } from './client.ts';

/** The runtime API token of an app, read from its Secret and cached (it never rotates). */
export function secretToken(kube: Pick<KubePort, 'readSecretValue'>): (app: AppRef) => Promise<string | undefined> {
  const cache = new Map<string, string>();
  return async (app) => {
    const key = `${app.namespace}/${app.name}`;
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
    const token = await kube.readSecretValue(app.namespace, names(app.name).token, 'token');
    if (token !== undefined) {
      if (cache.size > 10_000) cache.clear();
      cache.set(key, token);
    }
    return token;
  };
}
