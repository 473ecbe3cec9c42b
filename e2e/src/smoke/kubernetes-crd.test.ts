/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   @kubernetes/client-node models are plain data classes that its API methods accept as object literals. */
// Smoke test of the StreamApplication CRD on a real kube-apiserver (+ controller manager):
// schema and CEL validation with their messages, the status and scale subresources (through
// kubectl), and owner-reference garbage collection.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { ApiException, CoreV1Api, CustomObjectsApi, loadYaml } from '@kubernetes/client-node';

import { installCrd, kubernetesForTests, kubernetesTools, pollUntil } from '../components/kubernetes.ts';

const repoFile = (path: string) => new URL(`../../../${path}`, import.meta.url);
const group = 'weir.dev';
const version = 'v1alpha1';
const plural = 'streamapplications';

type Json = Record<string, unknown>;
interface Case {
  readonly name: string;
  readonly patch: unknown;
  readonly old?: unknown;
  readonly expect?: { readonly path: string; readonly message: string };
  readonly apiserverMessage?: string;
  /** `accepts`: the API server cannot judge the case (spec.pipeline is opaque to it). */
  readonly apiserver?: 'accepts';
}
// Shared with the operator's in-code validation test; see the file's header.
const cases = loadYaml<{ base: Json; valid: Case[]; invalid: Case[] }>(
  readFileSync(repoFile('operator/src/api/testdata/cases.yaml'), 'utf8'),
);

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** JSON merge patch (RFC 7386), as the cases file specifies. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: Json = isObject(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) result[key] = mergePatch(result[key], value);
  return Object.fromEntries(Object.entries(result).filter(([key]) => patch[key] !== null));
}

/** The case's object in `namespace`, renamed unless the case is about the name. */
function caseObject(patch: unknown, namespace: string, name: string): Json {
  const object = mergePatch(cases.base, patch) as Json & { metadata: Json };
  const patchesName = isObject(patch) && isObject(patch.metadata) && 'name' in patch.metadata;
  object.metadata = { ...object.metadata, namespace, ...(patchesName ? {} : { name }) };
  return object;
}

/** The API server's message for a rejected request. */
function rejection(error: unknown): string {
  if (!(error instanceof ApiException)) throw error;
  const body: unknown = typeof error.body === 'string' ? JSON.parse(error.body) : error.body;
  return `${error.code} ${isObject(body) && typeof body.message === 'string' ? body.message : String(error.body)}`;
}

const cluster = await kubernetesForTests();

describe('StreamApplication CRD on a real API server', { skip: cluster.available ? false : cluster.reason }, () => {
  if (!cluster.available) return;
  const { kubeConfig, kubeconfigPath } = cluster.component;
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const namespace = `weir-crd-${randomBytes(4).toString('hex')}`;
  const tools = kubernetesTools();
  const kubectlBinary = existsSync(tools.kubectl) ? tools.kubectl : 'kubectl';
  const kubectl = (...args: string[]) =>
    promisify(execFile)(kubectlBinary, ['--kubeconfig', kubeconfigPath, '-n', namespace, ...args]);

  const create = (body: Json, dryRun?: 'All') =>
    custom.createNamespacedCustomObject({ group, version, namespace, plural, body, fieldValidation: 'Strict', dryRun });
  const read = async (name: string) =>
    (await custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as Json & {
      metadata: Json;
      spec: Json;
      status?: Json;
    };

  /** Replace the stored object (an update, for transition rules), at the version read now or given. */
  const update = async (name: string, object: Json, current?: { metadata: Json }): Promise<unknown> => {
    const resourceVersion = (current ?? (await read(name))).metadata.resourceVersion;
    return custom.replaceNamespacedCustomObject({
      group,
      version,
      namespace,
      plural,
      name,
      fieldValidation: 'Strict',
      body: { ...object, metadata: { ...(object.metadata as Json), resourceVersion } },
    });
  };

  before(async () => {
    await installCrd(kubeConfig, repoFile('crds/streamapplications.weir.dev.yaml'));
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  describe('accepts valid resources', () => {
    cases.valid.forEach((c, i) => {
      it(c.name, async () => {
        const name = `valid-${i}`;
        if (c.old !== undefined) await create(caseObject(c.old, namespace, name));
        const object = caseObject(c.patch, namespace, name);
        if (c.old === undefined) {
          await create(object);
        } else {
          await update(name, object);
        }
        // Defaults from the schema are filled in by the server.
        const stored = await read(name);
        assert.equal(typeof stored.spec.parallelism, 'number');
        assert.equal(typeof stored.spec.maxParallelism, 'number');
      });
    });
  });

  describe('rejects invalid resources with their messages', () => {
    cases.invalid.forEach((c, i) => {
      if (c.apiserver === 'accepts') {
        // The contract the operator relies on: these pass the API server, so the operator must reject them.
        it(`${c.name} (passes the API server; only the operator rejects it)`, async () => {
          await create(caseObject(c.patch, namespace, `operator-only-${i}`), 'All');
        });
        return;
      }
      it(c.name, async () => {
        const expected = c.apiserverMessage ?? c.expect?.message;
        assert.ok(expected, `case "${c.name}" names no expected message`);
        const name = `invalid-${i}`;
        let attempt: () => Promise<unknown>;
        if (c.old === undefined) {
          attempt = () => create(caseObject(c.patch, namespace, name), 'All');
        } else {
          // A transition rule: store the old object, then update it.
          await create(caseObject(c.old, namespace, name));
          const current = await read(name);
          attempt = () => update(name, caseObject(c.patch, namespace, name), current);
        }
        const message = await attempt().then(() => assert.fail(`the API server accepted "${c.name}"`), rejection);
        assert.match(message, /^4\d\d /, message);
        assert.ok(message.includes(expected), `expected "${expected}" in: ${message}`);
      });
    });
  });

  describe('subresources', () => {
    const name = 'subresources';
    before(async () => {
      await create(caseObject({}, namespace, name));
    });

    it('writes status only through the status subresource', async () => {
      const status = { phase: 'Running', replicas: 1, selector: `app.kubernetes.io/instance=${name}` };
      const current = await read(name);
      // Through /status: the status is stored, a spec change in the same request is ignored.
      await custom.replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace,
        plural,
        name,
        body: { ...current, spec: { ...current.spec, parallelism: 7 }, status },
      });
      let stored = await read(name);
      assert.deepEqual(stored.status, status);
      assert.equal(stored.spec.parallelism, 1);

      // Through the main resource: a status change is ignored.
      await custom.replaceNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name,
        body: { ...stored, status: { ...status, phase: 'Failed' } },
      });
      stored = await read(name);
      assert.equal(stored.status?.phase, 'Running');

      // The status schema is enforced too.
      const invalid = await custom
        .replaceNamespacedCustomObjectStatus({
          group,
          version,
          namespace,
          plural,
          name,
          body: { ...stored, status: { ...status, phase: 'Bogus' } },
        })
        .then(() => assert.fail('an unknown phase was accepted'), rejection);
      assert.match(invalid, /status\.phase: Unsupported value: "Bogus"/);
    });

    it('scales parallelism with kubectl scale, within maxParallelism', async () => {
      await kubectl('scale', `streamapplication/${name}`, '--replicas=3');
      assert.equal((await read(name)).spec.parallelism, 3);

      const { stdout } = await kubectl('get', `streamapplication/${name}`, '--subresource=scale', '-o', 'json');
      const scale = JSON.parse(stdout) as { spec: { replicas: number }; status: Json };
      assert.equal(scale.spec.replicas, 3);
      assert.equal(scale.status.selector, `app.kubernetes.io/instance=${name}`);

      // maxParallelism defaults to 128: the CEL rule rejects scaling past it.
      const failed = await kubectl('scale', `streamapplication/${name}`, '--replicas=200').then(
        () => assert.fail('kubectl scale past maxParallelism succeeded'),
        (error: unknown) => String((error as { stderr?: unknown }).stderr),
      );
      assert.match(failed, /maxParallelism must be greater than or equal to parallelism/);
      assert.equal((await read(name)).spec.parallelism, 3);
    });
  });

  describe('garbage collection of owned objects', () => {
    // The garbage collector may only notice a new resource type at its next discovery resync (30 s).
    const gcTimeoutMs = 90_000;
    const gone = (name: string) =>
      pollUntil(
        async () => {
          const found = await core.readNamespacedConfigMap({ namespace, name }).then(
            () => true,
            (error: unknown) => {
              if (error instanceof ApiException && error.code === 404) return false;
              throw error;
            },
          );
          if (found) throw new Error(`ConfigMap ${name} still exists`);
        },
        gcTimeoutMs,
        250,
      );
    const ownerRef = (o: { apiVersion: string; kind: string; metadata: Json }) => ({
      apiVersion: o.apiVersion,
      kind: o.kind,
      name: String(o.metadata.name),
      uid: String(o.metadata.uid),
      blockOwnerDeletion: true,
    });

    it('deletes a ConfigMap owned by a deleted StreamApplication (background propagation)', async () => {
      const app = (await create(caseObject({}, namespace, 'owner'))) as Json & { metadata: Json };
      await core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: {
            name: 'owned-by-app',
            ownerReferences: [
              {
                ...ownerRef({ apiVersion: `${group}/${version}`, kind: 'StreamApplication', metadata: app.metadata }),
                controller: true,
              },
            ],
          },
          data: { k: 'v' },
        },
      });
      await custom.deleteNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name: 'owner',
        propagationPolicy: 'Background',
      });
      await gone('owned-by-app');
    });

    it('deletes a chain of owned ConfigMaps when the root is deleted', async () => {
      const root = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: 'root' } } });
      const child = await core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: {
            name: 'child',
            ownerReferences: [ownerRef({ apiVersion: 'v1', kind: 'ConfigMap', metadata: root.metadata as Json })],
          },
        },
      });
      await core.createNamespacedConfigMap({
        namespace,
        body: {
          metadata: {
            name: 'grandchild',
            ownerReferences: [ownerRef({ apiVersion: 'v1', kind: 'ConfigMap', metadata: child.metadata as Json })],
          },
        },
      });
      await core.deleteNamespacedConfigMap({ namespace, name: 'root', propagationPolicy: 'Background' });
      await gone('child');
      await gone('grandchild');
    });
  });
});
