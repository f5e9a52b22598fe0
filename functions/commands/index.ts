/**
 * `commands` — Virtuoso API CLI commands over HTTPS (public; API keys).
 *
 *   POST   /commands            run one command now → 200 {id, status, command, output, durationMs};
 *                                with `async: true` → 202 {id, status: "queued", statusUrl}
 *   POST   /commands/batch      {commands: [...], stopOnError?} → 200 {id, status, results[]}, in order
 *   GET    /commands            the caller's history, newest first (?limit=, ?pageToken=)
 *   GET    /commands/{id}       one command of the caller's tenant
 *   POST   /sessions            {checkpointId, name?, nextPosition?} → 201 session
 *   GET    /sessions            the caller's live sessions
 *   GET    /sessions/{id}       one session
 *   DELETE /sessions/{id}       → 204
 *
 * Every request: API key (401/403) → rate limit per user and endpoint (429) → validation (400/422).
 * POSTs honour `Idempotency-Key` (24 h): a repeat returns the original command, nothing runs twice.
 * A command whose effect happened but whose record could not be written answers 503; its retry
 * (the same key, or the same request within an hour) ends with that effect's outcome (parked.ts).
 *
 * `commandWorker` (private, Cloud Tasks queue `command-execution`) runs queued commands, and the
 * stale-work sweep (Cloud Scheduler `commands-sweep`).
 */
import { authenticate, rateLimit, tenantUsage, type Principal } from '../../shared/auth';
import { cacheKeys, cacheSet, cacheTtlSeconds } from '../../shared/cache';
import { getConfig } from '../../shared/config';
import { AppError, badRequest, notFound, toAppError, unavailable } from '../../shared/errors';
import { publishEvent } from '../../shared/events';
import type { AddWrite } from '../../shared/firestore';
import { runOrderedBatch, type BatchInput, type BatchItemResult } from '../../shared/commands/batch';
import { deleteCommand, getCommand, listCommands, newCommandRecord, recordedError, saveCommand, type CommandRecord } from '../../shared/commands/history';
import { claimIdempotencyKey, idempotencyKeyOf, releaseIdempotencyKey, requestHash, takeOverIdempotencyKey } from '../../shared/commands/idempotency';
import { park, parked, parkingKey, unpark } from '../../shared/commands/parked';
import { checkCommand } from '../../shared/commands/parse';
import { commandName, isReadCommand, pinSession, runOwned, type CommandInput } from '../../shared/commands/run';
import { createSession, deleteSession, getSession, listSessions } from '../../shared/commands/sessions';
import { sweepCommands } from '../../shared/commands/sweep';
import { processCommandTask, type CommandTask } from '../../shared/commands/worker';
import { httpFunction, type HttpRequestContext, type HttpResult } from '../../shared/http';
import { functions as functionSpecs, topics } from '../../shared/infra';
import { parseJsonObject } from '../../shared/json';
import type { Logger } from '../../shared/log';
import { schemas, validateBody } from '../../shared/schemas';
import { enqueueTask, taskId } from '../../shared/tasks';
import { OUTPUT_FORMATS, render, type OutputFormat } from '../../shared/virtuoso/output';

getConfig();

const SCOPE = 'commands';
/**
 * How long the original request of an Idempotency-Key may still be running (the function's
 * timeout): a key whose command left no trace after that is taken over by its retry.
 */
const ORIGINAL_MAY_RUN_MS = (functionSpecs.find((f) => f.name === 'commands')!.timeoutSeconds + 10) * 1000;

/** `?output=json|yaml|human|ai` (the CLI's formats), else the command line's `-o`; errors are always the JSON error body. */
function formatOf(query: URLSearchParams, fromCommand?: OutputFormat): OutputFormat {
  const f = query.get('output') ?? fromCommand ?? 'json';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(f)) throw badRequest(`output must be one of ${OUTPUT_FORMATS.join(', ')}`);
  return f as OutputFormat;
}

function answer(status: number, r: CommandRecord | ReturnType<typeof view>, format: OutputFormat, headers: Record<string, string>): HttpResult {
  const v = 'tenantId' in r ? view(r) : r;
  return format === 'json' ? { status, body: v, headers } : { status, raw: render(v, format), headers };
}

function view(r: CommandRecord) {
  return { id: r.id, status: r.status, command: r.command, output: r.output, ...(r.notes?.length ? { notes: r.notes } : {}), error: r.error, createdAt: r.createdAt, updatedAt: r.updatedAt, durationMs: r.durationMs };
}

const REPLAYED = { 'Idempotent-Replayed': 'true' };

/** Where a retry of this request finds what an earlier attempt did but could not record. */
const parkingKeyOf = (principal: Principal, route: 'command' | 'batch', idempotencyKey: string | undefined, body: unknown) =>
  parkingKey(principal.tenantId, principal.userId, route, idempotencyKey ? `key:${idempotencyKey}` : `body:${requestHash(body)}`);

/**
 * Binds the request's Idempotency-Key to `commandId`, or finds the command it already stands for
 * (returned: the request is a repeat). Undefined: run the request — the key is new, it is bound
 * to this very command (a retry resuming its parked progress), or its original request left no
 * trace long after it could still be running (a claim written late, after the request had already
 * answered 503), and the key was taken over.
 */
async function originalOf(principal: Principal, key: string, body: unknown, commandId: string, log: Logger): Promise<CommandRecord | undefined> {
  const claim = await claimIdempotencyKey(principal, key, body, commandId);
  if (!claim.existingCommandId || claim.existingCommandId === commandId) return undefined;
  try {
    return await getCommand(principal, claim.existingCommandId);
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'not_found')) throw err;
  }
  if (Date.now() - (claim.claimedAt ?? 0) < ORIGINAL_MAY_RUN_MS) throw unavailable('The original request with this Idempotency-Key is still in progress; retry shortly', 2);
  if (!(await takeOverIdempotencyKey(principal, key, claim.existingCommandId, commandId))) throw unavailable('The Idempotency-Key changed hands; retry', 1);
  log.warn('took over an Idempotency-Key whose original request left no trace', { abandoned: claim.existingCommandId, commandId });
  return undefined;
}

/** Records a finished command: its history (with a created step's owner, one commit), its cached result and its event. */
async function recordOutcome(record: CommandRecord, log: Logger, ownerWrite?: AddWrite): Promise<void> {
  await Promise.all([saveCommand(record, ownerWrite), cacheSet(cacheKeys.commandResult(record.id), view(record), cacheTtlSeconds.commandResult), announce(record, log)]);
}

async function runNow(ctx: HttpRequestContext, principal: Principal, rateHeaders: Record<string, string>): Promise<HttpResult> {
  formatOf(ctx.query); // an unknown ?output is refused before the body is read
  const { async: queued, ...input } = validateBody<CommandInput & { async?: boolean }>(schemas.commandRequest, parseJsonObject(ctx.rawBody), 'command request');
  // A command that cannot be read, or whose arguments are refused, is answered before anything is recorded or queued.
  const format = formatOf(ctx.query, checkCommand(input).output);
  const idempotencyKey = idempotencyKeyOf(ctx.headers['idempotency-key']);
  const parkKey = parkingKeyOf(principal, 'command', idempotencyKey, input);
  // A retry of a command whose effect happened but could not be recorded: that effect's outcome.
  const writes = !queued && !isReadCommand(input);
  const earlier = writes ? await parked<CommandRecord>(parkKey) : undefined;
  const record = earlier ?? newCommandRecord(principal, commandName(input), input, queued ? 'queued' : 'running', idempotencyKey);
  if (idempotencyKey) {
    const original = await originalOf(principal, idempotencyKey, input, record.id, ctx.log);
    if (original) return answer(original.status === 'queued' ? 202 : 200, original, format, { ...rateHeaders, ...REPLAYED });
  }
  if (queued) return enqueue(record, principal, idempotencyKey, rateHeaders);
  if (earlier) {
    await recordOutcome(earlier, ctx.log);
    await unpark(parkKey);
    ctx.log.info('recorded the outcome of an earlier attempt instead of running the command again', { commandId: earlier.id });
    return answer(200, earlier, format, { ...rateHeaders, ...REPLAYED });
  }
  // Run now: the record is written once, when the outcome is known (the caller is waiting on it),
  // together with the cached result and the event.
  const started = performance.now();
  let failure: AppError | undefined;
  let ownerWrite: AddWrite | undefined;
  try {
    const ran = await runOwned(input, principal, record.id);
    Object.assign(record, { command: ran.command, output: ran.output, status: 'succeeded', ...(ran.notes ? { notes: ran.notes } : {}) });
    ownerWrite = ran.ownerWrite;
  } catch (err) {
    failure = toAppError(err);
    record.status = 'failed';
    record.error = recordedError(failure);
  }
  record.durationMs = Math.round(performance.now() - started);
  record.updatedAt = new Date().toISOString();
  try {
    await recordOutcome(record, ctx.log, ownerWrite);
  } catch (err) {
    // The effect happened; only its record is missing: the retry ends with it (a failure had no
    // effect to keep; a read is simply read again).
    if (writes && record.status === 'succeeded') await park(parkKey, record);
    throw err;
  }
  if (failure) {
    throw new AppError(failure.code, failure.message, {
      // A list of problems (a test definition's) stays a list, beside the command's id.
      details: { commandId: record.id, ...(Array.isArray(failure.details) ? { problems: failure.details } : failure.details && typeof failure.details === 'object' ? failure.details : {}) },
      retryAfterSeconds: failure.retryAfterSeconds,
      headers: rateHeaders,
    });
  }
  return answer(200, record, format, rateHeaders);
}

/** A synchronous batch's progress, parked when it could not be recorded. */
interface ParkedBatch {
  batch: CommandRecord;
  results: BatchItemResult[];
  /** The last command's record, when it is what could not be written. */
  unrecorded?: CommandRecord;
}

/**
 * Runs an ordered list now (batch.ts), each command recorded on its own; with stopOnError
 * (default) the rest are skipped after the first failure. The batch itself is recorded too
 * (command `batch`), which is what an Idempotency-Key repeat returns. When recording fails after
 * some commands ran, their results are parked and the retry resumes after them.
 */
async function runBatch(ctx: HttpRequestContext, principal: Principal, rateHeaders: Record<string, string>): Promise<HttpResult> {
  const { async: queued, ...body } = validateBody<BatchInput & { async?: boolean }>(schemas.batchRequest, parseJsonObject(ctx.rawBody), 'batch request');
  const idempotencyKey = idempotencyKeyOf(ctx.headers['idempotency-key']);
  const parkKey = parkingKeyOf(principal, 'batch', idempotencyKey, body);
  const progress = queued ? undefined : await parked<ParkedBatch>(parkKey);
  const batch = progress?.batch ?? newCommandRecord(principal, 'batch', body, queued ? 'queued' : 'running', idempotencyKey);
  if (idempotencyKey) {
    const original = await originalOf(principal, idempotencyKey, body, batch.id, ctx.log);
    if (original) return { status: original.status === 'queued' ? 202 : 200, body: view(original), headers: { ...rateHeaders, ...REPLAYED } };
  }
  if (queued) {
    // Session positions are fixed now, in order, so the worker's retries cannot take new ones.
    const pinned: CommandInput[] = [];
    for (const c of body.commands) pinned.push(await pinSession(c, principal));
    batch.input = { ...body, commands: pinned };
    return enqueue(batch, principal, idempotencyKey, rateHeaders);
  }
  const results: BatchItemResult[] = progress ? [...progress.results] : [];
  const started = performance.now();
  // The last command's record, written after its result is known (the runner's bookkeeping step).
  let unrecorded: { record: CommandRecord; ownerWrite?: AddWrite } | undefined = progress?.unrecorded ? { record: progress.unrecorded } : undefined;
  let output;
  try {
    if (!progress) await saveCommand(batch);
    if (unrecorded) {
      await recordOutcome(unrecorded.record, ctx.log);
      unrecorded = undefined;
    }
    output = await runOrderedBatch(body, results, {
      run: async (input, index) => {
        const record = newCommandRecord(principal, commandName(input), input, 'running');
        await saveCommand(record); // before the effect: a command that cannot be recorded is not run
        const t0 = performance.now();
        let result: BatchItemResult;
        let ownerWrite: AddWrite | undefined;
        try {
          const ran = await runOwned(input, principal, record.id);
          ownerWrite = ran.ownerWrite;
          const notes = ran.notes ? { notes: ran.notes } : {};
          Object.assign(record, { command: ran.command, output: ran.output, status: 'succeeded', ...notes });
          result = { index, command: ran.command, id: record.id, status: 'succeeded', output: ran.output, ...notes };
        } catch (err) {
          record.status = 'failed';
          record.error = recordedError(toAppError(err));
          result = { index, command: record.command, id: record.id, status: 'failed', error: record.error };
        }
        record.durationMs = Math.round(performance.now() - t0);
        record.updatedAt = new Date().toISOString();
        unrecorded = { record, ownerWrite };
        return result;
      },
      after: async () => {
        if (!unrecorded) return;
        await recordOutcome(unrecorded.record, ctx.log, unrecorded.ownerWrite);
        unrecorded = undefined;
      },
    });
    Object.assign(batch, {
      status: output.status === 'succeeded' ? 'succeeded' : 'failed',
      output,
      durationMs: Math.round(performance.now() - started),
      updatedAt: new Date().toISOString(),
    });
    await saveCommand(batch);
  } catch (err) {
    if (results.length || progress) await park(parkKey, { batch, results, ...(unrecorded ? { unrecorded: unrecorded.record } : {}) } satisfies ParkedBatch);
    throw err;
  }
  if (progress) await unpark(parkKey);
  return { status: 200, body: view(batch), headers: progress ? { ...rateHeaders, ...REPLAYED } : rateHeaders };
}

/** Queues a command for commandWorker: recorded as `queued` first, so the worker always finds it. */
async function enqueue(record: CommandRecord, principal: Principal, idempotencyKey: string | undefined, rateHeaders: Record<string, string>): Promise<HttpResult> {
  const workerUrl = getConfig().commandWorkerUrl;
  if (!workerUrl) throw unavailable('Queued commands are not configured (COMMAND_WORKER_URL)', 60);
  if (record.command !== 'batch') record.input = await pinSession(record.input as CommandInput, principal);
  record.queuedAt = new Date().toISOString();
  await saveCommand(record);
  try {
    await enqueueTask({
      queue: 'commandExecution',
      id: taskId(record.tenantId, record.id),
      url: workerUrl,
      body: { commandId: record.id, userId: record.userId, tenantId: record.tenantId },
    });
  } catch (err) {
    // Not accepted: nothing stays behind that could block the caller's retry.
    await Promise.all([deleteCommand(record), idempotencyKey ? releaseIdempotencyKey(principal, idempotencyKey) : undefined]).catch(() => undefined);
    throw err;
  }
  return { status: 202, body: { ...view(record), statusUrl: `/commands/${record.id}` }, headers: rateHeaders };
}

/**
 * command.executed / command.failed on command-events; the command already ran, so a failed
 * publish is logged, not fatal. The event id is stable, so a consumer dedupes a repeat.
 */
async function announce(record: CommandRecord, log: Logger): Promise<void> {
  const type = record.status === 'succeeded' ? 'command.executed' : 'command.failed';
  await publishEvent(topics.commandEvents, type, { commandId: record.id, command: record.command, status: record.status, durationMs: record.durationMs, error: record.error }, {
    source: 'commands',
    eventId: `${record.id}.${type}`,
    userId: record.userId,
    attributes: { tenantId: record.tenantId, command: record.command },
  }).catch((err) => log.warn('could not publish the command event', { error: (err as Error).message, commandId: record.id }));
}

httpFunction('commandWorker', { methods: ['POST'] }, async ({ rawBody, headers, log }) => {
  const task = validateBody<CommandTask | { kind: 'sweep' }>(schemas.commandTask, parseJsonObject(rawBody), 'command task');
  if ('kind' in task) {
    const swept = await sweepCommands(log);
    log.info('stale-command sweep', { ...swept });
    return { status: 200, body: { outcome: 'swept', ...swept } };
  }
  const wlog = log.child({ commandId: task.commandId, attempt: String(headers['x-cloudtasks-taskretrycount'] ?? '') });
  const result = await processCommandTask(task);
  if (result.outcome === 'ignored' || result.outcome === 'deferred') {
    wlog.info(`task ${result.outcome}: ${result.reason}`);
    return { status: 200, body: result };
  }
  const record = { ...result.record, updatedAt: new Date().toISOString() };
  await Promise.all([cacheSet(cacheKeys.commandResult(record.id), view(record), cacheTtlSeconds.commandResult), announce(record, wlog)]);
  return { status: 200, body: { outcome: result.outcome, id: record.id } };
});

/** `?limit=` of a list: an integer from 1 to 100 (20 when absent). */
function limitOf(query: URLSearchParams): number {
  const text = query.get('limit') ?? '20';
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > 100) throw badRequest('limit must be an integer from 1 to 100');
  return limit;
}

/** `?days=` of GET /usage: 1–31 (7 by default). */
function usageDaysOf(query: URLSearchParams): number {
  const raw = query.get('days');
  if (raw === null) return 7;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 31) throw badRequest('days must be an integer from 1 to 31');
  return n;
}

httpFunction('commands', { methods: ['GET', 'POST', 'DELETE'], maxBodyBytes: 1024 * 1024 }, async (ctx) => {
  const [, resource, id, extra] = ctx.path.split('/');
  // A tenant's usage is for its admins; everything else for the commands scope.
  const principal = await authenticate(ctx.headers, resource === 'usage' ? 'admin' : SCOPE);
  if (extra !== undefined || (resource !== 'commands' && resource !== 'sessions' && resource !== 'usage')) throw notFound(`No route ${ctx.method} ${ctx.path.slice(0, 100)}`);
  // Batches have their own window: one request can carry up to 200 commands.
  const { headers: rateHeaders } = await rateLimit(principal, resource === 'commands' && id === 'batch' ? 'commands.batch' : resource);
  const reqLog = ctx.log.child({ tenantId: principal.tenantId, userId: principal.userId });
  const route = `${ctx.method} /${resource}${id ? '/:id' : ''}`;
  if (route === 'POST /commands/:id' && id === 'batch') return runBatch({ ...ctx, log: reqLog }, principal, rateHeaders);
  switch (route) {
    case 'POST /commands':
      return runNow({ ...ctx, log: reqLog }, principal, rateHeaders);
    case 'GET /commands': {
      const page = await listCommands(principal, limitOf(ctx.query), ctx.query.get('pageToken') ?? undefined);
      return { status: 200, body: { items: page.items.map(view), ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}) }, headers: rateHeaders };
    }
    case 'GET /commands/:id':
      return answer(200, await getCommand(principal, id), formatOf(ctx.query), rateHeaders);
    case 'POST /sessions': {
      const body = validateBody<{ checkpointId: string | number; name?: string; nextPosition?: number }>(schemas.sessionRequest, parseJsonObject(ctx.rawBody), 'session request');
      const session = await createSession(principal, String(body.checkpointId).replace(/^cp_/, ''), body.name, body.nextPosition);
      return { status: 201, body: session, headers: rateHeaders };
    }
    case 'GET /sessions':
      return { status: 200, body: { items: await listSessions(principal) }, headers: rateHeaders };
    case 'GET /sessions/:id':
      return { status: 200, body: await getSession(principal, id), headers: rateHeaders };
    case 'DELETE /sessions/:id':
      await deleteSession(principal, id);
      return { status: 204, headers: rateHeaders };
    case 'GET /usage':
      return { status: 200, body: { tenantId: principal.tenantId, items: await tenantUsage(principal.tenantId, usageDaysOf(ctx.query)) }, headers: rateHeaders };
    default:
      throw notFound(`No route ${ctx.method} ${ctx.path.slice(0, 100)}`);
  }
});
