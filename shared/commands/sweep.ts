/**
 * The stale-work sweep (Cloud Scheduler job `commands-sweep`, every 5 minutes, to commandWorker):
 * no command stays unfinished forever.
 *
 * - A queued command whose record has not changed for STALE_AFTER_MS — its task ran out of
 *   attempts (a long Firestore outage), or got lost — and a running one whose attempt's lease
 *   lapsed that long ago (the attempt died and no retry came) are queued again, at most MAX_SWEEPS
 *   times; after that they are recorded `failed` (abandoned). A resumed command picks up where it
 *   stopped (worker.ts): a batch from its progress, a step through its step guard.
 * - A synchronous command left `running` (its request's instance died mid-command) is recorded
 *   `failed` (interrupted): its outcome is unknown, and running it again could do it twice.
 *
 * Each change is a transaction that re-reads the record, so a command that moved meanwhile is
 * left alone. The query is a collection-group query on `commands` (status, updatedAt), an index of
 * firestore.indexes.json.
 */
import { getConfig } from '../config';
import { unavailable } from '../errors';
import { db, firestoreCall } from '../firestore';
import type { Logger } from '../log';
import { enqueueTask, taskId } from '../tasks';
import { fromStored, type CommandRecord } from './history';
import type { StoredCommand } from './worker';

/** Longer than the queue's whole retry schedule (about 5 minutes for 5 attempts), so live work is never swept. */
export const STALE_AFTER_MS = 10 * 60_000;
export const MAX_SWEEPS = 3;
const BATCH = 200;

export interface SweepResult {
  requeued: number;
  abandoned: number;
  interrupted: number;
}

type Decision = { kind: 'requeue'; sweeps: number } | { kind: 'abandon' } | { kind: 'interrupt' } | undefined;

export async function sweepCommands(log: Logger, now = Date.now()): Promise<SweepResult> {
  const cutoff = new Date(now - STALE_AFTER_MS).toISOString();
  const snap = await firestoreCall(
    db().collectionGroup('commands').where('status', 'in', ['queued', 'running']).where('updatedAt', '<', cutoff).orderBy('updatedAt').limit(BATCH).get(),
  );
  const result: SweepResult = { requeued: 0, abandoned: 0, interrupted: 0 };
  for (const doc of snap.docs) {
    const seen = fromStored<StoredCommand>(doc.data());
    const decision = await firestoreCall(
      db().runTransaction(async (tx): Promise<Decision> => {
        const current = await tx.get(doc.ref);
        const r = current.exists ? fromStored<StoredCommand>(current.data()) : undefined;
        // Moved on since the query, or still held by a live attempt: not stale.
        if (!r || r.updatedAt !== seen.updatedAt || (r.status !== 'queued' && r.status !== 'running')) return undefined;
        if (r.status === 'running' && r.leaseUntil && Date.parse(r.leaseUntil) > now) return undefined;
        const at = new Date(now).toISOString();
        if (!r.queuedAt) {
          tx.update(doc.ref, { status: 'failed', error: interruptedError(), leaseUntil: null, updatedAt: at });
          return { kind: 'interrupt' };
        }
        const sweeps = (r.sweeps ?? 0) + 1;
        if (sweeps > MAX_SWEEPS) {
          tx.update(doc.ref, { status: 'failed', error: abandonedError(r), leaseUntil: null, updatedAt: at });
          return { kind: 'abandon' };
        }
        tx.update(doc.ref, { status: 'queued', sweeps, leaseUntil: null, updatedAt: at });
        return { kind: 'requeue', sweeps };
      }),
    );
    if (!decision) continue;
    const ids = { commandId: seen.id, userId: seen.userId, tenantId: seen.tenantId };
    if (decision.kind === 'requeue') {
      await requeue(ids, decision.sweeps);
      result.requeued++;
    } else {
      result[decision.kind === 'abandon' ? 'abandoned' : 'interrupted']++;
    }
    log.warn(`stale command ${decision.kind === 'requeue' ? 'queued again' : decision.kind === 'abandon' ? 'abandoned' : 'marked interrupted'}`, { ...ids, status: seen.status, updatedAt: seen.updatedAt });
  }
  return result;
}

async function requeue(ids: { commandId: string; userId: string; tenantId: string }, sweeps: number): Promise<void> {
  const url = getConfig().commandWorkerUrl;
  if (!url) throw unavailable('Queued commands are not configured (COMMAND_WORKER_URL)', 60);
  await enqueueTask({ queue: 'commandExecution', id: taskId(ids.tenantId, ids.commandId, 'sweep', String(sweeps)), url, body: ids });
}

const interruptedError = (): NonNullable<CommandRecord['error']> => ({
  code: 'internal',
  status: 500,
  message: 'Interrupted: the request ended before the outcome was recorded, so whether Virtuoso made the change is unknown; check before running it again',
});

const abandonedError = (r: StoredCommand): NonNullable<CommandRecord['error']> => ({
  code: 'unavailable',
  status: 503,
  message: `Abandoned after ${r.attempts ?? 0} attempts and ${MAX_SWEEPS} sweeps: no attempt could finish it${r.error ? ` (last error: ${r.error.message})` : ''}`,
});
