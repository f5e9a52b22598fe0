/**
 * The alerts as they meet the real world:
 * - the functions' own log lines, written through the real code paths in a child process
 *   (test/fixtures/alert-lines-child.ts, LOG_LEVEL=info), taken as Cloud Run stores them and
 *   matched against each log-based metric's filter — and not against the others';
 * - the generated metric, policy and dashboard JSON decoded into the messages gcloud's own API
 *   clients send (test/helpers/gcloud_messages.py): gcloud reads `--policy-from-file` only after
 *   asking for an account, and decodes leniently, so the parser test alone would not see a field
 *   the API does not have.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as infra from '../../shared/infra';
import { alertPolicyJson, dashboardJson, entryOfLine, logMetricJson, matchesFilter, type LogEntry } from '../../scripts/deploy-plan-monitoring';
import { gcloudInstalled } from '../helpers/gcloud';
import { useEmptyStorage } from '../helpers/storage';
import { useStack } from '../helpers/stack';

const ROOT = join(__dirname, '..', '..');

/** The JSON lines (stdout and stderr) the child wrote in one mode. Asynchronous: the local Storage it calls runs in this process. */
function linesOf(mode: string): Promise<string[]> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, 'test', 'fixtures', 'alert-lines-child.ts'), mode], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info' },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(out.split('\n').filter((l) => l.startsWith('{'))) : reject(new Error(`alert-lines-child ${mode} exited ${code}: ${out}`)))),
  );
}

/** Which log metrics count this entry. */
const countedBy = (entry: LogEntry) => (Object.keys(infra.logMetrics) as infra.LogMetricKey[]).filter((k) => matchesFilter(infra.logMetrics[k].filter, entry));

describe('alerts: the log lines their metrics count, and the JSON the APIs take', function () {
  this.timeout(120_000);

  describe('the functions’ real log lines', () => {
    useStack();
    const storage = useEmptyStorage();

    it('counts each Virtuoso 429 and 5xx answer, with its status', async () => {
      const entries = (await linesOf('virtuoso')).map((l) => entryOfLine(l, 'commandWorker'));
      const counted = entries.filter((e) => countedBy(e).includes('virtuosoErrors'));
      assert.deepEqual(counted.map((e) => e.jsonPayload?.virtuosoStatus), [429, 503]);
      assert.ok(counted.every((e) => countedBy(e).length === 1), 'by that metric alone');
      assert.equal(counted[0].severity, 'WARNING');
    });

    it('counts a test run ending in error, with its error code', async () => {
      const entries = (await linesOf('test-run-error')).map((l) => entryOfLine(l, 'testRunWorker'));
      const counted = entries.filter((e) => countedBy(e).includes('testRunErrors'));
      assert.equal(counted.length, 1, JSON.stringify(entries));
      assert.equal(counted[0].jsonPayload?.code, 'timeout');
      assert.deepEqual(countedBy(counted[0]), ['testRunErrors']);
      // On another function's service or in Cloud Run's request log, it would not count.
      assert.equal(matchesFilter(infra.logMetrics.testRunErrors.filter, { ...counted[0], logName: 'projects/my-project/logs/run.googleapis.com%2Frequests' }), false);
    });

    it('counts a completed backup (what the missing-backup alert waits for), and a failed one', async () => {
      const done = (await linesOf('backup')).map((l) => entryOfLine(l, 'backup'));
      assert.deepEqual(done.flatMap(countedBy), ['backupsCompleted'], JSON.stringify(done));
      assert.equal(done.find((e) => countedBy(e).length)!.jsonPayload?.kind, 'full');

      storage.current().failWith = 503; // the backup's objects cannot be written: it answers 503
      const failed = (await linesOf('backup')).map((l) => entryOfLine(l, 'backup'));
      storage.current().failWith = undefined;
      assert.deepEqual(failed.flatMap(countedBy), ['backupFailures'], JSON.stringify(failed));
      const line = failed.find((e) => countedBy(e).length)!;
      assert.equal(line.severity, 'ERROR');
      assert.equal(line.jsonPayload?.status, 503);
      // The same failure, had logArchive written it, is the log-archive alert's.
      assert.deepEqual(countedBy({ ...line, resource: { ...line.resource, labels: { ...line.resource.labels, service_name: 'logarchive' } } }), ['logArchiveFailures']);
    });
  });

  describe('the generated JSON, decoded into the API messages gcloud sends', () => {
    before(function () {
      if (!gcloudInstalled()) this.skip();
    });

    it('has no field, and no enum value, the Logging and Monitoring APIs do not know', async () => {
      const docs = [
        ...Object.values(infra.logMetrics).map((m) => ({ what: `metric ${m.name}`, api: 'logging', version: 'v2', type: 'LogMetric', value: logMetricJson(m) })),
        ...Object.entries(infra.alerts).map(([k, a]) => ({ what: `policy ${k}`, api: 'monitoring', version: 'v3', type: 'AlertPolicy', value: alertPolicyJson(a) })),
        { what: 'dashboard', api: 'monitoring', version: 'v1', type: 'Dashboard', value: dashboardJson() },
        // The check can fail: a misspelt field and an unknown enum value.
        { what: 'bad policy', api: 'monitoring', version: 'v3', type: 'AlertPolicy', value: { ...alertPolicyJson(infra.alerts.backupFailed), combiner: 'SOMETIMES', severity_: 'x' } },
      ];
      const problems = await checkMessages(docs);
      assert.deepEqual(problems.slice(0, -1).map((p, i) => [docs[i].what, p]).filter(([, p]) => p.length), []);
      assert.deepEqual(problems.at(-1)!.sort(), ['AlertPolicy.combiner: no such field', 'AlertPolicy.severity_: no such field']);
    });
  });
});

/** Each document's problems, from gcloud's own message classes. */
async function checkMessages(docs: { api: string; version: string; type: string; value: unknown }[]): Promise<string[][]> {
  const info = spawnSync('gcloud', ['info', '--format=json(basic.python_location,installation.sdk_root)'], { encoding: 'utf8' });
  const { basic, installation } = JSON.parse(info.stdout) as { basic: { python_location: string }; installation: { sdk_root: string } };
  const child = spawn(basic.python_location, [join(__dirname, '..', 'helpers', 'gcloud_messages.py'), join(installation.sdk_root, 'lib')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out: string[][] = [];
  const done = new Promise<void>((resolve) => createInterface({ input: child.stdout }).on('line', (l) => out.push((JSON.parse(l) as { problems: string[] }).problems)).on('close', resolve));
  for (const { api, version, type, value } of docs) child.stdin.write(`${JSON.stringify({ api, version, type, value })}\n`);
  child.stdin.end();
  await done;
  assert.equal(out.length, docs.length);
  return out;
}
