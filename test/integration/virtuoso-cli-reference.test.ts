/**
 * The original CLI's material over HTTPS, end to end: every help example POSTed to the commands
 * function as written (the files they name sent in `files`), against the Virtuoso sandbox; the
 * reference's sample test files POSTed to /test-runs; run-test through POST /commands building a
 * run in the sandbox. Measured: what is accepted, that nothing is a 5xx, and that every refusal
 * names its reason.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../functions/commands';
import '../../functions/test-runs';
import { startStorageServer } from '../../scripts/local-stack/storage-server';
import { startTasksDispatcher, type TasksDispatcher } from '../../scripts/local-stack/tasks-dispatcher';
import { startSandbox, type Sandbox } from '../../scripts/virtuoso-sandbox/server';
import { clearKeyCache, newApiKey, storeApiKey } from '../../shared/auth';
import { runCommand } from '../../shared/commands/run';
import fixture from '../fixtures/cli-reference-examples.json';
import { request, serve, type Served } from '../helpers/http';
import { useStack } from '../helpers/stack';
import { ports, TEST_ENV } from '../setup';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const sample = (name: string): string => fixture.samples.find((x) => x.file === name)!.text;
const QUICK_TEST = sample('quick-test.yaml');
const NATIVE = 'name: Checkout\nproject: Shop\ngoals:\n  - name: Store\n    url: https://shop.example.com\n    journeys:\n      - name: Buy\n        checkpoints:\n          - name: Home\n            steps:\n              - click: Add to cart\n';
const FILES: Record<string, string> = {
  'test.yaml': QUICK_TEST,
  'login.yaml': sample('examples__simple-login-test.yaml'),
  'checkout.yaml': NATIVE,
  'tests/smoke.yaml': QUICK_TEST,
  'dev-config.json': '{"BASE_URL": "http://localhost:3000"}',
  'users.csv': 'username,password,role\nann,pw1,admin\n',
};

describe('the original CLI over HTTPS (commands and test runs × Virtuoso sandbox)', function () {
  this.timeout(120_000);
  useStack();
  let commands: Served;
  let testRuns: Served;
  let worker: Served;
  let tasks: TasksDispatcher;
  let sandbox: Sandbox;
  let storage: Awaited<ReturnType<typeof startStorageServer>>;
  let storageDir: string;
  let key: string;

  before(async () => {
    storageDir = await mkdtemp(join(tmpdir(), 'cli-reference-storage-'));
    [commands, testRuns, worker] = await Promise.all([serve('commands'), serve('testRuns'), serve('testRunWorker', ports.testRunWorkerPort)]);
    tasks = await startTasksDispatcher({ port: ports.tasksPort, backoffScale: 0.002 });
    storage = await startStorageServer({ port: ports.storagePort, dir: storageDir });
    sandbox = await startSandbox({ port: ports.sandboxPort, organizationId: 2242, token: TEST_ENV.VIRTUOSO_API_KEY, executionMs: 200 });
  });
  after(async () => {
    await Promise.all([commands.close(), testRuns.close(), worker.close(), tasks.close(), sandbox.close(), storage.close()]);
    await rm(storageDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    clearKeyCache();
    await fetch(sandbox.url.replace(/\/api$/, '/__sandbox/reset'), { method: 'POST' });
    const k = newApiKey({ tenantId: 'acme', userId: 'alice', scopes: ['commands', 'test-runs'] });
    await storeApiKey(k.record);
    key = k.key;
  });

  const post = (base: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
    request<Json>(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const ok = async (command: string): Promise<Json> => {
    const res = await post(commands.url, '/commands', { command });
    assert.equal(res.status, 200, `${command}: ${res.text}`);
    return res.body.output;
  };

  it('answers every help example: accepted, or refused naming its reason; never a 5xx', async () => {
    // A session for the examples that "use session context" (they name no checkpoint).
    const project = await ok('create-project "CLI reference"');
    const goal = await ok(`create-goal ${project.project_id} Examples --url https://example.com`);
    const journey = await ok(`create-journey ${goal.goal_id} ${goal.snapshot_id} Examples`);
    const checkpoint = await ok(`create-checkpoint ${journey.journey_id} ${goal.goal_id} ${goal.snapshot_id} Steps`);
    const session = await post(commands.url, '/sessions', { checkpointId: checkpoint.checkpoint_id });
    assert.equal(session.status, 201, session.text);

    const statuses = new Map<number, number>();
    const virtuosoRefusals: string[] = [];
    const ourRefusals: string[] = [];
    for (const { example } of fixture.examples) {
      const res = await post(commands.url, '/commands', { command: example, files: FILES, stdin: QUICK_TEST, sessionId: session.body.id });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      assert.ok(res.status < 500, `${example}: ${res.status} ${res.text}`);
      if (res.status < 300) continue;
      assert.equal(res.headers.get('content-type')?.split(';')[0], 'application/json', example);
      assert.ok(res.body.error.message.length > 10, `${example}: the refusal says why (${res.text})`);
      // The examples' ids (cp_12345, 1234, exec_12345 …) are not in this sandbox, and their project names repeat:
      // Virtuoso's 404s and 409s, kept as such.
      if ((res.status === 404 || res.status === 409) && res.body.error.message.startsWith('Virtuoso')) virtuosoRefusals.push(example);
      else ourRefusals.push(`${example}: ${res.status} ${res.body.error.message}`);
    }
    process.stdout.write(`      statuses: ${JSON.stringify(Object.fromEntries(statuses))}; Virtuoso's refusals (the examples' made-up ids, a repeated project name): ${virtuosoRefusals.length}\n`);
    assert.deepEqual(ourRefusals, [], 'no example is refused by the service itself');
    // Every step example that names no checkpoint created its step in the session's checkpoint.
    const sessionSteps = fixture.examples.filter((e) => /^api-cli (step-|data |dialog |file |misc |wait )/.test(e.example) && !/cp_\d+|--checkpoint|\b1678318\b| 12345 /.test(e.example));
    const steps = await ok(`list-checkpoint-steps ${checkpoint.checkpoint_id} --limit 500`);
    assert.equal(steps.length, sessionSteps.length, 'one step per session-context example');
  });

  it("reads the command line's -o as the answer's format and says what it accepted without effect", async () => {
    const project = await post(commands.url, '/commands', { command: 'api-cli create-project "Format shop" -o yaml --config ./cfg.yaml' });
    assert.equal(project.status, 200, project.text);
    assert.equal(project.headers.get('content-type'), 'application/yaml; charset=utf-8');
    assert.match(project.text, /notes:\n {2}- "--config \.\/cfg\.yaml is ignored/);
    const human = await post(commands.url, '/commands?output=json', { command: 'create-project Other -o human' });
    assert.equal(human.headers.get('content-type'), 'application/json; charset=utf-8', '?output= wins over -o');
    const bad = await post(commands.url, '/commands', { command: 'step-interact click cp_1 x --position NORTH' });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.error.details, [{ path: '/args/position', flag: '--position', message: bad.body.error.details[0].message }]);
    assert.match(bad.body.error.message, /^Invalid arguments for step-interact click: --position must be one of TOP_LEFT/);
    const help = await post(commands.url, '/commands', { command: 'api-cli step-interact click --help' });
    assert.equal(help.status, 200, help.text);
    assert.equal(help.body.output.usage, 'step-interact click [checkpoint-id] <selector> [position] [flags]');
    assert.equal(sandbox.faults.count('POST', '/teststeps$'), 0, '--help creates nothing');
    const history = await request<Json>(`${commands.url}/commands`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(history.body.items.length, 3, 'a refused command line is not recorded');
  });

  it('run-test over POST /commands: the file converted, built in Virtuoso as a test run', async () => {
    const res = await post(commands.url, '/commands', { command: 'run-test quick-test.yaml --project-name "Quick shop"', files: { 'quick-test.yaml': QUICK_TEST } });
    assert.equal(res.status, 200, res.text);
    const out = res.body.output;
    assert.deepEqual([out.format, out.status, out.steps, out.status_url], ['run-test', 'queued', 4, `/test-runs/${out.test_run_id}`]);
    const end = Date.now() + 60_000;
    let run: Json;
    for (;;) {
      run = (await request<Json>(`${testRuns.url}${out.status_url}`, { headers: { authorization: `Bearer ${key}` } })).body;
      if (['built', 'error', 'failed', 'passed'].includes(run.status) || Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(run.status, 'built', JSON.stringify(run.error ?? run.status));
    const [projectInSandbox] = [...sandbox.state.projects.values()].filter((p) => p.name === 'Quick shop');
    assert.ok(projectInSandbox, 'the project --project-name names');
    const goal = [...sandbox.state.goals.values()].find((g) => g.name === 'Quick Test - Goal');
    assert.ok(goal, "the goal the CLI named '<name> - Goal'");
    const checkpointId = run.virtuoso.goals[0].journeys[0].checkpoints[0].checkpointId;
    const steps = await ok(`list-checkpoint-steps ${checkpointId}`);
    assert.deepEqual(steps.map((x: Json) => x.action), ['NAVIGATE', 'NAVIGATE', 'WAIT', 'ASSERT_EXISTS', 'COMMENT'], "the goal's navigation, then the file's four steps");
    // Without the file: refused before anything, naming it.
    const missing = await post(commands.url, '/commands', { command: 'run-test quick-test.yaml' });
    assert.equal(missing.status, 422);
    assert.match(missing.body.error.message, /reads the file 'quick-test\.yaml' on your machine, which this service cannot reach over HTTPS: send its content in the request's "files"/);
  });

  it('a retried attempt of a queued run-test finds the run the first one started, and starts none', async () => {
    const principal = { keyHash: '', tenantId: 'acme', userId: 'alice', scopes: ['commands'] };
    const input = { command: 'yaml run a.yaml b.yaml', files: { 'a.yaml': QUICK_TEST, 'b.yaml': NATIVE } };
    const first = (await runCommand(input, principal, { owner: 'cmd-retried' })).output as Json;
    const again = (await runCommand(input, principal, { owner: 'cmd-retried' })).output as Json;
    assert.deepEqual(again.runs.map((r: Json) => r.test_run_id), first.runs.map((r: Json) => r.test_run_id));
    assert.notEqual(first.runs[0].test_run_id, first.runs[1].test_run_id, 'each file its own run');
    const listed = await request<Json>(`${testRuns.url}/test-runs`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(listed.body.items.length, 2, 'two runs, not four');
    const other = (await runCommand(input, principal, { owner: 'another-command' })).output as Json;
    assert.notEqual(other.runs[0].test_run_id, first.runs[0].test_run_id, 'another command starts its own');
  });

  it("POST /test-runs takes the reference's test files; a dry run shows the converted definition beside the plan", async () => {
    const accepted: string[] = [];
    for (const { file, text } of fixture.samples) {
      const res = await post(testRuns.url, '/test-runs?dryRun=true', text, { 'content-type': 'application/yaml' });
      assert.ok(res.status < 500, `${file}: ${res.text}`);
      if (res.status === 200) {
        accepted.push(file);
        assert.notEqual(res.body.format, 'native', file);
        assert.ok(res.body.definition?.goals?.length >= 1, `${file}: the converted definition is shown`);
        assert.ok(res.body.operations.length >= 3, `${file}: the plan`);
        assert.ok(Array.isArray(res.body.notes), file);
      } else {
        assert.equal(res.status, 422, `${file}: ${res.text}`);
        assert.ok(res.body.error.details.every((d: Json) => d.path !== undefined && d.message && d.line), `${file}: each problem with its place`);
      }
    }
    process.stdout.write(`      sample files accepted: ${accepted.length}/${fixture.samples.length} (${accepted.join(', ')})\n`);
    assert.deepEqual(accepted.sort(), ['examples__simple-login-test.yaml', 'examples__test-small.yaml', 'examples__yaml__compact-login.yaml', 'quick-test.yaml']);
    // A native definition's dry run is as it was: no converted definition beside the plan.
    const native = await post(testRuns.url, '/test-runs?dryRun=true', NATIVE, { 'content-type': 'application/yaml' });
    assert.equal(native.status, 200, native.text);
    assert.equal(native.body.format, 'native');
    assert.equal(native.body.definition, undefined);
    // The JSON form takes the file's text too, and a real run stores the converted definition.
    const queued = await post(testRuns.url, '/test-runs', { definition: QUICK_TEST, execute: false });
    assert.equal(queued.status, 202, queued.text);
  });
});
