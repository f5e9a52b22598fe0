/**
 * The commands that read test files (shared/testruns/file-commands.ts) and the files of the data
 * commands, run with a recording Virtuoso and a recording test-run queue: what they answer, what
 * they start, and their refusals.
 */
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { checkCommand, runCommandLine } from '../../shared/commands/parse';
import { AppError } from '../../shared/errors';
import { parseDefinition } from '../../shared/testruns/definition';
import type { CallOptions, Method } from '../../shared/virtuoso/client';
import type { CommandContext, QueuedRun, TestRunPort } from '../../shared/virtuoso/commands';
import * as s from '../../shared/virtuoso/steps';
import { tokenize } from '../../shared/virtuoso/cli';
import { stepFromCli } from '../../shared/virtuoso/step-commands';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const RUN_TEST = 'name: Login\nstarting_url: https://app.example.com\nsteps:\n  - click: Sign in\n  - wait: 500\n';
const NATIVE = 'name: N\nproject: P\ngoals:\n  - name: G\n    url: https://g.example.com\n    journeys:\n      - name: J\n        checkpoints:\n          - name: C\n            steps:\n              - click: Go\n              - write: {selector: Email, text: "a b"}\n              - scroll: {by: "-10,20"}\n';
const TEMPLATE = `journey:\n  name: Checkout\n  project_id: 42\n  variables: [{name: USER, value: ann}]\n  checkpoints:\n    - name: Cart\n      steps:\n        - {command: step-interact click, args: ["Add to cart"], description: Add}\n        - command: conditional\n          condition: {command: step-assert exists, args: [Cart]}\n          then: [{command: step-interact click, args: [Cart]}]\n          else: [{command: step-misc comment, args: [empty cart]}]\n    - name: Pay\n      position: 3\n      steps:\n        - {command: step-interact write, args: [Card, "4242 4242"], options: {clear: true}}\n`;

class Recorder implements TestRunPort {
  readonly runs: { source: string; execute: boolean; variables: Record<string, string>; projectName?: string }[] = [];
  async queue(source: string, o: { execute: boolean; variables: Record<string, string>; projectName?: string }): Promise<QueuedRun> {
    this.runs.push({ source, ...o });
    const d = parseDefinition(source, o);
    return { id: `run_${this.runs.length}`, name: d.name, status: 'queued', statusUrl: `/test-runs/run_${this.runs.length}`, totals: { operations: 5, steps: d.totalSteps } };
  }
}

/** A checkpoint whose steps are stored as Virtuoso stores them. */
const STORED = [s.click('Go'), s.write('Email', 'a@b.c', { variable: 'user' }), s.key('a', { modifiers: ['ctrl'] }), { action: 'TELEPORT', value: '', meta: {} }, s.waitForElement('Done', 5000)];
const api = {
  calls: [] as { method: Method; path: string }[],
  async item<T>(method: Method, path: string, _o?: CallOptions): Promise<T> {
    this.calls.push({ method, path });
    return (path.startsWith('/testcases/') ? { id: 5001, title: 'Login', steps: STORED } : {}) as T;
  },
  async list<T>(method: Method, path: string): Promise<{ id: string; value: T }[]> {
    this.calls.push({ method, path });
    return [];
  },
  async call(method: Method, path: string): Promise<unknown> {
    this.calls.push({ method, path });
    return {};
  },
};

let runs: Recorder;
const context = (files: Record<string, string> = {}, stdin?: string): CommandContext => ({ api, organizationId: 2242, baseUrl: 'https://api.example/api', files, stdin, testRuns: runs });
const run = async (line: string, files?: Record<string, string>, stdin?: string): Promise<{ output: Json; notes: string[] }> => runCommandLine(context(files, stdin), line);
async function refused(p: Promise<unknown>, status: number, pattern: RegExp): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(err.status, status, err.message);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail('expected a refusal');
}

describe('commands that read test files', () => {
  beforeEach(() => {
    runs = new Recorder();
    api.calls.length = 0;
  });

  it('run-test: queues a built (not executed) run of the converted file; --execute runs it; --project-name names the project', async () => {
    const built = await run('run-test login.yaml', { 'login.yaml': RUN_TEST });
    assert.deepEqual(built.output, { format: 'run-test', file: 'login.yaml', test_run_id: 'run_1', name: 'Login', status: 'queued', status_url: '/test-runs/run_1', operations: 5, steps: 2 });
    assert.deepEqual(runs.runs[0], { source: RUN_TEST, execute: false, variables: {}, projectName: undefined });
    assert.ok(built.notes.some((n) => /built without executing it/.test(n)));
    await run('run-test login.yaml --execute --project-name Shop', { 'login.yaml': RUN_TEST });
    assert.deepEqual([runs.runs[1].execute, runs.runs[1].projectName], [true, 'Shop']);
    assert.ok(!(await run('run-test - --execute', {}, RUN_TEST)).notes.some((n) => /built without/.test(n)));
    assert.equal(runs.runs[2].source, RUN_TEST, 'standard input');
  });

  it('run-test --dry-run: the converted definition and its plan, nothing queued', async () => {
    const { output } = await run('run-test ./tests/login.yaml --dry-run --project-name Shop', { 'login.yaml': RUN_TEST });
    assert.equal(runs.runs.length, 0);
    assert.equal(output.dry_run, true);
    assert.equal(output.format, 'run-test');
    assert.equal(output.definition.project, 'Shop');
    assert.deepEqual(output.definition.goals[0].journeys[0].checkpoints[0].steps, [{ click: 'Sign in' }, { wait: 500 }]);
    assert.equal(output.plan.goals, 1);
  });

  it('run-test: an invalid file is refused before anything, with the problems of the file', async () => {
    const bad = 'name: T\nsteps:\n  - clik: x\n';
    const err = await refused(run('run-test t.yaml', { 't.yaml': bad }), 422, /The test definition has 1 problem: steps\[0\]: unknown step 'clik'/);
    assert.deepEqual((err.details as Json[])[0].line, 3);
    assert.equal(runs.runs.length, 0);
    // The same check runs before a command is recorded (checkCommand), with no Virtuoso call.
    assert.throws(() => checkCommand({ command: 'run-test t.yaml', files: { 't.yaml': bad } }), /unknown step 'clik'/);
    assert.throws(() => checkCommand({ command: 'run-test t.yaml' }), /reads the file 't\.yaml' on your machine/);
    assert.throws(() => checkCommand({ command: 'run-test t.yaml', files: { 't.yaml': 'x'.repeat(300 * 1024) } }), (e: unknown) => e instanceof AppError && e.status === 413);
  });

  it('yaml validate: each file checked; 422 naming every problem of every invalid file', async () => {
    const ok = await run('yaml validate a.yaml b.yaml', { 'a.yaml': RUN_TEST, 'b.yaml': NATIVE });
    assert.deepEqual(ok.output.files.map((f: Json) => [f.file, f.valid, f.format]), [['a.yaml', true, 'run-test'], ['b.yaml', true, 'native']]);
    const err = await refused(run('yaml validate a.yaml b.yaml', { 'a.yaml': 'name: T\nsteps:\n  - clik: x\n', 'b.yaml': NATIVE }), 422, /1 of 2 file\(s\) are not valid test definitions; the first problem: a\.yaml steps\[0\]: unknown step 'clik'/);
    assert.deepEqual((err.details as Json[]).map((d) => [d.file, d.path, d.line]), [['a.yaml', 'steps[0]', 3]]);
    await refused(run('yaml validate a.yaml --strict', { 'a.yaml': 'steps:\n  - click: x\n' }), 422, /\(--strict\) no name given/);
    await refused(run('yaml validate a.yaml b.yaml', { 'a.yaml': RUN_TEST }), 422, /reads the file 'b\.yaml' on your machine/);
  });

  it('yaml compile / convert <file>: the native definition, and with -o commands its steps as command lines that read back', async () => {
    const { output } = await run('yaml compile t.yaml -o commands', { 't.yaml': NATIVE });
    assert.equal(output.format, 'native');
    assert.deepEqual(parseYaml(output.yaml), output.definition);
    assert.deepEqual(output.commands, ['step-interact click Go', 'step-interact write Email "a b"', 'step-navigate scroll-by -10,20']);
    assert.deepEqual(output.commands.map((l: string) => stepFromCli(tokenize(l)).parsedStep), [s.click('Go'), s.write('Email', 'a b'), s.scrollBy(-10, 20)]);
    const converted = await run('yaml convert login.yaml', { 'login.yaml': RUN_TEST });
    assert.equal(converted.output.format, 'run-test');
    assert.equal(parseDefinition(converted.output.yaml).format, 'native', 'the YAML it answers is a native definition');
  });

  it('yaml convert <checkpoint-id>: the stored steps as short forms, what has none noted', async () => {
    const { output, notes } = await run('yaml convert cp_5001');
    assert.deepEqual(api.calls, [{ method: 'GET', path: '/testcases/5001' }]);
    assert.deepEqual(parseYaml(output.yaml), {
      steps: [
        { click: 'Go' },
        { step: 'step-interact.write', args: { selector: 'Email', text: 'a@b.c', variable: 'user' } },
        { step: 'step-interact.key', args: { key: 'a', modifiers: 'ctrl' } },
        { wait: { element: 'Done', timeout: 5000 } },
      ],
    });
    assert.deepEqual(notes, ['step 4 (TELEPORT) has no short form and is left out']);
  });

  it('yaml run: a run per file (names or patterns over the files sent), executed, with --var', async () => {
    const { output, notes } = await run('yaml run tests/*.yaml --var user=ann --var env=qa --env region=eu -o junit', { 'tests/a.yaml': RUN_TEST, 'tests/b.yaml': NATIVE, 'other.yaml': NATIVE });
    assert.deepEqual(output.runs.map((r: Json) => r.file), ['tests/a.yaml', 'tests/b.yaml']);
    assert.deepEqual(runs.runs.map((r) => [r.execute, r.variables]), [[true, { region: 'eu', user: 'ann', env: 'qa' }], [true, { region: 'eu', user: 'ann', env: 'qa' }]]);
    assert.ok(notes.some((n) => /--env values are used as variables/.test(n)));
    assert.ok(notes.some((n) => /-o junit: each run's report is at GET \/test-runs\/\{id\}\/report/.test(n)));
    await refused(run('yaml run tests/*.yaml'), 422, /'tests\/\*\.yaml' matches files on your machine/);
    await refused(run('yaml run a.yaml --var nope', { 'a.yaml': RUN_TEST }), 422, /--var takes name=value pairs/);
  });

  it('yaml generate: a valid starting definition from the template the prompt names', async () => {
    for (const [prompt, template] of [['user login', 'login'], ['new user registration', 'registration'], ['search products', 'search'], ['contact form', 'form'], ['buy a thing', 'purchase'], ['anything else', 'form']]) {
      const { output } = await run(`yaml generate "${prompt}"`);
      assert.equal(output.template, template, prompt);
      assert.equal(parseDefinition(output.yaml).format, 'native', prompt);
    }
    assert.equal((await run('yaml generate checkout --template search')).output.template, 'search');
    await refused(run('yaml generate x --template nope'), 422, /unknown template 'nope'; templates: login, registration/);
  });

  it('yaml detect: the format of a file', async () => {
    const files = { r: RUN_TEST, n: NATIVE, t: TEMPLATE, bad: 'a: [' };
    assert.deepEqual((await run('yaml detect r', files)).output, { file: 'r', format: 'run-test', description: "the final CLI's run-test format (name, starting_url, steps)", supported: true, use: 'POST /test-runs, run-test, yaml run' });
    assert.equal((await run('yaml detect n', files)).output.format, 'native');
    assert.deepEqual([(await run('yaml detect t', files)).output.format, (await run('yaml detect t', files)).output.supported], ['template', false]);
    assert.match((await run('yaml detect bad -o json -v', files)).output.reason, /not valid YAML/);
  });

  it('load-template, generate-commands, get-templates: the CLI\'s journey templates', async () => {
    assert.deepEqual((await run('load-template t.yaml', { 't.yaml': TEMPLATE })).output, {
      valid: true, journey_name: 'Checkout', project_id: 42, checkpoint_count: 2, total_steps: 5, has_config: false, variable_count: 1,
      checkpoints: [{ name: 'Cart', position: 1, step_count: 4, has_conditionals: true }, { name: 'Pay', position: 3, step_count: 1, has_conditionals: false }],
    });
    await refused(run('load-template t.yaml', { 't.yaml': 'journey:\n  name: J\n  checkpoints: []\n' }), 422, /template validation failed: project_id is required/);
    await refused(run('load-template t.yaml', { 't.yaml': 'steps: []\n' }), 422, /not a journey template/);
    const { output } = await run('generate-commands t.yaml', { 't.yaml': TEMPLATE });
    assert.deepEqual(output.commands.slice(0, 2), ['# Create journey: Checkout', 'api-cli create-journey 42 Checkout']);
    assert.ok(output.commands.includes('  api-cli step-interact click Cart'), 'then-branch indented');
    assert.ok(output.commands.includes('api-cli step-interact write Card "4242 4242" --clear true'));
    const script = (await run('generate-commands t.yaml --script', { 't.yaml': TEMPLATE })).output.script as string;
    assert.match(script, /^#!\/bin\/bash\n# Generated from: t\.yaml\n# Journey: Checkout\n\nexport USER=ann\n/);
    const listed = await run('get-templates ./examples', { 'examples/t.yaml': TEMPLATE, 'examples/notes.txt': 'x', 'other/u.yaml': TEMPLATE, 'examples/run.yaml': RUN_TEST });
    assert.deepEqual(listed.output, [{ file: 't.yaml', path: 'examples/t.yaml', name: 'Checkout', description: '', checkpoints: 2, steps: 5 }]);
    await refused(run('get-templates'), 422, /lists the templates in a directory on your machine \('\.\/examples'\)/);
  });

  it("data commands' files: --variables-file (JSON), --import-csv (a file sent, or the CSV itself)", async () => {
    await refused(run('create-environment --name E --variables-file v.json', { 'v.json': '[1]' }), 422, /must hold a JSON object/);
    await refused(run('create-environment --name E --variables-file v.json', { 'v.json': '{nope' }), 422, /is not JSON/);
    await refused(run('create-environment --name E --variables-file v.json', { 'v.json': '{"1x": "a"}' }), 422, /Variable name '1x' in 'v\.json' is not valid/);
    await refused(run('create-environment --name E --variables-file v.json'), 422, /reads the file 'v\.json' on your machine.*or pass --variables/);
    await refused(run('manage-test-data --import-csv users.csv --table-id 1'), 422, /reads the file 'users\.csv' on your machine.*or pass the CSV text itself/);
    await refused(run('manage-test-data --import-csv data/users.csv --table-id 1', { 'users.csv': 'a\n' }), 422, /a header and no rows/, );
  });
});
