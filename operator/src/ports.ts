// The operator's narrow ports to the outside world; k8s/ and runtime/ implement them.
import type { KubeObject } from './names.ts';
import type { StreamApplication, StreamApplicationStatus } from './model.ts';

export interface Workloads {
  present: boolean;
  specHash?: string;
  podsRemaining: number;
}

export interface KubePort {
  /** Reads the app fresh from the API server (level-based: never trust an event's payload). */
  getApp(namespace: string, name: string): Promise<StreamApplication | undefined>;
  workloads(namespace: string, name: string): Workloads;
  /** Server-side apply, in order. */
  apply(objects: KubeObject[]): Promise<void>;
  /** Creates the object unless it exists (for the token Secret: never rotated by a re-apply). */
  createIfAbsent(object: KubeObject): Promise<void>;
  deleteWorkloads(namespace: string, name: string): Promise<void>;
  /**
   * Writes status (fields set to undefined are removed), guarded by the app's resourceVersion.
   * Returns the updated app.
   */
  writeStatus(app: StreamApplication, status: StreamApplicationStatus, removed: string[]): Promise<StreamApplication>;
  setFinalizer(app: StreamApplication, finalizer: string, present: boolean): Promise<StreamApplication | undefined>;
  event(app: StreamApplication, e: { type: 'Normal' | 'Warning'; reason: string; message: string }): Promise<void>;
  readSecretValue(namespace: string, name: string, key: string): Promise<string | undefined>;
  /** The app's pre-flight compatibility check Jobs, with the termination of their finished pod. */
  compatibilityChecks(namespace: string, app: string): Promise<CheckJobState[]>;
  /**
   * Container restarts of the app's pods of one deployment (read fresh: the caches hold metadata
   * only). Asked only when the runtime does not answer: crash-looping pods, or a slow API.
   */
  podRestarts(namespace: string, app: string, specHash: string | undefined): Promise<number>;
  /** Applies the check Job, then its ConfigMap (owned by the Job, so the Job's deletion removes it). */
  startCompatibilityCheck(job: KubeObject, configMapFor: (jobUid: string) => KubeObject): Promise<void>;
  /** Deletes a check Job with its pods and ConfigMap (absent is fine). */
  deleteCompatibilityCheck(namespace: string, name: string): Promise<void>;
}

/** A check Job as read from the cluster (observe turns it into a verdict). */
export interface CheckJobState {
  name: string;
  labels: Record<string, string>;
  conditions: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[];
  /** How the check container of the Job's newest terminated pod ended. */
  terminated?: { exitCode: number; reason?: string; message?: string };
}
