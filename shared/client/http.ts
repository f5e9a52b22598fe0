/**
 * The typed HTTP client of the public functions, used by `api-cli` and the tests: requests and
 * answers are the types generated from the same JSON Schemas the functions validate with
 * (api-types.ts). Plain `fetch`, no dependency, Node.js ≥ 20.
 *
 * Retries: an error that says "try again" (429, 502, 503, 504, or no answer at all) is retried
 * with the server's Retry-After or a jittered backoff, within the call's deadline — for reads, and
 * for POSTs that carry an Idempotency-Key (every POST this client makes does), so a retry never
 * does anything twice.
 */
import { randomUUID } from 'node:crypto';
import type { Command, CommandRequest, ErrorBody, TestRun, TestRunPlan, TestRunRequest } from './api-types';

export type OutputFormat = 'json' | 'yaml' | 'human' | 'ai';

export interface ClientOptions {
  /** Each function's root URL (its `/commands`, `/test-runs` routes are appended). */
  urls: { commands: string; testRuns: string };
  apiKey: string;
  /** Each attempt's deadline (default 30 s). */
  attemptTimeoutMs?: number;
  /** A call's total deadline across its retries (default 60 s). */
  callTimeoutMs?: number;
  /** Attempts per call, the first included (default 5: about 8 s of backoff when nothing answers). */
  maxAttempts?: number;
  userAgent?: string;
}

/** An answer other than 2xx: the error body's code and message, the status, and the request id. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: ErrorBody['error']['code'] | 'network',
    readonly details?: unknown,
    readonly requestId?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get retryable(): boolean {
    return this.status === 0 || RETRYABLE.has(this.status);
  }
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_WAIT_MS = 30_000;

export interface Raw {
  status: number;
  contentType: string;
  text: string;
  headers: Headers;
}

export class ApiClient {
  constructor(private readonly options: ClientOptions) {}

  /** Any request, retried as described above; resolves with a 2xx answer, rejects with ApiError. */
  async request(base: keyof ClientOptions['urls'], method: string, path: string, init: { body?: string; contentType?: string; headers?: Record<string, string>; retry?: boolean } = {}): Promise<Raw> {
    const url = `${this.options.urls[base].replace(/\/+$/, '')}${path}`;
    const deadline = Date.now() + (this.options.callTimeoutMs ?? 60_000);
    for (let attempt = 1; ; attempt++) {
      let error: ApiError;
      try {
        const res = await fetch(url, {
          method,
          headers: {
            Authorization: `Bearer ${this.options.apiKey}`,
            'User-Agent': this.options.userAgent ?? 'api-cli',
            Accept: 'application/json',
            ...(init.body !== undefined ? { 'Content-Type': init.contentType ?? 'application/json' } : {}),
            ...init.headers,
          },
          body: init.body,
          signal: AbortSignal.timeout(Math.max(1, Math.min(this.options.attemptTimeoutMs ?? 30_000, deadline - Date.now()))),
        });
        const raw: Raw = { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text(), headers: res.headers };
        if (res.ok) return raw;
        error = apiErrorOf(raw);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; errors?: { code?: string }[] } };
        const why = e.name === 'TimeoutError' ? 'no answer in time' : (e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.message);
        error = new ApiError(`Could not reach ${url}: ${why}`, 0, 'network');
      }
      const wait = Math.min(MAX_WAIT_MS, error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : backoffMs(attempt));
      const attempts = this.options.maxAttempts ?? 5;
      if (!(init.retry ?? true) || !error.retryable || attempt >= attempts || Date.now() + wait >= deadline) throw error;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** `POST /commands`: one CLI command line; the answer in the chosen output format. */
  async runCommand(body: CommandRequest, output: OutputFormat = 'json', idempotencyKey = randomUUID()): Promise<{ command?: Command; raw: Raw }> {
    const raw = await this.request('commands', 'POST', `/commands?output=${output}`, { body: JSON.stringify(body), headers: { 'Idempotency-Key': idempotencyKey } });
    return { command: output === 'json' ? (JSON.parse(raw.text) as Command) : undefined, raw };
  }

  /** `POST /test-runs`: a definition (its text) with options; 202 the queued run, or the plan on dryRun. */
  async submitTestRun(body: TestRunRequest, idempotencyKey: string): Promise<{ run?: TestRun; plan?: TestRunPlan; replayed: boolean }> {
    const raw = await this.request('testRuns', 'POST', '/test-runs', { body: JSON.stringify(body), headers: { 'Idempotency-Key': idempotencyKey } });
    const parsed = JSON.parse(raw.text) as TestRun | TestRunPlan;
    const replayed = raw.headers.get('idempotent-replayed') === 'true';
    return 'dryRun' in parsed ? { plan: parsed, replayed } : { run: parsed, replayed };
  }

  async getTestRun(id: string): Promise<TestRun> {
    return JSON.parse((await this.request('testRuns', 'GET', `/test-runs/${encodeURIComponent(id)}`)).text) as TestRun;
  }

  async cancelTestRun(id: string): Promise<TestRun> {
    // Cancelling twice is harmless (the second is a 409 naming the final state), so it may be retried.
    return JSON.parse((await this.request('testRuns', 'POST', `/test-runs/${encodeURIComponent(id)}/cancel`)).text) as TestRun;
  }

  /** A finished run's report, as the server stores it (JSON text or JUnit XML). */
  async report(id: string, format: 'json' | 'junit'): Promise<string> {
    return (await this.request('testRuns', 'GET', `/test-runs/${encodeURIComponent(id)}/report?format=${format}`, { headers: { Accept: format === 'json' ? 'application/json' : 'application/xml' } })).text;
  }
}

/** 0.5 s, 1 s, 2 s, … up to 10 s, with ±25 % jitter so many clients do not retry in step. */
function backoffMs(attempt: number): number {
  return Math.min(10_000, 500 * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
}

function apiErrorOf(raw: Raw): ApiError {
  const requestId = raw.headers.get('x-request-id') ?? undefined;
  const retryAfter = Number(raw.headers.get('retry-after'));
  const retryAfterSeconds = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined;
  try {
    const body = JSON.parse(raw.text) as ErrorBody;
    if (body?.error?.message) return new ApiError(body.error.message, raw.status, body.error.code, body.error.details, requestId, retryAfterSeconds);
  } catch {
    // not our JSON error body: a proxy's or load balancer's page
  }
  return new ApiError(`HTTP ${raw.status}${raw.text ? `: ${raw.text.slice(0, 200)}` : ''}`, raw.status, raw.status >= 500 ? 'unavailable' : 'bad_request', undefined, requestId, retryAfterSeconds);
}
