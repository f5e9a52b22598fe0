/**
 * Builds a run's plan in Virtuoso: the operations run as a dependency graph, up to `concurrency`
 * Virtuoso calls at once, the ready operation with the longest chain still behind it first. Every
 * id is recorded as it is created (recorder.ts); a resumed attempt skips what is recorded and
 * adopts what an earlier attempt created but could not record (operations.ts), so nothing is
 * created twice.
 *
 * Outcomes: done; stopped (cancelled, past the deadline, or abandoned); or a thrown error — a
 * retryable one (Virtuoso unavailable) for the task to be retried, a permanent one naming the place
 * in the definition. With `continueOnError`, a step Virtuoso refuses is recorded and the build goes on.
 */
import { AppError, toAppError } from '../errors';
import type { Logger } from '../log';
import { VirtuosoApiError, type VirtuosoClient } from '../virtuoso/client';
import { virtuosoToAppError } from '../virtuoso/errors';
import type { TestDefinition } from './definition';
import { runOperation, type BuildState } from './operations';
import { keys, type Operation, type Plan } from './plan';
import type { Recorder } from './recorder';

export interface BuildInput {
  runId: string;
  def: TestDefinition;
  plan: Plan;
  api: VirtuosoClient;
  orgId: number;
  /** What earlier attempts recorded. */
  ids: Record<string, string>;
  refused: Record<string, string>;
  executeSentAt: Record<string, string>;
  /** An earlier attempt may have created objects it could not record. */
  resume: boolean;
  /** Writes the run's progress (recorder.ts). */
  recorder: Pick<Recorder, 'set' | 'flush' | 'abandon'>;
  /** Whether this run owns a goal it created or would adopt (claims.ts `claimGoal`). */
  claimGoal: (goalId: string, runId: string) => Promise<boolean>;
  concurrency: number;
  /** Asked between operations (cheaply: the caller caches); a reason stops the build. */
  stopReason: () => string | undefined;
  /**
   * Asked (with a fresh read of the run) before each execution starts — the one step nothing can
   * take back: a reason (cancelled, another attempt took over) stops the build instead.
   */
  beforeExecute: () => Promise<string | undefined>;
  /** Aborting drops everything not yet written, as a crash would (tests). */
  signal?: AbortSignal;
  log: Logger;
}

export type BuildResult = { outcome: 'done'; ids: Record<string, string> } | { outcome: 'stopped'; reason: string };

export async function buildRun(input: BuildInput): Promise<BuildResult> {
  const { plan, recorder } = input;
  const ids = { ...input.ids };
  const refused = { ...input.refused };
  const done = new Set<string>(plan.operations.filter((op) => ids[op.key] !== undefined || refused[op.key] !== undefined).map((op) => op.key));
  const waiting = plan.operations.filter((op) => !done.has(op.key));
  let running = 0;
  const resumeCache = new Map<string, Promise<unknown>>();
  let failure: unknown;
  let stopped: string | undefined;
  let started = 0;
  let stepsCreated = Object.keys(ids).filter((k) => STEP_KEY.test(k)).length;
  const stepLists = stepListsOf(ids);

  const state: BuildState = {
    // After a crash (abort) no further Virtuoso call is made, as if the process had died.
    api: input.signal ? guarded(input.api, input.signal) : input.api,
    def: input.def,
    runId: input.runId,
    orgId: input.orgId,
    resume: input.resume,
    log: input.log,
    ids,
    refused,
    executeSentAt: input.executeSentAt,
    record(fields, extra) {
      Object.assign(ids, fields);
      recorder.set(extra ? Object.assign(idFields(fields, stepLists), extra) : idFields(fields, stepLists));
    },
    recordStep(op, stepId) {
      ids[op.key] = stepId;
      const checkpointKey = keys.checkpoint(op.g, op.j, op.c);
      recorder.set({ [`steps.${checkpointKey}`]: setStepId(stepLists, checkpointKey, op.s, stepId), 'progress.stepsCreated': ++stepsCreated });
    },
    refuse(key, message) {
      refused[key] = message;
      recorder.set({ [`refused.${key}`]: message });
    },
    countSteps: (n) => (stepsCreated += n),
    set: (fields) => recorder.set(fields),
    flush: () => recorder.flush(),
    once<T>(key: string, read: () => Promise<T>): Promise<T> {
      let p = resumeCache.get(key) as Promise<T> | undefined;
      if (!p) resumeCache.set(key, (p = read()));
      return p;
    },
    claimGoal: input.claimGoal,
    beforeExecute: input.beforeExecute,
    stop(reason) {
      stopped ??= reason;
    },
  };

  // Ready operations, the longest remaining chain first; an operation becomes ready when the last
  // of its dependencies is done.
  const dependents = new Map<string, Operation[]>();
  const missing = new Map<string, number>();
  for (const op of waiting) {
    const open = op.deps.filter((d) => !done.has(d));
    missing.set(op.key, open.length);
    for (const d of open) {
      const list = dependents.get(d);
      if (list) list.push(op);
      else dependents.set(d, [op]);
    }
  }
  // Kept in order as operations become ready (a sort on each cost an allocation per operation):
  // the longest remaining chain first, and among equals the one ready first.
  const ready: Operation[] = [];
  const rank = (op: Operation) => plan.remaining.get(op.key) ?? 0;
  const makeReady = (op: Operation) => {
    const r = rank(op);
    let lo = 0;
    let hi = ready.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rank(ready[mid]) >= r) lo = mid + 1;
      else hi = mid;
    }
    ready.splice(lo, 0, op);
  };
  for (const op of waiting) if (missing.get(op.key) === 0) makeReady(op);
  const finished = (key: string) =>
    dependents.get(key)?.forEach((op) => {
      const left = missing.get(op.key)! - 1;
      missing.set(op.key, left);
      if (left === 0) makeReady(op);
    });

  // The scheduler: start ready operations while there is room; when one ends, look again.
  await new Promise<void>((resolve) => {
    // A crash: nothing more is written or started, and nothing in flight is waited for.
    input.signal?.addEventListener('abort', () => {
      recorder.abandon();
      resolve();
    });
    const pump = () => {
      stopped ??= input.signal?.aborted ? 'abandoned' : input.stopReason();
      const halt = failure !== undefined || stopped !== undefined;
      if (!halt) {
        while (ready.length && running < input.concurrency) {
          started++;
          running++;
          void start(ready.shift()!);
        }
      }
      if (running === 0) resolve();
    };
    const start = async (op: Operation) => {
      try {
        await runOperation(op, state);
        done.add(op.key);
        finished(op.key);
        recorder.set({ 'progress.operationsDone': done.size });
      } catch (err) {
        failure ??= describe(err, op);
      }
      running--;
      pump();
    };
    pump();
  });

  if (input.signal?.aborted) return { outcome: 'stopped', reason: 'abandoned' };
  await recorder.flush().catch((err) => {
    failure ??= err;
  });
  if (failure !== undefined) throw failure;
  if (stopped) return { outcome: 'stopped', reason: stopped };
  if (started < waiting.length) throw new AppError('internal', `The plan could not finish: ${waiting.length - started} operations are waiting on each other`);
  return { outcome: 'done', ids };
}

/** The client whose every call (`item` and `list` go through `call`) fails once the signal is aborted. */
function guarded(api: VirtuosoClient, signal: AbortSignal): VirtuosoClient {
  const client = Object.create(api) as VirtuosoClient;
  client.call = (...args) => (signal.aborted ? Promise.reject(signal.reason) : api.call(...args));
  return client;
}

/** A step's key (`g0j1c2s4`): its checkpoint's key and its index. */
const STEP_KEY = /^(g\d+j\d+c\d+)s(\d+)$/;

/**
 * The run's document keeps step ids as one comma-separated list per checkpoint (`steps.g0j1c2`),
 * a thousand steps being a thousand fields otherwise; every other id by key (`ids.g0`).
 */
interface StepList {
  ids: (string | null)[];
  /** The document's value, joined when the recorder writes it (once per write, not once per step). */
  field: () => string;
}

function stepListsOf(ids: Record<string, string>): Map<string, StepList> {
  const lists = new Map<string, StepList>();
  for (const [k, id] of Object.entries(ids)) {
    const m = STEP_KEY.exec(k);
    if (m) setStepId(lists, m[1], Number(m[2]), id);
  }
  return lists;
}

/** Puts a step's id in its checkpoint's list; returns the list's document value (joined when written). */
function setStepId(lists: Map<string, StepList>, checkpointKey: string, index: number, id: string): StepList['field'] {
  let list = lists.get(checkpointKey);
  if (!list) {
    const stepIds: (string | null)[] = [];
    list = { ids: stepIds, field: () => Array.from(stepIds, (x) => x ?? '').join(',') };
    lists.set(checkpointKey, list);
  }
  list.ids[index] = id;
  return list.field;
}

/** The document fields that record `fields` (`ids.<key>`, or the whole list of a step's checkpoint). */
function idFields(fields: Record<string, string>, lists: Map<string, StepList>): Record<string, unknown> {
  const update: Record<string, unknown> = {};
  for (const k in fields) {
    const m = STEP_KEY.exec(k);
    if (!m) {
      update[`ids.${k}`] = fields[k];
      continue;
    }
    update[`steps.${m[1]}`] = setStepId(lists, m[1], Number(m[2]), fields[k]);
  }
  return update;
}

/** The error, in the taxonomy, with the place in the definition it happened at. */
function describe(err: unknown, op: Operation): AppError {
  const e = err instanceof VirtuosoApiError ? virtuosoToAppError(err) : toAppError(err);
  // The error's own details are kept when they are a map (null spreads to nothing).
  const own = typeof e.details === 'object' && !Array.isArray(e.details) ? e.details : {};
  return new AppError(e.code, `${op.at}: ${e.message}`, { details: { at: op.at, operation: op.describe, ...own }, retryAfterSeconds: e.retryAfterSeconds, cause: err });
}
