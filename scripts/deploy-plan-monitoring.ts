/**
 * The deploy plan's operations sections (issue 15 §3, issue 16 §4): the log-based metrics, alert
 * policies, notification channel and dashboard of shared/infra.ts (`logMetrics`, `alerts`,
 * `alertRouting`, `dashboard`), and the log sinks (`logSinks`) with their writer identities granted
 * on their destinations only. Pure, like scripts/deploy-plan.ts, which calls these sections on a
 * full deploy (they are shared by every function, so `--only` leaves them as they are).
 *
 * Idempotence: a log metric and a sink have a name we choose (`create`, or `update` when it exists).
 * Alert policies, notification channels and dashboards get their id from the service, so each is
 * found by its display name first (`find`): found, it is updated in place; not found, created.
 *
 * The JSON files (metrics, policies, dashboard) are generated here and written by planFiles(), so a
 * printed plan can be pasted.
 */
import { join } from 'node:path';
import * as infra from '../shared/infra';
import type { AlertSignal, AlertSpec, LogCondition, LogMetricSpec } from '../shared/infra';
import type { PlanContext, PlanStep } from './deploy-plan';

// ---------------------------------------------------------------------------------------------
// Log filters.

const quote = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** One condition in Cloud Logging's query language. */
function renderCondition(c: LogCondition): string {
  if ('anyOf' in c) return `(${c.anyOf.map(renderCondition).join(' OR ')})`;
  if ('allOf' in c) return `(${c.allOf.map(renderCondition).join(' AND ')})`;
  if ('severityAtLeast' in c) return `severity>=${c.severityAtLeast}`;
  if ('logId' in c) return `log_id(${quote(c.logId)})`;
  if ('present' in c) return `${c.field}:*`;
  if ('atLeast' in c) return `${c.field}>=${c.atLeast}`;
  return `${c.field}=${typeof c.equals === 'number' ? c.equals : quote(c.equals)}`;
}

/** A filter: every condition, in Cloud Logging's query language. */
export const logFilter = (conditions: readonly LogCondition[]) => conditions.map(renderCondition).join(' AND ');

const SEVERITY_RANK: Record<string, number> = { DEFAULT: 0, DEBUG: 100, INFO: 200, NOTICE: 300, WARNING: 400, ERROR: 500, CRITICAL: 600, ALERT: 700, EMERGENCY: 800 };

/** A log entry as Cloud Logging stores it (the fields the filters read). */
export interface LogEntry {
  logName: string;
  severity: string;
  resource: { type: string; labels: Record<string, string> };
  labels?: Record<string, string>;
  jsonPayload?: Record<string, unknown>;
  protoPayload?: Record<string, unknown>;
}

const valueAt = (entry: LogEntry, path: string): unknown =>
  path.split('.').reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), entry);

/**
 * Whether an entry matches the conditions, read as Cloud Logging reads them (for tests: a line a
 * function really wrote, checked against the filter an alert counts).
 */
export function matchesFilter(conditions: readonly LogCondition[], entry: LogEntry): boolean {
  const one = (c: LogCondition): boolean => {
    if ('anyOf' in c) return c.anyOf.some(one);
    if ('allOf' in c) return c.allOf.every(one);
    if ('severityAtLeast' in c) return (SEVERITY_RANK[entry.severity] ?? 0) >= SEVERITY_RANK[c.severityAtLeast];
    if ('logId' in c) return entry.logName.endsWith(`/logs/${encodeURIComponent(c.logId)}`);
    const v = valueAt(entry, c.field);
    if ('present' in c) return v !== undefined && v !== null;
    if ('atLeast' in c) return typeof v === 'number' && v >= c.atLeast;
    return typeof c.equals === 'number' ? v === c.equals : v === c.equals;
  };
  return conditions.every(one);
}

/**
 * The entry Cloud Run makes of one line a function wrote (shared/log.ts): the JSON becomes
 * `jsonPayload` but for the special fields (severity, labels), on the function's service.
 */
export function entryOfLine(line: string, fn: infra.FunctionName, projectId = 'my-project'): LogEntry {
  const { severity, 'logging.googleapis.com/labels': labels, ...payload } = JSON.parse(line) as Record<string, unknown>;
  for (const k of Object.keys(payload)) if (k.startsWith('logging.googleapis.com/')) delete payload[k];
  const stream = severity === 'ERROR' ? 'stderr' : 'stdout';
  return {
    logName: `projects/${projectId}/logs/${encodeURIComponent(`run.googleapis.com/${stream}`)}`,
    severity: String(severity),
    resource: { type: 'cloud_run_revision', labels: { service_name: infra.cloudRunService(fn), project_id: projectId } },
    labels: labels as Record<string, string> | undefined,
    jsonPayload: payload,
  };
}

// ---------------------------------------------------------------------------------------------
// Generated resources.

export const METRIC_PREFIX = 'logging.googleapis.com/user/';

/** A log-based metric as `gcloud logging metrics create --config-from-file` reads it (LogMetric). */
export function logMetricJson(m: LogMetricSpec) {
  const labels = Object.entries(m.labels ?? {});
  return {
    name: m.name,
    description: m.description,
    filter: logFilter(m.filter),
    metricDescriptor: {
      metricKind: 'DELTA',
      valueType: 'INT64',
      unit: '1',
      ...(labels.length ? { labels: labels.map(([key, field]) => ({ key, valueType: 'STRING', description: `the entry's ${field}` })) } : {}),
    },
    ...(labels.length ? { labelExtractors: Object.fromEntries(labels.map(([key, field]) => [key, `EXTRACT(${field})`])) } : {}),
  };
}

const seconds = (s: number) => `${s}s`;
const oneOf = (values: readonly string[]) => `one_of(${values.map(quote).join(',')})`;
const requestCount = (services: readonly string[], extra: string[] = []) =>
  [
    'metric.type="run.googleapis.com/request_count"',
    'resource.type="cloud_run_revision"',
    `resource.labels.service_name=${oneOf(services)}`,
    ...extra,
  ].join(' AND ');
const logMetricSeries = (key: infra.LogMetricKey) => `metric.type="${METRIC_PREFIX}${infra.logMetrics[key].name}" AND resource.type="cloud_run_revision"`;
const BY_SERVICE = ['resource.label.service_name'];

/** A count over a window: the sum of the points in it (one series, or one per `groupBy`). */
const windowSum = (windowSeconds: number, groupBy: string[] = []) => [
  { alignmentPeriod: seconds(windowSeconds), perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM', ...(groupBy.length ? { groupByFields: groupBy } : {}) },
];

/** The conditions of one alert, and how they combine. */
function conditionsOf(title: string, s: AlertSignal): { combiner: string; conditions: Record<string, unknown>[] } {
  const threshold = (name: string, filter: string, aggregations: unknown[], above: number, duration = 0, more: Record<string, unknown> = {}) => ({
    displayName: name,
    conditionThreshold: { filter, aggregations, comparison: 'COMPARISON_GT', thresholdValue: above, duration: seconds(duration), trigger: { count: 1 }, ...more },
  });
  switch (s.kind) {
    case 'log-count':
      return { combiner: 'OR', conditions: [threshold(`${title}: more than ${s.above} in ${s.windowSeconds / 60} min`, logMetricSeries(s.metric), windowSum(s.windowSeconds), s.above)] };
    case 'log-absent':
      return {
        combiner: 'OR',
        conditions: [{
          displayName: `${title}: none for ${s.forSeconds / 60} min`,
          conditionAbsent: { filter: logMetricSeries(s.metric), aggregations: windowSum(300), duration: seconds(s.forSeconds), trigger: { count: 1 } },
        }],
      };
    case 'http-5xx-ratio': {
      const services = s.functions.map(infra.cloudRunService);
      // Two conditions on the same function (AND_WITH_MATCHING_RESOURCE): the share of 5xx, and enough requests for a share to mean something.
      return {
        combiner: 'AND_WITH_MATCHING_RESOURCE',
        conditions: [
          threshold(
            `${title}: more than ${s.above * 100}% 5xx over ${s.windowSeconds / 60} min`,
            requestCount(services, ['metric.labels.response_code_class="5xx"']),
            windowSum(s.windowSeconds, BY_SERVICE),
            s.above,
            0,
            { denominatorFilter: requestCount(services), denominatorAggregations: windowSum(s.windowSeconds, BY_SERVICE) },
          ),
          threshold(`${title}: at least ${s.minRequests} requests over ${s.windowSeconds / 60} min`, requestCount(services), windowSum(s.windowSeconds, BY_SERVICE), s.minRequests - 1),
        ],
      };
    }
    case 'http-status-count':
      return {
        combiner: 'OR',
        conditions: [threshold(
          `${title}: ${s.status} answers over ${s.windowSeconds / 60} min`,
          requestCount([infra.cloudRunService(s.function)], [`metric.labels.response_code="${s.status}"`]),
          windowSum(s.windowSeconds),
          s.above,
        )],
      };
    case 'pubsub-backlog':
      return {
        combiner: 'OR',
        conditions: [threshold(
          `${title}: undelivered messages for ${s.forSeconds / 60} min`,
          [
            'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"',
            'resource.type="pubsub_subscription"',
            `resource.labels.subscription_id=${oneOf(s.subscriptions)}`,
          ].join(' AND '),
          [{ alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_MAX' }],
          s.above,
          s.forSeconds,
        )],
      };
  }
}

export const policyDisplayName = (a: AlertSpec) => `Virtuoso: ${a.title}`;

/** An alert policy as `gcloud alpha monitoring policies create --policy-from-file` reads it (AlertPolicy, without channels). */
export function alertPolicyJson(a: AlertSpec) {
  const { combiner, conditions } = conditionsOf(a.title, a.signal);
  return {
    displayName: policyDisplayName(a),
    documentation: { content: a.runbook, mimeType: 'text/markdown' },
    userLabels: { 'managed-by': 'virtuoso-deploy' },
    combiner,
    conditions,
    enabled: true,
  };
}

/** A dashboard chart: one line per series of `filter`, reduced as given. */
function chart(title: string, filter: string, aggregation: Record<string, unknown>) {
  return { title, xyChart: { dataSets: [{ timeSeriesQuery: { timeSeriesFilter: { filter, aggregation } }, plotType: 'LINE' }] } };
}

/** The one dashboard (`gcloud monitoring dashboards create --config-from-file`): traffic, errors, latency, backlogs, and every log metric. */
export function dashboardJson() {
  const services = infra.functions.map((f) => infra.cloudRunService(f.name));
  const perService = (aligner: string, reducer: string) => ({ alignmentPeriod: '60s', perSeriesAligner: aligner, crossSeriesReducer: reducer, groupByFields: BY_SERVICE });
  const subscriptions = infra.subscriptions.map((s) => s.name);
  const widgets = [
    chart('Requests per second, per function', requestCount(services), perService('ALIGN_RATE', 'REDUCE_SUM')),
    chart('5xx answers per second, per function', requestCount(services, ['metric.labels.response_code_class="5xx"']), perService('ALIGN_RATE', 'REDUCE_SUM')),
    chart(
      'Latency p95, per function',
      `metric.type="run.googleapis.com/request_latencies" AND resource.type="cloud_run_revision" AND resource.labels.service_name=${oneOf(services)}`,
      perService('ALIGN_DELTA', 'REDUCE_PERCENTILE_95'),
    ),
    chart(
      'Instances, per function',
      `metric.type="run.googleapis.com/container/instance_count" AND resource.type="cloud_run_revision" AND resource.labels.service_name=${oneOf(services)}`,
      perService('ALIGN_MAX', 'REDUCE_SUM'),
    ),
    chart(
      'Undelivered messages, per subscription (dead-letter-archive: dead letters)',
      `metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" AND resource.labels.subscription_id=${oneOf(subscriptions)}`,
      { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_MAX', crossSeriesReducer: 'REDUCE_MAX', groupByFields: ['resource.label.subscription_id'] },
    ),
    ...Object.keys(infra.logMetrics).map((key) => {
      const m = infra.logMetrics[key as infra.LogMetricKey];
      const labels = Object.keys((m as LogMetricSpec).labels ?? {}).map((l) => `metric.label.${l}`);
      return chart(m.description, logMetricSeries(key as infra.LogMetricKey), {
        alignmentPeriod: '300s', perSeriesAligner: 'ALIGN_SUM', crossSeriesReducer: 'REDUCE_SUM', ...(labels.length ? { groupByFields: labels } : {}),
      });
    }),
  ];
  const WIDTH = 24;
  const HEIGHT = 16;
  return {
    displayName: infra.dashboard.title,
    mosaicLayout: {
      columns: 48,
      tiles: widgets.map((widget, i) => ({ xPos: (i % 2) * WIDTH, yPos: Math.floor(i / 2) * HEIGHT, width: WIDTH, height: HEIGHT, widget })),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Files.

export const metricFilePath = (filesDir: string, key: infra.LogMetricKey) => join(filesDir, `monitoring.metric.${infra.logMetrics[key].name}.json`);
export const policyFilePath = (filesDir: string, key: keyof typeof infra.alerts) => join(filesDir, `monitoring.policy.${key}.json`);
export const dashboardFilePath = (filesDir: string) => join(filesDir, 'monitoring.dashboard.json');

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

/** The files the monitoring steps read (written by deploy.sh beside the lifecycle files). */
export function monitoringFiles(filesDir: string): { path: string; content: string }[] {
  return [
    ...(Object.keys(infra.logMetrics) as infra.LogMetricKey[]).map((key) => ({ path: metricFilePath(filesDir, key), content: json(logMetricJson(infra.logMetrics[key])) })),
    ...(Object.keys(infra.alerts) as (keyof typeof infra.alerts)[]).map((key) => ({ path: policyFilePath(filesDir, key), content: json(alertPolicyJson(infra.alerts[key])) })),
    { path: dashboardFilePath(filesDir), content: json(dashboardJson()) },
  ];
}

// ---------------------------------------------------------------------------------------------
// The sections.

const IAM_RETRIES = 4;
const withProject = (c: PlanContext, ...args: string[]) => ['gcloud', ...args, `--project=${c.P}`];
const varName = (key: string) => key.replace(/[A-Z]/g, (ch) => `_${ch}`).toUpperCase();
/** A `list` that prints the name of the resource with this display name (nothing when there is none). */
const findByDisplayName = (c: PlanContext, words: string[], displayName: string) =>
  withProject(c, ...words, 'list', `--filter=displayName=${quote(displayName)}`, '--format=value(name)', '--limit=1');

/** The variable standing for the notification channel an e-mail address gets. */
export const ALERT_CHANNEL_VAR = 'ALERT_CHANNEL';
const CHANNEL_NAME = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/notificationChannels\/[0-9]+$/;
const EMAIL = /^[^\s@,=]+@[^\s@,=]+\.[^\s@,=]+$/;

/** The channel the policies notify: given, made for an e-mail address, or none. */
function channelSteps(c: PlanContext): { steps: PlanStep[]; channel?: string } {
  const { channel, email } = c.alerts;
  if (channel) {
    if (!CHANNEL_NAME.test(channel)) throw new Error(`${infra.alertRouting.channelEnv} '${channel}' is not projects/<project>/notificationChannels/<id>`);
    return { steps: [], channel };
  }
  if (!email) return { steps: [] };
  if (!EMAIL.test(email)) throw new Error(`${infra.alertRouting.emailEnv} '${email}' is not an e-mail address`);
  const words = ['beta', 'monitoring', 'channels'];
  const settings = [`--display-name=${infra.alertRouting.emailChannelName}`, '--description=Alerts of the Virtuoso API CLI backend (made by deploy.sh)'];
  const find = findByDisplayName(c, words, infra.alertRouting.emailChannelName);
  return {
    channel: `\${${ALERT_CHANNEL_VAR}}`,
    steps: [
      {
        kind: 'monitoring',
        description: `notification channel: e-mail to ${email}`,
        args: withProject(c, ...words, 'create', '--type=email', `--channel-labels=email_address=${email}`, ...settings),
        find: { args: find, name: 'EMAIL_CHANNEL', sample: `projects/${c.P}/notificationChannels/1234567890` },
        update: withProject(c, ...words, 'update', '${EMAIL_CHANNEL}', `--update-channel-labels=email_address=${email}`, ...settings),
      },
      {
        kind: 'lookup',
        description: 'the notification channel the alert policies notify',
        args: find,
        sets: { name: ALERT_CHANNEL_VAR, sample: `projects/${c.P}/notificationChannels/1234567890` },
      },
    ],
  };
}

/** Log-based metrics, the notification channel, alert policies and the dashboard (full deploys). */
export function monitoringSteps(c: PlanContext): PlanStep[] {
  if (!c.full) return [];
  const steps: PlanStep[] = [];
  for (const key of Object.keys(infra.logMetrics) as infra.LogMetricKey[]) {
    const m = infra.logMetrics[key];
    const file = `--config-from-file=${metricFilePath(c.filesDir, key)}`;
    steps.push({
      kind: 'monitoring',
      description: `log-based metric ${m.name}: ${m.description}`,
      args: withProject(c, 'logging', 'metrics', 'create', m.name, file),
      allowExists: true,
      update: withProject(c, 'logging', 'metrics', 'update', m.name, file),
    });
  }
  const { steps: channel, channel: name } = channelSteps(c);
  steps.push(...channel);
  const policyWords = ['alpha', 'monitoring', 'policies'];
  for (const key of Object.keys(infra.alerts) as (keyof typeof infra.alerts)[]) {
    const a = infra.alerts[key];
    const file = `--policy-from-file=${policyFilePath(c.filesDir, key)}`;
    const found = `POLICY_${varName(key)}`;
    steps.push({
      kind: 'monitoring',
      description: `alert policy "${policyDisplayName(a)}"${name ? '' : ' (no notification channel configured: it notifies nobody)'}`,
      args: withProject(c, ...policyWords, 'create', file, ...(name ? [`--notification-channels=${name}`] : [])),
      find: { args: findByDisplayName(c, policyWords, policyDisplayName(a)), name: found, sample: `projects/${c.P}/alertPolicies/1234567890` },
      // The file replaces the whole policy; the channel is set again with it (or cleared: configuration decides).
      update: withProject(c, ...policyWords, 'update', `\${${found}}`, file, ...(name ? [`--set-notification-channels=${name}`] : [])),
    });
  }
  const dashboard = `--config-from-file=${dashboardFilePath(c.filesDir)}`;
  steps.push({
    kind: 'monitoring',
    description: `dashboard "${infra.dashboard.title}"`,
    args: withProject(c, 'monitoring', 'dashboards', 'create', dashboard),
    find: { args: findByDisplayName(c, ['monitoring', 'dashboards'], infra.dashboard.title), name: 'DASHBOARD', sample: `projects/${SAMPLE_NUMBER}/dashboards/0a1b2c3d-4e5f-6789-abcd-ef0123456789` },
    update: withProject(c, 'monitoring', 'dashboards', 'update', '${DASHBOARD}', dashboard),
  });
  return steps;
}

const SAMPLE_NUMBER = '123456789012';
const SAMPLE_WRITER = `serviceAccount:service-${SAMPLE_NUMBER}@gcp-sa-logging.iam.gserviceaccount.com`;

/** A project grant limited by an IAM condition to one BigQuery dataset and its tables. */
export function datasetCondition(projectId: string, dataset: string): { expression: string; title: string } {
  const name = `projects/${projectId}/datasets/${dataset}`;
  return { expression: `resource.name == "${name}" || resource.name.startsWith("${name}/")`, title: `only dataset ${dataset}` };
}

/**
 * The log sinks (full deploys): security entries into a BigQuery dataset, the public APIs' request
 * logs into the analytics bucket (made by the bucket section). A sink writes as its writer
 * identity, known once the sink exists: looked up, then granted on its destination only.
 */
export function logSinkSteps(c: PlanContext): PlanStep[] {
  if (!c.full) return [];
  const { security, analytics } = infra.logSinks;
  const dataset = `bigquery.googleapis.com/projects/${c.P}/datasets/${security.dataset}`;
  const bucket = c.input.bucketName(c.P, analytics.bucket);
  const sink = (name: string, destination: string, filter: readonly LogCondition[], description: string, extra: string[] = []): PlanStep => {
    const settings = [`--log-filter=${logFilter(filter)}`, `--description=${description}`, ...extra];
    return {
      kind: 'logging',
      description: `log sink ${name} → ${destination}`,
      args: withProject(c, 'logging', 'sinks', 'create', name, destination, ...settings),
      allowExists: true,
      update: withProject(c, 'logging', 'sinks', 'update', name, destination, ...settings),
    };
  };
  const writer = (name: string, variable: string): PlanStep => ({
    kind: 'lookup',
    description: `the writer identity of log sink ${name}`,
    args: withProject(c, 'logging', 'sinks', 'describe', name, '--format=value(writerIdentity)'),
    sets: { name: variable, sample: SAMPLE_WRITER },
  });
  const cond = datasetCondition(c.P, security.dataset);
  return [
    {
      kind: 'logging',
      description: `BigQuery dataset ${security.dataset} (security logs; BigQuery's default location, US)`,
      args: withProject(c, 'alpha', 'bq', 'datasets', 'create', security.dataset, '--description=Security-relevant log entries of the Virtuoso API CLI backend (log sink virtuoso-security-logs)'),
      allowExists: true,
    },
    sink(security.name, dataset, security.filter, 'Security logs: WARNING and above of the functions, and audit logs', ['--use-partitioned-tables']),
    writer(security.name, 'SECURITY_SINK_WRITER'),
    {
      kind: 'iam',
      description: `log sink ${security.name} may write to dataset ${security.dataset} only`,
      args: ['gcloud', 'projects', 'add-iam-policy-binding', c.P, '--member=${SECURITY_SINK_WRITER}', '--role=roles/bigquery.dataEditor', `--condition=^;^expression=${cond.expression};title=${cond.title}`],
      retries: IAM_RETRIES,
    },
    sink(analytics.name, `storage.googleapis.com/${bucket}`, analytics.filter, 'API analytics: request logs of the public functions'),
    writer(analytics.name, 'ANALYTICS_SINK_WRITER'),
    {
      kind: 'iam',
      description: `log sink ${analytics.name} may create objects in gs://${bucket} only`,
      args: withProject(c, 'storage', 'buckets', 'add-iam-policy-binding', `gs://${bucket}`, '--member=${ANALYTICS_SINK_WRITER}', '--role=roles/storage.objectCreator', '--condition=None'),
      retries: IAM_RETRIES,
    },
  ];
}
