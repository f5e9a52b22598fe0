/** api-cli's pure parts: its command line, its configuration and its Idempotency-Key. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandLine, parseGlobal, parseRunOptions, quote, UsageError } from '../../shared/client/argv';
import { ConfigProblem, resolveSettings, searchPath } from '../../shared/client/config';
import { liveProgress, plainProgress } from '../../shared/client/progress';
import { ciRunId, idempotencyKey } from '../../shared/client/run-test';
import { clientConfigYaml } from '../../scripts/start';
import { tokenize } from '../../shared/virtuoso/cli';

describe('api-cli (unit)', () => {
  describe('command line', () => {
    it('quotes each argv token so the server tokenizer reads back exactly the same tokens', () => {
      const cases = [
        ['create-project', 'Demo shop'],
        ['step-interact', 'click', 'Login "big" button', '2'],
        ['step-misc', 'execute', `return document.querySelector('a[href="/x"]').innerText;`],
        ['step-data', 'store', 'literal', "it's $HOME\\n", 'v'],
        ['step-navigate', 'scroll-by', '-10,20'],
        ['comment', '', 'tab\there', 'new\nline'],
        ['create-goal', '1001', 'Checkout', '--url', 'https://shop.example.com/?a=1&b=2#x'],
      ];
      for (const argv of cases) assert.deepEqual(tokenize(commandLine(argv)), argv, commandLine(argv));
      assert.equal(quote('plain-token_1.2:3/x'), 'plain-token_1.2:3/x');
      assert.equal(quote("a'b"), `'a'"'"'b'`);
    });

    it('takes its own flags out wherever they stand, and leaves the rest (and everything after --) to the command', () => {
      const p = parseGlobal(['create-goal', '-o', 'json', '1001', 'Shop', '--url', 'https://x', '--config=c.yaml', '--base-url', 'https://b', '--', '-o', 'kept']);
      assert.deepEqual(p.rest, ['create-goal', '1001', 'Shop', '--url', 'https://x', '--', '-o', 'kept']);
      assert.deepEqual(p.flags, { output: 'json', config: 'c.yaml', baseUrl: 'https://b' });
      assert.equal(parseGlobal(['--help']).flags.help, true);
      assert.throws(() => parseGlobal(['list-projects', '-o']), UsageError);
    });

    it('parses run-test options, refusing unknown ones', () => {
      const o = parseRunOptions('run-test', ['t.yaml', '--junit', 'out.xml', '--json=r.json', '--timeout', '90', '--no-wait', '--var', 'a=b=c', '--no-execute', '--cancel-on-interrupt', '--callback-url', 'https://h/x']);
      assert.deepEqual(o, { file: 't.yaml', junit: 'out.xml', json: 'r.json', timeoutSeconds: 90, noWait: true, cancelOnInterrupt: true, variables: { a: 'b=c' }, execute: false, dryRun: false, callbackUrl: 'https://h/x' });
      assert.equal(parseRunOptions('wait', ['run_x']).runId, 'run_x');
      assert.throws(() => parseRunOptions('run-test', ['t.yaml', '--frobnicate']), /Unknown option --frobnicate/);
      assert.throws(() => parseRunOptions('run-test', ['t.yaml', '--timeout', '0']), /above 0/);
      assert.throws(() => parseRunOptions('run-test', []), /Usage: api-cli run-test/);
    });
  });

  describe('configuration', () => {
    let dir: string;
    let home: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'api-cli-cwd-'));
      home = mkdtempSync(join(tmpdir(), 'api-cli-home-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    });
    const write = (file: string, text: string) => {
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, text);
    };

    it("searches the original CLI's places in order, then .local/", () => {
      assert.deepEqual(searchPath(dir, home), [join(dir, 'config/virtuoso-config.yaml'), join(home, '.api-cli/virtuoso-config.yaml'), join(dir, 'virtuoso-config.yaml'), join(dir, '.local/virtuoso-config.yaml')]);
      write(join(dir, '.local/virtuoso-config.yaml'), 'api: {base_url: "https://local.example", auth_token: vak_local}\n');
      assert.equal(resolveSettings({}, {}, dir, home).apiKey, 'vak_local');
      write(join(dir, 'virtuoso-config.yaml'), 'api: {base_url: "https://dot.example", auth_token: vak_dot}\n');
      assert.equal(resolveSettings({}, {}, dir, home).apiKey, 'vak_dot');
      write(join(home, '.api-cli/virtuoso-config.yaml'), 'api: {base_url: "https://home.example", auth_token: vak_home}\n');
      assert.equal(resolveSettings({}, {}, dir, home).apiKey, 'vak_home');
      write(join(dir, 'config/virtuoso-config.yaml'), 'api: {base_url: "https://cfg.example/", auth_token: vak_cfg}\noutput: {default_format: yaml}\n');
      const s = resolveSettings({}, {}, dir, home);
      assert.deepEqual(s, { urls: { commands: 'https://cfg.example/commands', testRuns: 'https://cfg.example/testRuns' }, apiKey: 'vak_cfg', output: 'yaml', configFile: join(dir, 'config/virtuoso-config.yaml') });
    });

    it("reads the file npm start writes in .local/ (the local stack's URLs and key)", () => {
      write(join(dir, '.local/virtuoso-config.yaml'), clientConfigYaml({ commandsUrl: 'http://127.0.0.1:5003/', testRunsUrl: 'http://127.0.0.1:5005/', apiKey: 'vak_local' }));
      const s = resolveSettings({}, {}, dir, home, 'testRuns');
      assert.deepEqual(s, { urls: { commands: 'http://127.0.0.1:5003', testRuns: 'http://127.0.0.1:5005' }, apiKey: 'vak_local', output: 'human', configFile: join(dir, '.local/virtuoso-config.yaml') });
    });

    it('flags beat the environment, which beats the file; per-function URLs beat the base URL', () => {
      write(join(dir, 'c.yaml'), 'api: {base_url: "https://file.example", auth_token: vak_file, test_runs_url: "http://127.0.0.1:5005"}\n');
      const env = { API_CLI_CONFIG: 'c.yaml', API_CLI_BASE_URL: 'https://env.example', API_CLI_KEY: 'vak_env' };
      let s = resolveSettings({}, env, dir, home);
      assert.deepEqual(s.urls, { commands: 'https://env.example/commands', testRuns: 'http://127.0.0.1:5005' });
      assert.equal(s.apiKey, 'vak_env');
      s = resolveSettings({ apiKey: 'vak_flag', commandsUrl: 'http://127.0.0.1:5003/', output: 'ai' }, env, dir, home);
      assert.deepEqual(s.urls, { commands: 'http://127.0.0.1:5003', testRuns: 'http://127.0.0.1:5005' });
      assert.equal(s.apiKey, 'vak_flag');
      assert.equal(s.output, 'ai');
      assert.equal(resolveSettings({}, { API_CLI_BASE_URL: 'https://b', VIRTUOSO_API_TOKEN: 'vak_original' }, dir, home).apiKey, 'vak_original');
    });

    it('names what is missing or wrong', () => {
      assert.throws(() => resolveSettings({}, {}, dir, home), (e: Error) => e instanceof ConfigProblem && /No API URL/.test(e.message));
      // A test run needs only the testRuns function's URL, a command line only the commands one.
      assert.equal(resolveSettings({ testRunsUrl: 'https://t', apiKey: 'k' }, {}, dir, home, 'testRuns').urls.testRuns, 'https://t');
      assert.throws(() => resolveSettings({ testRunsUrl: 'https://t', apiKey: 'k' }, {}, dir, home, 'commands'), /or api\.commands_url\)/);
      assert.throws(() => resolveSettings({ baseUrl: 'https://b' }, {}, dir, home), /No API key: pass --api-key, set API_CLI_KEY/);
      assert.throws(() => resolveSettings({ baseUrl: 'ftp://b', apiKey: 'k' }, {}, dir, home), /must be an http\(s\) URL/);
      assert.throws(() => resolveSettings({ baseUrl: 'https://b', apiKey: 'k', output: 'xml' }, {}, dir, home), /invalid output format: xml/);
      assert.throws(() => resolveSettings({ config: 'missing.yaml' }, {}, dir, home), /does not exist/);
      write(join(dir, 'bad.yaml'), '- a list\n');
      assert.throws(() => resolveSettings({ config: 'bad.yaml' }, {}, dir, home), /not a YAML mapping/);
    });
  });

  describe('Idempotency-Key', () => {
    const opts = { variables: {}, execute: true };
    it('is the same for a retried CI step, and differs by CI run, attempt, definition and options', () => {
      const gh = { GITHUB_RUN_ID: '77', GITHUB_RUN_ATTEMPT: '1', GITHUB_REPOSITORY: 'o/r', GITHUB_JOB: 'e2e' };
      const k = idempotencyKey(gh, 'name: t', opts);
      assert.match(k, /^api-cli-ci-[0-9a-f]{48}$/);
      assert.equal(idempotencyKey({ ...gh }, 'name: t', opts), k);
      assert.notEqual(idempotencyKey({ ...gh, GITHUB_RUN_ATTEMPT: '2' }, 'name: t', opts), k);
      assert.notEqual(idempotencyKey({ ...gh, GITHUB_RUN_ID: '78' }, 'name: t', opts), k);
      assert.notEqual(idempotencyKey(gh, 'name: u', opts), k);
      assert.notEqual(idempotencyKey(gh, 'name: t', { ...opts, execute: false }), k);
      assert.notEqual(idempotencyKey(gh, 'name: t', { ...opts, variables: { a: '1' } }), k);
    });
    it('knows GitLab, Jenkins, CircleCI and an explicit API_CLI_RUN_ID; outside CI it is fresh each time', () => {
      assert.match(ciRunId({ CI_PIPELINE_ID: '5', CI_PROJECT_ID: '9', CI_JOB_NAME: 'e2e' })!, /^gitlab:9:5:e2e$/);
      assert.match(ciRunId({ BUILD_TAG: 'jenkins-x-3', JENKINS_URL: 'https://j' })!, /^jenkins:/);
      assert.match(ciRunId({ CIRCLE_WORKFLOW_ID: 'w', CIRCLE_JOB: 'j' })!, /^circleci:w:j$/);
      assert.equal(ciRunId({ API_CLI_RUN_ID: 'build-42', GITHUB_RUN_ID: '1' }), 'explicit:build-42');
      assert.equal(ciRunId({}), undefined);
      assert.notEqual(idempotencyKey({}, 'name: t', opts), idempotencyKey({}, 'name: t', opts));
    });
  });
});

describe('api-cli progress (unit)', () => {
  const run = (status: string, done: number, steps = 0) =>
    ({ id: 'run_1', name: 'n', status, createdAt: '', updatedAt: '', deadlineAt: '', execute: true, statusUrl: '', progress: { operationsDone: done, operationsTotal: 10, stepsCreated: steps, stepsTotal: 4 } }) as Parameters<ReturnType<typeof plainProgress>['update']>[0];

  it('off a terminal: one plain line per change, none for a poll that saw no change', () => {
    let out = '';
    const p = plainProgress({ write: (t: string) => (out += t) });
    for (const r of [run('queued', 0), run('queued', 0), run('building', 3, 1), run('building', 3, 1), run('building', 10, 4), run('executing', 10, 4), run('executing', 10, 4), run('passed', 10, 4)]) p.update(r);
    p.done();
    const lines = out.trimEnd().split('\n').map((l) => l.replace(/^\[\s*\d+s\] /, ''));
    assert.deepEqual(lines, [
      'run_1 queued: 0/10 operations, 0/4 steps',
      'run_1 building: 3/10 operations, 1/4 steps',
      'run_1 building: 10/10 operations, 4/4 steps',
      'run_1 executing in Virtuoso: 10/10 operations, 4/4 steps',
      'run_1 passed: 10/10 operations, 4/4 steps',
    ]);
  });

  it('on a terminal: one line redrawn in place with a bar, ended by a newline', () => {
    let out = '';
    const p = liveProgress({ write: (t: string) => (out += t), columns: 100 });
    p.update(run('building', 5, 2));
    p.update(run('passed', 10, 4));
    p.done();
    const frames = out.split('\r\x1b[2K').filter(Boolean);
    assert.equal(frames.length, 3, JSON.stringify(out));
    assert.match(frames[0], /^. building █{15}░{15} 5\/10 operations, 2\/4 steps · 0s$/);
    assert.match(frames[2], /^. passed █{30} 10\/10 operations, 4\/4 steps · 0s\n$/);
  });
});
