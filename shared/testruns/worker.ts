/**
 * testRunWorker's tasks (queue `test-execution`), each idempotent:
 *
 * - `build`: queued|building → building (lease) → the plan, operation by operation (build.ts) →
 *   executing (jobs started; the first poll is queued) or built (execute: false). A retried or
 *   duplicate task resumes from what is recorded. While another live attempt holds the run, the
 *   task defers itself (a continuation task after the lease) instead of burning a Cloud Tasks
 *   attempt. Virtuoso unavailable → 503 (Cloud Tasks retries) until the queue's last attempt,
 *   which ends the run `error`; a permanent error ends it `error` at once, naming the place.
 * - `poll`: the fallback when no FINISHED webhook comes: `latest_status?jobId=` for each job, then
 *   completion (complete.ts), else the next poll.
 * - `deadline`: queued with the run; ends it `error` if it is not finished by its timeout.
 * - `callback` (queue `test-callbacks`): one attempt at the run's completion callback (callback.ts).
 */
import { cacheConfigured } from '../cache';
import { markWritten, ORG_TAG } from '../commands/read-cache';
import { getConfig } from '../config';
import { AppError, unavailable } from '../errors';
import { queues } from '../infra';
import type { Logger } from '../log';
import { enqueueTask, taskId } from '../tasks';
import { virtuoso } from '../virtuoso';
import { asAppError } from '../virtuoso/errors';
import { buildRun } from './build';
import { deliverCallback } from './callback';
import { claimGoal } from './claims';
import { allJobsFinished, completeRun, failRun, publishPending, recordJobFinished } from './complete';
import { buildPlan, keys } from './plan';
import { Recorder } from './recorder';
import { FINAL, loadRun, loadRunOwner, overdueRuns, recordedIds, runDefinition, runRef, transition, type TestRunRecord } from './store';

/** A task about one run, or Cloud Scheduler's `sweep` over all of them. */
export type TestRunTask = RunTask | { kind: 'sweep' };

export interface RunTask {
  runId: string;
  kind: 'build' | 'poll' | 'deadline' | 'callback';
  /** Poll number, or continuation number for a deferred build. */
  n?: number;
}

/** An attempt holds its run this long after its last write (a heartbeat renews it). */
const leaseMs = () => getConfig().testRunLeaseSeconds * 1000;

export type TaskOutcome = { outcome: string; reason?: string };

export async function enqueueRunTask(task: RunTask, delaySeconds = 0): Promise<void> {
  const url = getConfig().testRunWorkerUrl;
  if (!url) throw unavailable('Test runs are not configured (TEST_RUN_WORKER_URL)', 60);
  await enqueueTask({
    queue: 'testExecution',
    id: taskId(task.runId, task.kind, String(task.n ?? 0)),
    url,
    body: task,
    delaySeconds,
    dispatchDeadlineSeconds: 1800,
  });
}

export async function processTestRunTask(task: TestRunTask, ctx: { retryCount: number; log: Logger; signal?: AbortSignal }): Promise<TaskOutcome> {
  try {
    return await dispatch(task, ctx);
  } catch (err) {
    // Virtuoso's errors in the taxonomy: unavailable → 503, so the queue retries.
    throw asAppError(err);
  }
}

async function dispatch(task: TestRunTask, ctx: { retryCount: number; log: Logger; signal?: AbortSignal }): Promise<TaskOutcome> {
  if (task.kind === 'sweep') return sweep(ctx.log);
  if (task.kind === 'callback') return deliverCallback(task.runId, ctx);
  if (task.kind === 'poll') return poll(task, ctx.log);
  if (task.kind === 'deadline') {
    const run = await loadRun(task.runId);
    if (!run) return { outcome: 'ignored', reason: 'no such run' };
    if (FINAL.has(run.status)) return finished(run, ctx.log);
    if (Date.parse(run.deadlineAt) > Date.now()) {
      await enqueueRunTask({ ...task, n: (task.n ?? 0) + 1 }, Math.ceil((Date.parse(run.deadlineAt) - Date.now()) / 1000));
      return { outcome: 'deferred' };
    }
    await failRun(run.id, timeoutError(run), ctx.log);
    return { outcome: 'timed-out' };
  }
  return build(task, ctx);
}

/**
 * A finished run: nothing to do but publish what an earlier delivery could not (its publish failed
 * after the transition), so no event is lost.
 */
async function finished(run: TestRunRecord, log: Logger): Promise<TaskOutcome> {
  // The delivery that made the change publishes at once; only past its publish deadline is an
  // event taken as left behind (publishing it here sooner would send it twice).
  const leftBehind = Date.now() - Date.parse(run.updatedAt) > getConfig().publishTimeoutMs + 5000;
  if (run.pendingEvents?.length && leftBehind) {
    await publishPending(run, log);
    return { outcome: 'published pending events', reason: `the run is ${run.status}` };
  }
  return { outcome: 'ignored', reason: `already ${run.status}` };
}

/** Cloud Scheduler's safety net: ends every unfinished run past its deadline. */
async function sweep(log: Logger): Promise<TaskOutcome> {
  const overdue = await overdueRuns(200);
  let ended = 0;
  for (const run of overdue) if (await failRun(run.id, timeoutError(run), log)) ended++;
  return { outcome: 'swept', reason: `${ended} overdue run(s) ended` };
}

const timeoutError = (run: TestRunRecord) => ({ code: 'timeout', message: `The run did not finish within its timeout (${run.deadlineAt}); it was ${run.status}` });

async function build(task: RunTask, ctx: { retryCount: number; log: Logger; signal?: AbortSignal }): Promise<TaskOutcome> {
  const log = ctx.log.child({ runId: task.runId });
  let held: number | undefined;
  let leaseEnds = 0;
  const { run } = await transition(task.runId, (r) => {
    // Firestore may run this more than once (contention): decide afresh each time.
    held = undefined;
    leaseEnds = 0;
    if (r.status !== 'queued' && r.status !== 'building') return undefined;
    if (r.status === 'building' && r.leaseUntil && Date.parse(r.leaseUntil) > Date.now()) {
      leaseEnds = Date.parse(r.leaseUntil);
      return undefined;
    }
    held = (r.attempts ?? 0) + 1;
    const now = new Date().toISOString();
    return {
      status: 'building', attempts: held, leaseUntil: new Date(Date.now() + leaseMs()).toISOString(),
      ...(r.startedAt ? {} : { startedAt: now, pendingEvents: [...(r.pendingEvents ?? []), 'test.started'] }),
    };
  });
  if (!run) return { outcome: 'ignored', reason: 'no such run' };
  if (held === undefined && FINAL.has(run.status)) return finished(run, log);
  if (held === undefined && run.status === 'executing') {
    // A retried build whose first poll may not have been queued: queue it (the name dedupes it).
    await enqueueRunTask({ runId: run.id, kind: 'poll', n: 1 }, getConfig().testRunPollSeconds);
    return { outcome: 'ignored', reason: 'the run is executing' };
  }
  if (held === undefined) {
    if (leaseEnds) {
      await enqueueRunTask({ ...task, n: (task.n ?? 0) + 1 }, Math.ceil((leaseEnds - Date.now()) / 1000) + 1);
      return { outcome: 'deferred', reason: 'another attempt holds the run' };
    }
    return { outcome: 'ignored', reason: `the run is ${run.status}` };
  }
  await publishPending(run, log).catch((err) => log.warn('could not publish test.started yet', { error: (err as Error).message }));
  if (Date.parse(run.deadlineAt) <= Date.now()) {
    await failRun(run.id, timeoutError(run), log);
    return { outcome: 'timed-out' };
  }

  const def = await runDefinition(run);
  const plan = buildPlan(def, { execute: run.execute });
  const recorder = new Recorder(runRef(run.id), leaseMs());
  const config = getConfig();
  // Seen within a second: a cancellation, or another attempt holding the run (this one lost its
  // lease); at once: the deadline, or progress that cannot be recorded (the lease is running out).
  let current: Pick<TestRunRecord, 'status' | 'attempts'> | undefined = run;
  let checkedAt = Date.now();
  let checking = false;
  const deadline = Date.parse(run.deadlineAt);
  const ownership = (r: Pick<TestRunRecord, 'status' | 'attempts'> | undefined) =>
    !r || r.status === 'cancelled' ? 'cancelled' : r.status !== 'building' || r.attempts !== held ? 'superseded' : undefined;
  const stopReason = () => {
    const now = Date.now();
    if (now > deadline) return 'deadline';
    if (!recorder.healthy()) return 'lease lost';
    if (!checking && now - checkedAt > 1000) {
      checking = true;
      void loadRunOwner(run.id)
        .then((r) => {
          current = r;
        })
        .catch(() => undefined)
        .finally(() => {
          checking = false;
          checkedAt = Date.now();
        });
    }
    return ownership(current);
  };
  const beforeExecute = async () => ownership(await loadRunOwner(run.id));

  let result;
  try {
    result = await buildRun({
      runId: run.id, def, plan, api: virtuoso(), orgId: config.virtuosoOrgId ?? 0, ids: recordedIds(run), refused: run.refused ?? {}, executeSentAt: run.executeSentAt ?? {},
      resume: held > 1, recorder, claimGoal, concurrency: config.testRunConcurrency, stopReason, beforeExecute, signal: ctx.signal, log,
    });
  } catch (err) {
    // What was recorded so far is kept (a retry resumes from it); then the lease can be let go.
    await recorder.flush().catch(() => undefined);
    recorder.stop();
    await markBuildWritten(run.id);
    const e = asAppError(err);
    const lastAttempt = ctx.retryCount + 1 >= queues.testExecution.retry.maxAttempts;
    if (e.retryable && !lastAttempt) {
      // Let the next attempt in at once: the lease is released, the run stays `building`.
      await transition(run.id, (r) => (r.attempts === held ? { leaseUntil: null } : undefined));
      log.warn('build interrupted; Cloud Tasks will retry', { error: e.message });
      throw new AppError('unavailable', e.message, { retryAfterSeconds: e.retryAfterSeconds ?? 10, cause: err });
    }
    await failRun(run.id, { code: e.code, message: e.retryable ? `Gave up after ${ctx.retryCount + 1} attempts: ${e.message}` : e.message }, log, held);
    return { outcome: 'error', reason: e.message };
  }
  recorder.stop();
  await markBuildWritten(run.id, result.outcome === 'done' ? result.ids : undefined);
  log.info(`build ${result.outcome}`, { operations: plan.totals.operations, progressWrites: recorder.writes, ...(result.outcome === 'stopped' ? { reason: result.reason } : {}) });
  if (result.outcome === 'stopped') {
    if (result.reason === 'deadline') await failRun(run.id, timeoutError(run), log);
    if (result.reason === 'lease lost') {
      // Let a retry take over (the queue retries a 503) rather than wait out the lease.
      throw new AppError('unavailable', 'The build could not record its progress; it stopped for a retry to resume it', { retryAfterSeconds: 10 });
    }
    return { outcome: result.reason };
  }

  if (!run.execute) {
    const { run: after, changed } = await transition(run.id, (r) =>
      r.status === 'building' && r.attempts === held ? { status: 'built', finishedAt: new Date().toISOString(), leaseUntil: null, pendingEvents: [...(r.pendingEvents ?? []), 'test.completed'] } : undefined,
    );
    if (changed && after) await publishPending(after, log);
    return { outcome: changed ? 'built' : 'superseded' };
  }
  const jobIds = Object.keys(result.ids).filter(keys.isExecute).map((k) => result.ids[k]);
  const { run: after, changed } = await transition(run.id, (r) =>
    r.status === 'building' && r.attempts === held ? { status: 'executing', jobIds, leaseUntil: null } : undefined,
  );
  if (!changed || !after) return { outcome: 'superseded' };
  log.info('test run executing', { jobIds });
  // Every job may have finished already (a FINISHED webhook that came during the build is recorded).
  if (allJobsFinished(after)) {
    const r = await completeRun(run.id, log);
    if (r === 'completed') return { outcome: 'completed' };
  }
  await enqueueRunTask({ runId: run.id, kind: 'poll', n: 1 }, config.testRunPollSeconds);
  return { outcome: 'executing' };
}

/** The Virtuoso object kind of each recorded plan key (plan.ts `keys`), for the read cache's tags. */
const KEY_KINDS: readonly [RegExp, string][] = [
  [/^p$/, 'project'],
  [/^g\d+$/, 'goal'],
  [/^g\d+snap$/, 'snapshot'],
  [/^g\d+(?:suite|j\d+)$/, 'journey'],
  [/^g\d+(?:nav|j\d+c\d+)$/, 'checkpoint'],
];

/**
 * What a build attempt created makes cached reads of it and its parents stale (read commands of
 * the commands API: shared/commands/read-cache.ts): the organization's projects and every project,
 * goal, journey and checkpoint the run has recorded (`ids` when the build has them all, else read
 * back). Best effort: the cache's TTL bounds the rest.
 */
async function markBuildWritten(runId: string, ids?: Record<string, string>): Promise<void> {
  if (!cacheConfigured()) return;
  const run = ids ? undefined : await loadRun(runId).catch(() => undefined);
  const tags = Object.entries(ids ?? (run ? recordedIds(run) : {})).flatMap(([key, id]) => {
    const kind = KEY_KINDS.find(([re]) => re.test(key))?.[1];
    return kind ? [`${kind}:${id}`] : [];
  });
  await markWritten([ORG_TAG, ...tags]);
}

/**
 * One poll: the next poll is queued first (so a failing poll does not end the polling), then
 * finished jobs are recorded and the run completed if all are, or timed out.
 */
async function poll(task: RunTask, log: Logger): Promise<TaskOutcome> {
  let run = await loadRun(task.runId);
  if (!run) return { outcome: 'ignored', reason: 'no such run' };
  if (FINAL.has(run.status)) return finished(run, log);
  if (run.status !== 'executing') return { outcome: 'ignored', reason: `the run is ${run.status}` };
  if (Date.parse(run.deadlineAt) <= Date.now()) {
    await failRun(run.id, timeoutError(run), log);
    return { outcome: 'timed-out' };
  }
  const wait = Math.min(getConfig().testRunPollSeconds, Math.max(1, Math.ceil((Date.parse(run.deadlineAt) - Date.now()) / 1000)));
  await enqueueRunTask({ runId: run.id, kind: 'poll', n: (task.n ?? 0) + 1 }, wait);
  const api = virtuoso();
  for (const [jobId, job] of Object.entries(run.jobs ?? {})) {
    if (job.status === 'FINISHED') continue;
    const journeys = await api.list<{ status?: string; outcome?: string | null }>('GET', '/testsuites/latest_status', {
      query: { jobId, includeSequencesDetails: true, includeTrackingDetails: true },
    });
    const done = journeys.length > 0 && journeys.every((j) => String(j.value.status ?? '').toUpperCase() === 'FINISHED');
    if (done) {
      const outcome = journeys.some((j) => String(j.value.outcome ?? '').toUpperCase() === 'FAIL') ? 'FAIL' : 'PASS';
      run = (await recordJobFinished(run.id, jobId, outcome)) ?? run;
    }
  }
  if (allJobsFinished(run)) {
    const r = await completeRun(run.id, log);
    return { outcome: r === 'completed' ? 'completed by poll' : r };
  }
  return { outcome: 'still executing' };
}

/** A FINISHED webhook for a job: record it and complete the run if it was the last. */
export async function onJobFinished(jobId: string, outcome: string | undefined, runId: string, log: Logger): Promise<TaskOutcome> {
  try {
    return await jobFinished(jobId, outcome, runId, log);
  } catch (err) {
    throw asAppError(err);
  }
}

async function jobFinished(jobId: string, outcome: string | undefined, runId: string, log: Logger): Promise<TaskOutcome> {
  const run = await recordJobFinished(runId, jobId, outcome);
  if (!run) return { outcome: 'ignored', reason: 'no such run' };
  if (FINAL.has(run.status)) return finished(run, log);
  if (!allJobsFinished(run)) return { outcome: 'recorded', reason: 'other jobs still running' };
  const r = await completeRun(runId, log);
  return { outcome: r === 'completed' ? 'completed by webhook' : r };
}


