/**
 * Test runs end to end, on the real local stack: POST /test-runs (YAML) → the real Cloud Tasks
 * client → the local dispatcher → testRunWorker builds in the Virtuoso sandbox and starts the
 * execution → the sandbox's signed FINISHED webhook → the webhook function → Pub/Sub (emulator) →
 * a push to testRunEvents → report.json and junit.xml in the local Cloud Storage → test-events.
 *
 * Crashes are simulated by abandoning a worker attempt (its AbortSignal: nothing more is written,
 * in-flight Virtuoso calls are lost) right after the sandbox answered a chosen request; the lease
 * is then expired, as 30 s later, and the task delivered again.
 */
import assert from 'node:assert/strict';
import '../../functions/test-runs';
import '../../functions/webhook';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { startSandbox } from '../../scripts/virtuoso-sandbox/server';
import { newApiKey, storeApiKey } from '../../shared/auth';
import { AppError } from '../../shared/errors';
import { pubsub } from '../../shared/events';
import { log } from '../../shared/log';
import { loadRun, runRef } from '../../shared/testruns/store';
import { processTestRunTask } from '../../shared/testruns/worker';
import { request, serve } from '../helpers/http';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';
import { useTestRunPipeline } from '../helpers/test-run-pipeline';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const DEFINITION = (project: string, extra = '') => `
name: Checkout smoke
project: ${project}
options:
  timeout: 120
goals:
  - name: Web shop
    url: https://shop.example.com
    journeys:
      - name: Guest checkout
        checkpoints:
          - name: Open the shop
            steps:
              - click: Accept cookies
          - name: Add to cart
            steps:
              - click: Add to cart
              - assert: Cart (1)${extra}
      - name: Search
        checkpoints:
          - name: Search for shoes
            steps:
              - write: {selector: Search, text: shoes}
              - key: Enter
`;

describe('test runs (integration: testRuns → Cloud Tasks → testRunWorker → sandbox → webhook → Pub/Sub → testRunEvents → Storage)', function () {
  this.timeout(60_000);
  useStack();
  const pipe = useTestRunPipeline({ executionMs: 300 });
  let key: string;

  beforeEach(async () => {
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const auth = () => ({ authorization: `Bearer ${key}` });
  const submit = (yaml: string, query = '', headers: Record<string, string> = {}) =>
    request<Json>(`${pipe.api.url}/test-runs${query}`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/yaml', ...headers }, body: yaml });
  const get = (path: string) => request<Json>(`${pipe.api.url}${path}`, { headers: auth() });
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const finalRun = (id: string) =>
    until(`run ${id} to finish`, async () => {
      const r = await get(`/test-runs/${id}`);
      return ['passed', 'failed', 'error', 'cancelled', 'built'].includes(r.body.status) ? r.body : undefined;
    });
  const state = () => ({
    projects: [...pipe.sandbox.state.projects.values()],
    goals: [...pipe.sandbox.state.goals.values()],
    journeys: [...pipe.sandbox.state.journeys.values()],
    checkpoints: [...pipe.sandbox.state.checkpoints.values()],
    steps: [...pipe.sandbox.state.steps.values()],
    jobs: [...pipe.sandbox.executions.jobs.values()],
  });
  /** The structure the definition above builds, read back from the sandbox. */
  const structure = (goalId: number) => {
    const s = state();
    return s.journeys
      .filter((j) => j.goalId === goalId)
      .sort((a, b) => a.id - b.id)
      .map((j) => ({
        title: j.title,
        cases: j.caseIds.map((cid) => {
          const cp = pipe.sandbox.state.checkpoints.get(cid)!;
          return { title: cp.title, steps: cp.stepIds.map((sid) => pipe.sandbox.state.steps.get(sid)!.action) };
        }),
      }));
  };
  const expected = [
    { title: 'Guest checkout', cases: [{ title: 'Navigation', steps: ['NAVIGATE', 'CLICK'] }, { title: 'Add to cart', steps: ['CLICK', 'ASSERT_EXISTS'] }] },
    { title: 'Search', cases: [{ title: 'Navigation', steps: ['NAVIGATE', 'CLICK'] }, { title: 'Search for shoes', steps: ['WRITE', 'KEY'] }] },
  ];

  it('a YAML definition goes queued → building → executing → passed on the FINISHED webhook, with reports and events', async () => {
    const res = await submit(DEFINITION('Shop A'));
    assert.equal(res.status, 202, res.text);
    assert.equal(res.body.status, 'queued');
    assert.match(res.body.id, /^run_[a-f0-9]{20}$/);
    assert.equal(res.body.progress.operationsTotal, 16);
    assert.equal(res.body.progress.stepsTotal, 5);
    const seen = new Set<string>();
    const run = await until('passed', async () => {
      const r = await get(`/test-runs/${res.body.id}`);
      seen.add(r.body.status);
      return r.body.status === 'passed' ? r.body : undefined;
    });
    assert.ok(seen.has('executing'), `statuses seen: ${[...seen].join(', ')}`);
    // Virtuoso's quirks handled: "Suite 1" reused and renamed, its navigation checkpoint reused, the rest attached in order.
    const [goal] = state().goals;
    assert.deepEqual(structure(goal.id), expected);
    assert.equal(state().projects.length, 1);
    assert.equal(run.progress.operationsDone, 16);
    assert.equal(run.progress.stepsCreated, 5);
    assert.equal(run.virtuoso.goals[0].goalId, String(goal.id));
    assert.equal(run.virtuoso.goals[0].journeys[1].checkpoints[0].checkpointUrl, `https://app.virtuoso.qa/#/checkpoint/${run.virtuoso.goals[0].journeys[1].checkpoints[0].checkpointId}`);
    assert.equal(run.report.outcome, 'passed');
    // Completed by the webhook (the sandbox's FINISHED reached testRunEvents), not only by polling.
    assert.ok(pipe.sandbox.webhooks!.deliveries.some((d) => d.status === 202), 'a FINISHED webhook was accepted');

    const junit = await request(`${pipe.api.url}/test-runs/${res.body.id}/report?format=junit`, { headers: auth() });
    assert.equal(junit.status, 200);
    assert.match(junit.headers.get('content-type') ?? '', /application\/xml/);
    assert.match(junit.text, /<testsuite [^>]*name="Web shop \/ Guest checkout"[^>]*tests="2"[^>]*failures="0"/);
    assert.match(junit.text, /<testcase [^>]*name="Search for shoes"/);
    const json = await get(`/test-runs/${res.body.id}/report?format=json`);
    assert.equal(json.body.outcome, 'passed');
    const objects = await pipe.storage.requests.filter((r) => r.method === 'POST').map((r) => r.path);
    assert.ok(objects.some((p) => p.includes('/b/test-project-virtuoso-data/')), 'stored in the data bucket of infra.ts');

    const published = await pull('test-events-archive');
    const types = published.filter((m) => m.json.data.runId === res.body.id).map((m) => m.json.eventType);
    assert.deepEqual(types.sort(), ['test.completed', 'test.started']);
  });

  it('a failing step fails the run; the JUnit report names the step and its message', async () => {
    const res = await submit(DEFINITION('Shop B', '\n              - click: FAIL here'));
    assert.equal(res.status, 202, res.text);
    const run = await finalRun(res.body.id);
    assert.equal(run.status, 'failed');
    const junit = await request(`${pipe.api.url}/test-runs/${res.body.id}/report?format=junit`, { headers: auth() });
    assert.match(junit.text, /<failure [^>]*message="[^"]*click: FAIL here[^"]*"/);
    const published = await pull('test-events-archive');
    assert.ok(published.some((m) => m.json.data.runId === res.body.id && m.json.eventType === 'test.failed'));
  });

  it('dryRun returns the plan and touches nothing', async () => {
    const res = await submit(DEFINITION('Shop C'), '?dryRun=true');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.dryRun, true);
    assert.equal(res.body.totals.steps, 5);
    assert.equal(res.body.operations.length, 16);
    assert.equal(res.body.operations[0].operation.startsWith('find project'), true);
    assert.ok(res.body.criticalPathCalls >= 7);
    assert.equal(pipe.sandbox.faults.received.length, 0, 'no Virtuoso call');
    assert.equal(pipe.tasks.tasks.length, 0, 'nothing queued');
    assert.deepEqual((await get('/test-runs')).body.items, []);
  });

  it('an invalid definition is refused with the exact place, before anything reaches Virtuoso', async () => {
    const bad = DEFINITION('Shop D').replace('- key: Enter', '- clik: Enter');
    const res = await submit(bad);
    assert.equal(res.status, 422, res.text);
    const problem = res.body.error.details.find((d: Json) => d.path === 'goals[0].journeys[1].checkpoints[0].steps[1]');
    assert.ok(problem, res.text);
    assert.ok(problem.line > 0);
    const syntax = await submit('name: x\n  goals: [');
    assert.equal(syntax.status, 400, syntax.text);
    assert.match(syntax.body.error.message, /line \d+/);
    assert.equal(pipe.sandbox.faults.received.length, 0);
  });

  it('an existing project of the same name is reused, not a 1501 failure', async () => {
    const first = await submit(DEFINITION('Shop E'), '?execute=false');
    assert.equal((await finalRun(first.body.id)).status, 'built');
    const second = await submit(DEFINITION('Shop E'), '?execute=false');
    const run = await finalRun(second.body.id);
    assert.equal(run.status, 'built', JSON.stringify(run.error));
    assert.equal(state().projects.length, 1);
    assert.equal(state().goals.length, 2, 'goals are always created new');
    assert.equal(run.virtuoso.projectId, String(state().projects[0].id));
  });

  it('Idempotency-Key: a repeat returns the same run and builds nothing twice; another body is a 409', async () => {
    const a = await submit(DEFINITION('Shop F'), '?execute=false', { 'idempotency-key': 'ci-42' });
    const b = await submit(DEFINITION('Shop F'), '?execute=false', { 'idempotency-key': 'ci-42' });
    assert.equal(b.status, 202);
    assert.equal(b.body.id, a.body.id);
    assert.equal(b.headers.get('idempotent-replayed'), 'true');
    const c = await submit(DEFINITION('Shop G'), '?execute=false', { 'idempotency-key': 'ci-42' });
    assert.equal(c.status, 409);
    await finalRun(a.body.id);
    assert.equal(state().goals.length, 1);
  });

  it('lists the caller\'s runs newest first, filters by status, and hides other tenants\' runs', async () => {
    const a = await submit(DEFINITION('Shop H'), '?execute=false');
    await finalRun(a.body.id);
    const b = await submit(DEFINITION('Shop I'), '?dryRun=false&execute=false');
    await finalRun(b.body.id);
    const all = await get('/test-runs?limit=1');
    assert.deepEqual(all.body.items.map((r: Json) => r.id), [b.body.id]);
    const next = await get(`/test-runs?limit=1&pageToken=${all.body.nextPageToken}`);
    assert.deepEqual(next.body.items.map((r: Json) => r.id), [a.body.id]);
    assert.equal((await get('/test-runs?status=passed')).body.items.length, 0);
    assert.equal((await get('/test-runs?status=built')).body.items.length, 2);
    assert.equal((await get('/test-runs?status=nonsense')).status, 400);
    for (const bad of ['limit=1.5', 'limit=0', 'limit=abc', 'pageToken=a%2Fb', 'pageToken=__x__', 'pageToken=run_00000000000000000000']) {
      const r = await get(`/test-runs?${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.equal(r.body.error.code, 'bad_request');
    }
    const other = newApiKey({ tenantId: 'globex', userId: 'bob', scopes: ['test-runs'] });
    await storeApiKey(other.record);
    const peek = await request<Json>(`${pipe.api.url}/test-runs/${a.body.id}`, { headers: { authorization: `Bearer ${other.key}` } });
    assert.equal(peek.status, 404);
  });

  it('cancel: an executing run is cancelled, its late FINISHED changes nothing, a second cancel is a 409', async () => {
    await pipe.sandbox.close();
    pipe.sandbox = await startSandbox({
      port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 1500,
      webhookUrl: `${pipe.hook.url}/`, webhookSecret: 'new-virtuoso-secret',
    });
    const res = await submit(DEFINITION('Shop J'));
    await until('executing', async () => ((await get(`/test-runs/${res.body.id}`)).body.status === 'executing' ? true : undefined));
    const cancelled = await request<Json>(`${pipe.api.url}/test-runs/${res.body.id}/cancel`, { method: 'POST', headers: auth() });
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.body.status, 'cancelled');
    await until('the FINISHED webhook', async () => (pipe.sandbox.webhooks!.deliveries.filter((d) => d.status === 202).length >= 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1500)); // the push and a poll have had their chance
    const after = await get(`/test-runs/${res.body.id}`);
    assert.equal(after.body.status, 'cancelled');
    assert.equal(after.body.report, undefined);
    const again = await request<Json>(`${pipe.api.url}/test-runs/${res.body.id}/cancel`, { method: 'POST', headers: auth() });
    assert.equal(again.status, 409);
    const report = await get(`/test-runs/${res.body.id}/report`);
    assert.equal(report.status, 409);
  });

  it('a run past its timeout ends error with a reason', async () => {
    const res = await submit(DEFINITION('Shop K').replace('timeout: 120', 'timeout: 60'));
    // As if a minute went by: the deadline task (and any poll) finds it past due.
    await runRef(res.body.id).update({ deadlineAt: new Date(Date.now() - 1000).toISOString() });
    const run = await finalRun(res.body.id);
    assert.equal(run.status, 'error');
    assert.match(run.error.message, /did not finish within its timeout/);
  });

  it('Storage down at completion: the run waits in executing and completes once it is back', async () => {
    pipe.storage.failWith = 503;
    try {
      const res = await submit(DEFINITION('Shop N'));
      await until('executing', async () => ((await loadRun(res.body.id))?.status === 'executing' ? true : undefined));
      await until('the FINISHED webhook', async () => (pipe.sandbox.webhooks!.deliveries.filter((d) => d.status === 202).length >= 3 ? true : undefined));
      await new Promise((r) => setTimeout(r, 1500)); // the push and the polls tried and failed meanwhile
      assert.equal((await loadRun(res.body.id))!.status, 'executing');
      pipe.storage.failWith = undefined;
      const run = await finalRun(res.body.id);
      assert.equal(run.status, 'passed');
      await new Promise((r) => setTimeout(r, 500));
      const published = await pull('test-events-archive');
      assert.equal(published.filter((m) => m.json.data.runId === res.body.id && m.json.eventType === 'test.completed').length, 1);
    } finally {
      pipe.storage.failWith = undefined;
    }
  });

  it('an event that could not be published after the transition goes out on the next delivery', async () => {
    // test-events is gone: the build finishes and records `built`, but its events cannot go out.
    await pubsub().subscription('test-events-archive').delete();
    await pubsub().topic('test-events').delete();
    const res = await submit(DEFINITION('Shop P'), '?execute=false');
    await until('built', async () => ((await loadRun(res.body.id))?.status === 'built' ? true : undefined));
    await pipe.tasks.idle();
    assert.deepEqual((await loadRun(res.body.id))!.pendingEvents?.sort(), ['test.completed', 'test.started']);
    // The topic is back; a later delivery (here by hand, as if 10 s later: past the publish deadline
    // of the one that failed) publishes what was pending.
    await provisionPubsub(pubsub(), TEST_ENV.GOOGLE_CLOUD_PROJECT, { testRunEvents: pipe.events.url });
    const young = await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 2, log });
    assert.equal(young.outcome, 'ignored', 'not yet: the failed delivery might still be publishing');
    await runRef(res.body.id).update({ updatedAt: new Date(Date.now() - 10_000).toISOString() });
    const again = await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 2, log });
    assert.equal(again.outcome, 'published pending events');
    assert.deepEqual((await loadRun(res.body.id))!.pendingEvents, []);
    const published = (await pull('test-events-archive')).filter((m) => m.json.data.runId === res.body.id).map((m) => m.json.eventType);
    assert.deepEqual(published.sort(), ['test.completed', 'test.started']);
  });

  it('Virtuoso down when the run finishes: the run waits in executing, then completes', async () => {
    const res = await submit(DEFINITION('Shop Q'));
    await until('executing', async () => ((await loadRun(res.body.id))?.status === 'executing' ? true : undefined));
    pipe.sandbox.faults.add({ kind: '5xx', method: 'GET', path: '^/api/testsuites/execution$', count: 6 });
    await until('the report requests to fail', async () => (pipe.sandbox.faults.received.filter((r) => r.path === '/api/testsuites/execution').length >= 6 ? true : undefined));
    const run = await finalRun(res.body.id);
    assert.equal(run.status, 'passed');
    assert.ok(pipe.sandbox.faults.received.filter((r) => r.path === '/api/testsuites/execution').length > 6, 'fetched again once Virtuoso answered');
  });

  describe('webhook and polling races; duplicate and late events', () => {
    it('without any webhook the polling task completes the run; a late duplicate FINISHED changes nothing', async () => {
      await pipe.sandbox.close();
      pipe.sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 300 });
      const res = await submit(DEFINITION('Shop L'));
      const run = await finalRun(res.body.id);
      assert.equal(run.status, 'passed');
      const polls = pipe.tasks.tasks.filter((t) => JSON.parse(t.body).kind === 'poll');
      assert.ok(polls.length >= 1);
      const jobId = run.virtuoso.goals[0].jobId;
      const before = await loadRun(res.body.id);
      // The webhook arrives late, twice (redelivery): acknowledged, nothing changes, no second event.
      for (let i = 0; i < 2; i++) {
        const event = { eventType: 'webhook.received', data: { status: 'FINISHED', executionId: jobId, payload: { outcome: 'FAIL' } } };
        const push = await request(`${pipe.events.url}/projects/${TEST_ENV.GOOGLE_CLOUD_PROJECT}/topics/webhook-events`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ message: { data: Buffer.from(JSON.stringify(event)).toString('base64'), messageId: `late-${i}` }, subscription: 'projects/test-project/subscriptions/testRunEvents-trigger' }),
        });
        assert.ok(push.status < 300, push.text);
      }
      const after = await loadRun(res.body.id);
      assert.equal(after!.status, 'passed');
      assert.equal(after!.finishedAt, before!.finishedAt);
      const published = await pull('test-events-archive');
      assert.equal(published.filter((m) => m.json.data.runId === res.body.id && m.json.eventType === 'test.completed').length, 1);
    });

    it('webhook and poll at the same moment: one completion, one event', async () => {
      await pipe.sandbox.close();
      pipe.sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 100 });
      const res = await submit(DEFINITION('Shop M'), '', {});
      await until('executing', async () => ((await loadRun(res.body.id))?.status === 'executing' ? true : undefined));
      await new Promise((r) => setTimeout(r, 300)); // the job has finished in Virtuoso
      const run = (await loadRun(res.body.id))!;
      const jobId = run.jobIds![0];
      const event = { eventType: 'webhook.received', data: { status: 'FINISHED', executionId: jobId } };
      const pushBody = JSON.stringify({ message: { data: Buffer.from(JSON.stringify(event)).toString('base64'), messageId: 'race' }, subscription: 'x' });
      // Each delivery is retried on a 503, as Cloud Tasks and Pub/Sub would (contention on one run can give one).
      const asQueue = async (n: number) => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await processTestRunTask({ runId: run.id, kind: 'poll', n }, { retryCount: attempt, log });
          } catch (err) {
            if (!(err instanceof AppError) || !err.retryable || attempt >= 2) throw err;
          }
        }
      };
      await Promise.all([
        request(`${pipe.events.url}/projects/${TEST_ENV.GOOGLE_CLOUD_PROJECT}/topics/webhook-events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: pushBody }),
        asQueue(99),
        asQueue(98),
      ]);
      const done = await finalRun(run.id);
      assert.equal(done.status, 'passed');
      await new Promise((r) => setTimeout(r, 1500));
      const published = await pull('test-events-archive');
      assert.equal(published.filter((m) => m.json.data.runId === run.id && m.json.eventType === 'test.completed').length, 1);
    });
  });

  describe('resume after a crash at each phase: nothing is created twice', () => {
    // The worker is down for these tests: the queued task fails its attempts, and attempts are run
    // by hand — the first abandoned right after the sandbox answered the chosen request.
    before(() => pipe.worker.close());
    after(async () => {
      pipe.worker = await serve('testRunWorker', ports.testRunWorkerPort);
    });

    it('two deliveries of the same build at once: one builds, the other defers itself; nothing twice', async () => {
      const res = await submit(DEFINITION('Twice'), '?execute=false');
      await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
      const outcomes = await Promise.all([0, 1].map(() => processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 0, log })));
      // The other one finds the run held (and queues itself for after the lease) or, if its
      // transaction was retried late, already built.
      const [a, b] = outcomes.map((o) => o.outcome).sort();
      assert.equal(a, 'built');
      assert.ok(b === 'deferred' || b === 'ignored', b);
      if (b === 'deferred') assert.ok(pipe.tasks.tasks.find((t) => t.body.includes(res.body.id) && JSON.parse(t.body).n === 1), 'a continuation for after the lease');
      const goals = state().goals.filter((g) => state().projects.find((p) => p.id === g.projectId)?.name === 'Twice');
      assert.equal(goals.length, 1);
      assert.deepEqual(structure(goals[0].id), expected);
    });

    it('an attempt that finds another one holding the run stops, and does not finish it', async () => {
      const res = await submit(DEFINITION('Superseded'), '?execute=false');
      await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
      pipe.sandbox.faults.setLatency(100);
      try {
        const first = processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 0, log });
        await until('the build to be under way', async () => (pipe.sandbox.faults.received.some((r) => r.path === '/api/goals') ? true : undefined));
        // Another attempt takes the run over (as after this one's lease ran out).
        await runRef(res.body.id).update({ attempts: 7 });
        const outcome = await first;
        assert.equal(outcome.outcome, 'superseded');
        const after = (await loadRun(res.body.id))!;
        assert.equal(after.status, 'building', 'left to the attempt that holds it');
        assert.equal(after.attempts, 7);
      } finally {
        pipe.sandbox.faults.setLatency(0);
      }
    });

    it('continueOnError: a step after a refused one of the same kind is not taken for it on resume', async () => {
      const yaml = [
        'name: Same kinds', 'project: Same kinds', 'options: {continueOnError: true}', 'goals:', '  - name: G', '    url: https://a.example.com',
        '    journeys:', '      - name: J', '        checkpoints:', '          - name: C', '            steps:',
        '              - click: A', '              - click: B', '              - click: C', '              - click: D',
      ].join('\n');
      const res = await submit(yaml, '?execute=false');
      assert.equal(res.status, 202, res.text);
      await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
      // B is refused, C created; the crash comes right after C was created (the refusal is recorded
      // before C is sent), while D is not sent yet or never answered, so the build cannot end first.
      pipe.sandbox.faults.received.length = 0;
      pipe.sandbox.faults.add({ kind: 'refuse', method: 'POST', path: '^/api/teststeps$', skip: 1 });
      pipe.sandbox.faults.add({ kind: 'hang', method: 'POST', path: '^/api/teststeps$', skip: 3 });
      const answered = () => pipe.sandbox.faults.received.filter((r) => r.path === '/api/teststeps' && r.answeredBy && r.answeredBy !== 'hang');
      const crash = new AbortController();
      const watch = setInterval(() => {
        if (answered().length >= 3) crash.abort();
      }, 0);
      const first = await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 0, log, signal: crash.signal });
      clearInterval(watch);
      pipe.sandbox.faults.clear(); // the hang, if D was never sent
      assert.equal(first.outcome, 'abandoned');
      await runRef(res.body.id).update({ leaseUntil: new Date(Date.now() - 1).toISOString() });
      assert.equal((await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 1, log })).outcome, 'built');
      const goal = state().goals.find((g) => state().projects.find((p) => p.id === g.projectId)?.name === 'Same kinds')!;
      const [journey] = structure(goal.id);
      assert.deepEqual(journey.cases[0].steps, ['NAVIGATE', 'CLICK', 'CLICK', 'CLICK'], 'A, C and D once each, B refused');
      const stored = (await loadRun(res.body.id))!;
      assert.deepEqual(Object.keys(stored.refused ?? {}), ['g0j0c0s1']);
    });

    it('continueOnError: a refused step is recorded and skipped; a crash after it resumes without a duplicate', async () => {
      const res = await submit(DEFINITION('Refused').replace('timeout: 120', 'timeout: 120\n  continueOnError: true'), '?execute=false');
      await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
      // The first step request is refused (2605); the crash comes after the fourth is answered.
      pipe.sandbox.faults.add({ kind: 'refuse', method: 'POST', path: '^/api/teststeps$', count: 1 });
      pipe.sandbox.faults.received.length = 0;
      pipe.sandbox.faults.setLatency(20); // time for the refusal to be recorded before the crash
      const crash = new AbortController();
      const watch = setInterval(() => {
        if (pipe.sandbox.faults.received.filter((r) => r.path === '/api/teststeps' && r.answeredBy).length >= 4) crash.abort();
      }, 0);
      const first = await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 0, log, signal: crash.signal });
      clearInterval(watch);
      assert.equal(first.outcome, 'abandoned');
      await new Promise((r) => setTimeout(r, 100));
      pipe.sandbox.faults.setLatency(0);
      await runRef(res.body.id).update({ leaseUntil: new Date(Date.now() - 1).toISOString() });
      const second = await processTestRunTask({ runId: res.body.id, kind: 'build' }, { retryCount: 1, log });
      assert.equal(second.outcome, 'built', JSON.stringify(second));
      const stored = (await loadRun(res.body.id))!;
      const refusedKeys = Object.keys(stored.refused ?? {});
      assert.equal(refusedKeys.length, 1, 'one step refused and recorded');
      assert.equal(stored.progress.stepsCreated, 4);
      const goal = state().goals.find((g) => state().projects.find((p) => p.id === g.projectId)?.name === 'Refused')!;
      const built = structure(goal.id);
      const totalSteps = built.flatMap((j) => j.cases.flatMap((c) => c.steps)).length;
      // 5 planned, 1 refused, plus the navigation checkpoint's steps counted in both journeys (it is
      // shared): its NAVIGATE, and 'Accept cookies' unless that was the step refused (which step
      // goes first depends on timing).
      const navStepCreated = refusedKeys[0] === 'g0j0c0s0' ? 0 : 1;
      assert.equal(totalSteps, 4 + 2 + navStepCreated, JSON.stringify(built));
      const run = await get(`/test-runs/${res.body.id}`);
      assert.equal(run.body.refusedSteps, 1);
    });

    it("Cloud Scheduler's sweep ends a run whose deadline passed with nothing to end it", async () => {
      const res = await submit(DEFINITION('Forgotten'), '?execute=false');
      await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
      await runRef(res.body.id).update({ deadlineAt: new Date(Date.now() - 1000).toISOString() });
      const swept = await processTestRunTask({ kind: 'sweep' }, { retryCount: 0, log });
      assert.equal(swept.outcome, 'swept');
      assert.match(swept.reason ?? '', /^1 overdue/);
      const run = (await loadRun(res.body.id))!;
      assert.equal(run.status, 'error');
      assert.match(run.error!.message, /did not finish within its timeout/);
      assert.match((await processTestRunTask({ kind: 'sweep' }, { retryCount: 0, log })).reason ?? '', /^0 overdue/);
    });

    for (const [lost, fault] of [['was created', '5xx-after'], ['was never created', '5xx']] as const) {
      it(`a resumed run whose goal ${lost} never takes the same-named goal another run created meanwhile`, async () => {
        const project = `Shared project ${fault}`;
        const submitAndHold = async () => {
          const res = await submit(DEFINITION(project), '?execute=false');
          await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed' && t.body.includes(res.body.id)) ? true : undefined));
          return res.body.id as string;
        };
        const a = await submitAndHold();
        // A's goal request fails (after or before Virtuoso processed it): A stops for a retry.
        pipe.sandbox.faults.next(1, fault, { method: 'POST', path: '^/api/goals$' });
        await assert.rejects(processTestRunTask({ runId: a, kind: 'build' }, { retryCount: 0, log }), (err: AppError) => err.retryable);
        // Meanwhile B builds the same definition into the same project.
        const b = await submitAndHold();
        assert.equal((await processTestRunTask({ runId: b, kind: 'build' }, { retryCount: 0, log })).outcome, 'built');
        // A resumes and finds same-named goals it did not record: only its own (if any) is its to take.
        assert.equal((await processTestRunTask({ runId: a, kind: 'build' }, { retryCount: 1, log })).outcome, 'built');
        const [runA, runB] = [(await loadRun(a))!, (await loadRun(b))!];
        assert.notEqual(runA.ids.g0, runB.ids.g0);
        const projects = state().projects.filter((p) => p.name === project);
        assert.equal(projects.length, 1);
        const goals = state().goals.filter((g) => g.projectId === projects[0].id);
        assert.equal(goals.length, 2, 'one goal each, none created twice');
        for (const g of goals) assert.deepEqual(structure(g.id), expected);
      });
    }

    const phases: [string, string, RegExp, number][] = [
      ['the project', 'POST', /^\/api\/projects$/, 1],
      ['the goal', 'POST', /^\/api\/goals$/, 1],
      ['the renamed first journey', 'PUT', /^\/api\/testsuites\/\d+$/, 1],
      ['a new journey', 'POST', /^\/api\/testsuites$/, 1],
      ['a checkpoint', 'POST', /^\/api\/testcases$/, 1],
      ['an attach', 'POST', /\/checkpoints\/attach$/, 1],
      ['three steps', 'POST', /^\/api\/teststeps$/, 3],
      ['the execution', 'POST', /\/execute$/, 1],
    ];
    for (const [what, method, path, count] of phases) {
      it(`crash right after Virtuoso answered ${what}`, async () => {
        const execute = what === 'the execution';
        const project = `Crash ${what}`;
        const res = await submit(DEFINITION(project), execute ? '' : '?execute=false');
        assert.equal(res.status, 202, res.text);
        await until('the undeliverable build task to fail', async () => (pipe.tasks.tasks.some((t) => t.state === 'failed') ? true : undefined));
        const runId = res.body.id;
        const crash = new AbortController();
        const watch = setInterval(() => {
          const answered = pipe.sandbox.faults.received.filter((r) => r.method === method && path.test(r.path) && r.answeredBy === 'api').length;
          if (answered >= count) crash.abort();
        }, 0);
        const first = await processTestRunTask({ runId, kind: 'build' }, { retryCount: 0, log, signal: crash.signal });
        clearInterval(watch);
        assert.equal(first.outcome, 'abandoned', JSON.stringify(first));
        await new Promise((r) => setTimeout(r, 50)); // calls in flight at the crash have landed
        // 30 s later the dead attempt's lease has run out.
        await runRef(runId).update({ leaseUntil: new Date(Date.now() - 1).toISOString() });
        const second = await processTestRunTask({ runId, kind: 'build' }, { retryCount: 1, log });
        assert.equal(second.outcome, execute ? 'executing' : 'built', JSON.stringify(second));
        const s = state();
        const mine = s.projects.filter((p) => p.name === project);
        assert.equal(mine.length, 1, 'one project');
        const goals = s.goals.filter((g) => g.projectId === mine[0].id);
        assert.equal(goals.length, 1, 'one goal');
        assert.deepEqual(structure(goals[0].id), expected, 'every journey, checkpoint and step exactly once, in order');
        const stored = (await loadRun(runId))!;
        assert.equal(stored.progress.stepsCreated, 5);
        if (execute) {
          assert.equal(stored.jobIds!.length, 1, 'one job tracked');
          assert.equal(s.jobs.filter((j) => j.goalId === goals[0].id).length, 1, 'the execution was found, not started again');
        }
      });
    }
  });
});
