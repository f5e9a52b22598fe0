/**
 * One trace across the hops (shared/trace.ts): the bundles run as deployed, each in its own Functions
 * Framework process logging to stdout, and the trace id a caller sent shows up in the logs on both
 * sides of a Cloud Tasks hop (commands → local Cloud Tasks → commandWorker) and of a Pub/Sub hop
 * (webhook → webhook-events → push → testRunEvents).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PubSub } from '@google-cloud/pubsub';
import { firstResponse, httpRequest, spawnFunction, type RunningFunction } from '../../scripts/bench/cold-start';
import { buildBundles } from '../../scripts/build';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { signVirtuoso } from '../../shared/webhooks/signature';
import { resetState, testStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';
import { eventually } from '../helpers/eventually';

const traceOf = (traceId: string) => `projects/${TEST_ENV.GOOGLE_CLOUD_PROJECT}/traces/${traceId}`;

/** The JSON log lines a function process printed that carry `trace`. */
function linesWithTrace(fn: RunningFunction, traceId: string): Record<string, unknown>[] {
  return fn
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((e) => e['logging.googleapis.com/trace'] === traceOf(traceId));
}

describe('one trace across the hops (bundles under the Functions Framework, local Cloud Tasks, Pub/Sub push)', function () {
  this.timeout(120_000);
  const running: RunningFunction[] = [];
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let sources: Record<string, string>;

  /** Starts a bundle's function; up when it answers (a CloudEvent function: an empty Pub/Sub push, which it acknowledges). */
  const start = async (bundle: string, target: string, port?: number, cloudEvent = false) => {
    const fn = await spawnFunction({ source: sources[bundle], target, env, ...(port ? { port } : {}) });
    running.push(fn);
    const probe = cloudEvent
      ? (url: string) => httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: { data: '', messageId: 'probe' }, subscription: 'probe' }) })
      : (url: string) => httpRequest(url);
    await firstResponse(fn, probe, (r) => r.status < 500, 30_000);
    return fn;
  };

  before(async () => {
    const [built, stack] = await Promise.all([buildBundles(['commands', 'webhook', 'test-runs']), testStack()]);
    await resetState();
    sources = Object.fromEntries(built.map((b) => [b.bundle, join(b.outfile, '..')]));
    tasks = await startTasksDispatcher({ port: ports.tasksPort });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
    env = { ...TEST_ENV, ...stack.env, LOG_LEVEL: 'debug', SECRET_MANAGER_ENDPOINT: '', DEPENDENCY_TIMEOUT_MS: '10000' };
  });
  after(async () => {
    await Promise.all(running.map((f) => f.stop()));
    await Promise.all([tasks?.close(), sandbox?.close()]);
  });

  it('a queued command: the trace the caller sent is on the task and in the worker’s logs', async () => {
    const [api, worker] = await Promise.all([start('commands', 'commands'), start('commands', 'commandWorker', ports.workerPort)]);
    clearKeyCache();
    const { key, record } = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    await storeApiKey(record);
    const traceId = randomBytes(16).toString('hex');
    const res = await httpRequest(`${api.url}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
      body: JSON.stringify({ command: 'create-project "Traced"', async: true }),
    });
    assert.equal(res.status, 202, res.text);
    await tasks.idle(30_000);
    const [task] = tasks.tasks;
    assert.match(task.headers.traceparent ?? '', new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), JSON.stringify(task.headers));
    assert.ok(linesWithTrace(api, traceId).length > 0, `no log line of commands carries the trace:\n${api.output()}`);
    const workerLines = await eventually('the worker to log in the trace', () => {
      const lines = linesWithTrace(worker, traceId);
      return lines.length ? lines : undefined;
    });
    assert.ok(workerLines.every((l) => (l['logging.googleapis.com/labels'] as Record<string, string>)?.function === 'commandWorker'), JSON.stringify(workerLines));
  });

  it('a webhook: the trace goes on in the Pub/Sub message and into testRunEvents’ logs', async () => {
    const [hook, events] = await Promise.all([start('webhook', 'webhook'), start('test-runs', 'testRunEvents', undefined, true)]);
    const client = new PubSub({ projectId: TEST_ENV.GOOGLE_CLOUD_PROJECT, apiEndpoint: TEST_ENV.PUBSUB_EMULATOR_HOST });
    try {
      await provisionPubsub(client, TEST_ENV.GOOGLE_CLOUD_PROJECT, { testRunEvents: events.url });
    } finally {
      await client.close();
    }
    const traceId = randomBytes(16).toString('hex');
    const body = JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 424242, projectId: 1, goalId: 2 });
    const res = await httpRequest(hook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-virtuoso-signature': signVirtuoso(body, 'new-virtuoso-secret'),
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      },
      body,
    });
    assert.equal(res.status, 202, res.text);
    assert.ok(linesWithTrace(hook, traceId).some((l) => l.message === 'webhook accepted'), hook.output());
    const consumer = await eventually('testRunEvents to log in the trace', () => {
      const lines = linesWithTrace(events, traceId);
      return lines.length ? lines : undefined;
    });
    assert.ok(consumer.some((l) => (l['logging.googleapis.com/labels'] as Record<string, string>)?.function === 'testRunEvents'), events.output());
  });
});
