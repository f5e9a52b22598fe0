/**
 * Fault injection and the request log. Every request under /api is recorded before anything else
 * happens to it (so a test can assert a step was created exactly once, even when a fault answered
 * it). Then the global latency is waited, then the first fault rule that matches and has uses left
 * answers instead of the API:
 *
 * - `429`: Too Many Requests with `Retry-After` (seconds, default 1);
 * - `5xx`: the given status (default 503) — the request is NOT processed;
 * - `5xx-after`: the request IS processed, then answered with the status (a lost response);
 * - `hang`: never answered (the connection is dropped only when the sandbox closes);
 * - `refuse`: 400 with Virtuoso's code 2605 "Invalid test step command" — the request is NOT processed.
 */

export type FaultKind = '429' | '5xx' | '5xx-after' | 'hang' | 'refuse';

export interface FaultRuleInput {
  kind: FaultKind;
  /** How many matching requests it answers (default 1). */
  count?: number;
  /**
   * How many matching requests pass it by first (default 0), whatever answers them: `skip: 3` with
   * `path: '^/api/teststeps$'` answers the fourth step request from now on, deterministically.
   */
  skip?: number;
  /** Matches the method exactly (case-insensitive). */
  method?: string;
  /** Matches the path without the query, e.g. `^/api/teststeps$` (a string is read as a RegExp). */
  path?: RegExp | string;
  /** For 5xx kinds (default 503). */
  status?: number;
  /** For 429 (default 1). */
  retryAfterSeconds?: number;
}

interface FaultRule extends Required<Pick<FaultRuleInput, 'kind'>> {
  remaining: number;
  skip: number;
  method?: string;
  path?: RegExp;
  status: number;
  retryAfterSeconds: number;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  query: string;
  at: number;
  /** What answered it: `api`, or the fault kind. */
  answeredBy?: 'api' | FaultKind;
  /** With `keepExchanges`: the request's body and the API's answer (the bench replays them). */
  body?: string;
  answer?: { status: number; text: string };
}

export class FaultControl {
  latencyMs: number;
  readonly received: ReceivedRequest[] = [];
  /** Keep each request's body and answer on its record (off: a long run would hold every answer). */
  keepExchanges = false;
  private rules: FaultRule[] = [];

  constructor(latencyMs = 0) {
    this.latencyMs = latencyMs;
  }

  setLatency(ms: number): this {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('latency must be a non-negative number of ms');
    this.latencyMs = ms;
    return this;
  }

  /** Adds a rule answering the next `count` matching requests. */
  add(input: FaultRuleInput): this {
    if (!['429', '5xx', '5xx-after', 'hang', 'refuse'].includes(input.kind)) throw new Error(`unknown fault kind ${String(input.kind)}`);
    const status = input.status ?? 503;
    if (input.kind.startsWith('5xx') && (status < 500 || status > 599)) throw new Error('status must be 5xx');
    this.rules.push({
      kind: input.kind,
      remaining: input.count ?? 1,
      skip: input.skip ?? 0,
      method: input.method?.toUpperCase(),
      path: input.path === undefined ? undefined : input.path instanceof RegExp ? input.path : new RegExp(input.path),
      status,
      retryAfterSeconds: input.retryAfterSeconds ?? 1,
    });
    return this;
  }

  /** Shorthand: the next `count` requests (optionally matching) get `kind`. */
  next(count: number, kind: FaultKind, match: Omit<FaultRuleInput, 'kind' | 'count'> = {}): this {
    return this.add({ ...match, kind, count });
  }

  /** Removes every rule and the latency (the request log stays). */
  clear(): this {
    this.rules = [];
    this.latencyMs = 0;
    return this;
  }

  resetLog(): this {
    this.received.length = 0;
    return this;
  }

  /** How many received requests match (method and/or path RegExp). */
  count(method?: string, path?: RegExp | string): number {
    const re = path === undefined ? undefined : path instanceof RegExp ? path : new RegExp(path);
    return this.received.filter((r) => (!method || r.method === method.toUpperCase()) && (!re || re.test(r.path))).length;
  }

  /** Records the request; returns the rule that should answer it, if any (one use consumed). */
  take(method: string, path: string, query: string): { record: ReceivedRequest; rule?: Readonly<FaultRule> } {
    const record: ReceivedRequest = { method, path, query, at: Date.now() };
    this.received.push(record);
    let rule: FaultRule | undefined;
    for (const r of this.rules) {
      if (r.remaining <= 0 || (r.method && r.method !== method) || (r.path && !r.path.test(path))) continue;
      if (r.skip > 0) r.skip--; // every matching request counts against a rule's skip, answered by it or not
      else rule ??= r;
    }
    if (rule) {
      rule.remaining--;
      record.answeredBy = rule.kind;
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return { record, rule };
  }

  snapshot() {
    return {
      latencyMs: this.latencyMs,
      rules: this.rules.map((r) => ({ kind: r.kind, remaining: r.remaining, skip: r.skip, method: r.method, path: r.path?.source, status: r.status, retryAfterSeconds: r.retryAfterSeconds })),
      received: this.received.length,
    };
  }
}
