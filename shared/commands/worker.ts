/**
 * The queued-command worker's logic. Every transition of `command_history/{userId}/commands/{id}`
 * is a Firestore transaction from the states it is allowed from: queued → running → succeeded |
 * failed. A delivery for a finished command changes nothing.
 *
 * An attempt holds its command with a short lease (COMMAND_LEASE_SECONDS) that it renews while it
 * works (lease.ts). A delivery that finds a live lease queues itself for just after it — a
 * continuation task — instead of spending one of the queue's attempts; one that finds a lapsed
 * lease takes the command over and resumes it: a batch from its recorded progress, and a step an
 * earlier attempt created but could not record is adopted through the command's step guard.
 *
 * The work and its bookkeeping are kept apart. Retryable trouble in the work puts the command back
 * to `queued` and answers 503 (Cloud Tasks retries); a permanent error in the work is recorded as
 * `failed` and answered 2xx. A record of an outcome that cannot be written is never taken for a
 * failed command: the outcome is parked (parked.ts), the answer is 503, and the retry records the
 * parked outcome instead of running the command again.
 */
import type { DocumentReference, Transaction } from '@google-cloud/firestore';
import type { Principal } from '../auth';
import { getConfig } from '../config';
import { AppError, toAppError, unavailable } from '../errors';
import { collections, db, firestoreCall } from '../firestore';
import { enqueueTask, taskId } from '../tasks';
import { runOrderedBatch, type BatchInput, type BatchItemResult } from './batch';
import { fromStored, recordedError, storedOutput, type CommandRecord } from './history';
import { AttemptLease } from './lease';
import { park, parked, parkingKey, unpark } from './parked';
import { commandName, runOwned, type CommandInput } from './run';
import { stepOwnerDoc } from './step-claims';

export interface CommandTask {
  commandId: string;
  userId: string;
  tenantId: string;
  /** Continuation number: this delivery was queued by one that found a live lease. */
  n?: number;
}

/** A command record as stored, with the worker's bookkeeping. */
export type StoredCommand = CommandRecord & {
  attempts?: number;
  leaseUntil?: string | null;
  /** Set when the command was queued (absent: a synchronous command). */
  queuedAt?: string;
  /** How many times the stale-work sweep queued it again. */
  sweeps?: number;
  stepGuard?: string[];
  stepGuards?: Record<string, string[]>;
};

export type WorkerOutcome =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'deferred'; reason: string; until: string }
  | { outcome: 'succeeded' | 'failed'; record: CommandRecord };

const leaseMs = () => getConfig().commandLeaseSeconds * 1000;
/** Continuations after this many mean something holds the command and never lets go: spend the queue's attempts instead. */
const MAX_CONTINUATIONS = 50;

export const commandRef = (t: Pick<CommandTask, 'userId' | 'commandId'>) =>
  db().collection(collections.commandHistory).doc(t.userId).collection('commands').doc(t.commandId) as DocumentReference;
const iso = (ms: number) => new Date(ms).toISOString();

/** A step's owner record still to be written (its write failed along with the outcome's). */
interface PendingOwner {
  stepId: string;
  owner: string;
}

type Begun = { record: StoredCommand; attempt: number } | { ignored: string } | { leaseEnds: number };

async function begin(task: CommandTask): Promise<Begun> {
  return firestoreCall(
    db().runTransaction(async (tx): Promise<Begun> => {
      const snap = await tx.get(commandRef(task));
      const r = snap.exists ? fromStored<StoredCommand>(snap.data()) : undefined;
      if (!r || r.tenantId !== task.tenantId) return { ignored: 'no such command' };
      if (r.status === 'succeeded' || r.status === 'failed') return { ignored: `already ${r.status}` };
      const now = Date.now();
      if (r.status === 'running' && r.leaseUntil && Date.parse(r.leaseUntil) > now) return { leaseEnds: Date.parse(r.leaseUntil) };
      const attempt = (r.attempts ?? 0) + 1;
      tx.update(commandRef(task), { status: 'running', attempts: attempt, leaseUntil: iso(now + leaseMs()), updatedAt: iso(now) });
      return { record: r, attempt };
    }),
  );
}

/** Writes the step owner records still to be written, in the caller's transaction. */
const ownersAlongside = (task: CommandTask, owners: readonly PendingOwner[]) => (tx: Transaction) => {
  for (const o of owners) {
    const doc = stepOwnerDoc(o.stepId, o.owner, task.tenantId);
    tx.set(doc.ref, doc.data);
  }
};

/**
 * Applies the end of an attempt, with the owner records of steps it created, in one commit — only
 * if this attempt still holds the command. False when another attempt has taken it over.
 */
async function finish(task: CommandTask, lease: AttemptLease, changes: Partial<StoredCommand>, owners: readonly PendingOwner[] = []): Promise<boolean> {
  const { output, ...rest } = changes;
  try {
    await lease.write({ ...rest, ...('output' in changes ? storedOutput(output) : {}), updatedAt: iso(Date.now()) }, { alongside: ownersAlongside(task, owners), final: true });
    return true;
  } catch (err) {
    if (lease.takenOver()) return false;
    throw err;
  }
}

/** Retryable trouble: the command goes back to `queued`, free for the queue's retry at once. */
async function release(task: CommandTask, lease: AttemptLease, error: AppError): Promise<never> {
  await finish(task, lease, { status: 'queued', error: recordedError(error) }).catch(() => undefined);
  throw new AppError('unavailable', error.message, { retryAfterSeconds: error.retryAfterSeconds ?? 10, cause: error });
}

/** Queues this delivery again for just after the live lease it found (a continuation, not a retry). */
async function defer(task: CommandTask, leaseEnds: number): Promise<WorkerOutcome> {
  const n = (task.n ?? 0) + 1;
  if (n > MAX_CONTINUATIONS) throw unavailable('Another attempt has held this command for too long', 30);
  const url = getConfig().commandWorkerUrl;
  if (!url) throw unavailable('Queued commands are not configured (COMMAND_WORKER_URL)', 60);
  await enqueueTask({
    queue: 'commandExecution',
    // One continuation per number: deliveries that meet the same lease queue one task between them.
    id: taskId(task.tenantId, task.commandId, 'after', String(n)),
    url,
    body: { commandId: task.commandId, userId: task.userId, tenantId: task.tenantId, n },
    delaySeconds: Math.max(1, Math.ceil((leaseEnds - Date.now()) / 1000) + 1),
  });
  return { outcome: 'deferred', reason: 'another attempt holds the command', until: iso(leaseEnds) };
}

export async function processCommandTask(task: CommandTask): Promise<WorkerOutcome> {
  const begun = await begin(task);
  if ('ignored' in begun) return { outcome: 'ignored', reason: begun.ignored };
  if ('leaseEnds' in begun) return defer(task, begun.leaseEnds);
  const { record, attempt } = begun;
  const principal: Principal = { keyHash: '', tenantId: record.tenantId, userId: record.userId, scopes: ['commands'] };
  const lease = new AttemptLease(commandRef(task), attempt, leaseMs());
  try {
    return record.command === 'batch' ? await processBatch(task, record, principal, lease) : await processOne(task, record, principal, lease);
  } finally {
    lease.stop();
  }
}

interface ParkedOne {
  done: Partial<StoredCommand> & { status: 'succeeded' | 'failed' };
  owners: PendingOwner[];
}

async function processOne(task: CommandTask, record: StoredCommand, principal: Principal, lease: AttemptLease): Promise<WorkerOutcome> {
  const parkKey = parkingKey('worker', task.commandId);
  let outcome = await parked<ParkedOne>(parkKey);
  const wasParked = outcome !== undefined;
  if (!outcome) {
    const t0 = performance.now();
    try {
      const ran = await runOwned(record.input as CommandInput, principal, task.commandId, {
        stepGuard: {
          before: record.stepGuard,
          remember: async (ids) => {
            if (!lease.healthy()) throw unavailable('This attempt lost its lease; the retry runs the command', 10);
            await lease.write({ stepGuard: ids });
          },
        },
      });
      outcome = {
        done: { command: ran.command, output: ran.output, ...(ran.notes ? { notes: ran.notes } : {}), status: 'succeeded', durationMs: Math.round(performance.now() - t0) },
        owners: ran.createdStepId ? [{ stepId: ran.createdStepId, owner: task.commandId }] : [],
      };
    } catch (err) {
      const e = toAppError(err);
      if (e.retryable) return release(task, lease, e);
      outcome = { done: { status: 'failed', error: recordedError(e), durationMs: Math.round(performance.now() - t0) }, owners: [] };
    }
  }
  // Bookkeeping, apart from the work: failing to record the outcome never makes it a failure.
  let held: boolean;
  try {
    held = await finish(task, lease, outcome.done, outcome.owners);
  } catch (err) {
    await park(parkKey, outcome);
    throw unavailable('The outcome could not be recorded yet; the retry records it without running the command again', 10, err);
  }
  if (wasParked) await unpark(parkKey);
  if (!held) return { outcome: 'ignored', reason: 'another attempt took the command over' };
  return { outcome: outcome.done.status, record: { ...record, ...outcome.done } };
}

interface ParkedBatch {
  results: BatchItemResult[];
  owners: PendingOwner[];
}

/**
 * A queued batch runs in order (batch.ts). Progress — the results so far, with the owner records
 * of the steps created — is committed after every command, so a retried attempt resumes at the
 * first unfinished one; each command has its own step guard.
 */
async function processBatch(task: CommandTask, record: StoredCommand, principal: Principal, lease: AttemptLease): Promise<WorkerOutcome> {
  const input = record.input as BatchInput;
  const parkKey = parkingKey('worker', task.commandId);
  const recorded = (record.output as { results?: BatchItemResult[] } | undefined)?.results ?? [];
  const fromPark = await parked<ParkedBatch>(parkKey);
  const usePark = fromPark !== undefined && fromPark.results.length > recorded.length;
  const results: BatchItemResult[] = usePark ? [...fromPark.results] : [...recorded];
  const owners: PendingOwner[] = usePark ? [...fromPark.owners] : [];
  const t0 = performance.now();

  /** Commits the progress and pending owner records together, if this attempt still holds the command. */
  const saveProgress = async () => {
    await lease.write({ ...storedOutput({ status: 'running', results }), updatedAt: iso(Date.now()) }, { alongside: ownersAlongside(task, [...owners]) });
    owners.length = 0;
  };

  let output;
  try {
    output = await runOrderedBatch(input, results, {
      run: async (item, index) => {
        if (!lease.healthy()) throw unavailable('This attempt lost its lease; a retry resumes the batch', 10);
        const owner = `${task.commandId}#${index}`;
        try {
          const ran = await runOwned(item, principal, owner, {
            stepGuard: {
              before: record.stepGuards?.[String(index)],
              remember: async (ids) => {
                await lease.write({ [`stepGuards.${index}`]: ids });
              },
            },
          });
          if (ran.createdStepId) owners.push({ stepId: ran.createdStepId, owner });
          return { index, command: ran.command, status: 'succeeded', output: ran.output };
        } catch (err) {
          const e = toAppError(err);
          if (e.retryable) throw e; // the whole batch is retried from here
          return { index, command: commandName(item), status: 'failed', error: recordedError(e) };
        }
      },
      after: saveProgress,
    });
  } catch (err) {
    // Whatever was done is kept for the retry, recorded or not.
    if (results.length > recorded.length) await park(parkKey, { results, owners } satisfies ParkedBatch);
    return release(task, lease, toAppError(err));
  }
  const done = { status: (output.status === 'succeeded' ? 'succeeded' : 'failed') as 'succeeded' | 'failed', output, durationMs: Math.round(performance.now() - t0) };
  let held: boolean;
  try {
    held = await finish(task, lease, done, owners);
  } catch (err) {
    await park(parkKey, { results, owners } satisfies ParkedBatch);
    throw unavailable('The batch finished but could not be recorded yet; the retry records it', 10, err);
  }
  if (fromPark) await unpark(parkKey);
  if (!held) return { outcome: 'ignored', reason: 'another attempt took the batch over' };
  return { outcome: done.status, record: { ...record, ...done } };
}
