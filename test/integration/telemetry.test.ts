/**
 * OpenTelemetry spans (shared/telemetry.ts): the commands bundle run as deployed, under the
 * Functions Framework, with TRACE_EXPORTER=otlp pointed at a local OTLP/HTTP receiver. A command
 * sent with a `traceparent` yields spans for its Redis calls, its Firestore write, its Pub/Sub
 * publish, its Virtuoso call and (queued) its Cloud Tasks enqueue, all in the caller's trace with
 * the caller's span as parent; the task carries the enqueue span as its parent, and the
 * commandWorker's spans (another process) hang under it. With
 * TRACE_EXPORTER=none nothing is exported.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { firstResponse, httpRequest, spawnFunction, type RunningFunction } from '../../scripts/bench/cold-start';
import { buildBundles } from '../../scripts/build';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../scripts/local-stack/otlp-receiver';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { resetState, testStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';
import { eventually } from '../helpers/eventually';

const SPAN_KIND = { client: 3, producer: 4 } as const;

const newTraceparent = () => {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, header: `00-${traceId}-${parentId}-01` };
};

describe('OpenTelemetry spans (the commands bundle under the Functions Framework, a local OTLP receiver)', function () {
  this.timeout(120_000);
  const running: RunningFunction[] = [];
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let env: Record<string, string>;
  let source: string;
  let key: string;

  const start = async (target: string, extra: Record<string, string>, port?: number) => {
    const fn = await spawnFunction({ source, target, env: { ...env, ...extra }, ...(port ? { port } : {}) });
    running.push(fn);
    await firstResponse(fn, (url) => httpRequest(url), (r) => r.status < 500, 30_000);
    return fn;
  };
  const command = (fn: RunningFunction, traceparent: string, body: object) =>
    httpRequest(`${fn.url}/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', traceparent },
      body: JSON.stringify(body),
    });

  before(async () => {
    const [built, stack] = await Promise.all([buildBundles(['commands']), testStack()]);
    await resetState();
    source = join(built[0].outfile, '..');
    tasks = await startTasksDispatcher({ port: ports.tasksPort });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY });
    env = { ...TEST_ENV, ...stack.env, LOG_LEVEL: 'debug', SECRET_MANAGER_ENDPOINT: '', DEPENDENCY_TIMEOUT_MS: '10000' };
    clearKeyCache();
    const created = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands'] });
    key = created.key;
    await storeApiKey(created.record);
  });
  after(async () => {
    await Promise.all(running.map((f) => f.stop()));
    await Promise.all([tasks?.close(), sandbox?.close()]);
  });

  describe('TRACE_EXPORTER=otlp', () => {
    let receiver: OtlpReceiver;
    let api: RunningFunction;
    before(async () => {
      receiver = await startOtlpReceiver();
      api = await start('commands', { TRACE_EXPORTER: 'otlp', TRACE_OTLP_ENDPOINT: receiver.tracesUrl });
    });
    after(() => receiver?.close());

    const spansOf = (traceId: string) => receiver.spans().filter((s) => s.traceId === traceId);

    it('a command: Redis, Firestore, Pub/Sub and Virtuoso spans in the caller’s trace, under the caller’s span', async () => {
      const { traceId, parentId, header } = newTraceparent();
      const res = await command(api, header, { command: 'create-project "Spanned"' });
      assert.equal(res.status, 200, res.text);
      const has = (spans: ReceivedSpan[]) => ({
        redis: spans.filter((s) => s.attributes['db.system.name'] === 'redis'),
        firestore: spans.filter((s) => s.scope === '@google-cloud/firestore'),
        publish: spans.filter((s) => s.attributes['messaging.system'] === 'gcp_pubsub'),
        virtuoso: spans.filter((s) => s.attributes['http.request.method'] !== undefined && s.attributes['server.address'] === '127.0.0.1'),
      });
      const found = await eventually('every kind of span', () => {
        const h = has(spansOf(traceId));
        return Object.values(h).every((list) => list.length > 0) ? h : undefined;
      });
      const all = spansOf(traceId);
      const ids = new Set(all.map((s) => s.spanId));

      // Redis: a span per command, named after it, no arguments (keys) recorded.
      for (const s of found.redis) {
        assert.equal(s.kind, SPAN_KIND.client);
        assert.equal(s.name, s.attributes['db.operation.name']);
        assert.equal(s.parentSpanId, parentId, JSON.stringify(s));
      }
      // Firestore's own spans: a write among them; the outermost hang under the caller's span, the rest under them.
      assert.ok(found.firestore.some((s) => /Commit|Create|Set|Update/.test(s.name)), found.firestore.map((s) => s.name).join(', '));
      assert.ok(found.firestore.some((s) => s.parentSpanId === parentId));
      for (const s of found.firestore) {
        assert.equal(s.attributes['db.system.name'], 'gcp.firestore');
        assert.ok(s.parentSpanId === parentId || ids.has(s.parentSpanId), `${s.name} hangs under ${s.parentSpanId}, outside the trace`);
      }
      // The publish: a producer span per the messaging conventions, with the message id.
      const [publish] = found.publish;
      assert.equal(publish.kind, SPAN_KIND.producer);
      assert.equal(publish.name, 'send command-events');
      assert.equal(publish.attributes['messaging.destination.name'], 'command-events');
      assert.match(String(publish.attributes['messaging.message.id']), /\S/);
      assert.equal(publish.parentSpanId, parentId);
      // The Virtuoso call: an HTTP client span, its route as the name, the answer's status.
      const [call] = found.virtuoso;
      assert.equal(call.kind, SPAN_KIND.client);
      assert.equal(call.attributes['http.request.method'], 'POST');
      assert.equal(call.name, `POST ${call.attributes['url.template']}`);
      assert.equal(call.attributes['http.response.status_code'], 201); // the sandbox creates the project
      assert.equal(call.parentSpanId, parentId);

      // The resource names the function; nothing exported carries a secret, and the local receiver got no token.
      assert.equal(publish.resource['service.name'], 'commands');
      assert.equal(publish.resource['gcp.project_id'], TEST_ENV.GOOGLE_CLOUD_PROJECT);
      const exported = JSON.stringify(receiver.requests.map((r) => r.body));
      for (const secret of [key, TEST_ENV.VIRTUOSO_API_KEY]) assert.ok(!exported.includes(secret), 'a secret reached an exported span');
      assert.ok(receiver.requests.every((r) => r.headers.authorization === undefined));
      assert.ok(api.output().includes('"tracing on"'), api.output());
    });

    it('a queued command: the enqueue is a producer span, the task names it as its parent, and the worker’s spans hang under it', async () => {
      await start('commandWorker', { TRACE_EXPORTER: 'otlp', TRACE_OTLP_ENDPOINT: receiver.tracesUrl }, ports.workerPort);
      const { traceId, parentId, header } = newTraceparent();
      const res = await command(api, header, { command: 'create-project "Queued and spanned"', async: true });
      assert.equal(res.status, 202, res.text);
      const enqueue = await eventually('the Cloud Tasks span', () => spansOf(traceId).find((s) => s.name === 'google.cloud.tasks.v2.CloudTasks/CreateTask'));
      assert.equal(enqueue.kind, SPAN_KIND.producer);
      assert.equal(enqueue.parentSpanId, parentId);
      assert.equal(enqueue.attributes['rpc.method'], 'CreateTask');
      assert.equal(enqueue.attributes['messaging.destination.name'], 'command-execution');
      const task = tasks.tasks.find((t) => t.headers.traceparent?.includes(traceId));
      assert.ok(task, JSON.stringify(tasks.tasks.map((t) => t.headers)));
      assert.equal(task.headers.traceparent, `00-${traceId}-${enqueue.spanId}-01`);
      // The worker (another process) continues the trace: its Virtuoso call hangs under the enqueue.
      const workerCall = await eventually('the worker’s Virtuoso span', () =>
        spansOf(traceId).find((s) => s.resource['service.name'] === 'commandWorker' && s.attributes['http.request.method'] === 'POST'),
      );
      assert.equal(workerCall.parentSpanId, enqueue.spanId);
    });

    it('an unsampled caller: nothing recorded, the trace still goes on', async () => {
      const traceId = randomBytes(16).toString('hex');
      const before = receiver.requests.length;
      const res = await command(api, `00-${traceId}-${randomBytes(8).toString('hex')}-00`, { command: 'create-project "Not sampled"' });
      assert.equal(res.status, 200, res.text);
      // Another, sampled request afterwards: once its spans are in, anything of the first would be too.
      const later = newTraceparent();
      assert.equal((await command(api, later.header, { command: 'create-project "Sampled"' })).status, 200);
      await eventually('the sampled request’s spans', () => (spansOf(later.traceId).length ? true : undefined));
      assert.ok(receiver.requests.length > before);
      assert.deepEqual(spansOf(traceId), []);
    });
  });

  describe('TRACE_EXPORTER=none', () => {
    it('exports nothing and does not start the SDK', async () => {
      const receiver = await startOtlpReceiver();
      try {
        const api = await start('commands', { TRACE_EXPORTER: 'none', TRACE_OTLP_ENDPOINT: receiver.tracesUrl });
        const { header } = newTraceparent();
        const res = await command(api, header, { command: 'create-project "Untraced"' });
        assert.equal(res.status, 200, res.text);
        // Past the batch delay (1 s) and the idle flush, twice over: with tracing on, spans would be in by now.
        await new Promise((r) => setTimeout(r, 2500));
        assert.equal(receiver.requests.length, 0);
        assert.ok(!api.output().includes('"tracing on"'), api.output());
      } finally {
        await receiver.close();
      }
    });
  });
});
