/**
 * `test-runs` — whole test definitions built in Virtuoso, executed, tracked and reported.
 *
 *   POST /test-runs                  a definition (YAML or JSON body, or JSON {definition, dryRun?, execute?, variables?}),
 *                                    native or in one of the original CLI's formats (run-test, create-structure, compact)
 *                                    → 202 {id, status: "queued", statusUrl}; dryRun → 200 {plan, and the converted definition}
 *   GET  /test-runs                  the caller's runs, newest first (?status=, ?limit=, ?pageToken=)
 *   GET  /test-runs/{id}             status, progress, Virtuoso ids and app links
 *   POST /test-runs/{id}/cancel      → 200 the cancelled run; 409 if it already finished
 *   GET  /test-runs/{id}/report      ?format=json|junit; 409 until the run has finished with a report
 *   GET  /callback-secret            the tenant's completion-callback secret, shown once (409 after)
 *   POST /callback-secret/rotate     a new one, shown once (the previous one signs for a day more)
 *   GET  /openapi.json               this function's part of the OpenAPI document (shared/http.ts)
 *
 * A run may carry a `callbackUrl` (JSON body or query): its summary is POSTed there when it ends,
 * signed with Standard Webhooks (shared/testruns/callback.ts).
 * Same API keys (scope `test-runs`), tenancy, rate limits and Idempotency-Key as the commands API.
 *
 * `testRunWorker` (private; Cloud Tasks queue `test-execution`) builds, polls and times runs out;
 * `testRunEvents` (Pub/Sub `webhook-events`) completes runs when Virtuoso's FINISHED webhook comes.
 */
import { authenticate, rateLimit, type Principal } from '../../shared/auth';
import { getConfig } from '../../shared/config';
import { AppError, badRequest, conflict, notFound, unavailable, unprocessable } from '../../shared/errors';
import { httpFunction, type HttpRequestContext, type HttpResult } from '../../shared/http';
import { functions as functionSpecs } from '../../shared/infra';
import type { Logger } from '../../shared/log';
import { parseJsonObject } from '../../shared/json';
import { pubsubFunction } from '../../shared/pubsub-trigger';
import { schemas, validateBody } from '../../shared/schemas';
import { getObject } from '../../shared/storage';
import { claimIdempotencyKey, idempotencyKeyOf, releaseIdempotencyKey, takeOverIdempotencyKey } from '../../shared/commands/idempotency';
import { newCallback } from '../../shared/testruns/callback';
import { callbacksConfigured, revealCallbackSecret, rotateCallbackSecret } from '../../shared/testruns/callback-secrets';
import { callbackUrlProblem, CallbackRefused, resolveTarget } from '../../shared/testruns/callback-target';
import { builtStructure, publishPending } from '../../shared/testruns/complete';
import { parseDefinition } from '../../shared/testruns/definition';
import { buildPlan } from '../../shared/testruns/plan';
import { FINAL, getRun, listRuns, runOfJob, RUN_STATUSES, transition, type RunStatus, type TestRunRecord } from '../../shared/testruns/store';
import { dryRunBody, newRunRecord, startRun } from '../../shared/testruns/submit';
import { onJobFinished, processTestRunTask, type TestRunTask } from '../../shared/testruns/worker';
import { WEBHOOK_EVENT_TYPE } from '../../shared/webhooks/deliveries';

getConfig();

const SCOPE = 'test-runs';
/** YAML's media types (RFC 9512 and the common older ones); `text/plain` is not one: 415, as for anything else. */
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

interface Submission {
  /** YAML or JSON text, or the parsed object of a JSON body. */
  source: string | Record<string, unknown>;
  dryRun: boolean;
  execute: boolean;
  variables: Record<string, string>;
  callbackUrl?: string;
}

/** A YAML body (options in the query), a JSON definition, or JSON {definition, ...options}. */
function submissionOf(ctx: HttpRequestContext): Submission {
  const flag = (name: string) => {
    const v = ctx.query.get(name);
    if (v === null) return undefined;
    if (v !== 'true' && v !== 'false') throw badRequest(`${name} must be true or false`);
    return v === 'true';
  };
  if (!ctx.rawBody.length) throw badRequest('Send a test definition (YAML or JSON) in the body');
  const query = { dryRun: flag('dryRun'), execute: flag('execute'), callbackUrl: ctx.query.get('callbackUrl') ?? undefined };
  if (ctx.mediaType !== 'application/json') {
    return { source: ctx.rawBody.toString('utf8'), dryRun: query.dryRun ?? false, execute: query.execute ?? true, variables: {}, callbackUrl: query.callbackUrl };
  }
  // JSON: its nesting was checked by the HTTP wrapper, before this parse.
  const body = parseJsonObject(ctx.rawBody);
  if (!('definition' in body)) return { source: ctx.rawBody.toString('utf8'), dryRun: query.dryRun ?? false, execute: query.execute ?? true, variables: {}, callbackUrl: query.callbackUrl };
  const req = validateBody<{ definition: string | object; dryRun?: boolean; execute?: boolean; variables?: Record<string, string | number | boolean>; callbackUrl?: string }>(schemas.testRunRequest, body, 'test-run request');
  return {
    source: req.definition as string | Record<string, unknown>,
    dryRun: req.dryRun ?? query.dryRun ?? false,
    execute: req.execute ?? query.execute ?? true,
    variables: Object.fromEntries(Object.entries(req.variables ?? {}).map(([k, v]) => [k, String(v)])),
    callbackUrl: req.callbackUrl ?? query.callbackUrl,
  };
}

async function submit(ctx: HttpRequestContext, principal: Principal, rateHeaders: Record<string, string>): Promise<HttpResult> {
  const sub = submissionOf(ctx);
  // The whole definition is validated (every step through its builder) before anything else; a
  // definition in one of the original CLI's formats (run-test, create-structure) is converted first.
  const def = parseDefinition(sub.source, { variables: sub.variables });
  const plan = buildPlan(def, { execute: sub.execute });
  if (sub.callbackUrl) await checkCallbackUrl(sub.callbackUrl);
  if (sub.dryRun) return { status: 200, headers: rateHeaders, body: dryRunBody(def, plan) };
  const idempotencyKey = idempotencyKeyOf(ctx.headers['idempotency-key']);
  const run = newRunRecord(principal, def, plan, { execute: sub.execute, variables: sub.variables, idempotencyKey });
  if (sub.callbackUrl) run.callback = newCallback(run.id, sub.callbackUrl);
  if (idempotencyKey) {
    const original = await originalRun(principal, idempotencyKey, { definition: def.document, execute: sub.execute, variables: sub.variables, callbackUrl: sub.callbackUrl }, run.id, ctx.log);
    if (original) return { status: 202, body: await view(original), headers: { ...rateHeaders, 'Idempotent-Replayed': 'true' } };
  }
  // Stored, then queued (submit.ts startRun): a run whose tasks could not be queued is removed, so
  // nothing blocks the caller's retry; one whose write landed after its deadline is ended by the
  // overdue-run sweep, and its Idempotency-Key taken over by the retry in time.
  try {
    await startRun(run, def);
  } catch (err) {
    // Not accepted: nothing stays behind that could block the caller's retry.
    if (idempotencyKey) await releaseIdempotencyKey(principal, `test-runs:${idempotencyKey}`).catch(() => undefined);
    throw err;
  }
  ctx.log.info('test run queued', { runId: run.id, operations: plan.totals.operations });
  return { status: 202, body: await view(run), headers: { ...rateHeaders, Location: `/test-runs/${run.id}` } };
}

/** How long the original request of an Idempotency-Key may still be running (the function's timeout). */
const ORIGINAL_MAY_RUN_MS = (functionSpecs.find((f) => f.name === 'testRuns')!.timeoutSeconds + 10) * 1000;

/**
 * The run an Idempotency-Key already stands for, or undefined: accept this request as `runId` — the
 * key is new, or its original request stored no run long after it could still be running (a claim
 * that landed after its request had answered 503), and the key was taken over.
 */
async function originalRun(principal: Principal, idempotencyKey: string, body: unknown, runId: string, log: Logger): Promise<TestRunRecord | undefined> {
  const key = `test-runs:${idempotencyKey}`;
  const claim = await claimIdempotencyKey(principal, key, body, runId);
  if (!claim.existingCommandId) return undefined;
  try {
    return await getRun(principal, claim.existingCommandId);
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'not_found')) throw err;
  }
  if (Date.now() - (claim.claimedAt ?? 0) < ORIGINAL_MAY_RUN_MS) throw unavailable('The original request with this Idempotency-Key is still being accepted; retry shortly', 2);
  if (!(await takeOverIdempotencyKey(principal, key, claim.existingCommandId, runId))) throw unavailable('The Idempotency-Key changed hands; retry', 1);
  log.warn('took over an Idempotency-Key whose original request stored no run', { abandoned: claim.existingCommandId, runId });
  return undefined;
}

/**
 * A callbackUrl is refused up front (422) when its shape is wrong or its host resolves to an
 * address callbacks may not reach; a name that does not resolve right now is left to the delivery
 * (checked again then). Callbacks need the signing key: 503 without it.
 */
async function checkCallbackUrl(url: string): Promise<void> {
  const allowLoopback = getConfig().callbackAllowLoopback;
  const problem = callbackUrlProblem(url, allowLoopback);
  if (problem) throw unprocessable(`callbackUrl is refused: ${problem}`, [{ path: '/callbackUrl', message: problem }]);
  await callbacksConfigured();
  try {
    await resolveTarget(url, allowLoopback);
  } catch (err) {
    if (err instanceof CallbackRefused) throw unprocessable(`callbackUrl is refused: ${err.message}`, [{ path: '/callbackUrl', message: err.message }]);
  }
}

/** The public view of a run: no source, no internal bookkeeping. */
async function view(run: TestRunRecord, withStructure = true) {
  const app = getConfig().virtuosoAppUrl;
  const link = (kind: string, id: string | undefined) => (id ? `${app}/#/${kind}/${id}` : undefined);
  let structure: Awaited<ReturnType<typeof builtStructure>> | undefined;
  try {
    structure = withStructure ? await builtStructure(run) : undefined;
  } catch {
    structure = undefined; // a definition that no longer parses (validation rules changed): show the rest
  }
  return {
    id: run.id, name: run.name, status: run.status,
    createdAt: run.createdAt, updatedAt: run.updatedAt, startedAt: run.startedAt, finishedAt: run.finishedAt, deadlineAt: run.deadlineAt,
    execute: run.execute,
    progress: {
      operationsDone: run.progress?.operationsDone ?? 0, operationsTotal: run.totals.operations,
      stepsCreated: run.progress?.stepsCreated ?? 0, stepsTotal: run.totals.steps,
    },
    ...(run.error ? { error: run.error } : {}),
    ...(run.refused && Object.keys(run.refused).length ? { refusedSteps: Object.keys(run.refused).length } : {}),
    virtuoso: structure && {
      projectId: structure.projectId, projectUrl: link('project', structure.projectId),
      goals: structure.goals.map((g) => ({
        name: g.name, goalId: g.goalId, snapshotId: g.snapshotId, jobId: g.jobId, goalUrl: link('goal', g.goalId),
        journeys: g.journeys.map((j) => ({
          name: j.name, journeyId: j.journeyId, journeyUrl: link('journey', j.journeyId),
          checkpoints: j.checkpoints.map((c) => ({ name: c.name, checkpointId: c.checkpointId, checkpointUrl: link('checkpoint', c.checkpointId), steps: c.steps.length, stepsCreated: c.steps.filter((s) => s.stepId).length })),
        })),
      })),
    },
    ...(run.callback ? { callback: run.callback } : {}),
    ...(run.report
      ? { report: { outcome: run.report.outcome, counts: run.report.counts, json: `/test-runs/${run.id}/report?format=json`, junit: `/test-runs/${run.id}/report?format=junit` } }
      : {}),
    statusUrl: `/test-runs/${run.id}`,
  };
}

async function cancel(principal: Principal, id: string): Promise<TestRunRecord> {
  await getRun(principal, id);
  const { run, changed } = await transition(id, (r) =>
    FINAL.has(r.status) ? undefined : { status: 'cancelled', finishedAt: new Date().toISOString(), leaseUntil: null, pendingEvents: [...(r.pendingEvents ?? []), 'test.failed'] },
  );
  if (!run) throw notFound(`No test run '${id}'`);
  if (!changed) throw conflict(`The run has already finished (${run.status})`, { status: run.status });
  return run;
}

async function report(principal: Principal, id: string, format: string | null): Promise<HttpResult> {
  const f = format ?? 'json';
  if (f !== 'json' && f !== 'junit') throw badRequest("format must be 'json' or 'junit'");
  const run = await getRun(principal, id);
  if (!run.report) throw conflict(`The run has no report yet (${run.status})`, { status: run.status });
  const body = await getObject(f === 'json' ? run.report.objects.json : run.report.objects.junit, { deadlineMs: getConfig().dependencyDeadlineMs });
  return { status: 200, raw: { contentType: f === 'json' ? 'application/json' : 'application/xml; charset=utf-8', text: body.toString('utf8') } };
}

httpFunction('testRuns', { methods: ['GET', 'POST'], maxBodyBytes: 512 * 1024, accepts: ['application/json', ...YAML_TYPES] }, async (ctx) => {
  const principal = await authenticate(ctx.headers, SCOPE);
  const [, resource, id, action, extra] = ctx.path.split('/');
  if ((resource !== 'test-runs' && resource !== 'callback-secret') || extra !== undefined) throw notFound(`No route ${ctx.method} ${ctx.path}`);
  const { headers: rateHeaders } = await rateLimit(principal, SCOPE);
  const reqLog = ctx.log.child({ tenantId: principal.tenantId, userId: principal.userId });
  const route = resource === 'callback-secret' ? `${ctx.method} ${ctx.path}` : `${ctx.method} /test-runs${id ? '/:id' : ''}${action ? `/${action}` : ''}`;
  switch (route) {
    case 'POST /test-runs':
      return submit({ ...ctx, log: reqLog }, principal, rateHeaders);
    case 'GET /test-runs': {
      const status = ctx.query.get('status') ?? undefined;
      if (status && !RUN_STATUSES.includes(status as RunStatus)) throw badRequest(`status must be one of ${RUN_STATUSES.join(', ')}`);
      const limitText = ctx.query.get('limit') ?? '20';
      const limit = Number(limitText);
      if (!/^\d+$/.test(limitText) || limit < 1 || limit > 100) throw badRequest('limit must be an integer from 1 to 100');
      const page = await listRuns(principal, limit, status as RunStatus | undefined, ctx.query.get('pageToken') ?? undefined);
      // A list shows each run's summary; its Virtuoso structure is in GET /test-runs/{id}.
      return { status: 200, body: { items: await Promise.all(page.items.map((r) => view(r, false))), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) }, headers: rateHeaders };
    }
    case 'GET /test-runs/:id':
      return { status: 200, body: await view(await getRun(principal, id)), headers: rateHeaders };
    case 'POST /test-runs/:id/cancel': {
      const run = await cancel(principal, id);
      reqLog.info('test run cancelled', { runId: id });
      await publishPending(run, reqLog).catch((err) => reqLog.warn('could not publish the cancellation yet', { error: (err as Error).message }));
      return { status: 200, body: await view(run), headers: rateHeaders };
    }
    case 'GET /test-runs/:id/report':
      return { ...(await report(principal, id, ctx.query.get('format'))), headers: rateHeaders };
    case 'GET /callback-secret':
      return { status: 200, body: await revealCallbackSecret(principal.tenantId), headers: rateHeaders };
    case 'POST /callback-secret/rotate':
      return { status: 200, body: await rotateCallbackSecret(principal.tenantId), headers: rateHeaders };
    default:
      throw notFound(`No route ${ctx.method} ${ctx.path}`);
  }
});

httpFunction('testRunWorker', { methods: ['POST'] }, async ({ rawBody, headers, log }) => {
  const task = validateBody<TestRunTask>(schemas.testRunTask, parseJsonObject(rawBody), 'test-run task');
  const retryCount = Number(headers['x-cloudtasks-taskretrycount'] ?? 0) || 0;
  const wlog = log.child({ ...('runId' in task ? { runId: task.runId } : {}), task: task.kind, attempt: String(retryCount + 1) });
  const result = await processTestRunTask(task, { retryCount, log: wlog });
  wlog.info(`task ${result.outcome}${result.reason ? `: ${result.reason}` : ''}`);
  return { status: 200, body: result };
});

/** Virtuoso's FINISHED webhooks, from webhook-events: the run whose job it is completes. */
pubsubFunction('testRunEvents', async ({ json, log }) => {
  const envelope = json as { eventType?: string; data?: { status?: string; executionId?: string; payload?: { outcome?: unknown } } } | undefined;
  if (envelope?.eventType !== WEBHOOK_EVENT_TYPE) return { outcome: 'ignored', reason: 'not a webhook event' };
  const { status, executionId } = envelope.data ?? {};
  if (String(status ?? '').toUpperCase() !== 'FINISHED' || !executionId) return { outcome: 'ignored', reason: `status ${status ?? 'none'}` };
  const run = await runOfJob(executionId);
  if (!run) return { outcome: 'ignored', reason: `job ${executionId} belongs to no run` };
  const outcome = typeof envelope.data?.payload?.outcome === 'string' ? envelope.data.payload.outcome : undefined;
  const result = await onJobFinished(executionId, outcome, run.id, log.child({ runId: run.id, jobId: executionId }));
  log.info(`FINISHED webhook: ${result.outcome}`, { runId: run.id, jobId: executionId });
  return result;
});
