// The operator's side of the runtime control API (openapi.yaml): a narrow port and its HTTP client.
import { OperatorError } from '../errors.ts';
import type {
  CheckpointSummary,
  CompatibilityRequest,
  CompatibilityResult,
  EventTimeSummary,
  JobSummary,
  SavepointRequest,
  SavepointStatus,
} from '@weir/runtime/api';

/** Everything the operator reads from a running job in one observation. */
export interface RuntimeView {
  job: JobSummary;
  checkpoints: CheckpointSummary;
  eventTime: EventTimeSummary;
}

export interface AppRef {
  namespace: string;
  name: string;
}

export interface RuntimePort {
  /** The job, its checkpoints and event time; undefined when the runtime does not answer. */
  view(app: AppRef): Promise<RuntimeView | undefined>;
  triggerSavepoint(app: AppRef, req: SavepointRequest): Promise<SavepointStatus>;
  /** undefined when the runtime does not answer or does not know the id. */
  savepoint(app: AppRef, id: string): Promise<SavepointStatus | undefined>;
  /**
   * Aborts a savepoint still in progress; answers the state it ended in (COMPLETED: too late, it
   * finished first). undefined when the runtime does not answer or does not know the id.
   */
  cancelSavepoint(app: AppRef, id: string): Promise<SavepointStatus | undefined>;
  checkCompatibility(app: AppRef, req: CompatibilityRequest): Promise<CompatibilityResult | undefined>;
  disposeSavepoint(app: AppRef, path: string): Promise<void>;
  cancel(app: AppRef): Promise<void>;
}

export interface HttpResponse {
  status: number;
  body: unknown;
}

/** Sends one request to an app's runtime; how it gets there (Service, API server proxy) is its business. */
export type RuntimeTransport = (
  app: AppRef,
  req: { method: 'GET' | 'POST'; path: string; body?: unknown; token: string | undefined },
) => Promise<HttpResponse>;

/** The runtime answered with an unexpected HTTP status. */
export class RuntimeApiError extends OperatorError {
  declare readonly status: number;
  constructor(message: string, status: number, options?: ErrorOptions) {
    super(message, status, options);
    this.name = 'RuntimeApiError';
  }
}

/** A transport over fetch to a base URL per app (in-cluster Service, or a test's fake runtime). */
export function fetchTransport(baseUrl: (app: AppRef) => string, timeoutMs = 5_000): RuntimeTransport {
  return async (app, req) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (req.token !== undefined) headers['x-weir-token'] = req.token;
    if (req.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl(app)}${req.path}`, {
      method: req.method,
      headers,
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
}

/** An app's runtime API token; `fresh` bypasses any cache (after the runtime refused the token). */
export type TokenSource = (app: AppRef, fresh?: boolean) => Promise<string | undefined>;

export class RuntimeClient implements RuntimePort {
  readonly #transport: RuntimeTransport;
  readonly #token: TokenSource;

  constructor(transport: RuntimeTransport, token: TokenSource) {
    this.#transport = transport;
    this.#token = token;
  }

  async #call(app: AppRef, method: 'GET' | 'POST', path: string, body?: unknown): Promise<HttpResponse> {
    const send = (token: string | undefined) =>
      this.#transport(app, { method, path, token, ...(body === undefined ? {} : { body }) });
    const token = await this.#token(app);
    const res = await send(token);
    if (res.status !== 401) return res;
    // A cached token can be stale (the app was deleted and created again): read it again, once.
    const fresh = await this.#token(app, true);
    return fresh === token ? res : send(fresh);
  }

  async #expect<T>(app: AppRef, method: 'GET' | 'POST', path: string, ok: number, body?: unknown): Promise<T> {
    const res = await this.#call(app, method, path, body);
    if (res.status !== ok) {
      throw new RuntimeApiError(
        `${method} ${path} of ${app.namespace}/${app.name}: HTTP ${res.status} ${JSON.stringify(res.body)}`,
        res.status,
      );
    }
    return res.body as T;
  }

  async view(app: AppRef): Promise<RuntimeView | undefined> {
    try {
      const [job, checkpoints, eventTime] = await Promise.all([
        this.#expect<JobSummary>(app, 'GET', '/v1/job', 200),
        this.#expect<CheckpointSummary>(app, 'GET', '/v1/checkpoints', 200),
        this.#expect<EventTimeSummary>(app, 'GET', '/v1/event-time', 200),
      ]);
      return { job, checkpoints, eventTime };
    } catch (err) {
      if (unreachable(err)) return undefined;
      throw err;
    }
  }

  triggerSavepoint(app: AppRef, req: SavepointRequest): Promise<SavepointStatus> {
    return this.#expect(app, 'POST', '/v1/savepoints', 202, req);
  }

  async savepoint(app: AppRef, id: string): Promise<SavepointStatus | undefined> {
    try {
      return await this.#expect<SavepointStatus>(app, 'GET', `/v1/savepoints/${encodeURIComponent(id)}`, 200);
    } catch (err) {
      if (unreachable(err) || (err instanceof RuntimeApiError && err.status === 404)) return undefined;
      throw err;
    }
  }

  async cancelSavepoint(app: AppRef, id: string): Promise<SavepointStatus | undefined> {
    try {
      return await this.#expect<SavepointStatus>(app, 'POST', `/v1/savepoints/${encodeURIComponent(id)}/cancel`, 200);
    } catch (err) {
      if (unreachable(err)) return undefined;
      throw err;
    }
  }

  async checkCompatibility(app: AppRef, req: CompatibilityRequest): Promise<CompatibilityResult | undefined> {
    try {
      return await this.#expect<CompatibilityResult>(app, 'POST', '/v1/savepoints/compatibility', 200, req);
    } catch (err) {
      if (unreachable(err)) return undefined;
      throw err;
    }
  }

  async disposeSavepoint(app: AppRef, path: string): Promise<void> {
    await this.#expect(app, 'POST', '/v1/savepoints/dispose', 204, { path });
  }

  async cancel(app: AppRef): Promise<void> {
    await this.#expect(app, 'POST', '/v1/job/cancel', 202);
  }
}

/** No runtime answering (pods gone, Service without endpoints): an observation, not an error. */
function unreachable(err: unknown): boolean {
  if (err instanceof RuntimeApiError) return err.status === 502 || err.status === 503 || err.status === 404;
  return err instanceof TypeError || (err instanceof DOMException && err.name === 'TimeoutError');
}
