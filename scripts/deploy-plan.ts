/**
 * The deploy plan: every command that converges a Google Cloud project to what shared/infra.ts (and
 * firestore.indexes.json) declares, in order, as argument vectors — never shell strings. Pure: no
 * network, no gcloud, no secret values. scripts/deploy.ts runs it (`./deploy.sh`) or prints it as a
 * pasteable script (`./deploy.sh --dry-run`, formatted by scripts/deploy-format.ts).
 *
 * The plan is one function per section (`apiSteps`, `serviceAccountSteps`, … `schedulerSteps`),
 * each returning the steps of one kind of resource for the functions being deployed, with what
 * they need. Idempotence: `functions deploy`, `services enable`, `*-iam-policy-binding` and
 * `ttls update` are create-or-update by nature; a `create` fails with ALREADY_EXISTS when the
 * resource is there, so those steps carry `allowExists` and, when the resource has settings to
 * converge, the `update` command to run instead.
 *
 * Least privilege: every function runs as its own service account, granted exactly what its
 * `secrets`, `envSecrets` and `uses` in infra.ts declare (`functionGrantSteps`), on the resource
 * itself (a topic, a subscription, a queue, a secret, object name prefixes of the bucket through an
 * IAM condition) wherever Google Cloud allows it; only Firestore access is project-wide.
 *
 * Where infra.ts is silent, the choices are made here and marked "Decision:".
 */
import { join } from 'node:path';
import indexesFile from '../firestore.indexes.json';
import * as infra from '../shared/infra';
import type { FunctionUses, LifecycleRule, QueueSpec, SecretSource, ServiceAccountRole } from '../shared/infra';
import { logSinkSteps, monitoringFiles, monitoringSteps } from './deploy-plan-monitoring';
import { checkEdgeOptions, edgeFiles, edgeSteps, ingressOf, type EdgeOptions } from './deploy-plan-edge';
import { ciCdBuilderAccountSteps, ciCdBuilderGrantSteps } from './deploy-plan-pipeline';
import { firestoreLocationFor, secondaryFunctionSteps, secretReplication } from './deploy-plan-regions';

// ---------------------------------------------------------------------------------------------
// What the plan reads: the shapes of infra.ts, with names loosened to strings so tests can feed a
// fixture with kinds of resources infra.ts does not declare (push subscriptions, other triggers).

export interface PlanFunction {
  name: string;
  bundle: string;
  trigger:
    | { kind: 'http'; public: boolean }
    | { kind: 'pubsub'; topic: string; deadLetter: { topic: string; maxDeliveryAttempts: number } }
    | { kind: 'task'; queues: readonly string[] };
  memory: string;
  timeoutSeconds: number;
  ingress: 'ALLOW_ALL' | 'ALLOW_INTERNAL_ONLY' | 'ALLOW_INTERNAL_AND_GCLB';
  minInstances: number;
  maxInstances: number;
  concurrency: number;
  secrets: readonly string[];
  envSecrets?: Readonly<Record<string, string>>;
  uses: Omit<FunctionUses, 'publishes' | 'inspects' | 'enqueues'> & {
    publishes?: readonly string[];
    inspects?: readonly string[];
    enqueues?: readonly string[];
  };
  urlEnv?: string;
  nodeOptions?: string;
  processEnv?: Readonly<Record<string, string>>;
}

export interface PlanSubscription {
  name: string;
  topic: string;
  pushTo?: string;
  ackDeadlineSeconds: number;
  retentionSeconds: number;
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number };
  deadLetter?: { topic: string; maxDeliveryAttempts: number };
}

export interface PlanSchedule {
  name: string;
  schedule: string;
  target: string;
  method: 'GET' | 'POST';
  body?: Record<string, unknown>;
}

/** One single-field index of a field override (Firebase's format). */
interface SingleFieldIndex {
  order?: 'ASCENDING' | 'DESCENDING';
  arrayConfig?: 'CONTAINS';
  queryScope?: 'COLLECTION' | 'COLLECTION_GROUP';
}

/** firestore.indexes.json (Firebase's format). */
export interface FirestoreIndexes {
  indexes: readonly {
    collectionGroup: string;
    queryScope?: 'COLLECTION' | 'COLLECTION_GROUP' | string;
    fields: readonly { fieldPath: string; order?: string; arrayConfig?: string }[];
  }[];
  fieldOverrides?: readonly { collectionGroup: string; fieldPath: string; indexes: readonly unknown[] }[];
}

export interface InfraInput {
  topics: Readonly<Record<string, string>>;
  subscriptions: readonly PlanSubscription[];
  queues: Readonly<Record<string, QueueSpec>>;
  buckets: Readonly<Record<string, { suffix: string; lifecycle: readonly LifecycleRule[] }>>;
  bucketName: (projectId: string, bucket: string) => string;
  secrets: Readonly<Record<string, string>>;
  secretSources: Readonly<Record<string, SecretSource>>;
  functions: readonly PlanFunction[];
  schedules: readonly PlanSchedule[];
  firestore: { pointInTimeRecovery: boolean; deleteProtection: boolean; ttl: readonly { collection: string; field: string }[] };
  indexes: FirestoreIndexes;
  network: { vpcConnector: { name: string; network: string; range: string } };
  memorystore: typeof infra.memorystore;
}

/** shared/infra.ts and firestore.indexes.json, as the plan reads them. */
export function defaultInfra(): InfraInput {
  return {
    topics: infra.topics,
    subscriptions: infra.subscriptions,
    queues: infra.queues,
    buckets: infra.buckets,
    bucketName: (projectId, bucket) => infra.bucketName(projectId, bucket as keyof typeof infra.buckets),
    secrets: infra.secrets,
    secretSources: infra.secretSources,
    functions: infra.functions,
    schedules: infra.schedules,
    firestore: infra.firestore,
    indexes: indexesFile as FirestoreIndexes,
    network: infra.network,
    memorystore: infra.memorystore,
  };
}

// ---------------------------------------------------------------------------------------------
// What the plan is.

export type StepKind =
  | 'build'
  | 'lookup'
  | 'api'
  | 'network'
  | 'memorystore'
  | 'service-account'
  | 'iam'
  | 'topic'
  | 'subscription'
  | 'queue'
  | 'bucket'
  | 'secret'
  | 'firestore'
  | 'function'
  | 'scheduler'
  | 'traffic'
  | 'monitoring'
  | 'logging'
  | 'edge';

export interface PlanStep {
  kind: StepKind;
  description: string;
  /** The full argument vector, `gcloud` (or `npm` for the build) first. `${NAME}` is a lookup's value. */
  args: string[];
  /** A `create`: ALREADY_EXISTS means "there already", not failure. */
  allowExists?: boolean;
  /** Run instead when `args` failed with ALREADY_EXISTS: converges the settings of what exists. */
  update?: string[];
  /** A removal: NOT_FOUND means "already gone". */
  allowMissing?: boolean;
  /** IAM on a just-created service account can fail until it propagates: retry this many times. */
  retries?: number;
  /**
   * A lookup: the command's output (trimmed, never empty) becomes `${name}` in the steps after it.
   * `sample` is a value of the right shape, for checking those steps without a project.
   */
  sets?: { name: string; sample: string };
  /**
   * A value copied between services without being shown: this command's output is the standard
   * input of `args` (a secret's new version)...
   */
  stdinFrom?: string[];
  /** ...unless this command prints the same value (the secret already holds it). */
  unlessSame?: string[];
  /**
   * A check made before any function is deployed. When it fails, deploy.sh runs the other checks,
   * then says how to fix each (`fix`, and what value `needs`) and stops before the first function
   * when one is `required`; a re-run continues from the start (everything before is idempotent).
   */
  gate?: { fix: string[]; needs: string; required: boolean };
  /**
   * For what the service names itself (alert policies, notification channels, dashboards): this
   * command prints the name of the one that exists (found by its display name), or nothing. Found:
   * it becomes `${name}` and `update` runs instead of `args`.
   */
  find?: { args: string[]; name: string; sample: string };
}

export interface PlanOptions {
  projectId: string;
  region: string;
  /** Deploy only these functions (names, or bundle names for all of a bundle's functions) and what they need. */
  only?: string[];
  /** APP_VERSION of the deployed functions. */
  version?: string;
  /**
   * Needed for the function URLs (`https://<service>-<number>.<region>.run.app`) and the service
   * agents. Without it the plan looks it up first (`PROJECT_NUMBER=$(gcloud projects describe …)`).
   */
  projectNumber?: string;
  /** Where the generated files (bucket lifecycle JSON) are; see planFiles(). */
  filesDir: string;
  /** Location of the Firestore database when it has to be created (default: region; multi-region mode: nam5/eur3). */
  firestoreLocation?: string;
  /** Where alerts go: an existing notification channel's resource name, or an e-mail address (shared/infra.ts alertRouting). */
  alerts?: { channel?: string; email?: string };
  /** The edge (load balancer, Cloud Armor, CDN) for a domain; without it the plan has no edge. */
  edge?: EdgeOptions;
  /** Multi-region mode: the public functions run in this region too, behind the load balancer. */
  secondaryRegion?: string;
  /** Only the build and the function deploys (the delivery pipeline: no IAM, no other resource). */
  functionsOnly?: boolean;
}

/** The lookup variable standing for the project number when it is not given. */
export const PROJECT_NUMBER_VAR = 'PROJECT_NUMBER';
const SAMPLE_PROJECT_NUMBER = '123456789012';

/**
 * Decision: the APIs the brief lists, plus iam (service accounts) and cloudresourcemanager
 * (project IAM bindings), which fresh projects do not always have; eventarc only when a function has
 * a Pub/Sub trigger (gen2 event triggers are Eventarc triggers), vpcaccess and redis only when a
 * function uses Memorystore; telemetry, the Telemetry (OTLP) API the functions' trace spans go to
 * (shared/telemetry.ts).
 */
export const REQUIRED_APIS = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'pubsub.googleapis.com',
  'cloudtasks.googleapis.com',
  'firestore.googleapis.com',
  'secretmanager.googleapis.com',
  'cloudscheduler.googleapis.com',
  'storage.googleapis.com',
  'iam.googleapis.com',
  'cloudresourcemanager.googleapis.com',
  // Alerts, log-based metrics, the dashboard and the log sinks (scripts/deploy-plan-monitoring.ts).
  'monitoring.googleapis.com',
  'logging.googleapis.com',
  'bigquery.googleapis.com',
  // Spans exported over OTLP (shared/telemetry-sdk.ts).
  'telemetry.googleapis.com',
] as const;

/** Writes trace spans to the Telemetry API (telemetry.traces.write, append only); granted on the project, its narrowest resource. */
export const TRACES_WRITER_ROLE = 'roles/telemetry.tracesWriter';

/** The one account every function ran as before each had its own; a full deploy deletes it. */
export const LEGACY_RUNTIME_ACCOUNT = 'virtuoso-functions';

export const serviceAccountEmail = (id: string, projectId: string) => `${id}@${projectId}.iam.gserviceaccount.com`;
export const invokerEmail = (role: ServiceAccountRole, projectId: string) => serviceAccountEmail(infra.serviceAccounts[role].id, projectId);
export const functionEmail = (fn: string, projectId: string) => serviceAccountEmail(infra.functionServiceAccount(fn).id, projectId);

/**
 * A 2nd gen function is a Cloud Run service named after it in lower case, and its deterministic URL
 * is `https://<service>-<project number>.<region>.run.app`. Decision: OIDC callers (Tasks, push,
 * Scheduler) use this URL, not the cloudfunctions.net alias, because Cloud Run checks the token's
 * audience against its own URLs; and it is known before the first deploy, unlike the hashed one.
 */
export function functionUrl(name: string, region: string, projectNumber: string): string {
  const digits = projectNumber.startsWith('${') ? SAMPLE_PROJECT_NUMBER : projectNumber;
  if (`${serviceName(name)}-${digits}`.length > 63) {
    throw new Error(`function '${name}': '${serviceName(name)}-${digits}' is longer than a DNS label (63); shorten the name`);
  }
  return `https://${serviceName(name)}-${projectNumber}.${region}.run.app`;
}

/** The Cloud Run service behind a 2nd gen function. */
export const serviceName = (fn: string) => fn.toLowerCase();

// ---------------------------------------------------------------------------------------------
// Generated files.

/** The bucket's lifecycle configuration as `gcloud storage buckets update --lifecycle-file` reads it. */
export function lifecycleJson(rules: readonly LifecycleRule[] = infra.buckets.data.lifecycle): string {
  return `${JSON.stringify({ rule: rules.map(lifecycleRule) }, null, 2)}\n`;
}

function lifecycleRule(r: LifecycleRule) {
  const condition: Record<string, unknown> = { age: r.ageDays, matchesPrefix: [r.prefix] };
  if (r.action === 'Delete') return { action: { type: 'Delete' }, condition };
  if (!r.storageClass) throw new Error(`lifecycle rule for '${r.prefix}': SetStorageClass needs a storageClass`);
  // Decision: only move objects down from a warmer class, so a rule never re-applies to (or tries
  // to "warm up") an object that is already colder.
  condition.matchesStorageClass = r.storageClass === 'NEARLINE' ? ['STANDARD'] : ['STANDARD', 'NEARLINE'];
  return { action: { type: 'SetStorageClass', storageClass: r.storageClass }, condition };
}

export const lifecycleFilePath = (filesDir: string, bucket: string) => join(filesDir, `${bucket}.lifecycle.json`);

/** The files the plan refers to, which deploy.sh writes (dry run included) before printing or running it. */
export function planFiles(opts: Pick<PlanOptions, 'projectId' | 'filesDir' | 'edge'>, input: InfraInput = defaultInfra()): { path: string; content: string }[] {
  return [
    ...Object.entries(input.buckets).map(([key, b]) => ({
      path: lifecycleFilePath(opts.filesDir, input.bucketName(opts.projectId, key)),
      content: lifecycleJson(b.lifecycle),
    })),
    ...monitoringFiles(opts.filesDir),
    ...edgeFiles(opts),
  ];
}

// ---------------------------------------------------------------------------------------------
// Checks: a plan is only made from an infra that hangs together.

const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$/;
const RESOURCE_NAME = /^[A-Za-z][A-Za-z0-9_.~+%-]{2,254}$/;
const ACCOUNT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/** Set by the plan itself (--set-env-vars), so not available to envSecrets. */
const RESERVED_ENV = new Set(['GOOGLE_CLOUD_PROJECT', 'REGION', 'APP_VERSION', 'PORT', 'K_SERVICE', 'K_REVISION', 'REDIS_HOST', 'REDIS_PORT', 'REDIS_TLS', 'NODE_OPTIONS']);

export function validateInfra(input: InfraInput): void {
  const problems: string[] = [];
  const topicNames = new Set(Object.values(input.topics));
  const subNames = new Set(input.subscriptions.map((s) => s.name));
  const fnByName = new Map(input.functions.map((f) => [f.name, f]));
  const secretNames = new Set(Object.values(input.secrets));
  const dupes = (kind: string, names: string[]) =>
    names.filter((n, i) => names.indexOf(n) !== i).forEach((n) => problems.push(`duplicate ${kind} '${n}'`));
  dupes('topic', [...Object.values(input.topics)]);
  dupes('subscription', input.subscriptions.map((s) => s.name));
  dupes('function', input.functions.map((f) => f.name));
  dupes('function (case-insensitive: one Cloud Run service each)', input.functions.map((f) => serviceName(f.name)));
  dupes('schedule', input.schedules.map((s) => s.name));
  dupes('queue', Object.values(input.queues).map((q) => q.name));

  const deadLetterTopics = new Set([
    ...input.subscriptions.flatMap((s) => (s.deadLetter ? [s.deadLetter.topic] : [])),
    ...input.functions.flatMap((f) => (f.trigger.kind === 'pubsub' ? [f.trigger.deadLetter.topic] : [])),
  ]);
  const checkDeadLetter = (where: string, topic: string, dl: { topic: string; maxDeliveryAttempts: number } | undefined) => {
    if (!dl) {
      // The seed: nothing that fails for good is dropped. Only a dead-letter topic's own
      // subscriptions are exempt (they could only dead-letter into themselves).
      if (!deadLetterTopics.has(topic)) problems.push(`${where}: every subscription needs a dead-letter policy`);
      return;
    }
    if (!topicNames.has(dl.topic)) problems.push(`${where}: unknown dead-letter topic '${dl.topic}'`);
    if (dl.topic === topic) problems.push(`${where}: dead-letters into its own topic`);
    if (!Number.isInteger(dl.maxDeliveryAttempts) || dl.maxDeliveryAttempts < 5 || dl.maxDeliveryAttempts > 100) {
      problems.push(`${where}: maxDeliveryAttempts must be 5–100`);
    }
  };

  for (const t of topicNames) if (!RESOURCE_NAME.test(t)) problems.push(`topic '${t}': not a valid Pub/Sub name`);
  for (const s of input.subscriptions) {
    const where = `subscription '${s.name}'`;
    if (!RESOURCE_NAME.test(s.name)) problems.push(`${where}: not a valid Pub/Sub name`);
    if (!topicNames.has(s.topic)) problems.push(`${where}: unknown topic '${s.topic}'`);
    if (s.ackDeadlineSeconds < 10 || s.ackDeadlineSeconds > 600) problems.push(`${where}: ack deadline must be 10–600 s`);
    if (s.retentionSeconds < 600 || s.retentionSeconds > 31 * 86400) problems.push(`${where}: retention must be 10 min–31 days`);
    const { minimumBackoffSeconds: lo, maximumBackoffSeconds: hi } = s.retry;
    if (lo < 0 || hi > 600 || lo > hi) problems.push(`${where}: retry backoff must satisfy 0 ≤ min ≤ max ≤ 600 s`);
    checkDeadLetter(where, s.topic, s.deadLetter);
    if (s.pushTo) {
      const target = fnByName.get(s.pushTo);
      if (!target) problems.push(`${where}: pushes to unknown function '${s.pushTo}'`);
      else if (target.trigger.kind === 'pubsub') {
        problems.push(`${where}: pushes to '${s.pushTo}', which already has a Pub/Sub (Eventarc) trigger`);
      }
    }
  }
  for (const q of Object.values(input.queues)) {
    const where = `queue '${q.name}'`;
    if (!/^[A-Za-z0-9-]{1,100}$/.test(q.name)) problems.push(`${where}: not a valid queue name`);
    if (q.rate.maxConcurrentDispatches > 5000) problems.push(`${where}: maxConcurrentDispatches is at most 5000`);
    if (q.retry.minBackoffSeconds > q.retry.maxBackoffSeconds) problems.push(`${where}: minBackoff > maxBackoff`);
    if (q.retry.maxAttempts < -1 || q.retry.maxAttempts === 0) problems.push(`${where}: maxAttempts must be ≥ 1 or -1`);
  }
  for (const secret of secretNames) if (!input.secretSources[secret]) problems.push(`secret '${secret}': no source (secretSources)`);
  for (const f of input.functions) {
    const where = `function '${f.name}'`;
    if (!FUNCTION_NAME.test(f.name)) problems.push(`${where}: names are letters, digits and hyphens (≤ 63)`);
    if (!ACCOUNT_ID.test(infra.functionServiceAccount(f.name).id)) {
      problems.push(`${where}: its service account id '${infra.functionServiceAccount(f.name).id}' must be 6–30 lower-case letters, digits and hyphens`);
    }
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(f.bundle)) problems.push(`${where}: bad bundle '${f.bundle}'`);
    // --set-env-vars splits on commas.
    if (f.nodeOptions !== undefined && !/^--[a-z0-9-]+(=[\w.-]+)?( --[a-z0-9-]+(=[\w.-]+)?)*$/.test(f.nodeOptions)) problems.push(`${where}: bad nodeOptions '${f.nodeOptions}'`);
    for (const [k, v] of Object.entries(f.processEnv ?? {})) {
      if (!/^[A-Z][A-Z0-9_]*$/.test(k) || !/^[\w.-]+$/.test(v)) problems.push(`${where}: bad processEnv ${k}=${v}`);
    }
    if (!/^\d+(Mi|Gi)$/.test(f.memory)) problems.push(`${where}: memory '${f.memory}' is not <n>Mi or <n>Gi`);
    const maxTimeout = f.trigger.kind === 'pubsub' ? 540 : 3600; // event-driven gen2 functions: 9 min
    if (f.timeoutSeconds < 1 || f.timeoutSeconds > maxTimeout) problems.push(`${where}: timeout must be 1–${maxTimeout} s`);
    if (f.minInstances < 0 || f.maxInstances < 1 || f.minInstances > f.maxInstances) {
      problems.push(`${where}: need 0 ≤ minInstances ≤ maxInstances, maxInstances ≥ 1`);
    }
    if (f.concurrency < 1 || f.concurrency > 1000) problems.push(`${where}: concurrency must be 1–1000`);
    if (f.trigger.kind === 'pubsub') {
      if (!topicNames.has(f.trigger.topic)) problems.push(`${where}: unknown trigger topic '${f.trigger.topic}'`);
      checkDeadLetter(`${where} (its Eventarc subscription)`, f.trigger.topic, f.trigger.deadLetter);
    }
    if (f.trigger.kind === 'task') {
      if (!f.trigger.queues.length) problems.push(`${where}: a task worker needs a queue`);
      for (const q of f.trigger.queues) if (!input.queues[q]) problems.push(`${where}: unknown queue '${q}'`);
    }
    if (f.trigger.kind !== 'http' && f.ingress === 'ALLOW_ALL') problems.push(`${where}: a private function must not take traffic from everywhere`);
    for (const s of [...f.secrets, ...Object.values(f.envSecrets ?? {})]) {
      if (!secretNames.has(s)) problems.push(`${where}: unknown secret '${s}'`);
    }
    for (const env of Object.keys(f.envSecrets ?? {})) {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(env) || RESERVED_ENV.has(env)) problems.push(`${where}: bad env var name '${env}'`);
    }
    for (const t of [...(f.uses.publishes ?? []), ...(f.uses.inspects ?? [])]) if (!topicNames.has(t)) problems.push(`${where}: uses unknown topic '${t}'`);
    for (const s of f.uses.pulls ?? []) if (!subNames.has(s)) problems.push(`${where}: pulls unknown subscription '${s}'`);
    for (const q of f.uses.enqueues ?? []) if (!input.queues[q]) problems.push(`${where}: enqueues into unknown queue '${q}'`);
    for (const o of f.uses.objects ?? []) {
      if (!/^[a-z0-9][a-z0-9_-]*\/([a-z0-9_-]+\/)*$/.test(o.prefix)) problems.push(`${where}: object prefix '${o.prefix}' must be folders ending in '/'`);
    }
    if ((f.uses.objects?.length || f.uses.firestoreExports) && !Object.keys(input.buckets).length) problems.push(`${where}: uses objects but no bucket is declared`);
  }
  for (const o of input.indexes.fieldOverrides ?? []) {
    for (const i of o.indexes as readonly SingleFieldIndex[]) {
      if (i.queryScope === 'COLLECTION_GROUP') {
        // gcloud's `--index` has no query scope (firestore/indexes/fields/update.yaml: "collection
        // group scoped indexes are not yet supported"): declare a composite index instead (README).
        problems.push(`firestore.indexes.json: the override of ${o.collectionGroup}.${o.fieldPath} has a COLLECTION_GROUP index, which gcloud cannot set; declare a composite index instead`);
      }
    }
  }
  for (const s of input.schedules) {
    const where = `schedule '${s.name}'`;
    if (!/^[A-Za-z0-9_-]{1,500}$/.test(s.name)) problems.push(`${where}: not a valid job name`);
    if (!fnByName.has(s.target)) problems.push(`${where}: unknown target function '${s.target}'`);
    else if (fnByName.get(s.target)!.trigger.kind === 'pubsub') problems.push(`${where}: target '${s.target}' is not HTTP`);
    if (s.body && s.method !== 'POST') problems.push(`${where}: a body needs method POST`);
    if (s.schedule.trim().split(/\s+/).length !== 5) problems.push(`${where}: schedule is not a 5-field cron`);
  }
  if (problems.length) throw new Error(`shared/infra.ts does not hang together:\n  - ${problems.join('\n  - ')}`);
}

// ---------------------------------------------------------------------------------------------
// What a section sees.

/** What a section sees (the sections of deploy-plan-monitoring.ts, -edge.ts and -regions.ts too). */
export type PlanContext = Ctx;

export interface Ctx {
  P: string;
  R: string;
  version: string;
  /** The project number, or `${PROJECT_NUMBER}` when a lookup provides it. */
  number: string;
  input: InfraInput;
  /** The functions being deployed (all of them, or those of --only). */
  fns: readonly PlanFunction[];
  /** Every function is deployed (no --only): shared resources nobody selected converge too. */
  full: boolean;
  filesDir: string;
  firestoreLocation: string;
  alerts: { channel?: string; email?: string };
  edge?: EdgeOptions;
  /** Multi-region mode: the second region. */
  secondary?: string;
}

export const IAM_RETRIES = 4;
export const withProject = (c: Ctx, ...args: string[]) => ['gcloud', ...args, `--project=${c.P}`];
const invoker = (c: Ctx, role: ServiceAccountRole) => invokerEmail(role, c.P);
const runtime = (c: Ctx, fn: PlanFunction) => functionEmail(fn.name, c.P);
export const sa = (email: string) => `serviceAccount:${email}`;
const pubsubAgent = (c: Ctx) => sa(`service-${c.number}@gcp-sa-pubsub.iam.gserviceaccount.com`);
const firestoreAgent = (c: Ctx) => sa(`service-${c.number}@gcp-sa-firestore.iam.gserviceaccount.com`);
const url = (c: Ctx, fn: string) => functionUrl(fn, c.R, c.number);
export const isPublic = (f: PlanFunction) => f.trigger.kind === 'http' && f.trigger.public;
const usesRedis = (c: Ctx) => c.fns.some((f) => f.uses.redis);
const unique = <T>(xs: Iterable<T>) => [...new Set(xs)];

/** Secrets a function reads: its own, and Memorystore's AUTH and CA when it uses Redis. */
function secretsRead(c: Ctx, f: PlanFunction): string[] {
  const { memorystore } = c.input;
  return unique([...f.secrets, ...(f.uses.redis ? [memorystore.secrets.auth, memorystore.secrets.ca] : [])]);
}

/** Secrets mapped to environment variables at instance start, by variable. */
function secretsMapped(c: Ctx, f: PlanFunction): [string, string][] {
  const own = Object.entries(f.envSecrets ?? {});
  const redis: [string, string][] = f.uses.redis ? [['REDIS_HOST', c.input.memorystore.secrets.host]] : [];
  return [...own, ...redis].sort(([a], [b]) => a.localeCompare(b));
}

const secretsOf = (c: Ctx, f: PlanFunction) => unique([...secretsRead(c, f), ...secretsMapped(c, f).map(([, s]) => s)]);

/** The invoker identities a function's callers use. */
function invokersOf(c: Ctx, f: PlanFunction): ServiceAccountRole[] {
  const roles = new Set<ServiceAccountRole>();
  if (f.trigger.kind === 'task') roles.add('tasksInvoker');
  if (f.trigger.kind === 'pubsub') roles.add('pushInvoker'); // the Eventarc trigger's identity
  if (c.input.subscriptions.some((s) => s.pushTo === f.name)) roles.add('pushInvoker');
  // Decision: Scheduler's account may invoke its targets even when they are public, so a target
  // made private later keeps working.
  if (c.input.schedules.some((s) => s.target === f.name)) roles.add('schedulerInvoker');
  return [...roles];
}

/** The queue keys whose tasks a function creates. */
const enqueuesOf = (f: PlanFunction) => f.uses.enqueues ?? [];

// ---------------------------------------------------------------------------------------------
// The sections, in the order they run.

/** The bundles of the deployed functions, built first: nothing changes in the project if the build fails. */
function buildSteps(c: Ctx): PlanStep[] {
  const bundles = unique(c.fns.map((f) => f.bundle));
  return [{ kind: 'build', description: `build ${bundles.join(', ')}`, args: ['npm', 'run', 'build', '--', ...bundles] }];
}

function projectNumberSteps(c: Ctx): PlanStep[] {
  if (c.number !== `\${${PROJECT_NUMBER_VAR}}`) return [];
  return [{
    kind: 'lookup',
    description: 'the project number (function URLs and Google service agents are named after it)',
    args: ['gcloud', 'projects', 'describe', c.P, '--format=value(projectNumber)'],
    sets: { name: PROJECT_NUMBER_VAR, sample: SAMPLE_PROJECT_NUMBER },
  }];
}

/** One call: `services enable` is idempotent and waits for the operation. */
function apiSteps(c: Ctx): PlanStep[] {
  const apis = [
    ...REQUIRED_APIS,
    ...(c.input.functions.some((f) => f.trigger.kind === 'pubsub') ? ['eventarc.googleapis.com'] : []),
    ...(c.input.functions.some((f) => f.uses.redis) ? ['vpcaccess.googleapis.com', 'redis.googleapis.com'] : []),
  ];
  // The service agents the plan grants rights to (dead letters, push tokens, managed exports) are
  // made when their API is first used; a binding to one that does not exist yet would fail.
  const agents = ['pubsub.googleapis.com', ...(c.fns.some((f) => f.uses.firestoreExports) ? ['firestore.googleapis.com'] : [])];
  return [
    { kind: 'api', description: `enable ${apis.length} APIs`, args: withProject(c, 'services', 'enable', ...apis) },
    ...agents.map((service): PlanStep => ({
      kind: 'api',
      description: `the ${service.split('.')[0]} service agent exists`,
      args: withProject(c, 'beta', 'services', 'identity', 'create', `--service=${service}`),
    })),
  ];
}

/** The VPC connector and the Memorystore instance, for the functions that use Redis. */
function memorystoreSteps(c: Ctx): PlanStep[] {
  if (!usesRedis(c)) return [];
  const { vpcConnector: vpc } = c.input.network;
  const m = c.input.memorystore;
  const config = Object.entries(m.config).map(([k, v]) => `${k}=${v}`);
  return [
    {
      kind: 'network',
      description: `VPC connector ${vpc.name} (${vpc.range} on ${vpc.network}) to Memorystore's private address`,
      args: withProject(c, 'compute', 'networks', 'vpc-access', 'connectors', 'create', vpc.name, `--region=${c.R}`, `--network=${vpc.network}`, `--range=${vpc.range}`),
      allowExists: true,
    },
    {
      kind: 'memorystore',
      description: `Memorystore ${m.instance}: ${m.tier}, ${m.sizeGb} GB, ${m.redisVersion}, AUTH, TLS (${m.transitEncryption}), ${config.join(' ')} (a first create takes minutes)`,
      args: withProject(
        c, 'redis', 'instances', 'create', m.instance, `--region=${c.R}`,
        `--tier=${m.tier === 'STANDARD_HA' ? 'standard' : 'basic'}`,
        `--size=${m.sizeGb}`,
        `--redis-version=${m.redisVersion.toLowerCase()}`,
        `--network=${m.network}`,
        ...(m.authEnabled ? ['--enable-auth'] : []),
        `--transit-encryption-mode=${m.transitEncryption.toLowerCase().replace(/_/g, '-')}`,
        `--redis-config=${config.join(',')}`,
      ),
      allowExists: true,
      // Tier, version, network and TLS are fixed at creation (changing them means a new instance);
      // size, AUTH and the Redis configuration converge.
      update: withProject(
        c, 'redis', 'instances', 'update', m.instance, `--region=${c.R}`, `--size=${m.sizeGb}`,
        ...(m.authEnabled ? ['--enable-auth'] : []),
        ...config.map((kv) => `--update-redis-config=${kv}`),
      ),
    },
  ];
}

/** The invokers the deployed functions' callers use, the build account, and one account per function. */
function serviceAccountSteps(c: Ctx): PlanStep[] {
  const roles = unique<ServiceAccountRole>([...c.fns.flatMap((f) => invokersOf(c, f)), ...(c.fns.some((f) => enqueuesOf(f).length) ? ['tasksInvoker' as const] : []), 'builder']);
  const accounts = [
    ...(Object.keys(infra.serviceAccounts) as ServiceAccountRole[]).filter((r) => roles.includes(r)).map((r) => infra.serviceAccounts[r]),
    ...c.fns.map((f) => infra.functionServiceAccount(f.name)),
  ];
  return accounts.map(({ id, displayName }) => ({
    kind: 'service-account',
    description: `service account ${id}`,
    args: withProject(c, 'iam', 'service-accounts', 'create', id, `--display-name=${displayName}`),
    allowExists: true,
  }));
}

const projectBinding = (c: Ctx, member: string, role: string, why: string): PlanStep => ({
  kind: 'iam',
  description: `${role} on the project for ${member.replace(/^serviceAccount:/, '')} (${why})`,
  args: ['gcloud', 'projects', 'add-iam-policy-binding', c.P, `--member=${member}`, `--role=${role}`, '--condition=None'],
  retries: IAM_RETRIES,
});

/**
 * Project-wide roles, only where Google Cloud has no narrower resource: Firestore (no per-collection
 * IAM), managed exports, writing trace spans, Eventarc's receiver role, and function builds.
 */
function projectRoleSteps(c: Ctx): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const f of c.fns) {
    if (f.uses.firestore) steps.push(projectBinding(c, sa(runtime(c, f)), 'roles/datastore.user', `${f.name}: Firestore reads and writes`));
    if (f.uses.firestoreExports) steps.push(projectBinding(c, sa(runtime(c, f)), 'roles/datastore.importExportAdmin', `${f.name}: managed Firestore exports`));
    steps.push(projectBinding(c, sa(runtime(c, f)), TRACES_WRITER_ROLE, `${f.name}: its trace spans`));
  }
  if (c.fns.some((f) => f.trigger.kind === 'pubsub')) {
    steps.push(projectBinding(c, sa(invoker(c, 'pushInvoker')), 'roles/eventarc.eventReceiver', 'Eventarc triggers run as it'));
  }
  // Decision: builds run as a dedicated account (the default Cloud Build/Compute account of a new
  // project has no roles since 2024), which needs the builder role and nothing else.
  steps.push(projectBinding(c, sa(invoker(c, 'builder')), 'roles/cloudbuild.builds.builder', 'function builds'));
  return steps;
}

/** Topics the deployed functions publish to, inspect, are triggered by or dead-letter into (every topic on a full deploy). */
function topicSteps(c: Ctx): PlanStep[] {
  const needed = c.full
    ? Object.values(c.input.topics)
    : unique([
        ...c.fns.flatMap((f) => [...(f.uses.publishes ?? []), ...(f.uses.inspects ?? [])]),
        ...c.fns.flatMap((f) => (f.trigger.kind === 'pubsub' ? [f.trigger.topic, f.trigger.deadLetter.topic] : [])),
        ...subscriptionsFor(c).flatMap((s) => [s.topic, ...(s.deadLetter ? [s.deadLetter.topic] : [])]),
      ]);
  const steps: PlanStep[] = needed.map((topic) => ({ kind: 'topic', description: `topic ${topic}`, args: withProject(c, 'pubsub', 'topics', 'create', topic), allowExists: true }));
  for (const f of c.fns) {
    for (const topic of f.uses.publishes ?? []) {
      steps.push(topicBinding(c, topic, sa(runtime(c, f)), 'roles/pubsub.publisher', `${f.name} may publish to ${topic}`));
    }
    for (const topic of f.uses.inspects ?? []) {
      steps.push(topicBinding(c, topic, sa(runtime(c, f)), 'roles/pubsub.viewer', `${f.name} may check that ${topic} exists`));
    }
  }
  return steps;
}

const topicBinding = (c: Ctx, topic: string, member: string, role: string, description: string): PlanStep => ({
  kind: 'iam',
  description,
  args: withProject(c, 'pubsub', 'topics', 'add-iam-policy-binding', topic, `--member=${member}`, `--role=${role}`),
  retries: IAM_RETRIES,
});

/** The subscriptions the deployed functions pull or are pushed from (all of them on a full deploy). */
function subscriptionsFor(c: Ctx): readonly PlanSubscription[] {
  if (c.full) return c.input.subscriptions;
  const names = new Set(c.fns.flatMap((f) => f.uses.pulls ?? []));
  return c.input.subscriptions.filter((s) => names.has(s.name) || c.fns.some((f) => f.name === s.pushTo));
}

function subscriptionStep(c: Ctx, s: PlanSubscription): PlanStep {
  const settings = [
    `--ack-deadline=${s.ackDeadlineSeconds}`,
    `--message-retention-duration=${s.retentionSeconds}s`,
    `--min-retry-delay=${s.retry.minimumBackoffSeconds}s`,
    `--max-retry-delay=${s.retry.maximumBackoffSeconds}s`,
    // Decision: subscriptions never expire. The default drops one after 31 days without
    // subscribers, which would silently lose an archive whose drainer is not deployed yet.
    '--expiration-period=never',
  ];
  const deadLetter = s.deadLetter ? [`--dead-letter-topic=${s.deadLetter.topic}`, `--max-delivery-attempts=${s.deadLetter.maxDeliveryAttempts}`] : [];
  // The push endpoint carries /projects/P/topics/T, as the local stack does: Functions Framework
  // turns a push on that path into a CloudEvent. The token audience is the service URL itself.
  const push = s.pushTo
    ? [`--push-endpoint=${url(c, s.pushTo)}/projects/${c.P}/topics/${s.topic}`, `--push-auth-service-account=${invoker(c, 'pushInvoker')}`, `--push-auth-token-audience=${url(c, s.pushTo)}`]
    : [];
  return {
    kind: 'subscription',
    description: `${s.pushTo ? `push subscription to ${s.pushTo}` : 'pull subscription'} ${s.name} on ${s.topic}${s.deadLetter ? `, dead letters to ${s.deadLetter.topic} after ${s.deadLetter.maxDeliveryAttempts} attempts` : ''}`,
    args: withProject(c, 'pubsub', 'subscriptions', 'create', s.name, `--topic=${s.topic}`, ...settings, ...deadLetter, ...push),
    allowExists: true,
    // A subscription's topic cannot change; everything else converges. (Push→pull is not
    // converged: infra.ts turning a push subscription into a pull one needs a manual step.)
    update: withProject(c, 'pubsub', 'subscriptions', 'update', s.name, ...settings, ...(s.deadLetter ? deadLetter : ['--clear-dead-letter-policy']), ...push),
    retries: s.pushTo ? IAM_RETRIES : undefined, // push auth needs the fresh invoker account
  };
}

/** Pull subscriptions (the archives logArchive drains) and who may pull each. */
function pullSubscriptionSteps(c: Ctx): PlanStep[] {
  const subs = subscriptionsFor(c).filter((s) => !s.pushTo);
  const steps = subs.map((s) => subscriptionStep(c, s));
  for (const f of c.fns) {
    for (const name of f.uses.pulls ?? []) {
      steps.push({
        kind: 'iam',
        description: `${f.name} may pull ${name}`,
        args: withProject(c, 'pubsub', 'subscriptions', 'add-iam-policy-binding', name, `--member=${sa(runtime(c, f))}`, '--role=roles/pubsub.subscriber'),
        retries: IAM_RETRIES,
      });
    }
  }
  return [...steps, ...deadLetterRightSteps(c, subs)];
}

/**
 * Pub/Sub forwards dead letters as its service agent: it must publish to the dead-letter topic and
 * subscribe to (acknowledge on) the subscription the message leaves.
 */
function deadLetterRightSteps(c: Ctx, subs: readonly PlanSubscription[]): PlanStep[] {
  const lettered = subs.filter((s) => s.deadLetter);
  return [
    ...unique(lettered.map((s) => s.deadLetter!.topic)).map((topic) =>
      topicBinding(c, topic, pubsubAgent(c), 'roles/pubsub.publisher', `Pub/Sub service agent may publish dead letters to ${topic}`),
    ),
    ...lettered.map((s) => ({
      kind: 'iam' as const,
      description: `Pub/Sub service agent may forward dead letters out of ${s.name}`,
      args: withProject(c, 'pubsub', 'subscriptions', 'add-iam-policy-binding', s.name, `--member=${pubsubAgent(c)}`, '--role=roles/pubsub.subscriber'),
      retries: IAM_RETRIES,
    })),
  ];
}

/**
 * Cloud Tasks queues the deployed functions enqueue into or are the target of, with the seed's
 * rate and retry settings. Decision: no maxRetryDuration, so maxAttempts alone ends retries (Cloud
 * Tasks stops only when both limits are reached).
 */
function queueSteps(c: Ctx): PlanStep[] {
  const keys = c.full
    ? Object.keys(c.input.queues)
    : unique([...c.fns.flatMap(enqueuesOf), ...c.fns.flatMap((f) => (f.trigger.kind === 'task' ? f.trigger.queues : []))]);
  const steps: PlanStep[] = [];
  for (const key of keys) {
    const q = c.input.queues[key];
    const settings = [
      `--max-dispatches-per-second=${q.rate.maxDispatchesPerSecond}`,
      `--max-concurrent-dispatches=${q.rate.maxConcurrentDispatches}`,
      `--max-attempts=${q.retry.maxAttempts}`,
      `--min-backoff=${q.retry.minBackoffSeconds}s`,
      `--max-backoff=${q.retry.maxBackoffSeconds}s`,
      `--max-doublings=${q.retry.maxDoublings}`,
    ];
    steps.push({
      kind: 'queue',
      description: `queue ${q.name}`,
      args: withProject(c, 'tasks', 'queues', 'create', q.name, `--location=${c.R}`, ...settings),
      allowExists: true,
      update: withProject(c, 'tasks', 'queues', 'update', q.name, `--location=${c.R}`, ...settings),
    });
  }
  for (const f of c.fns) {
    for (const key of enqueuesOf(f)) {
      const q = c.input.queues[key];
      steps.push({
        kind: 'iam',
        description: `${f.name} may enqueue into ${q.name}`,
        args: withProject(c, 'tasks', 'queues', 'add-iam-policy-binding', q.name, `--location=${c.R}`, `--member=${sa(runtime(c, f))}`, '--role=roles/cloudtasks.enqueuer'),
        retries: IAM_RETRIES,
      });
    }
    if (enqueuesOf(f).length) {
      // A task carrying an OIDC token as the tasks invoker needs actAs on that account.
      steps.push({
        kind: 'iam',
        description: `${f.name} may act as the tasks invoker (OIDC tokens on the tasks it creates)`,
        args: withProject(c, 'iam', 'service-accounts', 'add-iam-policy-binding', invoker(c, 'tasksInvoker'), `--member=${sa(runtime(c, f))}`, '--role=roles/iam.serviceAccountUser'),
        retries: IAM_RETRIES,
      });
    }
  }
  return steps;
}

/**
 * An IAM condition limiting a bucket grant to object names under `prefix`, and to listings of that
 * prefix (a listing is checked on the bucket, with the requested prefix as an attribute).
 */
export function prefixCondition(bucket: string, prefix: string): { expression: string; title: string } {
  return {
    expression:
      `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}") || ` +
      `(resource.type == "storage.googleapis.com/Bucket" && api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("${prefix}"))`,
    title: `only ${prefix}`,
  };
}

/** gcloud's dictionary flag with `;` between entries (`^;^`), since the expression holds commas. */
const conditionFlag = (cond: { expression: string; title: string }) => `--condition=^;^expression=${cond.expression};title=${cond.title}`;

/**
 * The data bucket (Decision: in the functions' region, uniform bucket-level access, public access
 * prevention enforced), with each function's object grants limited to its prefixes.
 */
function bucketSteps(c: Ctx): PlanStep[] {
  const users = c.fns.filter((f) => f.uses.objects?.length || f.uses.firestoreExports);
  if (!c.full && !users.length) return [];
  const steps: PlanStep[] = [];
  for (const key of Object.keys(c.input.buckets)) {
    // The functions use the data bucket; the others (analytics, a log sink's) converge on full deploys.
    if (key !== 'data' && !c.full) continue;
    const name = c.input.bucketName(c.P, key);
    const lifecycle = `--lifecycle-file=${lifecycleFilePath(c.filesDir, name)}`;
    steps.push({
      kind: 'bucket',
      description: `bucket gs://${name} with its lifecycle rules`,
      args: withProject(c, 'storage', 'buckets', 'create', `gs://${name}`, `--location=${c.R}`, '--uniform-bucket-level-access', '--public-access-prevention', lifecycle),
      allowExists: true,
      update: withProject(c, 'storage', 'buckets', 'update', `gs://${name}`, '--uniform-bucket-level-access', '--public-access-prevention', lifecycle),
    });
    // The functions' object grants are on the data bucket; the others (analytics) are written by log sinks.
    if (key !== 'data') continue;
    for (const f of users) {
      for (const o of f.uses.objects ?? []) {
        steps.push({
          kind: 'iam',
          description: `${f.name} may ${o.access === 'read' ? 'read' : 'read and write'} gs://${name}/${o.prefix} only`,
          args: withProject(
            c, 'storage', 'buckets', 'add-iam-policy-binding', `gs://${name}`, `--member=${sa(runtime(c, f))}`,
            `--role=${o.access === 'read' ? 'roles/storage.objectViewer' : 'roles/storage.objectUser'}`,
            conditionFlag(prefixCondition(name, o.prefix)),
          ),
          retries: IAM_RETRIES,
        });
      }
    }
    if (users.some((f) => f.uses.firestoreExports)) {
      // Managed exports are written by Firestore's service agent, not by the caller.
      steps.push({
        kind: 'iam',
        description: `Firestore service agent may write managed exports to gs://${name}`,
        args: withProject(c, 'storage', 'buckets', 'add-iam-policy-binding', `gs://${name}`, `--member=${firestoreAgent(c)}`, '--role=roles/storage.objectAdmin', '--condition=None'),
        retries: IAM_RETRIES,
      });
    }
  }
  return steps;
}

/** The secrets of the deployed functions (every declared one on a full deploy): containers, who reads each. */
function secretSteps(c: Ctx): PlanStep[] {
  const needed = c.full ? Object.values(c.input.secrets) : unique(c.fns.flatMap((f) => secretsOf(c, f)));
  // The containers only: values are added by people (or copied from Memorystore below), never by the plan.
  const steps: PlanStep[] = needed.map((secret) => ({
    kind: 'secret',
    description: `secret ${secret} (no value)`,
    args: withProject(c, 'secrets', 'create', secret, ...secretReplication(c)),
    allowExists: true,
  }));
  for (const f of c.fns) {
    for (const secret of secretsOf(c, f)) {
      steps.push({
        kind: 'iam',
        description: `${f.name} may read secret ${secret}`,
        args: withProject(c, 'secrets', 'add-iam-policy-binding', secret, `--member=${sa(runtime(c, f))}`, '--role=roles/secretmanager.secretAccessor'),
        retries: IAM_RETRIES,
      });
    }
  }
  return steps;
}

/** The gcloud command that prints one of the Memorystore instance's values. */
function memorystoreRead(c: Ctx, field: 'host' | 'authString' | 'serverCa'): string[] {
  const { instance } = c.input.memorystore;
  if (field === 'authString') return withProject(c, 'redis', 'instances', 'get-auth-string', instance, `--region=${c.R}`, '--format=value(authString)');
  // Every current CA (two while Memorystore rotates them), one PEM after the other.
  const format = field === 'host' ? 'value(host)' : 'value(serverCaCerts[].cert.join(""))';
  return withProject(c, 'redis', 'instances', 'describe', instance, `--region=${c.R}`, `--format=${format}`);
}

/** Secrets whose value deploy copies from the Memorystore instance (a new version only when it changed). */
function memorystoreSecretSteps(c: Ctx): PlanStep[] {
  if (!usesRedis(c)) return [];
  const { memorystore } = c.input;
  return Object.values(memorystore.secrets).map((secret) => {
    const source = c.input.secretSources[secret];
    if (source.kind !== 'memorystore') throw new Error(`secret ${secret}: a Memorystore secret must have a memorystore source`);
    return {
      kind: 'secret',
      description: `secret ${secret} ← Memorystore ${memorystore.instance}'s ${source.field} (deploy.sh adds a version only when it changed)`,
      args: withProject(c, 'secrets', 'versions', 'add', secret, '--data-file=-'),
      stdinFrom: memorystoreRead(c, source.field),
      unlessSame: withProject(c, 'secrets', 'versions', 'access', 'latest', `--secret=${secret}`),
    };
  });
}

/**
 * Before any function: every secret a deployed function needs that people fill in has a version.
 * (An env-var secret without one fails the deploy half-way; a run-time one fails requests.)
 */
function secretGateSteps(c: Ctx): PlanStep[] {
  const needed = unique(c.fns.flatMap((f) => secretsOf(c, f)));
  return needed.flatMap((secret) => {
    const source = c.input.secretSources[secret];
    if (source.kind !== 'manual') return [];
    const users = c.fns.filter((f) => secretsOf(c, f).includes(secret)).map((f) => f.name);
    return [{
      kind: 'secret',
      description: `check: secret ${secret} has a value (${source.required ? 'required' : 'optional'}; ${users.join(', ')})`,
      args: withProject(c, 'secrets', 'versions', 'describe', 'latest', `--secret=${secret}`, '--format=value(name)'),
      gate: { fix: withProject(c, 'secrets', 'versions', 'add', secret, '--data-file=-'), needs: source.value, required: source.required },
    }];
  });
}

/**
 * Firestore (the database in native mode, in the region, with point-in-time recovery and delete
 * protection; its location can never change), TTL policies, composite indexes and index exemptions.
 * Index and TTL builds take minutes and run on after the plan (--async).
 */
function firestoreSteps(c: Ctx): PlanStep[] {
  if (!c.fns.some((f) => f.uses.firestore)) return [];
  const fs = c.input.firestore;
  const settings = [...(fs.pointInTimeRecovery ? ['--enable-pitr'] : []), ...(fs.deleteProtection ? ['--delete-protection'] : [])];
  const steps: PlanStep[] = [{
    kind: 'firestore',
    description: `Firestore (default) database, native mode${fs.pointInTimeRecovery ? ', point-in-time recovery (7 days)' : ''}${fs.deleteProtection ? ', delete protection' : ''}`,
    args: withProject(c, 'firestore', 'databases', 'create', `--location=${c.firestoreLocation}`, '--type=firestore-native', ...settings),
    allowExists: true,
    update: settings.length ? withProject(c, 'firestore', 'databases', 'update', '--database=(default)', ...settings) : undefined,
  }];
  for (const t of fs.ttl) {
    steps.push({
      kind: 'firestore',
      description: `TTL policy on ${t.collection}.${t.field}`,
      args: withProject(c, 'firestore', 'fields', 'ttls', 'update', t.field, `--collection-group=${t.collection}`, '--enable-ttl', '--async'),
    });
  }
  for (const index of c.input.indexes.indexes) {
    const fieldConfigs = index.fields.map((f) =>
      f.arrayConfig
        ? `--field-config=field-path=${f.fieldPath},array-config=${f.arrayConfig.toLowerCase()}`
        : `--field-config=field-path=${f.fieldPath},order=${(f.order ?? 'ASCENDING').toLowerCase()}`,
    );
    const scope = (index.queryScope ?? 'COLLECTION') === 'COLLECTION_GROUP' ? 'collection-group' : 'collection';
    steps.push({
      kind: 'firestore',
      description: `composite index on ${index.collectionGroup} (${index.fields.map((f) => f.fieldPath).join(', ')}), ${scope} scope`,
      args: withProject(c, 'firestore', 'indexes', 'composite', 'create', `--collection-group=${index.collectionGroup}`, `--query-scope=${scope}`, ...fieldConfigs, '--async'),
      allowExists: true,
    });
  }
  for (const o of c.input.indexes.fieldOverrides ?? []) {
    // An override replaces the field's single-field indexes (collection scope: all gcloud can set;
    // validateInfra refuses others) with the ones it lists; none: the field is exempt.
    const flags = (o.indexes as readonly SingleFieldIndex[]).map((i) => `--index=${i.arrayConfig ? `array-config=${i.arrayConfig.toLowerCase()}` : `order=${(i.order ?? 'ASCENDING').toLowerCase()}`}`);
    steps.push({
      kind: 'firestore',
      description: flags.length
        ? `single-field indexes on ${o.collectionGroup}.${o.fieldPath}: ${flags.map((f) => f.slice('--index='.length)).join('; ')}`
        : `no single-field indexes on ${o.collectionGroup}.${o.fieldPath}`,
      args: withProject(c, 'firestore', 'indexes', 'fields', 'update', o.fieldPath, `--collection-group=${o.collectionGroup}`, ...(flags.length ? flags : ['--disable-indexes']), '--async'),
    });
  }
  return steps;
}

const INGRESS_FLAG: Record<PlanFunction['ingress'], string> = {
  ALLOW_ALL: 'all',
  ALLOW_INTERNAL_ONLY: 'internal-only',
  ALLOW_INTERNAL_AND_GCLB: 'internal-and-gclb',
};

function describeFunction(f: PlanFunction): string {
  const t = f.trigger;
  const trigger = t.kind === 'http' ? (t.public ? 'public HTTP' : 'private HTTP') : t.kind === 'task' ? `Cloud Tasks ${t.queues.join(', ')}` : `Pub/Sub ${t.topic}`;
  return `function ${f.name} (bundle ${f.bundle}, ${trigger}), running as ${infra.functionServiceAccount(f.name).id}`;
}

/**
 * Plain environment variables: the project, the version, and what the function's `uses` needs to
 * find. In the second region the workers and queues it reaches are the primary's (TASKS_REGION).
 */
function functionEnv(c: Ctx, f: PlanFunction, region: string): string[] {
  const workers = c.input.functions.filter((w) => w.urlEnv && w.trigger.kind === 'task' && w.trigger.queues.some((q) => enqueuesOf(f).includes(q)));
  return [
    `GOOGLE_CLOUD_PROJECT=${c.P}`,
    `REGION=${region}`,
    `APP_VERSION=${c.version}`,
    ...workers.map((w) => `${w.urlEnv}=${url(c, w.name)}`),
    ...(enqueuesOf(f).length ? [`TASKS_INVOKER_SA=${invoker(c, 'tasksInvoker')}`] : []),
    ...(enqueuesOf(f).length && region !== c.R ? [`TASKS_REGION=${c.R}`] : []),
    ...(f.uses.redis ? [`REDIS_PORT=${c.input.memorystore.port}`, 'REDIS_TLS=on'] : []),
    ...(f.nodeOptions ? [`NODE_OPTIONS=${f.nodeOptions}`] : []),
    ...Object.entries(f.processEnv ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
}

/** `gcloud functions deploy` of one function, in the primary region or (multi-region mode) another. */
export function functionDeployArgs(c: Ctx, f: PlanFunction, region = c.R): string[] {
  const mapped = secretsMapped(c, f);
  const trigger =
    f.trigger.kind === 'pubsub'
      ? // Decision: --retry, so a 503 from the handler is redelivered (our retryable errors rely on it).
        [`--trigger-topic=${f.trigger.topic}`, `--trigger-service-account=${invoker(c, 'pushInvoker')}`, '--retry', '--no-allow-unauthenticated']
      : ['--trigger-http', isPublic(f) ? '--allow-unauthenticated' : '--no-allow-unauthenticated'];
  return [
    'gcloud', 'functions', 'deploy', f.name,
    '--gen2',
    '--runtime=nodejs24',
    `--region=${region}`,
    `--project=${c.P}`,
    `--source=dist/${f.bundle}`,
    `--entry-point=${f.name}`,
    `--memory=${f.memory}`,
    // Concurrency above 1 needs a whole vCPU; below 1 GiB gen2 would otherwise give a fraction.
    ...(f.concurrency > 1 ? ['--cpu=1'] : []),
    `--timeout=${f.timeoutSeconds}s`,
    `--ingress-settings=${INGRESS_FLAG[ingressOf(c, f)]}`,
    `--min-instances=${f.minInstances}`,
    `--max-instances=${f.maxInstances}`,
    `--concurrency=${f.concurrency}`,
    `--service-account=${runtime(c, f)}`,
    `--build-service-account=projects/${c.P}/serviceAccounts/${invoker(c, 'builder')}`,
    // A deploy after a rollback (traffic pinned to an older revision) serves the new one again.
    '--serve-all-traffic-latest-revision',
    // Only private ranges through the connector: Virtuoso and Google APIs stay on the direct path.
    ...(f.uses.redis ? [`--vpc-connector=${c.input.network.vpcConnector.name}`, '--egress-settings=private-ranges-only'] : []),
    `--set-env-vars=${functionEnv(c, f, region).join(',')}`,
    // Env-var secrets resolve at instance start. Decision: `latest`, so a redeploy picks up a new
    // version; --clear-secrets when none, so a removed mapping does not linger.
    ...(mapped.length ? [`--set-secrets=${mapped.map(([env, s]) => `${env}=${s}:latest`).join(',')}`] : ['--clear-secrets']),
    ...trigger,
  ];
}

/** The functions, then who may invoke them. */
function functionSteps(c: Ctx): PlanStep[] {
  const steps: PlanStep[] = [];
  const invokerRoles = unique(c.fns.flatMap((f) => invokersOf(c, f)));
  if (invokerRoles.includes('pushInvoker')) {
    // Pub/Sub mints the push OIDC tokens as the push invoker. Projects from before April 2021 need
    // this grant to the Pub/Sub service agent; newer ones have it implicitly.
    steps.push({
      kind: 'iam',
      description: 'Pub/Sub service agent may mint OIDC tokens as the push invoker',
      args: withProject(c, 'iam', 'service-accounts', 'add-iam-policy-binding', invoker(c, 'pushInvoker'), `--member=${pubsubAgent(c)}`, '--role=roles/iam.serviceAccountTokenCreator'),
      retries: IAM_RETRIES,
    });
  }
  for (const f of c.fns) steps.push({ kind: 'function', description: describeFunction(f), args: functionDeployArgs(c, f) });
  for (const f of c.fns) {
    if (!isPublic(f)) {
      // `--no-allow-unauthenticated` does not take back a public grant made earlier, so a function
      // that infra.ts turned private loses allUsers here (absent binding: nothing to do).
      steps.push({
        kind: 'iam',
        description: `${f.name} is not public`,
        args: withProject(c, 'functions', 'remove-invoker-policy-binding', f.name, `--region=${c.R}`, '--member=allUsers'),
        allowMissing: true,
      });
    }
    for (const role of invokersOf(c, f)) {
      steps.push({
        kind: 'iam',
        description: `${infra.serviceAccounts[role].id} may invoke ${f.name}`,
        args: withProject(c, 'functions', 'add-invoker-policy-binding', f.name, `--region=${c.R}`, `--member=${sa(invoker(c, role))}`),
        retries: IAM_RETRIES,
      });
    }
  }
  return steps;
}

/**
 * Eventarc creates (and on a changed trigger, re-creates) the push subscription behind a Pub/Sub
 * triggered function; after each deploy it gets the dead-letter policy infra.ts declares for it.
 */
function eventarcDeadLetterSteps(c: Ctx): PlanStep[] {
  return c.fns.flatMap((f): PlanStep[] => {
    if (f.trigger.kind !== 'pubsub') return [];
    const { deadLetter } = f.trigger;
    const trigger = `${f.name.toUpperCase()}_TRIGGER`;
    const subscription = `${f.name.toUpperCase()}_SUBSCRIPTION`;
    const sample = `${serviceName(f.name)}-${SAMPLE_PROJECT_NUMBER.slice(0, 6)}`;
    return [
      {
        kind: 'lookup',
        description: `the Eventarc trigger of ${f.name}`,
        args: withProject(c, 'functions', 'describe', f.name, `--region=${c.R}`, '--format=value(eventTrigger.trigger)'),
        sets: { name: trigger, sample: `projects/${c.P}/locations/${c.R}/triggers/${sample}` },
      },
      {
        kind: 'lookup',
        description: `the Pub/Sub subscription Eventarc made for ${f.name}`,
        args: withProject(c, 'eventarc', 'triggers', 'describe', `\${${trigger}}`, `--location=${c.R}`, '--format=value(transport.pubsub.subscription)'),
        sets: { name: subscription, sample: `projects/${c.P}/subscriptions/eventarc-${c.R}-${sample}-sub-123` },
      },
      {
        kind: 'subscription',
        description: `${f.name}'s Eventarc subscription dead-letters to ${deadLetter.topic} after ${deadLetter.maxDeliveryAttempts} attempts`,
        args: withProject(c, 'pubsub', 'subscriptions', 'update', `\${${subscription}}`, `--dead-letter-topic=${deadLetter.topic}`, `--max-delivery-attempts=${deadLetter.maxDeliveryAttempts}`),
      },
      topicBinding(c, deadLetter.topic, pubsubAgent(c), 'roles/pubsub.publisher', `Pub/Sub service agent may publish dead letters to ${deadLetter.topic}`),
      {
        kind: 'iam',
        description: `Pub/Sub service agent may forward dead letters out of ${f.name}'s Eventarc subscription`,
        args: withProject(c, 'pubsub', 'subscriptions', 'add-iam-policy-binding', `\${${subscription}}`, `--member=${pubsubAgent(c)}`, '--role=roles/pubsub.subscriber'),
        retries: IAM_RETRIES,
      },
    ];
  });
}

/** Push subscriptions, now that their endpoints exist, and their dead-lettering rights. */
function pushSubscriptionSteps(c: Ctx): PlanStep[] {
  const subs = subscriptionsFor(c).filter((s) => s.pushTo);
  return [...subs.map((s) => subscriptionStep(c, s)), ...deadLetterRightSteps(c, subs)];
}

/** Scheduler jobs of the deployed functions, each calling its function with an OIDC token (audience = the function URL). */
function schedulerSteps(c: Ctx): PlanStep[] {
  const fnByName = new Map(c.input.functions.map((f) => [f.name, f]));
  const names = new Set(c.fns.map((f) => f.name));
  return c.input.schedules
    .filter((j) => names.has(j.target))
    .map((j) => {
      const target = url(c, j.target);
      // Decision: the attempt deadline follows the target's timeout, within Scheduler's 15 s–30 min.
      const deadline = Math.min(Math.max(fnByName.get(j.target)!.timeoutSeconds, 15), 1800);
      const common = [
        `--location=${c.R}`,
        `--schedule=${j.schedule}`,
        '--time-zone=Etc/UTC', // infra.ts schedules are UTC
        `--uri=${target}`,
        `--http-method=${j.method.toLowerCase()}`,
        `--oidc-service-account-email=${invoker(c, 'schedulerInvoker')}`,
        `--oidc-token-audience=${target}`,
        `--attempt-deadline=${deadline}s`,
      ];
      const body = j.body ? [`--message-body=${JSON.stringify(j.body)}`] : [];
      return {
        kind: 'scheduler' as const,
        description: `scheduler job ${j.name} (${j.schedule} UTC) → ${j.target}`,
        args: withProject(c, 'scheduler', 'jobs', 'create', 'http', j.name, ...common, ...(j.body ? ['--headers=Content-Type=application/json'] : []), ...body),
        allowExists: true,
        update: withProject(c, 'scheduler', 'jobs', 'update', 'http', j.name, ...common, ...(j.body ? ['--update-headers=Content-Type=application/json', ...body] : ['--clear-headers', '--clear-message-body'])),
        retries: IAM_RETRIES,
      };
    });
}

/**
 * Every function ran as one account holding all their rights before each had its own; once all
 * are deployed with their own (a full deploy), that account goes, and its grants with it.
 */
function retireSteps(c: Ctx): PlanStep[] {
  if (!c.full) return [];
  return [{
    kind: 'service-account',
    description: `the former shared runtime account ${LEGACY_RUNTIME_ACCOUNT} (every function now runs as its own)`,
    args: withProject(c, 'iam', 'service-accounts', 'delete', serviceAccountEmail(LEGACY_RUNTIME_ACCOUNT, c.P)),
    allowMissing: true,
  }];
}

/** The sections in order; each gets the functions being deployed and adds what they need. */
const SECTIONS: readonly ((c: Ctx) => PlanStep[])[] = [
  buildSteps,
  projectNumberSteps,
  apiSteps,
  memorystoreSteps,
  serviceAccountSteps,
  ciCdBuilderAccountSteps,
  projectRoleSteps,
  topicSteps,
  pullSubscriptionSteps,
  queueSteps,
  bucketSteps,
  secretSteps,
  ciCdBuilderGrantSteps,
  memorystoreSecretSteps,
  firestoreSteps,
  secretGateSteps,
  functionSteps,
  secondaryFunctionSteps,
  eventarcDeadLetterSteps,
  pushSubscriptionSteps,
  schedulerSteps,
  monitoringSteps,
  logSinkSteps,
  edgeSteps,
  retireSteps,
];

/** The functions `only` names: function names, or bundle names for all of a bundle's functions. */
export function selectFunctions(input: InfraInput, only: readonly string[] | undefined): readonly PlanFunction[] {
  if (!only?.length) return input.functions;
  const unknown = only.filter((n) => !input.functions.some((f) => f.name === n || f.bundle === n));
  if (unknown.length) {
    throw new Error(`unknown function(s) ${unknown.join(', ')}; infra.ts has ${input.functions.map((f) => f.name).join(', ')} (or a bundle: ${unique(input.functions.map((f) => f.bundle)).join(', ')})`);
  }
  return input.functions.filter((f) => only.includes(f.name) || only.includes(f.bundle));
}

function context(opts: PlanOptions, input: InfraInput, fns: readonly PlanFunction[]): Ctx {
  const { projectId: P, region: R } = opts;
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(P)) throw new Error(`'${P}' is not a project id`);
  if (!/^[a-z]+-[a-z]+\d+$/.test(R)) throw new Error(`'${R}' is not a region`);
  const version = opts.version ?? 'dev';
  // --set-env-vars splits on commas; keep the value plain.
  if (!/^[A-Za-z0-9._+-]{1,63}$/.test(version)) throw new Error(`version '${version}' must match [A-Za-z0-9._+-]{1,63}`);
  if (opts.projectNumber !== undefined && !/^\d{1,20}$/.test(opts.projectNumber)) throw new Error('project number must be digits');
  if (opts.edge) checkEdgeOptions(opts.edge);
  return {
    P, R, version, input, fns,
    number: opts.projectNumber ?? `\${${PROJECT_NUMBER_VAR}}`,
    full: fns.length === input.functions.length,
    filesDir: opts.filesDir,
    alerts: opts.alerts ?? {},
    firestoreLocation: opts.firestoreLocation ?? firestoreLocationFor(R, opts.secondaryRegion),
    edge: opts.edge,
    secondary: opts.secondaryRegion,
  };
}

/** What a `functionsOnly` plan keeps: the delivery pipeline builds and deploys, and changes nothing else. */
const PIPELINE_KINDS = new Set<StepKind>(['build', 'function']);

/** Everything infra.ts declares, or (`only`) the named functions and what they need. */
export function deployPlan(opts: PlanOptions, input: InfraInput = defaultInfra()): PlanStep[] {
  validateInfra(input);
  const c = context(opts, input, selectFunctions(input, opts.only));
  // Two sections can need the same grant (the dead-letter topic's publisher): it is made once.
  const seen = new Set<string>();
  return SECTIONS.flatMap((section) => section(c)).filter((step) => {
    if (opts.functionsOnly && !PIPELINE_KINDS.has(step.kind) && step.sets?.name !== PROJECT_NUMBER_VAR) return false;
    const key = JSON.stringify(step.args);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface RollbackOptions {
  projectId: string;
  region: string;
  /** The function to roll back. */
  fn: string;
  /** A revision name, `latest` (undo a rollback), or nothing: the revision before the latest ready one. */
  to?: string;
}

/**
 * A rollback without a rebuild: the function's Cloud Run service sends all traffic to an earlier
 * revision (its code, environment and secrets as they were). The next deploy serves the latest
 * revision again (`--serve-all-traffic-latest-revision`), as does `to: 'latest'`.
 */
export function rollbackPlan(opts: RollbackOptions, input: InfraInput = defaultInfra()): PlanStep[] {
  const fn = input.functions.find((f) => f.name === opts.fn);
  if (!fn) throw new Error(`unknown function '${opts.fn}'; infra.ts has ${input.functions.map((f) => f.name).join(', ')}`);
  const c = context({ projectId: opts.projectId, region: opts.region, filesDir: '.', projectNumber: SAMPLE_PROJECT_NUMBER }, input, [fn]);
  const service = serviceName(fn.name);
  const traffic = (flag: string, what: string): PlanStep => ({
    kind: 'traffic',
    description: `${fn.name} (Cloud Run service ${service}) serves ${what}`,
    args: withProject(c, 'run', 'services', 'update-traffic', service, `--region=${c.R}`, flag),
  });
  if (opts.to === 'latest') return [traffic('--to-latest', 'its latest revision')];
  if (opts.to) {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(opts.to)) throw new Error(`'${opts.to}' is not a revision name`);
    return [traffic(`--to-revisions=${opts.to}=100`, `revision ${opts.to}`)];
  }
  return [
    {
      kind: 'lookup',
      description: `the latest ready revision of ${fn.name}`,
      args: withProject(c, 'run', 'services', 'describe', service, `--region=${c.R}`, '--format=value(status.latestReadyRevisionName)'),
      sets: { name: 'LATEST_REVISION', sample: `${service}-00007-abc` },
    },
    {
      kind: 'lookup',
      description: `the revision of ${fn.name} before it`,
      args: withProject(
        c, 'run', 'revisions', 'list', `--service=${service}`, `--region=${c.R}`,
        '--filter=NOT metadata.name=${LATEST_REVISION}', '--sort-by=~metadata.creationTimestamp', '--limit=1', '--format=value(metadata.name)',
      ),
      sets: { name: 'PREVIOUS_REVISION', sample: `${service}-00006-xyz` },
    },
    traffic('--to-revisions=${PREVIOUS_REVISION}=100', 'the revision before its latest'),
  ];
}
