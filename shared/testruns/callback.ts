/**
 * Completion callbacks: when a run with a `callbackUrl` ends, its summary is POSTed there, signed
 * with Standard Webhooks (`webhook-id` — the same on every attempt, the receiver's idempotency key
 * —, `webhook-timestamp`, `webhook-signature` with the tenant's secret: callback-secrets.ts).
 *
 * Delivery is a task on the `test-callbacks` queue (named after the run, so enqueueing it again
 * changes nothing), run by testRunWorker: the target is checked after DNS resolution and connected
 * to by the checked address (callback-target.ts), no redirect is followed, the receiver has
 * CALLBACK_TIMEOUT_MS to answer. A 2xx delivers; 410 Gone or a refused target stops at once;
 * anything else is retried by the queue with backoff (the receiver's Retry-After honoured) until
 * its last attempt. Every attempt is recorded on the run (the latest 20).
 *
 * At least once: an attempt whose 2xx could not be recorded is sent again; receivers dedupe on
 * webhook-id, as Standard Webhooks asks.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { getConfig } from '../config';
import { AppError, unavailable } from '../errors';
import { queues } from '../infra';
import type { Logger } from '../log';
import { enqueueTask, taskId } from '../tasks';
import { signStandard } from '../webhooks/signature';
import { CallbackRefused, resolveTarget, type ResolvedTarget } from './callback-target';
import { signingSecrets } from './callback-secrets';
import { keys } from './plan';
import { FINAL, loadRun, recordedIds, runDefinition, transition, type TestRunRecord } from './store';
import { traceHeaders } from '../trace';

export interface CallbackAttempt {
  n: number;
  at: string;
  status?: number;
  error?: string;
  durationMs: number;
}

export interface CallbackRecord {
  url: string;
  /** waiting: the run has not ended; pending: attempted, will be retried; delivered; failed: given up. */
  status: 'waiting' | 'pending' | 'delivered' | 'failed';
  webhookId: string;
  attempts: CallbackAttempt[];
  deliveredAt?: string;
  reason?: string;
}

const ATTEMPTS_KEPT = 20;
const MAX_RETRY_AFTER_SECONDS = 3600;
const USER_AGENT = 'virtuoso-api-cli-callbacks/1';

export const newCallback = (runId: string, url: string): CallbackRecord => ({ url, status: 'waiting', webhookId: `msg_${runId}`, attempts: [] });

/** Queues the run's callback (once per run: the task is named after it). */
export async function enqueueCallback(run: TestRunRecord): Promise<void> {
  if (!run.callback || !FINAL.has(run.status)) return;
  const url = getConfig().testRunWorkerUrl;
  if (!url) throw unavailable('Test runs are not configured (TEST_RUN_WORKER_URL)', 60);
  await enqueueTask({ queue: 'testCallbacks', id: taskId(run.id, 'callback'), url, body: { runId: run.id, kind: 'callback' }, dispatchDeadlineSeconds: 60 });
}

/** The callback's body: the run's summary, the same bytes on every attempt. */
export async function callbackBody(run: TestRunRecord): Promise<string> {
  const app = getConfig().virtuosoAppUrl;
  const ids = recordedIds(run);
  let goals: { name: string; goalUrl?: string; jobId?: string }[] = [];
  try {
    goals = (await runDefinition(run)).goals.map((g, i) => ({
      name: g.name,
      ...(ids[keys.goal(i)] ? { goalUrl: `${app}/#/goal/${ids[keys.goal(i)]}` } : {}),
      ...(ids[keys.execute(i)] ? { jobId: ids[keys.execute(i)] } : {}),
    }));
  } catch {
    goals = []; // a definition that no longer parses: the summary goes without the goals
  }
  const startedMs = Date.parse(run.startedAt ?? run.createdAt);
  const finishedMs = Date.parse(run.finishedAt ?? run.updatedAt);
  return JSON.stringify({
    type: run.status === 'passed' || run.status === 'built' ? 'test.completed' : 'test.failed',
    timestamp: run.finishedAt ?? run.updatedAt,
    data: {
      id: run.id,
      name: run.name,
      status: run.status,
      ...(run.report ? { outcome: run.report.outcome, counts: run.report.counts } : {}),
      ...(run.error ? { error: run.error } : {}),
      createdAt: run.createdAt,
      ...(run.startedAt ? { startedAt: run.startedAt } : {}),
      ...(run.finishedAt ? { finishedAt: run.finishedAt } : {}),
      ...(Number.isFinite(finishedMs - startedMs) ? { durationMs: Math.max(0, finishedMs - startedMs) } : {}),
      statusUrl: `/test-runs/${run.id}`,
      ...(run.report ? { report: { json: `/test-runs/${run.id}/report?format=json`, junit: `/test-runs/${run.id}/report?format=junit` } } : {}),
      virtuoso: { ...(ids[keys.project] ? { projectUrl: `${app}/#/project/${ids[keys.project]}` } : {}), goals },
    },
  });
}

interface Sent {
  status?: number;
  retryAfterSeconds?: number;
  error?: string;
}

/** One POST to the checked address, TLS verified against the URL's host name; the answer's body is read and dropped. */
function post(target: ResolvedTarget, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Sent> {
  return new Promise((resolve) => {
    const { url, address, family } = target;
    const options: RequestOptions = {
      method: 'POST',
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      headers: { ...headers, ...traceHeaders(), 'Content-Length': String(Buffer.byteLength(body)) },
      // The checked address, never a second lookup.
      lookup: (_host, opts, cb) => ((opts as { all?: boolean }).all ? (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]) : cb(null, address, family)),
      timeout: timeoutMs,
    };
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(options, (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => {
        const ra = Number(res.headers['retry-after']);
        resolve({ status: res.statusCode, ...(Number.isFinite(ra) && ra > 0 ? { retryAfterSeconds: ra } : {}) });
      });
      res.on('error', (e) => resolve({ status: res.statusCode, error: e.message }));
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e: Error & { code?: string }) => resolve({ error: e.code ? `${e.code}: ${e.message}` : e.message }));
    req.on('close', () => clearTimeout(timer));
    req.end(body);
  });
}

/** The queue's task: one delivery attempt, recorded; throws a 503 for the queue to retry. */
export async function deliverCallback(runId: string, ctx: { retryCount: number; log: Logger }): Promise<{ outcome: string; reason?: string }> {
  const run = await loadRun(runId);
  if (!run?.callback) return { outcome: 'ignored', reason: 'no callback' };
  if (run.callback.status === 'delivered' || run.callback.status === 'failed') return { outcome: 'ignored', reason: `callback already ${run.callback.status}` };
  if (!FINAL.has(run.status)) return { outcome: 'ignored', reason: `the run is ${run.status}` };
  const config = getConfig();
  const n = run.callback.attempts.length ? run.callback.attempts.at(-1)!.n + 1 : ctx.retryCount + 1;
  const lastAttempt = ctx.retryCount + 1 >= queues.testCallbacks.retry.maxAttempts;
  const started = Date.now();
  let sent: Sent;
  let permanent: string | undefined;
  try {
    const [body, keysToSign, target] = await Promise.all([callbackBody(run), signingSecrets(run.tenantId), resolveTarget(run.callback.url, config.callbackAllowLoopback)]);
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = keysToSign.map((k) => signStandard(run.callback!.webhookId, timestamp, body, k)).join(' ');
    sent = await post(
      target,
      { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT, 'webhook-id': run.callback.webhookId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature },
      body,
      config.callbackTimeoutMs,
    );
  } catch (err) {
    if (err instanceof CallbackRefused) permanent = `refused: ${err.message}`;
    sent = { error: err instanceof CallbackRefused ? permanent : err instanceof AppError ? err.message : `${(err as { code?: string }).code ?? 'error'}: ${(err as Error).message}` };
  }
  const ok = sent.status !== undefined && sent.status >= 200 && sent.status < 300;
  if (!ok && sent.status === 410) permanent = 'the receiver answered 410 Gone';
  const attempt: CallbackAttempt = {
    n,
    at: new Date(started).toISOString(),
    ...(sent.status !== undefined ? { status: sent.status } : {}),
    ...(!ok ? { error: sent.error ?? `HTTP ${sent.status}` } : {}),
    durationMs: Date.now() - started,
  };
  const status: CallbackRecord['status'] = ok ? 'delivered' : permanent || lastAttempt ? 'failed' : 'pending';
  const reason = permanent ?? (lastAttempt && !ok ? `gave up after ${n} attempts` : undefined);
  await transition(runId, (r) =>
    r.callback
      ? {
          callback: {
            ...r.callback,
            status,
            attempts: [...r.callback.attempts, attempt].slice(-ATTEMPTS_KEPT),
            ...(ok ? { deliveredAt: attempt.at } : {}),
            ...(reason ? { reason } : {}),
          },
        }
      : undefined,
  );
  ctx.log.info(`callback attempt ${n}: ${ok ? 'delivered' : (attempt.error ?? '')}`, { runId, status: sent.status, callbackStatus: status });
  if (status !== 'pending') return { outcome: `callback ${status}`, ...(reason ? { reason } : {}) };
  // The queue's backoff paces the retries; a receiver's Retry-After (429, 503) asks for at least that long.
  throw new AppError('unavailable', `Callback attempt ${n} failed (${attempt.error}); the queue retries it`, {
    ...(sent.retryAfterSeconds ? { retryAfterSeconds: Math.min(MAX_RETRY_AFTER_SECONDS, sent.retryAfterSeconds) } : {}),
  });
}
