// Reaching an app's runtime from outside the cluster: through the API server's service proxy,
// authenticated as the operator (so it runs on a laptop against any cluster).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { names, RUNTIME_API_PORT } from '../names.ts';
import type { AppRef, HttpResponse, RuntimeTransport } from '../runtime/client.ts';

export function serviceProxyUrl(server: string, app: AppRef, path: string): string {
  const service = `http:${names(app.name).coordinator}:${RUNTIME_API_PORT}`;
  return `${server.replace(/\/$/, '')}/api/v1/namespaces/${encodeURIComponent(app.namespace)}/services/${service}/proxy${path}`;
}

/** In-cluster: straight to the app's coordinator Service. */
export function serviceUrl(app: AppRef): string {
  return `http://${names(app.name).coordinator}.${app.namespace}.svc:${RUNTIME_API_PORT}`;
}

export function serviceProxyTransport(kc: KubeConfig, timeoutMs = 5_000): RuntimeTransport {
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined)
    throw new Error('kubeconfig has no current cluster: cannot reach runtimes through the API server proxy');
  return async (app, req) => {
    const url = new URL(serviceProxyUrl(server, app, req.path));
    const opts: RequestOptions = { method: req.method, headers: { accept: 'application/json' }, timeout: timeoutMs };
    await kc.applyToHTTPSOptions(opts);
    const headers = (opts.headers ?? {}) as Record<string, string>;
    if (req.token !== undefined) headers['x-weir-token'] = req.token;
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    opts.headers = headers;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<HttpResponse>((resolve, reject) => {
      const r = send(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? undefined : JSON.parse(text);
          } catch {
            // The proxy's own errors are not always JSON; keep the text.
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      r.on('timeout', () => r.destroy(new TypeError(`runtime of ${app.namespace}/${app.name} timed out`)));
      r.on('error', (e) => {
        reject(e instanceof TypeError ? e : new TypeError(e.message));
      });
      r.end(body);
    });
  };
}
