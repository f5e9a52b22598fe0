/**
 * ./deploy.sh running its plan (scripts/deploy.ts) against a stand-in for the gcloud program
 * (test/fixtures/fake-gcloud.cjs, GCLOUD=…) that keeps a project's state and answers as gcloud does
 * where deploy.sh reads the answer: a first run on a new project stops before any function and says
 * which secret values to add and how; a re-run after adding them converges what exists and goes on;
 * Memorystore's values reach their secrets without being shown, once; a rollback looks up the
 * previous revision and builds nothing; a failing step stops the run. The build is the real one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { secrets } from '../../shared/infra';

const ROOT = join(__dirname, '..', '..');
const FAKE = join(ROOT, 'test', 'fixtures', 'fake-gcloud.cjs');

interface Call {
  argv: string[];
  stdin?: string;
}

describe('deploy.sh running the plan (a stand-in for gcloud)', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'deploy-run-'));
  const state = join(dir, 'state.json');
  const log = join(dir, 'calls.jsonl');
  after(() => rmSync(dir, { recursive: true, force: true }));

  const deploy = (args: string[], extra: Record<string, string> = {}) => {
    rmSync(log, { force: true });
    const r = spawnSync(join(ROOT, 'deploy.sh'), ['--project', 'fake-project', '--region', 'us-central1', '--project-number', '123456789012', ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, GCLOUD: FAKE, FAKE_GCLOUD_STATE: state, FAKE_GCLOUD_LOG: log, APP_VERSION: 'test', ...extra },
    });
    const calls: Call[] = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call) : [];
    return { ...r, calls, output: r.stdout + r.stderr };
  };
  const called = (calls: Call[], ...words: string[]) => calls.filter((c) => words.every((w, i) => c.argv[i] === w));
  const addSecret = (name: string, value: string) =>
    spawnSync(FAKE, ['secrets', 'versions', 'add', name, '--data-file=-'], { input: value, env: { ...process.env, FAKE_GCLOUD_STATE: state } });

  it('stops before the first function on a new project, naming each secret value to add and how', () => {
    const r = deploy(['--only', 'webhook,health']);
    assert.equal(r.status, 3, r.output);
    assert.equal(called(r.calls, 'functions', 'deploy').length, 0, 'no function deployed');
    assert.equal(called(r.calls, 'secrets', 'create', secrets.virtuosoWebhookSecret).length, 1, 'the secret itself was created');
    assert.match(r.stderr, /Stopped before deploying any function/);
    assert.match(r.stderr, /secret virtuoso-webhook-secret has a value \(required; webhook\)/);
    assert.match(r.stderr, /printf '%s' "\$VALUE" \| gcloud secrets versions add virtuoso-webhook-secret --data-file=- --project=fake-project/);
    assert.doesNotMatch(r.stderr, /webhook-signing-secret has a value \(required/, 'the optional one does not block');
    // Memorystore's host, AUTH string and CA were copied into their secrets on stdin (health uses Redis), unseen.
    const adds = called(r.calls, 'secrets', 'versions', 'add');
    assert.deepEqual(adds.map((c) => c.argv[3]).sort(), [secrets.memorystoreAuth, secrets.memorystoreCa, secrets.memorystoreHost].sort());
    assert.equal(adds.find((c) => c.argv[3] === secrets.memorystoreAuth)?.stdin, 'fake-memorystore-auth-4f1d\n');
    assert.ok(!r.output.includes('fake-memorystore-auth-4f1d'), 'the AUTH string is never shown');
    assert.equal(called(r.calls, 'redis', 'instances', 'create').length, 1);
  });

  it('goes on once the value is there: what exists is converged, the functions deployed, the optional secret noted', () => {
    assert.equal(addSecret(secrets.virtuosoWebhookSecret, 'a-webhook-secret-value').status, 0);
    const r = deploy(['--only', 'webhook,health']);
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(called(r.calls, 'functions', 'deploy').map((c) => c.argv[2]), ['health', 'webhook']);
    assert.match(r.stdout, /exists: nothing to update/, 'a create that found its resource');
    assert.equal(called(r.calls, 'redis', 'instances', 'update').length, 1, 'the existing instance is converged');
    assert.equal(called(r.calls, 'secrets', 'versions', 'add').length, 0, "Memorystore's values did not change: no new version");
    assert.match(r.stdout, /optional: secret webhook-signing-secret has a value/);
    assert.ok(!r.output.includes('a-webhook-secret-value') && !r.output.includes('fake-memorystore-auth-4f1d'), 'no secret value is shown');
    assert.match(r.stdout, /== done: \d+ steps/);
  });

  it('rolls a function back to the revision before its latest, without building', () => {
    const r = deploy(['--rollback', 'commandWorker']);
    assert.equal(r.status, 0, r.output);
    assert.doesNotMatch(r.stdout, /npm run build/);
    const traffic = called(r.calls, 'run', 'services', 'update-traffic');
    assert.equal(traffic.length, 1);
    assert.ok(traffic[0].argv.includes('--to-revisions=commandworker-00001-old=100'), traffic[0].argv.join(' '));
    const back = deploy(['--rollback', 'commandWorker', '--to', 'latest']);
    assert.ok(called(back.calls, 'run', 'services', 'update-traffic')[0].argv.includes('--to-latest'));
  });

  it('stops at a step that fails, naming it, and runs nothing after it', () => {
    const r = deploy(['--rollback', 'commandWorker'], { FAKE_GCLOUD_FAIL: '^run services describe' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /step 1 failed: the latest ready revision of commandWorker/);
    assert.equal(called(r.calls, 'run', 'services', 'update-traffic').length, 0);
  });
});
