/**
 * Writes a run's progress to its Firestore document without holding the build up: changes are
 * merged and written at most every `intervalMs` (one write at a time), so a thousand steps make a
 * few dozen writes. `flush()` writes at once and waits until everything set before it is durable —
 * the worker calls it after creating a goal, journey or checkpoint, before building inside it.
 * (A step recorded late is not at risk: a resumed attempt finds unrecorded steps in Virtuoso.)
 *
 * A flush waits for the changes made before it, not for the recorder to fall idle: while steps are
 * recorded every few milliseconds the recorder is never idle, and a flush that waited for that held
 * each new checkpoint's steps back by up to an interval (a 1,000-step build took 1.5× as long).
 *
 * Every write renews the attempt's lease; a heartbeat keeps it alive when nothing changes. After
 * `abandon()` (a crash, simulated in tests) nothing more is written, as if the process had died.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { dependencyError } from '../errors';
import { firestoreCall } from '../firestore';

/** A flush waiting for the changes up to `upTo` to be written. */
interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Recorder {
  private pending: Record<string, unknown> = {};
  /** Changes set so far, and how many of them are written (each `set` is one). */
  private changes = 0;
  private written = 0;
  private waiters: Waiter[] = [];
  private draining = false;
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

  /**
   * Fields in Firestore `update` form (`'ids.g0': '123'`). A function stands for a value that
   * changes often and costs something to make (a checkpoint's list of step ids): it is called when
   * the write is made (`valuesOf`).
   */
  set(fields: Record<string, unknown>): void {
    if (this.abandoned) return;
    Object.assign(this.pending, fields);
    this.changes++;
    if (!this.draining) {
      this.draining = true;
      void this.drain();
    }
  }

  /** Resolves when everything set so far is written; rejects if a write failed. */
  flush(): Promise<void> {
    if (this.failure) return Promise.reject(dependencyError('Firestore', this.failure));
    if (this.abandoned || this.written >= this.changes) return Promise.resolve();
    this.urgent = true;
    this.wake?.();
    return new Promise((resolve, reject) => this.waiters.push({ upTo: this.changes, resolve, reject }));
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
    this.wake?.();
  }

  stop(): void {
    clearInterval(this.heartbeat);
  }

  /**
   * The one write loop: it runs while changes are unwritten, and decides to end in the same
   * synchronous step as `set` checks `draining`, so no change is left without a loop to write it.
   */
  private async drain(): Promise<void> {
    for (;;) {
      if (this.abandoned || this.failure || this.written >= this.changes) {
        this.draining = false;
        this.settle();
        return;
      }
      // Let more changes gather, unless someone needs them durable now.
      if (!this.urgent) await this.pause();
      this.urgent = false;
      if (this.abandoned) continue;
      // Past half the lease without a successful write (a stall, a frozen instance), another
      // attempt may hold the run by now: write nothing more; the build sees it and stops.
      if (!this.healthy()) {
        this.failure ??= new Error('the lease may have run out: no progress written for half of it');
        continue;
      }
      const take = this.pending;
      const upTo = this.changes;
      this.pending = {};
      const now = Date.now();
      this.writes++;
      try {
        await firestoreCall(this.ref.update({ ...valuesOf(take), leaseUntil: new Date(now + this.leaseMs).toISOString(), updatedAt: new Date(now).toISOString() }));
        this.lastOkAt = now;
        this.written = upTo;
        this.settle();
      } catch (err) {
        this.failure = err;
      }
    }
  }

  private pause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.intervalMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.wake = undefined;
    });
  }

  /** Settles the flushes whose changes are written; all of them after a failure or abandon(). */
  private settle(): void {
    if (!this.waiters.length) return;
    const error = this.failure ? dependencyError('Firestore', this.failure) : undefined;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (error) w.reject(error);
      else if (this.abandoned || w.upTo <= this.written) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }
}

/** Replaces, in place, every function among the fields (a value made when written: `Recorder.set`) by its value. */
export function valuesOf(fields: Record<string, unknown>): Record<string, unknown> {
  for (const k in fields) {
    const v = fields[k];
    if (typeof v === 'function') fields[k] = (v as () => unknown)();
  }
  return fields;
}
