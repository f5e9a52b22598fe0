/**
 * A circuit breaker for an optional dependency (the cache): after `failuresToOpen` failures in a
 * row (timeouts included), calls fail at once for `openMs` instead of each waiting out its
 * deadline; then one call is let through to probe it, and the breaker closes when that succeeds
 * (else it stays open, twice as long, up to `maxOpenMs`). So a frozen Redis costs a few deadlines
 * per `openMs`, not one per request. A single slow answer (a pause of this process's event loop
 * can make one look like a timeout) does not open it.
 */
export class BreakerOpenError extends Error {
  constructor(readonly what: string) {
    super(`${what} is skipped for now (circuit open after failures)`);
    this.name = 'BreakerOpenError';
  }
}

export interface BreakerOptions {
  /** Consecutive failures that open it. */
  failuresToOpen?: number;
  openMs?: number;
  maxOpenMs?: number;
}

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private currentOpenMs: number;
  private probing = false;
  private readonly failuresToOpen: number;
  private readonly openMs: number;
  private readonly maxOpenMs: number;

  constructor(
    private readonly what: string,
    options: BreakerOptions = {},
  ) {
    this.failuresToOpen = options.failuresToOpen ?? 3;
    this.openMs = options.openMs ?? 1000;
    this.maxOpenMs = options.maxOpenMs ?? 8000;
    this.currentOpenMs = this.openMs;
  }

  /** `closed`; `open` (calls skipped); `half-open` (the next call, or the one under way, is a probe). */
  get state(): 'closed' | 'open' | 'half-open' {
    if (this.openUntil === 0) return 'closed';
    return this.openUntil > Date.now() && !this.probing ? 'open' : 'half-open';
  }

  /** Runs `call` unless the breaker is open (then throws BreakerOpenError at once). */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const probe = this.openUntil !== 0;
    if (probe && (this.openUntil > Date.now() || this.probing)) throw new BreakerOpenError(this.what);
    if (probe) this.probing = true;
    try {
      const result = await call();
      this.failures = 0;
      this.openUntil = 0;
      this.currentOpenMs = this.openMs;
      return result;
    } catch (err) {
      this.failures++;
      if (probe || this.failures >= this.failuresToOpen) {
        if (probe) this.currentOpenMs = Math.min(this.currentOpenMs * 2, this.maxOpenMs);
        this.openUntil = Date.now() + this.currentOpenMs;
      }
      throw err;
    } finally {
      if (probe) this.probing = false;
    }
  }

  /** Back to closed (tests; a reconnect). */
  reset(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.probing = false;
    this.currentOpenMs = this.openMs;
  }
}
