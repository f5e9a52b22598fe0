/**
 * The operations sections of the deploy plan (scripts/deploy-plan-monitoring.ts): the log-based
 * metrics, alert policies, notification channel and dashboard, and the log sinks, generated from
 * shared/infra.ts. Pure. That gcloud parses every command is test/integration/deploy-gcloud.test.ts;
 * that the generated JSON is what the APIs' messages have, and that the functions' real log lines
 * match the metrics' filters, is test/integration/monitoring.test.ts.
 */
import assert from 'node:assert/strict';
import * as infra from '../../shared/infra';
import { shellJoin } from '../../scripts/deploy-format';
import { deployPlan, planFiles, type PlanStep } from '../../scripts/deploy-plan';
import {
  alertPolicyJson,
  dashboardJson,
  datasetCondition,
  logFilter,
  logMetricJson,
  matchesFilter,
  metricFilePath,
  policyFilePath,
  type LogEntry,
} from '../../scripts/deploy-plan-monitoring';

const P = 'demo-project';
const OPTS = { projectId: P, region: 'us-central1', projectNumber: '123456789012', version: 'abc123', filesDir: '/tmp/plan-test' };
const flag = (args: readonly string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const gcloud = (steps: readonly PlanStep[], ...words: string[]) => steps.filter((s) => words.every((w, i) => s.args[i + 1] === w));

type Threshold = {
  filter: string;
  aggregations: { alignmentPeriod: string; perSeriesAligner: string; crossSeriesReducer?: string; groupByFields?: string[] }[];
  comparison: string;
  thresholdValue: number;
  duration: string;
  denominatorFilter?: string;
};
type Condition = { displayName: string; conditionThreshold?: Threshold; conditionAbsent?: { filter: string; duration: string } };
const policy = (key: keyof typeof infra.alerts) => alertPolicyJson(infra.alerts[key]) as unknown as { displayName: string; combiner: string; conditions: Condition[]; documentation: { content: string } };
const services = infra.functions.map((f) => f.name.toLowerCase());

describe('deploy plan: alerts, metrics, dashboard and log sinks (scripts/deploy-plan-monitoring.ts)', () => {
  describe('log filters', () => {
    it('renders each kind of condition in Cloud Logging’s query language', () => {
      assert.equal(
        logFilter([
          { field: 'resource.type', equals: 'cloud_run_revision' },
          { anyOf: [{ logId: 'run.googleapis.com/stdout' }, { logId: 'run.googleapis.com/stderr' }] },
          { field: 'jsonPayload.runId', present: true },
          { anyOf: [{ field: 'jsonPayload.virtuosoStatus', equals: 429 }, { field: 'jsonPayload.virtuosoStatus', atLeast: 500 }] },
          { severityAtLeast: 'ERROR' },
          { allOf: [{ field: 'jsonPayload.message', equals: 'say "hi" \\ bye' }] },
        ]),
        'resource.type="cloud_run_revision" AND (log_id("run.googleapis.com/stdout") OR log_id("run.googleapis.com/stderr")) AND jsonPayload.runId:* ' +
          'AND (jsonPayload.virtuosoStatus=429 OR jsonPayload.virtuosoStatus>=500) AND severity>=ERROR AND (jsonPayload.message="say \\"hi\\" \\\\ bye")',
      );
    });

    it('counts only the functions’ own lines: their services, stdout and stderr, not Cloud Run’s request log', () => {
      const m = logMetricJson(infra.logMetrics.backupFailures);
      assert.equal(
        m.filter,
        'resource.type="cloud_run_revision" AND (resource.labels.service_name="backup") AND (log_id("run.googleapis.com/stdout") OR log_id("run.googleapis.com/stderr")) AND severity>=ERROR',
      );
      const error = (logName: string): LogEntry => ({ logName, severity: 'ERROR', resource: { type: 'cloud_run_revision', labels: { service_name: 'backup' } }, jsonPayload: { message: 'x' } });
      assert.equal(matchesFilter(infra.logMetrics.backupFailures.filter, error('projects/p/logs/run.googleapis.com%2Fstderr')), true);
      assert.equal(matchesFilter(infra.logMetrics.backupFailures.filter, error('projects/p/logs/run.googleapis.com%2Frequests')), false, 'the platform’s line for the same 500');
      assert.equal(matchesFilter(infra.logMetrics.backupFailures.filter, { ...error('projects/p/logs/run.googleapis.com%2Fstderr'), severity: 'WARNING' }), false);
      assert.equal(
        matchesFilter(infra.logMetrics.backupFailures.filter, { ...error('projects/p/logs/run.googleapis.com%2Fstderr'), resource: { type: 'cloud_run_revision', labels: { service_name: 'logarchive' } } }),
        false,
        'another function’s error',
      );
    });

    it('declares each metric a DELTA counter, its labels extracted from the entry', () => {
      const m = logMetricJson(infra.logMetrics.virtuosoErrors);
      assert.equal(m.name, 'virtuoso_api_errors');
      assert.deepEqual(m.metricDescriptor.labels?.map((l) => l.key), ['status', 'function']);
      assert.deepEqual(m.labelExtractors, { status: 'EXTRACT(jsonPayload.virtuosoStatus)', function: 'EXTRACT(resource.labels.service_name)' });
      assert.match(m.filter, /AND \(jsonPayload\.virtuosoStatus=429 OR jsonPayload\.virtuosoStatus>=500\)$/);
      assert.equal(m.metricDescriptor.metricKind, 'DELTA');
      assert.equal(logMetricJson(infra.logMetrics.backupFailures).labelExtractors, undefined);
      assert.match(logMetricJson(infra.logMetrics.testRunErrors).filter, /AND jsonPayload\.runId:\* AND jsonPayload\.status="error"$/);
      assert.match(logMetricJson(infra.logMetrics.backupsCompleted).filter, /service_name="backup"\).* AND jsonPayload\.backupStatus="completed"$/);
      assert.match(logMetricJson(infra.logMetrics.logArchiveFailures).filter, /service_name="logarchive"\).* AND severity>=ERROR$/);
    });
  });

  describe('alert policies', () => {
    it('alerts on any message waiting in a dead-letter subscription, from the built-in Pub/Sub metric', () => {
      const [c] = policy('deadLetters').conditions;
      assert.equal(
        c.conditionThreshold!.filter,
        'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" AND resource.labels.subscription_id=one_of("dead-letter-archive")',
      );
      assert.equal(c.conditionThreshold!.thresholdValue, 0);
      assert.equal(c.conditionThreshold!.comparison, 'COMPARISON_GT');
      assert.equal(c.conditionThreshold!.duration, '60s');
    });

    it('alerts on the 5xx share of each function (Cloud Run’s request count), only with at least 10 requests', () => {
      const p = policy('http5xx');
      assert.equal(p.combiner, 'AND_WITH_MATCHING_RESOURCE');
      const [ratio, floor] = p.conditions.map((c) => c.conditionThreshold!);
      const all = `metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name=one_of(${services.map((s) => `"${s}"`).join(',')})`;
      assert.deepEqual(services, ['health', 'webhook', 'commands', 'commandworker', 'testruns', 'testrunworker', 'testrunevents', 'logarchive', 'backup']);
      assert.equal(ratio.filter, `${all} AND metric.labels.response_code_class="5xx"`);
      assert.equal(ratio.denominatorFilter, all);
      assert.equal(ratio.thresholdValue, 0.05);
      assert.deepEqual(ratio.aggregations, [{ alignmentPeriod: '300s', perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM', groupByFields: ['resource.label.service_name'] }]);
      assert.equal(floor.filter, all);
      assert.equal(floor.thresholdValue, 9, 'more than 9: at least 10');
      assert.deepEqual(floor.aggregations, ratio.aggregations, 'the same series per function, so the two conditions match on it');
    });

    it('alerts on any 503 of the webhook in 5 minutes', () => {
      const c = policy('webhook503').conditions[0].conditionThreshold!;
      assert.equal(c.filter, 'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name=one_of("webhook") AND metric.labels.response_code="503"');
      assert.equal(c.thresholdValue, 0);
      assert.equal(c.aggregations[0].alignmentPeriod, '300s');
    });

    it('counts the log metrics over their windows: test runs in error, failed backups and archives, Virtuoso 429/5xx', () => {
      const expected = {
        testRunErrors: ['virtuoso_test_runs_ended_in_error', '900s', 0],
        backupFailed: ['virtuoso_backup_failures', '300s', 0],
        logArchiveFailed: ['virtuoso_log_archive_failures', '300s', 0],
        virtuosoErrors: ['virtuoso_api_errors', '300s', 10],
      } as const;
      for (const [key, [metric, window, above]] of Object.entries(expected)) {
        const c = policy(key as keyof typeof infra.alerts).conditions[0].conditionThreshold!;
        assert.equal(c.filter, `metric.type="logging.googleapis.com/user/${metric}" AND resource.type="cloud_run_revision"`, key);
        assert.equal(c.aggregations[0].alignmentPeriod, window, key);
        assert.equal(c.aggregations[0].perSeriesAligner, 'ALIGN_SUM', key);
        assert.equal(c.thresholdValue, above, key);
      }
    });

    it('alerts when no backup completed for 90 minutes (hourly backups, and a margin)', () => {
      const c = policy('backupMissing').conditions[0];
      assert.equal(c.conditionThreshold, undefined);
      assert.equal(c.conditionAbsent!.filter, 'metric.type="logging.googleapis.com/user/virtuoso_backups_completed" AND resource.type="cloud_run_revision"');
      assert.equal(c.conditionAbsent!.duration, '5400s');
      // The schedules it watches: a backup every hour of the day.
      const hours = infra.schedules.filter((s) => s.target === 'backup').flatMap((s) => expandHours(s.schedule.split(' ')[1]));
      assert.deepEqual(hours.sort((a, b) => a - b), Array.from({ length: 24 }, (_, h) => h));
    });

    it('names each policy after its alert and carries its runbook', () => {
      for (const [key, a] of Object.entries(infra.alerts)) {
        const p = policy(key as keyof typeof infra.alerts);
        assert.equal(p.displayName, `Virtuoso: ${a.title}`);
        assert.equal(p.documentation.content, a.runbook);
        assert.match(a.runbook, /First: /, `${key}: what to do first`);
      }
      assert.equal(new Set(Object.values(infra.alerts).map((a) => a.title)).size, Object.keys(infra.alerts).length, 'display names are how deploy finds them: unique');
    });
  });

  it('puts every function’s traffic, errors and latency, the subscriptions’ backlogs and every log metric on one dashboard', () => {
    const d = dashboardJson();
    assert.equal(d.displayName, infra.dashboard.title);
    const filters = d.mosaicLayout.tiles.map((t) => t.widget.xyChart.dataSets[0].timeSeriesQuery.timeSeriesFilter.filter);
    for (const m of Object.values(infra.logMetrics)) assert.ok(filters.some((f) => f.includes(`logging.googleapis.com/user/${m.name}"`)), m.name);
    for (const metric of ['run.googleapis.com/request_count', 'run.googleapis.com/request_latencies', 'run.googleapis.com/container/instance_count', 'pubsub.googleapis.com/subscription/num_undelivered_messages']) {
      assert.ok(filters.some((f) => f.startsWith(`metric.type="${metric}"`)), metric);
    }
    // Tiles side by side, two per row, none overlapping.
    const cells = d.mosaicLayout.tiles.map((t) => `${t.xPos},${t.yPos}`);
    assert.equal(new Set(cells).size, cells.length);
    assert.ok(d.mosaicLayout.tiles.every((t) => t.xPos + t.width <= d.mosaicLayout.columns));
  });

  describe('the steps', () => {
    const plan = deployPlan(OPTS);

    it('creates or updates each log metric from its file, which planFiles writes', () => {
      const files = new Map(planFiles(OPTS).map((f) => [f.path, f.content]));
      for (const key of Object.keys(infra.logMetrics) as infra.LogMetricKey[]) {
        const m = infra.logMetrics[key];
        const [s] = gcloud(plan, 'logging', 'metrics', 'create', m.name);
        assert.equal(s.allowExists, true);
        assert.equal(flag(s.args, 'config-from-file'), metricFilePath(OPTS.filesDir, key));
        assert.deepEqual(s.update?.slice(1, 5), ['logging', 'metrics', 'update', m.name]);
        assert.equal(flag(s.update!, 'config-from-file'), metricFilePath(OPTS.filesDir, key));
        assert.deepEqual(JSON.parse(files.get(metricFilePath(OPTS.filesDir, key))!), logMetricJson(m));
      }
    });

    it('finds each alert policy by its display name: updated when found, created when not; no channel configured, it says so', () => {
      const creates = gcloud(plan, 'alpha', 'monitoring', 'policies', 'create');
      assert.equal(creates.length, Object.keys(infra.alerts).length);
      for (const [key, a] of Object.entries(infra.alerts)) {
        const file = policyFilePath(OPTS.filesDir, key as keyof typeof infra.alerts);
        const s = creates.find((c) => flag(c.args, 'policy-from-file') === file)!;
        assert.ok(s, key);
        assert.deepEqual(s.find!.args, ['gcloud', 'alpha', 'monitoring', 'policies', 'list', `--filter=displayName="Virtuoso: ${a.title}"`, '--format=value(name)', '--limit=1', `--project=${P}`]);
        assert.deepEqual(s.update!.slice(0, 7), ['gcloud', 'alpha', 'monitoring', 'policies', 'update', `\${${s.find!.name}}`, `--policy-from-file=${file}`]);
        assert.equal(flag(s.args, 'notification-channels'), undefined);
        assert.match(s.description, /no notification channel configured: it notifies nobody/);
      }
      const dashboard = gcloud(plan, 'monitoring', 'dashboards', 'create')[0];
      assert.deepEqual(dashboard.find!.args.slice(1, 6), ['monitoring', 'dashboards', 'list', `--filter=displayName="${infra.dashboard.title}"`, '--format=value(name)']);
      assert.deepEqual(dashboard.update!.slice(1, 5), ['monitoring', 'dashboards', 'update', '${DASHBOARD}']);
    });

    it('sends the alerts to the configured channel, or to an e-mail channel it makes (found again by its name)', () => {
      const channel = `projects/${P}/notificationChannels/42`;
      const given = deployPlan({ ...OPTS, alerts: { channel } });
      for (const s of gcloud(given, 'alpha', 'monitoring', 'policies', 'create')) {
        assert.equal(flag(s.args, 'notification-channels'), channel);
        assert.equal(flag(s.update!, 'set-notification-channels'), channel, 'the file replaces the policy: the channel is set again');
      }
      assert.equal(gcloud(given, 'beta', 'monitoring', 'channels', 'create').length, 0);

      const mailed = deployPlan({ ...OPTS, alerts: { email: 'oncall@example.com' } });
      const [create] = gcloud(mailed, 'beta', 'monitoring', 'channels', 'create');
      assert.equal(flag(create.args, 'type'), 'email');
      assert.equal(flag(create.args, 'channel-labels'), 'email_address=oncall@example.com');
      assert.equal(flag(create.update!, 'update-channel-labels'), 'email_address=oncall@example.com');
      const lookup = mailed.find((s) => s.sets?.name === 'ALERT_CHANNEL')!;
      assert.deepEqual(lookup.args, create.find!.args, 'the channel found (or just made) by its display name');
      const policies = gcloud(mailed, 'alpha', 'monitoring', 'policies', 'create');
      assert.ok(policies.every((s) => flag(s.args, 'notification-channels') === '${ALERT_CHANNEL}' && mailed.indexOf(s) > mailed.indexOf(lookup)));

      assert.throws(() => deployPlan({ ...OPTS, alerts: { channel: 'oncall' } }), /ALERT_NOTIFICATION_CHANNEL 'oncall' is not projects\/<project>\/notificationChannels\/<id>/);
      assert.throws(() => deployPlan({ ...OPTS, alerts: { email: 'oncall,x@example.com' } }), /ALERT_EMAIL .* is not an e-mail address/);
    });

    it('leaves monitoring and sinks alone on an --only deploy (they are shared)', () => {
      const only = deployPlan({ ...OPTS, only: ['webhook'] });
      assert.equal(only.filter((s) => s.kind === 'monitoring' || s.kind === 'logging').length, 0);
      assert.ok(plan.filter((s) => s.kind === 'monitoring').length >= Object.keys(infra.logMetrics).length + Object.keys(infra.alerts).length + 1);
    });

    it('routes security logs to a BigQuery dataset and API request logs to the analytics bucket, each writer granted on its destination only', () => {
      const { security, analytics } = infra.logSinks;
      const dataset = gcloud(plan, 'alpha', 'bq', 'datasets', 'create')[0];
      assert.equal(dataset.args[5], security.dataset);
      assert.equal(dataset.allowExists, true);
      const [sec] = gcloud(plan, 'logging', 'sinks', 'create', security.name);
      assert.equal(sec.args[5], `bigquery.googleapis.com/projects/${P}/datasets/${security.dataset}`);
      assert.equal(flag(sec.args, 'log-filter')!.split(' AND ')[0], 'severity>=WARNING');
      assert.match(flag(sec.args, 'log-filter')!, /OR protoPayload\.@type="type\.googleapis\.com\/google\.cloud\.audit\.AuditLog"\)$/);
      assert.equal(flag(sec.args, 'use-partitioned-tables'), undefined);
      assert.ok(sec.args.includes('--use-partitioned-tables'));
      assert.deepEqual(sec.update!.slice(1, 6), ['logging', 'sinks', 'update', security.name, sec.args[5]]);

      const bucket = `${P}-virtuoso-api-analytics`;
      const [an] = gcloud(plan, 'logging', 'sinks', 'create', analytics.name);
      assert.equal(an.args[5], `storage.googleapis.com/${bucket}`);
      assert.equal(
        flag(an.args, 'log-filter'),
        'resource.type="cloud_run_revision" AND log_id("run.googleapis.com/requests") AND (resource.labels.service_name="health" OR resource.labels.service_name="webhook" OR resource.labels.service_name="commands" OR resource.labels.service_name="testruns")',
      );
      const bucketCreate = gcloud(plan, 'storage', 'buckets', 'create', `gs://${bucket}`)[0];
      assert.ok(plan.indexOf(bucketCreate) < plan.indexOf(an), 'the bucket exists before its sink');

      for (const [sink, variable] of [[security.name, 'SECURITY_SINK_WRITER'], [analytics.name, 'ANALYTICS_SINK_WRITER']] as const) {
        const lookup = plan.find((s) => s.sets?.name === variable)!;
        assert.deepEqual(lookup.args.slice(1, 5), ['logging', 'sinks', 'describe', sink]);
        assert.equal(flag(lookup.args, 'format'), 'value(writerIdentity)');
        const grants = plan.filter((s) => flag(s.args, 'member') === `\${${variable}}`);
        assert.equal(grants.length, 1, shellJoin(grants.flatMap((g) => g.args)));
        assert.ok(plan.indexOf(lookup) < plan.indexOf(grants[0]));
      }
      const bq = plan.find((s) => flag(s.args, 'member') === '${SECURITY_SINK_WRITER}')!;
      assert.deepEqual(bq.args.slice(0, 4), ['gcloud', 'projects', 'add-iam-policy-binding', P]);
      assert.equal(flag(bq.args, 'role'), 'roles/bigquery.dataEditor');
      const cond = datasetCondition(P, security.dataset);
      assert.equal(flag(bq.args, 'condition'), `^;^expression=${cond.expression};title=${cond.title}`);
      assert.equal(cond.expression, `resource.name == "projects/${P}/datasets/virtuoso_security_logs" || resource.name.startsWith("projects/${P}/datasets/virtuoso_security_logs/")`);
      const gcs = plan.find((s) => flag(s.args, 'member') === '${ANALYTICS_SINK_WRITER}')!;
      assert.deepEqual(gcs.args.slice(1, 5), ['storage', 'buckets', 'add-iam-policy-binding', `gs://${bucket}`]);
      assert.equal(flag(gcs.args, 'role'), 'roles/storage.objectCreator');
    });

    it('gives the analytics bucket the seed’s ages, and no function any grant on it', () => {
      const file = planFiles(OPTS).find((f) => f.path.endsWith(`${P}-virtuoso-api-analytics.lifecycle.json`))!;
      const { rule } = JSON.parse(file.content) as { rule: { action: { type: string; storageClass?: string }; condition: { age: number } }[] };
      assert.deepEqual(rule.map((r) => [r.condition.age, r.action.type, r.action.storageClass]), [[7, 'SetStorageClass', 'NEARLINE'], [90, 'SetStorageClass', 'COLDLINE'], [365, 'Delete', undefined]]);
      const onAnalytics = plan.filter((s) => s.args.includes(`gs://${P}-virtuoso-api-analytics`) && s.args.includes('add-iam-policy-binding'));
      assert.deepEqual(onAnalytics.map((s) => flag(s.args, 'member')), ['${ANALYTICS_SINK_WRITER}']);
    });
  });
});

/** The hours of a cron hour field (`3`, `0-2,4-23`). */
function expandHours(field: string): number[] {
  return field.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i);
  });
}
