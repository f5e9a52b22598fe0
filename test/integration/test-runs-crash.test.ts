/**
 * A real crash: testRunWorker runs from its esbuild bundle in a Functions Framework process of its
 * own and is killed with SIGKILL in the middle of a build. The local Cloud Tasks retries the task
 * (the connection broke), the restarted worker finds the dead attempt's lease and queues itself for
 * after it (TEST_RUN_LEASE_SECONDS=2 here, 30 by default), then resumes: every journey, checkpoint
 * and step exists once.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../functions/test-runs';
import { buildBundles } from '../../scripts/build';
import { firstResponse, httpRequest, spawnFunction, type RunningFunction } from '../../scripts/bench/cold-start';
import { startStorageServer } from '../../scripts/local-stack/storage-server';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { loadRun } from '../../shared/testruns/store';
import { request, serve, type Served } from '../helpers/http';
import { testStack, useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const CHECKPOINTS = 3;
const STEPS = 15;
const definition = () =>
  [
    'name: Crash', 'project: Killed worker', 'goals:', '  - name: G', '    url: https://a.example.com', '    journeys:',
    '      - name: J', '        checkpoints:',
    ...Array.from({ length: CHECKPOINTS }, (_, c) => [`          - name: C${c}`, '            steps:', ...Array.from({ length: STEPS }, (_, s) => `              - comment: step ${c}.${s}`)]).flat(),
  ].join('\n');

describe('test runs: the worker process killed mid-build (bundle, Functions Framework, local Cloud Tasks)', function () {
  this.timeout(90_000);
  useStack();
  let api: Served;
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let storage: Awaited<ReturnType<typeof startStorageServer>>;
  let storageDir: string;
  let source: string;
  let env: Record<string, string>;
  let worker: RunningFunction | undefined;

  const startWorker = async () => {
    const w = await spawnFunction({ source, target: 'testRunWorker', env, port: ports.testRunWorkerPort });
    await firstResponse(w, (url) => httpRequest(url), (r) => r.status === 405, 30_000);
    return w;
  };

  before(async () => {
    const [bundle] = await buildBundles(['test-runs']);
    source = join(bundle.outfile, '..');
    storageDir = await mkdtemp(join(tmpdir(), 'test-runs-crash-'));
    api = await serve('testRuns');
    // Retries after 1 s, then 2 s: time enough for the worker to come back.
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.1 });
    storage = await startStorageServer({ port: ports.storagePort, dir: storageDir });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, latencyMs: 15 });
    const stack = await testStack();
    env = {
      ...TEST_ENV,
      ...stack.env,
      LOG_LEVEL: 'silent',
      TEST_RUN_LEASE_SECONDS: '2',
      SECRET_MANAGER_ENDPOINT: '',
    };
  });
  after(async () => {
    await worker?.stop();
    await Promise.all([api.close(), tasks.close(), sandbox.close(), storage.close()]);
    await rm(storageDir, { recursive: true, force: true });
  });

  it('kill -9 while steps are being created: the queue retries, the new process resumes, nothing twice', async () => {
    clearKeyCache();
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['test-runs'] });
    await storeApiKey(k.record);
    worker = await startWorker();
    const res = await request<Json>(`${api.url}/test-runs?execute=false`, {
      method: 'POST', headers: { authorization: `Bearer ${k.key}`, 'content-type': 'application/yaml' }, body: definition(),
    });
    assert.equal(res.status, 202, res.text);
    const created = () => sandbox.faults.received.filter((r) => r.method === 'POST' && r.path === '/api/teststeps').length;
    for (const end = Date.now() + 30_000; created() < 12; ) {
      if (Date.now() > end) throw new Error(`the build did not get going:\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    worker.child.kill('SIGKILL');
    await worker.exited;
    const atCrash = created();
    worker = await startWorker();

    let run: Json;
    for (const end = Date.now() + 60_000; ; ) {
      run = await loadRun(res.body.id);
      if (run?.status === 'built' || run?.status === 'error') break;
      if (Date.now() > end) throw new Error(`the run did not finish: ${run?.status}\n${worker.output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(run.status, 'built', JSON.stringify(run.error));
    assert.ok(run.attempts >= 2, 'a second attempt resumed the build');
    assert.ok(atCrash < CHECKPOINTS * STEPS, 'the crash came before the last step');
    const build = tasks.tasks.find((t) => JSON.parse(t.body).kind === 'build' && JSON.parse(t.body).runId === res.body.id && !JSON.parse(t.body).n)!;
    assert.ok(build.attempts.length >= 2, 'Cloud Tasks delivered the build again after the crash');

    // Exactly the definition in Virtuoso: one goal; its journey holds the navigation checkpoint
    // (the goal's NAVIGATE plus C0's steps) and C1, C2, each step once and in order.
    const goals = [...sandbox.state.goals.values()];
    assert.equal(goals.length, 1);
    const journey = [...sandbox.state.journeys.values()].find((j) => j.goalId === goals[0].id)!;
    const values = journey.caseIds.map((cid) => sandbox.state.checkpoints.get(cid)!.stepIds.map((sid) => sandbox.state.steps.get(sid)!.value));
    assert.deepEqual(values, Array.from({ length: CHECKPOINTS }, (_, c) => [...(c === 0 ? ['https://a.example.com'] : []), ...Array.from({ length: STEPS }, (_, s) => `step ${c}.${s}`)]));
    assert.equal(run.progress.stepsCreated, CHECKPOINTS * STEPS);
  });
});
