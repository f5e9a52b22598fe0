/**
 * The test-run pipeline of the local stack for integration suites: testRuns, testRunWorker,
 * testRunEvents and webhook under the Functions Framework (commands too, when asked), the local
 * Cloud Tasks dispatcher and Cloud Storage, and the Virtuoso sandbox sending its webhooks to the
 * webhook function. `useTestRunPipeline()` registers the mocha hooks that start it once per suite,
 * stop it after, and give every test a clean slate: webhook-events pushed to testRunEvents (as
 * Eventarc does), no cached API key, a fresh Tasks dispatcher (polls and deadlines that earlier
 * tests scheduled are dropped with the old one) and a reset sandbox. Call it after `useStack()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../functions/test-runs';
import '../../functions/webhook';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { startStorageServer } from '../../scripts/local-stack/storage-server';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache } from '../../shared/auth';
import { pubsub } from '../../shared/events';
import { ports, TEST_ENV } from '../setup';
import { serve, type Served } from './http';

export interface TestRunPipeline {
  api: Served;
  worker: Served;
  events: Served;
  hook: Served;
  /** Only with `withCommands` (the commands function must be loaded by the suite). */
  commands: Served | undefined;
  tasks: TasksDispatcher;
  sandbox: Sandbox;
  storage: Awaited<ReturnType<typeof startStorageServer>>;
}

const startTasks = () => startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });

export function useTestRunPipeline(options: { executionMs: number; withCommands?: boolean }): TestRunPipeline {
  const p = {} as TestRunPipeline;
  let storageDir = '';
  before(async () => {
    storageDir = mkdtempSync(join(tmpdir(), 'test-run-pipeline-storage-'));
    [p.api, p.worker, p.events, p.hook, p.commands] = await Promise.all([
      serve('testRuns'), serve('testRunWorker', ports.testRunWorkerPort), serve('testRunEvents'), serve('webhook'),
      options.withCommands ? serve('commands') : undefined,
    ]);
    p.tasks = await startTasks();
    p.storage = await startStorageServer({ port: ports.storagePort, dir: storageDir });
    p.sandbox = await startSandbox({
      port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: options.executionMs,
      webhookUrl: `${p.hook.url}/`, webhookSecret: 'new-virtuoso-secret',
    });
  });
  after(async () => {
    await Promise.all([p.api, p.worker, p.events, p.hook, p.commands, p.tasks, p.sandbox, p.storage].map((s) => s?.close()));
    rmSync(storageDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await provisionPubsub(pubsub(), TEST_ENV.GOOGLE_CLOUD_PROJECT, { testRunEvents: p.events.url });
    clearKeyCache();
    await p.tasks.close();
    p.tasks = await startTasks();
    await fetch(p.sandbox.url.replace(/\/api$/, '/__sandbox/reset'), { method: 'POST' });
  });
  return p;
}
