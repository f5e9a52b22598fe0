/**
 * `api-cli` end to end: the bin run as a real process (as `npx api-cli` runs it) against the
 * functions on real HTTP, the local Cloud Tasks, the Virtuoso sandbox (its signed FINISHED
 * webhooks included) and the emulators — each exit code, progress on a pipe and on a terminal (a
 * pseudo-terminal from util-linux `script`), the reports written, a retried CI step that does not
 * build twice, Ctrl-C, and plain commands with their output formats and refusals.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import '../../functions/commands';
import { newApiKey, storeApiKey } from '../../shared/auth';
import { runProcess, type RunResult } from '../helpers/processes';
import { useStack } from '../helpers/stack';
import { useTestRunPipeline } from '../helpers/test-run-pipeline';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'shared/client/bin/api-cli.cjs');
const EXAMPLE = join(ROOT, 'shared/schemas/examples/checkout.yaml');


/** Runs the bin with exactly this environment (plus PATH); `onStart` may write to its stdin or signal it. */
export function runCli(args: string[], env: Record<string, string>, options: { cwd: string; input?: string; node?: string; onStart?: (child: ChildProcessWithoutNullStreams) => void }): Promise<RunResult> {
  return runProcess(options.node ?? process.execPath, [BIN, ...args], { cwd: options.cwd, env: { PATH: process.env.PATH ?? '', HOME: options.cwd, ...env }, input: options.input, onStart: options.onStart });
}

/** The bin on a pseudo-terminal (`script` from util-linux): stdout and stderr arrive mixed, as on a screen. */
function runCliOnTty(args: string[], env: Record<string, string>, cwd: string, keys: { after: RegExp; send: string }[] = []): Promise<{ code: number | null; screen: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'"'"'`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols 120; exec ${quoted}`, '/dev/null'], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, TERM: 'xterm', ...env } });
    let screen = '';
    const pending = [...keys];
    child.stdout.on('data', (d: Buffer) => {
      screen += d.toString();
      while (pending.length && pending[0].after.test(screen)) child.stdin.write(pending.shift()!.send);
    });
    child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

const FAILING = readFileSync(EXAMPLE, 'utf8').replace('click: Add to cart', 'click: FAIL add to cart').replace('name: Checkout smoke', 'name: Checkout failing');

describe('api-cli (integration: the bin as a process → the functions on real HTTP → sandbox, tasks, emulators)', function () {
  this.timeout(90_000);
  useStack();
  const pipe = useTestRunPipeline({ executionMs: 300, withCommands: true });
  const commands = () => pipe.commands!;
  let cwd: string;
  let env: Record<string, string>;

  beforeEach(async () => {
    const k = newApiKey({ tenantId: 'acme', userId: 'ci', scopes: ['commands', 'test-runs'] });
    await storeApiKey(k.record);
    cwd = mkdtempSync(join(tmpdir(), 'api-cli-cwd-'));
    env = { API_CLI_COMMANDS_URL: commands().url, API_CLI_TEST_RUNS_URL: pipe.api.url, API_CLI_KEY: k.key };
  });
  afterEach(() => rmSync(cwd, { recursive: true, force: true }));

  const goals = () => [...pipe.sandbox.state.goals.values()];

  it('run-test: a passing definition shows one plain line per change, writes JUnit and JSON, prints the links, exits 0', async () => {
    const r = await runCli(['run-test', EXAMPLE, '--junit', 'reports/out.xml', '--json', 'reports/out.json'], env, { cwd });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stderr.trim().split('\n');
    assert.match(lines[0], /^Submitted run_[a-f0-9]{20} \(Checkout smoke\)$/);
    const progress = lines.slice(1);
    assert.ok(progress.some((l) => / building: \d+\/\d+ operations/.test(l)) || progress.some((l) => /queued/.test(l)), r.stderr);
    assert.match(progress.at(-1)!, /run_\w+ passed: (\d+)\/\1 operations, (\d+)\/\2 steps$/);
    // One line per change: never the same state twice in a row, and no terminal control codes.
    for (let i = 1; i < progress.length; i++) assert.notEqual(progress[i].replace(/^\[[^\]]*\]/, ''), progress[i - 1].replace(/^\[[^\]]*\]/, ''));
    assert.doesNotMatch(r.stderr, /\x1b\[|\r/);
    assert.match(r.stdout, /^✔ Checkout smoke: passed \(run_/);
    assert.match(r.stdout, /checkpoints: [1-9]\d* passed, 0 failed \(2 journeys, \d+ steps\)/);
    assert.match(r.stdout, /project: https:\/\/app\.virtuoso\.qa\/#\/project\/\d+/);
    assert.match(r.stdout, /goal Storefront: https:\/\/app\.virtuoso\.qa\/#\/goal\/\d+ \(job \d+\)/);
    const junit = readFileSync(join(cwd, 'reports/out.xml'), 'utf8');
    assert.match(junit, /<testsuite [^>]*name="Storefront \/ Guest checkout"[^>]*failures="0"/);
    const json = JSON.parse(readFileSync(join(cwd, 'reports/out.json'), 'utf8'));
    assert.equal(json.outcome, 'passed');
    assert.equal(json.run.status, 'passed');
    assert.equal(json.report.outcome, 'passed');
  });

  it('run-test: a failing test exits 1, its JUnit names the failing step, the summary links the checkpoint', async () => {
    writeFileSync(join(cwd, 'failing.yaml'), FAILING);
    const r = await runCli(['run', 'failing.yaml', '--junit', 'out.xml'], env, { cwd });
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /^✘ Checkout failing: failed/);
    assert.match(r.stdout, /✘ Storefront \/ Guest checkout \/ Add to cart: .*\n\s+https:\/\/app\.virtuoso\.qa\/#\/checkpoint\/\d+/);
    assert.match(readFileSync(join(cwd, 'out.xml'), 'utf8'), /<failure [^>]*message="[^"]*FAIL add to cart/);
  });

  it('run-test: a definition Virtuoso refuses ends in error: exit 2, and a JUnit file that says why', async () => {
    pipe.sandbox.faults.add({ kind: 'refuse', method: 'POST', path: '^/api/projects$', count: 5 });
    const r = await runCli(['run-test', EXAMPLE, '--junit', 'out.xml', '-o', 'json'], env, { cwd });
    assert.equal(r.code, 2, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout);
    assert.equal(out.outcome, 'error');
    assert.equal(out.run.status, 'error');
    assert.equal(out.exitCode, 2);
    assert.match(readFileSync(join(cwd, 'out.xml'), 'utf8'), /<error type="error" message="[^"]+"/);
  });

  it('run-test: an invalid definition is refused before anything is built: exit 2, the places on stderr', async () => {
    writeFileSync(join(cwd, 'bad.yaml'), 'name: x\nproject: p\ngoals:\n  - name: g\n    url: https://e.example\n    journeys: []\n');
    const r = await runCli(['run-test', 'bad.yaml'], env, { cwd });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^Error: the test run was not accepted: .*\(HTTP 422 unprocessable_entity/m);
    assert.match(r.stderr, /goals\[0\]\.journeys/);
    assert.equal(goals().length, 0);
  });

  it('run-test: --timeout stops waiting (exit 3) and leaves the run going; wait <id> follows it to the end', async () => {
    pipe.sandbox.faults.setLatency(400);
    const r = await runCli(['run-test', EXAMPLE, '--timeout', '2', '--junit', 'out.xml', '--outputs-file', 'gh-output'], env, { cwd });
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /still (queued|building|executing) after 2 s \(timeout\)/);
    const id = /run_[a-f0-9]{20}/.exec(r.stdout)![0];
    assert.match(readFileSync(join(cwd, 'out.xml'), 'utf8'), /<error type="timeout"/);
    const outputs = readFileSync(join(cwd, 'gh-output'), 'utf8');
    assert.match(outputs, new RegExp(`^run-id=${id}$`, 'm'));
    assert.match(outputs, /^outcome=timeout$/m);
    assert.match(outputs, /^exit-code=3$/m);
    pipe.sandbox.faults.setLatency(0);
    const w = await runCli(['wait', id], env, { cwd });
    assert.equal(w.code, 0, w.stderr + w.stdout);
    assert.match(w.stdout, /passed/);
  });

  it('run-test --no-wait prints the run id; a retried CI step gets the same run and builds nothing twice', async () => {
    const ci = { ...env, GITHUB_RUN_ID: '4242', GITHUB_RUN_ATTEMPT: '1', GITHUB_REPOSITORY: 'acme/shop', GITHUB_JOB: 'e2e' };
    const first = await runCli(['run-test', EXAMPLE, '--no-wait'], ci, { cwd });
    assert.equal(first.code, 0, first.stderr);
    const id = first.stdout.trim();
    assert.match(id, /^run_[a-f0-9]{20}$/);
    const again = await runCli(['run-test', EXAMPLE, '--json', 'r.json'], ci, { cwd });
    assert.equal(again.code, 0, again.stderr + again.stdout);
    assert.match(again.stderr, new RegExp(`^Already submitted \\(same CI run and definition\\): following ${id}`, 'm'));
    assert.equal(JSON.parse(readFileSync(join(cwd, 'r.json'), 'utf8')).run.id, id);
    assert.equal(goals().length, 1, 'one goal built in Virtuoso');
    // Another attempt of the CI run (a re-run) is a new run.
    const rerun = await runCli(['run-test', EXAMPLE, '--no-wait'], { ...ci, GITHUB_RUN_ATTEMPT: '2' }, { cwd });
    assert.notEqual(rerun.stdout.trim(), id);
  });

  it('run-test reads the definition from stdin (-)', async () => {
    const r = await runCli(['run-test', '-', '--no-execute'], env, { cwd, input: readFileSync(EXAMPLE, 'utf8') });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /✔ Checkout smoke: built/);
  });

  it('on a terminal: a live progress line redrawn in place, then the summary; exit 0', async () => {
    const r = await runCliOnTty(['run-test', EXAMPLE], env, cwd);
    assert.equal(r.code, 0, r.screen);
    const redraws = r.screen.split('\r\x1b[2K').length - 1;
    assert.ok(redraws >= 3, `the line is redrawn in place (${redraws} times): ${JSON.stringify(r.screen.slice(0, 400))}`);
    assert.match(r.screen, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (queued|building|executing in Virtuoso) [█░]{10,}/);
    assert.match(r.screen, /passed [█]{10,} (\d+)\/\1 operations/);
    assert.match(r.screen, /✔ Checkout smoke: passed/);
  });

  it('on a terminal, Ctrl-C asks whether to cancel; yes cancels the run: exit 2', async () => {
    pipe.sandbox.faults.setLatency(300);
    const r = await runCliOnTty(['run-test', EXAMPLE], env, cwd, [
      { after: /building|queued/, send: '\x03' },
      { after: /Cancel run run_\w+ too\? \[y\/N\]/, send: 'y\r' },
    ]);
    assert.equal(r.code, 2, r.screen);
    assert.match(r.screen, /Cancelled run run_/);
    assert.match(r.screen, /■ Checkout smoke: cancelled/);
  });

  it('on a terminal, Ctrl-C and "no" leave the run going: exit 130', async () => {
    pipe.sandbox.faults.setLatency(300);
    const r = await runCliOnTty(['run-test', EXAMPLE], env, cwd, [
      { after: /building|queued/, send: '\x03' },
      { after: /\[y\/N\]/, send: 'n\r' },
    ]);
    assert.equal(r.code, 130, r.screen);
    assert.match(r.screen, /Stopped waiting; run (run_\w+) goes on \(api-cli wait \1\)/);
  });

  it('--cancel-on-interrupt: SIGTERM (a cancelled CI job) cancels the run without asking: exit 2', async () => {
    pipe.sandbox.faults.setLatency(300);
    const r = await runCli(['run-test', EXAMPLE, '--cancel-on-interrupt'], env, {
      cwd,
      onStart: (child) => {
        child.stderr!.on('data', (d: Buffer) => {
          if (/building|queued/.test(d.toString())) child.kill('SIGTERM');
        });
      },
    });
    assert.equal(r.code, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /Cancelled run run_/);
    assert.match(r.stdout, /cancelled/);
  });

  it('any command line goes to the commands function: -o json prints the answer; a refusal exits 1 with its message on stderr', async () => {
    const created = await runCli(['create-project', 'Demo', '-o', 'json'], env, { cwd });
    assert.equal(created.code, 0, created.stderr);
    const body = JSON.parse(created.stdout);
    assert.equal(body.status, 'succeeded');
    assert.equal(body.command, 'create-project');
    assert.match(String(body.output.project_id), /^\d+$/);
    const human = await runCli(['create-goal', String(body.output.project_id), 'Check out', '--url', 'https://shop.example.com'], env, { cwd });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /create-goal succeeded|goal/i);
    const yaml = await runCli(['list-projects', '-o', 'yaml'], env, { cwd });
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^status: succeeded$/m);
    const refused = await runCli(['create-journey', '999999', '888888', 'Nope'], env, { cwd });
    assert.equal(refused.code, 1, refused.stderr + refused.stdout);
    assert.match(refused.stderr, /^Error: create-journey: .+ \(HTTP 404 not_found/);
    assert.equal(refused.stdout, '');
    const unknown = await runCli(['frobnicate', '1'], env, { cwd });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HTTP 4\d\d/);
    const badKey = await runCli(['list-projects', '-o', 'json'], { ...env, API_CLI_KEY: 'vak_wrong' }, { cwd });
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /Invalid or revoked API key \(HTTP 401 unauthenticated/);
    assert.equal(JSON.parse(badKey.stdout).error.code, 'unauthenticated');
  });

  it('reads the config file (virtuoso-config.yaml in ./config) and fails clearly without one', async () => {
    const none = await runCli(['list-projects'], {}, { cwd });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /No API URL: pass --base-url, set API_CLI_BASE_URL, or api\.base_url \(or api\.commands_url\) in virtuoso-config\.yaml/);
    execFileSync('mkdir', ['-p', join(cwd, 'config')]);
    writeFileSync(join(cwd, 'config/virtuoso-config.yaml'), `api:\n  commands_url: ${commands().url}\n  test_runs_url: ${pipe.api.url}\n  auth_token: ${env.API_CLI_KEY}\noutput:\n  default_format: json\n`);
    const r = await runCli(['create-project', 'From config'], {}, { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).output.name, 'From config');
  });

  it('runs on a plain Node.js 20 too (a CI runner’s own node)', async function () {
    const node20 = '/usr/bin/node';
    if (!existsSync(node20) || !/^v20\./.test(execFileSync(node20, ['--version'], { encoding: 'utf8' }))) this.skip();
    const r = await runCli(['run-test', EXAMPLE, '--no-execute', '--junit', 'out.xml'], env, { cwd, node: node20 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /built/);
    assert.ok(existsSync(join(cwd, 'out.xml')));
  });

  describe('the GitHub Action (action.yml): its steps run as GitHub runs them, with the client as their script', () => {
    /** `${{ inputs.x }}` and `${{ github.action_path }}` as the runner fills them in. */
    const expand = (text: string, inputs: Record<string, string>, defaults: Record<string, string>) =>
      text.replace(/\$\{\{\s*(inputs\.[\w-]+|github\.action_path)\s*\}\}/g, (_m, expr: string) => (expr === 'github.action_path' ? ROOT : (inputs[expr.slice(7)] ?? defaults[expr.slice(7)] ?? '')));

    async function runAction(inputs: Record<string, string>): Promise<{ code: number | null; outputs: Record<string, string>; log: string }> {
      const action = parseYaml(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as Json;
      const defaults = Object.fromEntries(Object.entries(action.inputs as Record<string, Json>).map(([k, v]) => [k, String(v.default ?? '')]));
      for (const [name, spec] of Object.entries(action.inputs as Record<string, Json>)) if (spec.required) assert.ok(inputs[name], `required input ${name}`);
      const outputFile = join(cwd, 'github-output');
      writeFileSync(outputFile, '');
      let log = '';
      let code: number | null = 0;
      for (const step of action.runs.steps as Json[]) {
        if (step.id === 'install') continue; // this checkout is installed already
        assert.equal(step.shell, 'bash');
        const stepEnv = Object.fromEntries(Object.entries((step.env ?? {}) as Record<string, string>).map(([k, v]) => [k, expand(v, inputs, defaults)]));
        const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn('bash', ['-e', '-c', step.run], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd, GITHUB_OUTPUT: outputFile, ...stepEnv } });
          let out = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', (c) => resolve({ code: c, out }));
        });
        log += r.out;
        code = r.code;
        if (code !== 0) break;
      }
      const written = Object.fromEntries(readFileSync(outputFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      // The action's outputs are the run step's.
      const outputs = Object.fromEntries(Object.entries(action.outputs as Record<string, Json>).map(([k, v]) => [k, written[/steps\.run\.outputs\.([\w-]+)/.exec(v.value)![1]]]));
      return { code, outputs, log };
    }

    it('passes with a passing definition: outputs run id, outcome and report paths; the JUnit file is left for a report step', async () => {
      execFileSync('cp', [EXAMPLE, join(cwd, 'checkout.yaml')]);
      const r = await runAction({ 'test-runs-url': pipe.api.url, 'api-key': env.API_CLI_KEY, definition: 'checkout.yaml', timeout: '60' });
      assert.equal(r.code, 0, r.log);
      assert.match(r.outputs['run-id'], /^run_[a-f0-9]{20}$/);
      assert.equal(r.outputs.outcome, 'passed');
      assert.equal(r.outputs['exit-code'], '0');
      assert.equal(r.outputs.junit, join(cwd, 'api-cli-results/junit.xml'));
      assert.match(readFileSync(r.outputs.junit, 'utf8'), /<testsuites/);
      assert.equal(JSON.parse(readFileSync(r.outputs.json, 'utf8')).outcome, 'passed');
    });

    it('fails the step with a failing definition (exit 1, outcome failed)', async () => {
      writeFileSync(join(cwd, 'failing.yaml'), FAILING);
      const r = await runAction({ 'test-runs-url': pipe.api.url, 'api-key': env.API_CLI_KEY, definition: 'failing.yaml' });
      assert.equal(r.code, 1, r.log);
      assert.equal(r.outputs.outcome, 'failed');
      assert.match(readFileSync(r.outputs.junit, 'utf8'), /<failure /);
    });
  });

  it('`npx api-cli` in the repository runs this package’s own bin, on its Node.js 24 (not the registry’s api-cli)', () => {
    const out = execFileSync('npx', ['--no-install', 'api-cli', '--version'], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd } });
    assert.match(out, /^api-cli \d+\.\d+\.\d+ \(node v24\.\d+\.\d+\)$/m);
  });
});
