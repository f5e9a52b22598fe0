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
 *
 * `commandWorker` (private, Cloud Tasks queue `command-execution`) runs queued commands.
 */
import { authenticate, rateLimit, type Principal } from '../../shared/auth';
import { cacheKeys, cacheSet, cacheTtlSeconds } from '../../shared/cache';
import { getConfig } from '../../shared/config';
import { AppError, badRequest, notFound, toAppError, unavailable } from '../../shared/errors';
import { publishEvent } from '../../shared/events';
import type { AddWrite } from '../../shared/firestore';
import { deleteCommand, getCommand, listCommands, newCommandRecord, recordedError, saveCommand, type CommandRecord } from '../../shared/commands/history';
import { claimIdempotencyKey, idempotencyKeyOf, releaseIdempotencyKey } from '../../shared/commands/idempotency';
import { checkCommand } from '../../shared/commands/parse';
import { commandName, pinSession, runOwned, type CommandInput } from '../../shared/commands/run';
import { createSession, deleteSession, getSession, listSessions } from '../../shared/commands/sessions';
import { processCommandTask, type BatchInput, type CommandTask } from '../../shared/commands/worker';
import { httpFunction, type HttpRequestContext, type HttpResult } from '../../shared/http';
import { topics } from '../../shared/infra';
import { parseJsonObject } from '../../shared/json';
import type { Logger } from '../../shared/log';
import { schemas, validateBody } from '../../shared/schemas';
import { enqueueTask, taskId } from '../../shared/tasks';
import { OUTPUT_FORMATS, render, type OutputFormat } from '../../shared/virtuoso/output';

getConfig();

const SCOPE = 'commands';

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

async function runNow(ctx: HttpRequestContext, principal: Principal, rateHeaders: Record<string, string>): Promise<HttpResult> {
  formatOf(ctx.query); // an unknown ?output is refused before the body is read
  const { async: queued, ...input } = validateBody<CommandInput & { async?: boolean }>(schemas.commandRequest, parseJsonObject(ctx.rawBody), 'command request');
  // A command that cannot be read, or whose arguments are refused, is answered before anything is recorded or queued.
  const format = formatOf(ctx.query, checkCommand(input).output);
  const idempotencyKey = idempotencyKeyOf(ctx.headers['idempotency-key']);
  const record = newCommandRecord(principal, commandName(input), input, queued ? 'queued' : 'running', idempotencyKey);
  if (idempotencyKey) {
    const claim = await claimIdempotencyKey(principal, idempotencyKey, input, record.id);
    if (claim.existingCommandId) {
      const original = await getCommand(principal, claim.existingCommandId).catch((err) => {
        if (err instanceof AppError && err.code === 'not_found') throw unavailable('The original request is still being recorded; retry shortly', 1);
        throw err;
      });
      return answer(original.status === 'queued' ? 202 : 200, original, format, { ...rateHeaders, 'Idempotent-Replayed': 'true' });
    }
  }
  if (queued) return enqueue(record, principal, idempotencyKey, rateHeaders);
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
  // The history and the owner of a created step in one commit, beside the cache and the event.
  await Promise.all([saveCommand(record, ownerWrite), cacheSet(cacheKeys.commandResult(record.id), view(record), cacheTtlSeconds.commandResult), announce(record, ctx.log)]);
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

interface BatchResult {
  index: number;
  command: string;
  id?: string;
  status: 'succeeded' | 'failed' | 'skipped';
  output?: unknown;
  notes?: string[];
  error?: { code: string; message: string; status: number };
}

/**
 * Runs an ordered list now, each command recorded on its own; with stopOnError (default) the rest
 * are skipped after the first failure. The batch itself is recorded too (command `batch`), which is
 * what an Idempotency-Key repeat returns.
 */
async function runBatch(ctx: HttpRequestContext, principal: Principal, rateHeaders: Record<string, string>): Promise<HttpResult> {
  const { async: queued, ...body } = validateBody<BatchInput & { async?: boolean }>(schemas.batchRequest, parseJsonObject(ctx.rawBody), 'batch request');
  const idempotencyKey = idempotencyKeyOf(ctx.headers['idempotency-key']);
  const batch = newCommandRecord(principal, 'batch', body, queued ? 'queued' : 'running', idempotencyKey);
  if (idempotencyKey) {
    const claim = await claimIdempotencyKey(principal, idempotencyKey, body, batch.id);
    if (claim.existingCommandId) {
      const original = await getCommand(principal, claim.existingCommandId);
      return { status: original.status === 'queued' ? 202 : 200, body: view(original), headers: { ...rateHeaders, 'Idempotent-Replayed': 'true' } };
    }
  }
  if (queued) {
    // Session positions are fixed now, in order, so the worker's retries cannot take new ones.
    const pinned: CommandInput[] = [];
    for (const c of body.commands) pinned.push(await pinSession(c, principal));
    batch.input = { ...body, commands: pinned };
    return enqueue(batch, principal, idempotencyKey, rateHeaders);
  }
  await saveCommand(batch);
  const started = performance.now();
  const results: BatchResult[] = [];
  let failed = false;
  for (const [index, input] of body.commands.entries()) {
    if (failed && body.stopOnError !== false) {
      results.push({ index, command: commandName(input), status: 'skipped' });
      continue;
    }
    const record = newCommandRecord(principal, commandName(input), input, 'running');
    await saveCommand(record);
    const t0 = performance.now();
    let ownerWrite: AddWrite | undefined;
    try {
      const ran = await runOwned(input, principal, record.id);
      const { command, output, notes } = ran;
      ownerWrite = ran.ownerWrite;
      Object.assign(record, { command, output, status: 'succeeded', ...(notes ? { notes } : {}) });
      results.push({ index, command, id: record.id, status: 'succeeded', output, ...(notes ? { notes } : {}) });
    } catch (err) {
      const e = toAppError(err);
      failed = true;
      record.status = 'failed';
      record.error = recordedError(e);
      results.push({ index, command: record.command, id: record.id, status: 'failed', error: record.error });
    }
    record.durationMs = Math.round(performance.now() - t0);
    record.updatedAt = new Date().toISOString();
    await saveCommand(record, ownerWrite);
    await announce(record, ctx.log);
  }
  const ok = results.filter((r) => r.status === 'succeeded').length;
  Object.assign(batch, {
    status: failed ? 'failed' : 'succeeded',
    output: { status: !failed ? 'succeeded' : ok ? 'partial' : 'failed', results },
    durationMs: Math.round(performance.now() - started),
    updatedAt: new Date().toISOString(),
  });
  await saveCommand(batch);
  return { status: 200, body: view(batch), headers: rateHeaders };
}

/** Queues a command for commandWorker: recorded as `queued` first, so the worker always finds it. */
async function enqueue(record: CommandRecord, principal: Principal, idempotencyKey: string | undefined, rateHeaders: Record<string, string>): Promise<HttpResult> {
  const workerUrl = getConfig().commandWorkerUrl;
  if (!workerUrl) throw unavailable('Queued commands are not configured (COMMAND_WORKER_URL)', 60);
  if (record.command !== 'batch') record.input = await pinSession(record.input as CommandInput, principal);
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

/** command.executed / command.failed on command-events; the command already ran, so a failed publish is logged, not fatal. */
async function announce(record: CommandRecord, log: Logger): Promise<void> {
  const type = record.status === 'succeeded' ? 'command.executed' : 'command.failed';
  await publishEvent(topics.commandEvents, type, { commandId: record.id, command: record.command, status: record.status, durationMs: record.durationMs, error: record.error }, {
    source: 'commands',
    userId: record.userId,
    attributes: { tenantId: record.tenantId, command: record.command },
  }).catch((err) => log.warn('could not publish the command event', { error: (err as Error).message, commandId: record.id }));
}

httpFunction('commandWorker', { methods: ['POST'] }, async ({ rawBody, headers, log }) => {
  const task = validateBody<CommandTask>(schemas.commandTask, parseJsonObject(rawBody), 'command task');
  const wlog = log.child({ commandId: task.commandId, attempt: String(headers['x-cloudtasks-taskretrycount'] ?? '') });
  const result = await processCommandTask(task);
  if (result.outcome === 'ignored') {
    wlog.info(`task ignored: ${result.reason}`);
    return { status: 200, body: { outcome: 'ignored', reason: result.reason } };
  }
  const record = { ...result.record, updatedAt: new Date().toISOString() };
  await Promise.all([cacheSet(cacheKeys.commandResult(record.id), view(record), cacheTtlSeconds.commandResult), announce(record, wlog)]);
  return { status: 200, body: { outcome: result.outcome, id: record.id } };
});

httpFunction('commands', { methods: ['GET', 'POST', 'DELETE'], maxBodyBytes: 1024 * 1024 }, async (ctx) => {
  const principal = await authenticate(ctx.headers, SCOPE);
  const [, resource, id, extra] = ctx.path.split('/');
  if (extra !== undefined || (resource !== 'commands' && resource !== 'sessions')) throw notFound(`No route ${ctx.method} ${ctx.path}`);
  // Batches have their own window: one request can carry up to 200 commands.
  const { headers: rateHeaders } = await rateLimit(principal.userId, resource === 'commands' && id === 'batch' ? 'commands.batch' : resource);
  const reqLog = ctx.log.child({ tenantId: principal.tenantId, userId: principal.userId });
  const route = `${ctx.method} /${resource}${id ? '/:id' : ''}`;
  if (route === 'POST /commands/:id' && id === 'batch') return runBatch({ ...ctx, log: reqLog }, principal, rateHeaders);
  switch (route) {
    case 'POST /commands':
      return runNow({ ...ctx, log: reqLog }, principal, rateHeaders);
    case 'GET /commands': {
      const limit = Math.min(Math.max(Number(ctx.query.get('limit') ?? 20) || 20, 1), 100);
      const page = await listCommands(principal, limit, ctx.query.get('pageToken') ?? undefined);
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
    default:
      throw notFound(`No route ${ctx.method} ${ctx.path}`);
  }
});
