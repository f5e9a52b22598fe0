/**
 * The lease a queued command's attempt holds (`leaseUntil` on its record): COMMAND_LEASE_SECONDS
 * long, renewed every third of it while the attempt works, so a live attempt keeps its command and
 * a dead one (killed, frozen) lets go within one lease. The attempt asks `healthy()` before each
 * effect: once a renewal failed for half the lease, or found the command taken over, it stops and
 * leaves the rest to the attempt that holds it now.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import { db, firestoreCall } from '../firestore';

export class AttemptLease {
  private lastHeldAt = Date.now();
  private lost = false;
  private renewing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ref: DocumentReference,
    private readonly attempt: number,
    private readonly leaseMs: number,
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(200, Math.floor(leaseMs / 3)));
    this.timer.unref();
  }

  /** Whether this attempt still holds its command. */
  healthy(): boolean {
    return !this.lost && Date.now() - this.lastHeldAt < this.leaseMs / 2;
  }

  /** `leaseUntil` for a write made now by the holder (progress writes renew the lease too). */
  until(from = Date.now()): string {
    return new Date(from + this.leaseMs).toISOString();
  }

  /** Counts a write made by the holder as a renewal. */
  renewed(at: number): void {
    this.lastHeldAt = Math.max(this.lastHeldAt, at);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.lost) return;
    this.renewing = true;
    const now = Date.now();
    try {
      const held = await firestoreCall(
        db().runTransaction(async (tx) => {
          const r = (await tx.get(this.ref)).data() as { status?: string; attempts?: number } | undefined;
          if (r?.status !== 'running' || r.attempts !== this.attempt) return false;
          tx.update(this.ref, { leaseUntil: this.until(now) });
          return true;
        }),
        Math.floor(this.leaseMs / 3),
      );
      if (held) this.renewed(now);
      else this.lost = true;
    } catch {
      // Not renewed: healthy() turns false once half the lease has gone by without one.
    } finally {
      this.renewing = false;
    }
  }
}
