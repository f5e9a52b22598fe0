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
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alerts, logSinks, secrets } from '../../shared/infra';

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

  it('converges alerts, the dashboard and the log sinks on a full deploy: found by display name on a re-run, updated, never duplicated', function () {
    // Two full deploys of some 200 steps each; the build of every bundle is not what this checks
    // (the tests above build for real), so `npm` is a stand-in that succeeds.
    this.timeout(600_000);
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'npm'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    assert.equal(addSecret(secrets.virtuosoApiKey, 'a-virtuoso-api-key').status, 0);
    assert.equal(addSecret(secrets.virtuosoOrgId, '2242').status, 0);
    const env = { ALERT_EMAIL: 'oncall@example.com', PATH: `${bin}:${process.env.PATH}` };
    const policies = Object.keys(alerts).length;
    const first = deploy([], env);
    assert.equal(first.status, 0, first.output);
    const created = called(first.calls, 'alpha', 'monitoring', 'policies', 'create');
    assert.equal(created.length, policies);
    assert.equal(called(first.calls, 'alpha', 'monitoring', 'policies', 'update').length, 0);
    assert.equal(called(first.calls, 'beta', 'monitoring', 'channels', 'create').length, 1);
    // The channel just made is looked up and every policy notifies it.
    const channel = 'projects/123456789012/channels/1';
    assert.ok(created.every((c) => c.argv.includes(`--notification-channels=${channel}`)), JSON.stringify(created[0].argv));
    assert.equal(called(first.calls, 'monitoring', 'dashboards', 'create').length, 1);
    // Each sink's writer identity, looked up, is granted on its destination.
    const writer = '--member=serviceAccount:service-123456789012@gcp-sa-logging.iam.gserviceaccount.com';
    assert.equal(called(first.calls, 'projects', 'add-iam-policy-binding').filter((c) => c.argv.includes(writer) && c.argv.includes('--role=roles/bigquery.dataEditor')).length, 1);
    assert.equal(called(first.calls, 'storage', 'buckets', 'add-iam-policy-binding').filter((c) => c.argv.includes(writer) && c.argv.includes('--role=roles/storage.objectCreator')).length, 1);
    assert.equal(called(first.calls, 'logging', 'sinks', 'create').length, Object.keys(logSinks).length);

    const again = deploy([], env);
    assert.equal(again.status, 0, again.output);
    assert.equal(called(again.calls, 'alpha', 'monitoring', 'policies', 'create').length, 0, 'no duplicate policy');
    const updated = called(again.calls, 'alpha', 'monitoring', 'policies', 'update');
    assert.equal(new Set(updated.map((c) => c.argv[4])).size, policies, 'each policy updated in place, by the name it was found under');
    assert.ok(updated.every((c) => c.argv.includes(`--set-notification-channels=${channel}`)));
    assert.equal(called(again.calls, 'beta', 'monitoring', 'channels', 'create').length, 0);
    assert.deepEqual(called(again.calls, 'beta', 'monitoring', 'channels', 'update').map((c) => c.argv[4]), [channel]);
    assert.equal(called(again.calls, 'monitoring', 'dashboards', 'create').length, 0);
    assert.equal(called(again.calls, 'monitoring', 'dashboards', 'update').length, 1);
    assert.equal(called(again.calls, 'logging', 'sinks', 'update').length, Object.keys(logSinks).length, 'the sinks exist: updated');
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
