/**
 * The end of a run. Completion comes from whichever arrives first — the FINISHED webhook (through
 * testRunEvents) or a polling task — and happens once: each job's FINISHED is recorded in a
 * transaction, the report is fetched and stored (the same bytes whoever writes them), and only the
 * transition `executing → passed | failed` that wins publishes the event. Duplicates and late
 * events find the run finished and change nothing.
 */
import { getConfig } from '../config';
import { publishEvent } from '../events';
import { objectPrefixes, topics } from '../infra';
import type { Logger } from '../log';
import { putObject } from '../storage';
import { virtuoso } from '../virtuoso';
import { enqueueCallback } from './callback';
import { keys } from './plan';
import { junitXml } from './junit';
import { buildReport, type BuiltGoal } from './report';
import { FINAL, loadRun, markPublished, recordedIds, runDefinition, transition, type TestRunRecord } from './store';

export type TestEventType = 'test.started' | 'test.completed' | 'test.failed';

/** Publishes the run's pending events (at least once; the event id is stable, so consumers dedupe). */
export async function publishPending(run: TestRunRecord, log: Logger): Promise<void> {
  for (const type of run.pendingEvents ?? []) {
    // The run's end also queues its completion callback, before the event is marked published, so
    // a failure here is retried with the event (the task is named after the run: queued once).
    if (type !== 'test.started') await enqueueCallback(run);
    await publishEvent(topics.testEvents, type, eventData(run), {
      source: 'test-runs',
      eventId: `${run.id}.${type}`,
      userId: run.userId,
      attributes: { tenantId: run.tenantId, runId: run.id, status: run.status },
    });
    await markPublished(run.id, type);
    log.info(`published ${type}`, { runId: run.id });
  }
}

function eventData(run: TestRunRecord) {
  return {
    runId: run.id, name: run.name, status: run.status, ...(run.error ? { error: run.error } : {}),
    ...(run.report ? { outcome: run.report.outcome, counts: run.report.counts, report: run.report.objects } : {}),
    jobIds: run.jobIds ?? [], createdAt: run.createdAt, finishedAt: run.finishedAt,
  };
}

/**
 * Ends an unfinished run with `error` (a timeout, a build that cannot go on) and announces it. A
 * build attempt passes its attempt number: if another attempt has taken the run over, it is theirs.
 */
export async function failRun(runId: string, error: { code: string; message: string }, log: Logger, attempt?: number): Promise<boolean> {
  const { run, changed } = await transition(runId, (r) =>
    FINAL.has(r.status) || (attempt !== undefined && r.attempts !== attempt)
      ? undefined
      : { status: 'error', error, finishedAt: new Date().toISOString(), leaseUntil: null, pendingEvents: [...(r.pendingEvents ?? []), 'test.failed'] },
  );
  if (changed && run) {
    // status and code are what the alert's log metric counts (shared/infra.ts logMetrics.testRunErrors).
    log.warn('test run ended with an error', { runId, status: 'error', code: error.code, error: error.message });
    await publishPending(run, log);
  }
  return changed;
}

/** Records that a job finished; returns the run as it is now. */
export async function recordJobFinished(runId: string, jobId: string, outcome: string | undefined): Promise<TestRunRecord | undefined> {
  // A duplicate finds it recorded already: transition() reads, changes nothing and writes nothing.
  const { run } = await transition(runId, (r) => {
    const job = r.jobs?.[jobId];
    if (!job || job.status === 'FINISHED' || FINAL.has(r.status)) return undefined;
    return { [`jobs.${jobId}`]: { ...job, status: 'FINISHED', ...(outcome ? { outcome } : {}) } } as Partial<TestRunRecord>;
  });
  return run;
}

export const allJobsFinished = (run: TestRunRecord) => {
  const jobs = Object.values(run.jobs ?? {});
  return jobs.length > 0 && jobs.length === Object.keys(run.ids).filter((k) => /^g\d+exec$/.test(k)).length && jobs.every((j) => j.status === 'FINISHED');
};

/** The run's structure with its Virtuoso ids, by definition position. */
export async function builtStructure(run: TestRunRecord): Promise<{ projectId?: string; goals: BuiltGoal[] }> {
  const def = await runDefinition(run);
  const ids = recordedIds(run);
  return {
    projectId: ids[keys.project],
    goals: def.goals.map((goal, g) => ({
      name: goal.name,
      goalId: ids[keys.goal(g)],
      snapshotId: ids[keys.snapshot(g)],
      jobId: ids[keys.execute(g)],
      journeys: goal.journeys.map((journey, j) => ({
        name: journey.name,
        journeyId: ids[keys.journey(g, j)],
        checkpoints: journey.checkpoints.map((checkpoint, c) => ({
          name: checkpoint.name,
          checkpointId: ids[keys.checkpoint(g, j, c)],
          steps: checkpoint.steps.map((step, s) => ({ stepId: ids[keys.step(g, j, c, s)], label: step.label })),
        })),
      })),
    })),
  };
}

/**
 * Completes an `executing` run whose jobs have all finished: report → Storage → final status →
 * event. Safe to call from several places at once; returns whether this call finished the run.
 */
export async function completeRun(runId: string, log: Logger): Promise<'completed' | 'already' | 'not-ready'> {
  const run = await loadRun(runId);
  if (!run || FINAL.has(run.status)) return 'already';
  if (run.status !== 'executing' || !allJobsFinished(run)) return 'not-ready';
  const structure = await builtStructure(run);
  const api = virtuoso();
  const executions: Record<string, Record<string, unknown>> = {};
  for (const goal of structure.goals) {
    if (!goal.jobId) continue;
    const journeyIds = goal.journeys.map((j) => j.journeyId).filter((x): x is string => !!x);
    const entries = await api.list<unknown>('GET', '/testsuites/execution', { query: { jobId: goal.jobId, 'suiteId[]': journeyIds, includeJourneyDetails: true } });
    executions[goal.jobId] = Object.fromEntries(entries.map((e) => [e.id, e.value]));
  }
  // From Virtuoso's own end dates, so that two completers at once write the same bytes.
  const finishedAt = lastEndDate(executions) ?? new Date().toISOString();
  const report = buildReport({
    run: { id: run.id, name: run.name, createdAt: run.createdAt, startedAt: run.startedAt, finishedAt, appUrl: getConfig().virtuosoAppUrl },
    projectId: structure.projectId,
    goals: structure.goals,
    executions,
  });
  const prefix = objectPrefixes.testResults(run.id);
  const objects = { json: `${prefix}report.json`, junit: `${prefix}junit.xml` };
  await Promise.all([
    putObject(objects.json, JSON.stringify(report, null, 2), { contentType: 'application/json' }),
    putObject(objects.junit, junitXml(report), { contentType: 'application/xml' }),
  ]);
  const status = report.outcome === 'passed' ? 'passed' : 'failed';
  const { run: after, changed } = await transition(runId, (r) =>
    r.status !== 'executing'
      ? undefined
      : {
          status, finishedAt, report: { outcome: report.outcome, counts: report.counts, objects },
          pendingEvents: [...(r.pendingEvents ?? []), status === 'passed' ? 'test.completed' : 'test.failed'],
        },
  );
  if (!changed || !after) return 'already';
  log.info(`test run ${status}`, { runId, counts: report.counts });
  await publishPending(after, log);
  return 'completed';
}

/** The latest `endDate` in the execution reports, if they carry any. */
function lastEndDate(executions: Record<string, Record<string, unknown>>): string | undefined {
  let last = -Infinity;
  for (const journeys of Object.values(executions)) {
    for (const j of Object.values(journeys)) {
      const end = Date.parse(String((j as { endDate?: unknown } | null)?.endDate ?? ''));
      if (Number.isFinite(end) && end > last) last = end;
    }
  }
  return Number.isFinite(last) ? new Date(last).toISOString() : undefined;
}
