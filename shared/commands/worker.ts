/**
 * The queued-command worker's logic. Every transition of `command_history/{userId}/commands/{id}`
 * happens in a Firestore transaction from the states it is allowed from: queued → running →
 * succeeded | failed. A delivery for a finished command, or a duplicate delivery while another
 * attempt holds the command, changes nothing. Retryable trouble puts the command back to `queued`
 * and answers 503 (Cloud Tasks retries); permanent errors are recorded as `failed` and answered 2xx.
 */
import type { DocumentReference } from '@google-cloud/firestore';
import type { Principal } from '../auth';
import { AppError, dependencyError, toAppError, unavailable } from '../errors';
import { collections, db } from '../firestore';
import { fromStored, recordedError, storedOutput, type CommandRecord } from './history';
import { commandName, runOwned, type CommandInput } from './run';

export interface CommandTask {
  commandId: string;
  userId: string;
  tenantId: string;
}

/** An attempt holds its command this long; a crashed attempt's command is taken over after it. */
export const ATTEMPT_LEASE_MS = 5 * 60_000;

type Stored = CommandRecord & { attempts?: number; leaseUntil?: string; stepGuard?: string[]; stepGuards?: Record<string, string[]> };

export interface BatchInput {
  commands: CommandInput[];
  stopOnError?: boolean;
}

export interface BatchItemResult {
  index: number;
  command: string;
  status: 'succeeded' | 'failed' | 'skipped';
  output?: unknown;
  error?: { code: string; message: string; status: number };
}

const ref = (t: CommandTask) => db().collection(collections.commandHistory).doc(t.userId).collection('commands').doc(t.commandId) as DocumentReference;

export type WorkerOutcome =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'succeeded' | 'failed'; record: CommandRecord };

async function begin(task: CommandTask): Promise<{ record: Stored; attempt: number } | { ignored: string }> {
  try {
    return await db().runTransaction(async (tx) => {
      const snap = await tx.get(ref(task));
      const r = snap.exists ? fromStored<Stored>(snap.data()) : undefined;
      if (!r || r.tenantId !== task.tenantId) return { ignored: 'no such command' };
      if (r.status === 'succeeded' || r.status === 'failed') return { ignored: `already ${r.status}` };
      if (r.status === 'running' && r.leaseUntil && Date.parse(r.leaseUntil) > Date.now()) {
        throw unavailable('Another attempt is running this command', 30);
      }
      const attempt = (r.attempts ?? 0) + 1;
      tx.update(ref(task), { status: 'running', attempts: attempt, leaseUntil: new Date(Date.now() + ATTEMPT_LEASE_MS).toISOString(), updatedAt: new Date().toISOString() });
      return { record: r, attempt };
    });
  } catch (err) {
    throw dependencyError('Firestore', err);
  }
}

/** Applies the end of an attempt, only if this attempt still holds the command. */
async function finish(task: CommandTask, attempt: number, changes: Partial<Stored>): Promise<boolean> {
  return db().runTransaction(async (tx) => {
    const r = (await tx.get(ref(task))).data() as Stored | undefined;
    if (!r || r.status !== 'running' || r.attempts !== attempt) return false;
    const { output, ...rest } = changes;
    tx.update(ref(task), { ...rest, ...('output' in changes ? storedOutput(output) : {}), leaseUntil: null, updatedAt: new Date().toISOString() });
    return true;
  });
}

export async function processCommandTask(task: CommandTask): Promise<WorkerOutcome> {
  const started = await begin(task);
  if ('ignored' in started) return { outcome: 'ignored', reason: started.ignored };
  const { record, attempt } = started;
  const principal: Principal = { keyHash: '', tenantId: record.tenantId, userId: record.userId, scopes: ['commands'] };
  if (record.command === 'batch') return processBatch(task, record, attempt, principal);
  const t0 = performance.now();
  try {
    const { command, output, notes, recordOwner } = await runOwned(record.input as CommandInput, principal, task.commandId, {
      stepGuard: {
        before: record.stepGuard,
        remember: async (ids) => {
          await ref(task).update({ stepGuard: ids });
        },
      },
    });
    const done = { command, output, ...(notes ? { notes } : {}), status: 'succeeded' as const, durationMs: Math.round(performance.now() - t0) };
    await recordOwner();
    await finish(task, attempt, done);
    return { outcome: 'succeeded', record: { ...record, ...done } };
  } catch (err) {
    const e = toAppError(err);
    const error = recordedError(e);
    if (e.retryable) {
      await finish(task, attempt, { status: 'queued', error });
      throw new AppError('unavailable', e.message, { retryAfterSeconds: e.retryAfterSeconds ?? 10, cause: err });
    }
    const failed = { status: 'failed' as const, error, durationMs: Math.round(performance.now() - t0) };
    await finish(task, attempt, failed);
    return { outcome: 'failed', record: { ...record, ...failed } };
  }
}

/**
 * A queued batch runs in order. Progress is saved after every command, so a retried attempt
 * resumes at the first unfinished one; each command has its own step guard.
 */
async function processBatch(task: CommandTask, record: Stored, attempt: number, principal: Principal): Promise<WorkerOutcome> {
  const input = record.input as BatchInput;
  const previous = (record.output as { results?: BatchItemResult[] } | undefined)?.results ?? [];
  const results: BatchItemResult[] = [...previous];
  const t0 = performance.now();
  const stop = input.stopOnError !== false;
  let failed = results.some((r) => r.status === 'failed');
  const save = (extra: Partial<Stored> = {}) => ref(task).update({ ...storedOutput({ status: 'running', results }), ...extra });
  for (let index = results.length; index < input.commands.length; index++) {
    const item = input.commands[index];
    const name = commandName(item);
    if (failed && stop) {
      results.push({ index, command: name, status: 'skipped' });
      continue;
    }
    try {
      const { command, output, recordOwner } = await runOwned(item, principal, `${task.commandId}#${index}`, {
        stepGuard: {
          before: record.stepGuards?.[String(index)],
          remember: async (ids) => {
            await ref(task).update({ [`stepGuards.${index}`]: ids });
          },
        },
      });
      await recordOwner();
      results.push({ index, command, status: 'succeeded', output });
    } catch (err) {
      const e = toAppError(err);
      const error = recordedError(e);
      if (e.retryable) {
        await save();
        await finish(task, attempt, { status: 'queued', error });
        throw new AppError('unavailable', e.message, { retryAfterSeconds: e.retryAfterSeconds ?? 10, cause: err });
      }
      failed = true;
      results.push({ index, command: name, status: 'failed', error });
    }
    await save();
  }
  const ok = results.filter((r) => r.status === 'succeeded').length;
  const done = {
    status: (failed ? 'failed' : 'succeeded') as 'failed' | 'succeeded',
    output: { status: !failed ? 'succeeded' : ok ? 'partial' : 'failed', results },
    durationMs: Math.round(performance.now() - t0),
  };
  await finish(task, attempt, done);
  return { outcome: done.status, record: { ...record, ...done } };
}
