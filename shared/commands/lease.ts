/**
 * The lease a queued command's attempt holds (`leaseUntil` on its record): COMMAND_LEASE_SECONDS
 * long, renewed while the attempt works, so a live attempt keeps its command and a dead one
 * (killed, frozen) lets go within one lease. The attempt asks `healthy()` before each effect: once
 * no write of its own has succeeded for half the lease, or one found the command taken over, it
 * stops and leaves the rest to whoever holds it now.
 *
 * Every write the attempt makes to its command goes through `write()`: a transaction that checks
 * the attempt still holds the command and renews the lease with it. They go one at a time,
 * because concurrent transactions on one document wait on each other's locks (the emulator aborts
 * them with "lock timeout"); the renewal timer writes only when nothing else has for a third of
 * the lease.
 */
import type { DocumentReference, Transaction } from '@google-cloud/firestore';
import { unavailable } from '../errors';
import { db, firestoreCall } from '../firestore';

export class AttemptLease {
  private lastHeldAt = Date.now();
  private lastWriteAt = Date.now();
  private lost = false;
  private pending = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ref: DocumentReference,
    private readonly attempt: number,
    private readonly leaseMs: number,
  ) {
    this.timer = setInterval(() => this.renew(), Math.max(100, Math.floor(leaseMs / 6)));
    this.timer.unref();
  }

  /** Whether this attempt still holds its command. */
  healthy(): boolean {
    return !this.lost && Date.now() - this.lastHeldAt < this.leaseMs / 2;
  }

  /** Whether a write found the command taken over by another attempt. */
  takenOver(): boolean {
    return this.lost;
  }

  /**
   * Writes `fields` to the command (and `alongside` to other documents, in the same commit) if
   * this attempt still holds it, renewing its lease — or, `final`, letting it go. Throws
   * `unavailable` when another attempt has taken the command over.
   */
  write(fields: Record<string, unknown>, options: { alongside?: (tx: Transaction) => void; final?: boolean } = {}): Promise<void> {
    const run = async () => {
      const now = Date.now();
      this.lastWriteAt = now;
      const held = await firestoreCall(
        db().runTransaction(async (tx) => {
          const r = (await tx.get(this.ref)).data() as { status?: string; attempts?: number } | undefined;
          if (r?.status !== 'running' || r.attempts !== this.attempt) return false;
          tx.update(this.ref, { ...fields, leaseUntil: options.final ? null : new Date(now + this.leaseMs).toISOString() });
          options.alongside?.(tx);
          return true;
        }),
      );
      if (!held) {
        this.lost = true;
        throw unavailable('Another attempt took the command over', 10);
      }
      this.lastHeldAt = Math.max(this.lastHeldAt, now);
    };
    this.pending++;
    const done = this.chain.then(run, run).finally(() => this.pending--);
    this.chain = done.catch(() => undefined);
    return done;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private renew(): void {
    if (this.lost || this.pending > 0 || Date.now() - this.lastWriteAt < this.leaseMs / 3) return;
    // A failed renewal shows in healthy() once half the lease has gone by without a write.
    this.write({}).catch(() => undefined);
  }
}
