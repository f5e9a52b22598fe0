/**
 * A Virtuoso client for unit tests: the real VirtuosoClient (envelopes, lists, ids) whose calls are
 * answered in memory by the Virtuoso sandbox's own routes and state (scripts/virtuoso-sandbox/),
 * with no HTTP. Tests can fail a call before Virtuoso sees it, or lose its answer after Virtuoso
 * acted on it (a crash or a timeout), and can read what Virtuoso holds.
 */
import { VirtuosoApiError, VirtuosoClient, type CallOptions, type Method } from '../../shared/virtuoso/client';
import { Executions } from '../../scripts/virtuoso-sandbox/executions';
import { SandboxError } from '../../scripts/virtuoso-sandbox/http';
import { SandboxState } from '../../scripts/virtuoso-sandbox/model';
import { findRoute } from '../../scripts/virtuoso-sandbox/routes';

/** A timeout as the client reports it: retryable, and Virtuoso may or may not have acted. */
export const timeout = (call: string) => new VirtuosoApiError(`${call}: no answer`, 504, 'timeout', true, undefined, call);

/** Virtuoso's answer to a step it will not create (2605, mapped to 422). */
export const refusedStep = (call: string) => new VirtuosoApiError(`${call}: Invalid test step command`, 400, '2605', false, undefined, call);

export class InMemoryVirtuoso extends VirtuosoClient {
  readonly state = new SandboxState();
  /** Executions never progress on their own here (an hour each). */
  readonly executions = new Executions(this.state, 3_600_000);
  /** Every call, as `METHOD /path`, in the order made. */
  readonly calls: string[] = [];
  /** Every call with what was sent. */
  readonly requests: { call: string; query?: CallOptions['query']; body?: unknown }[] = [];
  /** Calls in flight now, and at most. */
  inFlight = 0;
  maxInFlight = 0;
  /** Throw to fail a call before Virtuoso sees it; return a promise to hold it until then. */
  before?: (call: string) => void | Promise<void>;
  /** Throw to lose a call's answer after Virtuoso acted on it. */
  after?: (call: string) => void;
  /** Change an answer (a Virtuoso that answers otherwise than the sandbox). */
  answer?: (call: string, body: unknown, options: CallOptions) => unknown;

  constructor() {
    super({ baseUrl: 'http://in-memory/api', token: async () => 'token', maxAttempts: 1 });
  }

  override async call(method: Method, path: string, options: CallOptions = {}): Promise<unknown> {
    const call = `${method} ${path}`;
    this.calls.push(call);
    this.requests.push({ call, query: options.query, body: options.body });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Answer on a later turn of the event loop, as a network would, so calls overlap.
      await new Promise((resolve) => setImmediate(resolve));
      await this.before?.(call);
      const found = findRoute(method, path);
      if (!found) throw new VirtuosoApiError(`${call}: no such route`, 404, '404', false, undefined, call);
      const query = new URLSearchParams();
      for (const [k, v] of Object.entries(options.query ?? {})) {
        if (v === undefined) continue;
        for (const x of Array.isArray(v) ? v : [v]) query.append(k, String(x));
      }
      let answer;
      try {
        const body = options.body === undefined ? undefined : JSON.parse(JSON.stringify(options.body));
        answer = found.handler({ params: found.params, query, body, state: this.state, executions: this.executions });
      } catch (err) {
        if (!(err instanceof SandboxError)) throw err;
        throw new VirtuosoApiError(`${call}: ${err.message}`, err.status, err.code, err.status === 429 || err.status >= 500, undefined, call);
      }
      this.after?.(call);
      return this.answer ? this.answer(call, answer.body, options) : answer.body;
    } finally {
      this.inFlight--;
    }
  }

  /** How many times a call was made. */
  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }

  close(): void {
    this.executions.close();
  }
}
