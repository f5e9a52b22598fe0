/**
 * The Virtuoso REST API client (VIRTUOSO_API.md §1): bearer token from Secret Manager, the
 * `{success, item}` / `{success, map}` envelopes unwrapped (lists come back as maps keyed by id),
 * bare objects accepted (`envelope=false`), Virtuoso's error codes typed, a deadline on every call.
 *
 * Retries: 429 always (the request was refused, not processed), honouring Retry-After; 5xx,
 * timeouts and network failures only for idempotent methods (GET, PUT, DELETE). A POST that may
 * have been processed (a 5xx, a timeout) is never sent twice here: the caller checks Virtuoso first
 * (a created step must not be duplicated) and gets a retryable error to decide with.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { send, type RawResponse } from './transport';
import { log } from '../log';

export type VirtuosoId = string | number;
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type QueryValue = string | number | boolean | undefined | readonly (string | number)[];

export interface VirtuosoClientOptions {
  /** e.g. https://api-app2.virtuoso.qa/api (no trailing slash needed). */
  baseUrl: string;
  /** The API token, read per call so a rotation is picked up (cached by shared/secrets). */
  token: () => Promise<string>;
  /** Per attempt (the CLI used 30 s). */
  attemptTimeoutMs?: number;
  /** The whole call, retries included. */
  deadlineMs?: number;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  /** Backoff before the n-th retry: baseBackoffMs × 2^(n-1), with jitter. */
  baseBackoffMs?: number;
  clientId?: string;
  clientName?: string;
}

export interface CallOptions {
  query?: Record<string, QueryValue>;
  body?: unknown;
  /** Overrides the client's whole-call deadline. */
  deadlineMs?: number;
}

/** An error answered by Virtuoso (or the way to it), with Virtuoso's own code when it sent one. */
export class VirtuosoApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** Virtuoso's code (`1403`, `2500`, `1501`, `2605`, …), else the HTTP status or `timeout`/`network`. */
    readonly code: string,
    /** Sending the same request again later may succeed. */
    readonly retryable: boolean,
    readonly retryAfterSeconds?: number,
    readonly request?: string,
  ) {
    super(message);
    this.name = 'VirtuosoApiError';
  }
}

const IDEMPOTENT: ReadonlySet<Method> = new Set(['GET', 'PUT', 'DELETE']);
const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);

export class VirtuosoClient {
  private readonly base: string;
  private readonly attemptTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;

  constructor(private readonly options: VirtuosoClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 30_000;
    this.deadlineMs = options.deadlineMs ?? 60_000;
    this.maxAttempts = options.maxAttempts ?? 4;
    this.baseBackoffMs = options.baseBackoffMs ?? 250;
  }

  /** A single object: `{success, item}` unwrapped, or the bare object (`envelope=false`). */
  async item<T>(method: Method, path: string, options: CallOptions = {}): Promise<T> {
    const body = await this.call(method, path, options);
    if (isObject(body) && body.success === true && 'item' in body) return body.item as T;
    return body as T;
  }

  /** A list: `{success, map: {"<id>": obj}}` as entries ordered by numeric id (lowest first). */
  async list<T>(method: Method, path: string, options: CallOptions = {}): Promise<{ id: string; value: T }[]> {
    const body = await this.call(method, path, options);
    const map = isObject(body) && isObject(body.map) ? body.map : undefined;
    if (!map) throw new VirtuosoApiError(`${method} ${path}: expected a map of results`, 502, 'bad_response', false, undefined, `${method} ${path}`);
    return Object.entries(map)
      .map(([id, value]) => ({ id, value: value as T }))
      .sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
  }

  /** The parsed JSON body of a successful answer (empty for 204). */
  async call(method: Method, path: string, options: CallOptions = {}): Promise<unknown> {
    const url = this.url(path, options.query);
    const what = `${method} ${path}`;
    const deadline = Date.now() + (options.deadlineMs ?? this.deadlineMs);
    for (let attempt = 1; ; attempt++) {
      let failure: VirtuosoApiError;
      try {
        return await this.attempt(method, url, options.body, Math.min(this.attemptTimeoutMs, deadline - Date.now()), what);
      } catch (err) {
        if (!(err instanceof VirtuosoApiError)) throw err;
        failure = err;
      }
      const again = failure.retryable && (failure.status === 429 || failure.code === 'refused' || IDEMPOTENT.has(method));
      if (!again || attempt >= this.maxAttempts) throw failure;
      const backoff = this.baseBackoffMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      const wait = Math.max(backoff, (failure.retryAfterSeconds ?? 0) * 1000);
      if (Date.now() + wait >= deadline) throw failure;
      await sleep(wait);
    }
  }

  private async attempt(method: Method, url: string, body: unknown, timeoutMs: number, what: string): Promise<unknown> {
    if (timeoutMs <= 0) throw new VirtuosoApiError(`${what}: deadline passed`, 504, 'timeout', true, undefined, what);
    let res: RawResponse;
    try {
      res = await send(url, {
        method,
        headers: {
          Authorization: `Bearer ${await this.options.token()}`,
          Accept: 'application/json',
          'X-Virtuoso-Client-ID': this.options.clientId ?? 'virtuoso-api-cli-functions',
          'X-Virtuoso-Client-Name': this.options.clientName ?? 'virtuoso-api-cli-functions',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        timeoutMs,
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      if (e.name === 'TimeoutError') throw new VirtuosoApiError(`${what}: no answer within ${timeoutMs} ms`, 504, 'timeout', true, undefined, what);
      // Connection refused: nothing was sent, so even a POST may be sent again.
      const refused = e.cause?.code === 'ECONNREFUSED';
      throw new VirtuosoApiError(`${what}: ${e.cause?.code ?? e.message}`, 502, refused ? 'refused' : 'network', true, undefined, what);
    }
    const text = res.text;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const ok = res.status >= 200 && res.status < 300;
    if (ok && !(isObject(parsed) && parsed.success === false)) {
      if (text && parsed === undefined) throw new VirtuosoApiError(`${what}: answer is not JSON`, 502, 'bad_response', false, undefined, what);
      return parsed;
    }
    const error = isObject(parsed) && isObject(parsed.error) ? parsed.error : undefined;
    const code = error?.code !== undefined ? String(error.code) : String(res.status);
    const message = typeof error?.message === 'string' ? error.message : res.statusText || `HTTP ${res.status}`;
    // Every such answer, retried or not, is what the Virtuoso-errors alert counts (shared/infra.ts logMetrics.virtuosoErrors).
    if (res.status === 429 || res.status >= 500) log.warn(`Virtuoso answered ${res.status}`, { virtuosoStatus: res.status, virtuosoCode: code, request: what });
    const retryable = res.status === 429 || RETRYABLE_STATUS.has(res.status);
    const header = res.headers['retry-after'];
    throw new VirtuosoApiError(`${what}: ${message}`, res.status, code, retryable, retryAfter(Array.isArray(header) ? header[0] : header ?? null), what);
  }

  private url(path: string, query?: Record<string, QueryValue>): string {
    if (!query) return `${this.base}${path.startsWith('/') ? path : `/${path}`}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) params.append(k, String(x));
      else params.append(k, String(v));
    }
    const qs = params.toString();
    return `${this.base}${path.startsWith('/') ? path : `/${path}`}${qs ? `?${qs}` : ''}`;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Retry-After in seconds: delta-seconds or an HTTP date. */
function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const secs = Number(header);
  if (Number.isFinite(secs) && secs >= 0) return secs;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

/** Ids come back as numbers or strings (a numeric job id broke the CLI): always strings here. */
export const idOf = (id: VirtuosoId): string => String(id);
