// A watch that cannot reach the API server must show in /healthz, and must not stop the process.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { pollFor } from './testing/harness.ts';
import { makeInformers, type InformerSet } from './informers.ts';

describe('informer health', () => {
  let server: Server;
  let informers: InformerSet;
  const logged: string[] = [];

  before(async () => {
    // An API server that fails every list and watch.
    server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"kind":"Status","status":"Failure","code":503}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'down', server: `http://127.0.0.1:${String(port)}` }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'c', cluster: 'down', user: 'u' }],
      currentContext: 'c',
    });
    informers = makeInformers(
      kc,
      { all: false, namespaces: ['ns'] },
      () => undefined,
      (m) => logged.push(m),
    );
  });
  after(async () => {
    await informers.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('reports the failing watches once they have failed for longer than asked, and keeps retrying', async () => {
    await informers.start();
    const failing = await pollFor('all four watches to fail', () =>
      Promise.resolve(informers.failingFor(0).length === 4 ? informers.failingFor(0) : undefined),
    );
    assert.deepEqual(failing.sort(), [
      'deployments/namespaces/ns',
      'pods/namespaces/ns',
      'statefulsets/namespaces/ns',
      'streamapplications/namespaces/ns',
    ]);
    // Within the grace period the operator still counts as healthy.
    assert.deepEqual(informers.failingFor(60_000), []);
    assert.ok(logged.some((m) => /watch of streamapplications\/namespaces\/ns failed .* relisting in \d+ ms/.test(m)));
  });
});
