// Act: carries out a decision's actions through the ports. Every action is idempotent, so a
// restarted operator may repeat the last pass's actions safely.
import { failureKind } from '../errors.ts';
import { RuntimeApiError } from '../runtime/client.ts';
import { randomBytes } from 'node:crypto';
import type { Action } from '../decide/types.ts';
import type { StreamApplication } from '../model.ts';
import type { KubePort } from '../ports.ts';
import type { AppRef, RuntimePort } from '../runtime/client.ts';
import { FINALIZER } from '../names.ts';
import { appManifests, compatibilityCheckManifests, tokenSecret, type AppIdentity } from './manifests.ts';

export interface ActPorts {
  kube: KubePort;
  runtime: RuntimePort;
  log: (msg: string) => void;
  /** A savepoint trigger the runtime answered with a refusal (observe reports it as failed). */
  refused?: (triggerId: string, why: string) => void;
}

export async function act(ports: ActPorts, app: StreamApplication, actions: readonly Action[]): Promise<void> {
  const id: AppIdentity = {
    name: app.metadata.name ?? '',
    namespace: app.metadata.namespace ?? '',
    uid: app.metadata.uid ?? '',
  };
  const ref: AppRef = { namespace: id.namespace, name: id.name };
  for (const a of actions) {
    switch (a.kind) {
      case 'apply':
        // Together: the pods that mount the Secret wait for it anyway.
        await Promise.all([
          ports.kube.createIfAbsent(tokenSecret(id, randomBytes(32).toString('base64url'))),
          ports.kube.apply(
            appManifests(id, a.spec, {
              specHash: a.specHash,
              ...(a.restoreFrom === undefined ? {} : { restoreFrom: a.restoreFrom }),
            }),
          ),
        ]);
        break;
      case 'deleteWorkloads':
        await ports.kube.deleteWorkloads(id.namespace, id.name);
        break;
      case 'triggerSavepoint':
        try {
          await ports.runtime.triggerSavepoint(ref, { requestId: a.id, stop: a.stop, trigger: a.trigger });
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          // Refused (the runtime answered no): the next pass records the failure. Not answered: the next
          // pass finds the savepoint unknown and asks again, until the phase's timeout.
          if (err instanceof RuntimeApiError && failureKind(err) !== 'transient') ports.refused?.(a.id, why);
          ports.log(`savepoint ${a.id} of ${id.namespace}/${id.name} not accepted: ${why}`);
        }
        break;
      case 'cancelSavepoint':
        try {
          const ended = await ports.runtime.cancelSavepoint(ref, a.id);
          ports.log(`savepoint ${a.id} of ${id.namespace}/${id.name}: cancel answered ${ended?.state ?? 'nothing'}`);
        } catch (err) {
          // Best effort: the next pass reads the savepoint's state and asks again while it is pending.
          ports.log(`could not cancel savepoint ${a.id}: ${err instanceof Error ? err.message : String(err)}`);
        }
        break;
      case 'disposeSavepoint':
        try {
          await ports.runtime.disposeSavepoint(ref, a.path);
        } catch (err) {
          // Best effort: a leftover savepoint costs storage, never correctness.
          ports.log(`could not dispose ${a.path}: ${err instanceof Error ? err.message : String(err)}`);
        }
        break;
      case 'startCompatibilityCheck': {
        const m = compatibilityCheckManifests(id, a.spec, {
          specHash: a.specHash,
          attempt: a.attempt,
          snapshot: a.snapshot,
        });
        await ports.kube.startCompatibilityCheck(m.job, m.configMapFor);
        break;
      }
      case 'deleteCompatibilityCheck':
        await ports.kube.deleteCompatibilityCheck(id.namespace, a.name);
        break;
      case 'removeFinalizer':
        await ports.kube.setFinalizer(app, FINALIZER, false);
        break;
    }
  }
}
