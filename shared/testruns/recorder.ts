/**
 * Writes a run's progress to its Firestore document without holding the build up: changes are
 * merged and written at most every `intervalMs` (one write at a time), so a thousand steps make a
 * few dozen writes. `flush()` writes at once and waits until everything set so far is durable —
 * the worker calls it after creating a goal, journey or checkpoint, before building inside it.
 * (A step recorded late is not at risk: a resumed attempt finds unrecorded steps in Virtuoso.)
 *
 * Every write renews the attempt's lease; a heartbeat keeps it alive when nothing changes. After
 * `abandon()` (a crash, simulated in tests) nothing more is written, as if the process had died.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { dependencyError } from '../errors';
import { firestoreCall } from '../firestore';

export class Recorder {
  private pending: Record<string, unknown> = {};
  private writing: Promise<void> | undefined;
  private failure: unknown;
  private abandoned = false;
  private readonly heartbeat: NodeJS.Timeout;

  /** Writes made so far (for the logs). */
  writes = 0;
  /** When a write last succeeded (the lease runs from there). */
  private lastOkAt = Date.now();
  private urgent = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ref: DocumentReference,
    private readonly leaseMs: number,
    private readonly intervalMs = 250,
  ) {
    this.heartbeat = setInterval(() => this.set({}), Math.max(250, Math.floor(leaseMs / 3)));
    this.heartbeat.unref();
  }

  /** Fields in Firestore `update` form (`'ids.g0': '123'`). */
  set(fields: Record<string, unknown>): void {
    if (this.abandoned) return;
    Object.assign(this.pending, fields);
    if (!this.writing) this.startDrain();
  }

  /** Resolves when everything set so far is written; rejects if a write failed. */
  async flush(): Promise<void> {
    this.urgent = true;
    this.wake?.();
    while (this.writing) await this.writing;
    if (this.failure) throw dependencyError('Firestore', this.failure);
  }

  /**
   * Whether this attempt can still count on its lease: no write has failed and one succeeded within
   * half the lease. When not, the build stops — another attempt may take the run over.
   */
  healthy(): boolean {
    return !this.failure && Date.now() - this.lastOkAt < this.leaseMs / 2;
  }

  abandon(): void {
    this.abandoned = true;
    clearInterval(this.heartbeat);
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  /**
   * `writing` is cleared when the drain has settled, never from inside it: a drain with nothing to
   * do returns at once, and clearing it there would leave `writing` set to a settled promise that
   * `flush()` then awaited forever, in a busy loop that starved the whole process. Changes set in
   * the moment between the drain's end and its settling get a drain of their own.
   */
  private startDrain(): void {
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (Object.keys(this.pending).length && !this.abandoned && !this.failure) this.startDrain();
    });
  }

  private async drain(): Promise<void> {
    while (!this.abandoned && !this.failure) {
      if (!this.urgent) {
        // Let more changes gather, unless someone needs them durable now.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.intervalMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      }
      this.urgent = false;
      if (this.abandoned) break;
      // Past half the lease without a successful write (a stall, a frozen instance), another
      // attempt may hold the run by now: write nothing more; the build sees it and stops.
      if (!this.healthy()) {
        this.failure ??= new Error('the lease may have run out: no progress written for half of it');
        break;
      }
      const take = this.pending;
      this.pending = {};
      const now = Date.now();
      this.writes++;
      try {
        await firestoreCall(this.ref.update({ ...take, leaseUntil: new Date(now + this.leaseMs).toISOString(), updatedAt: new Date(now).toISOString() }));
        this.lastOkAt = now;
      } catch (err) {
        this.failure = err;
      }
      if (!Object.keys(this.pending).length) break;
    }
  }
}
