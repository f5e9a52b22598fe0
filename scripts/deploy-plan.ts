/**
 * The deploy plan: every gcloud command that creates or updates what shared/infra.ts (and
 * firestore.indexes.json) declares, in order, as argument vectors — never shell strings. deploy.sh
 * runs it; `deploy.sh --dry-run` prints it. Pure: no network, no gcloud, no secret values (the CLI
 * at the bottom reads its flags and writes the lifecycle file when asked).
 *
 *   tsx scripts/deploy-plan.ts --project P --region R [--version V] [--project-number N]
 *                              [--firestore-location L] [--json] [--write-files] [--files-dir DIR] [bundle...]
 *
 * Idempotence: `functions deploy`, `services enable`, `*-iam-policy-binding` and `ttls update` are
 * create-or-update by nature. A `create` fails with ALREADY_EXISTS when the resource is there, so
 * those steps carry `allowExists` and, when the resource has settings to converge, the matching
 * `update` command that deploy.sh runs instead.
 *
 * Where infra.ts is silent, the choices are made here and marked "Decision:".
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import indexesFile from '../firestore.indexes.json';
import * as infra from '../shared/infra';
import type { LifecycleRule, QueueSpec, SecretName } from '../shared/infra';

// ---------------------------------------------------------------------------------------------
// What the plan reads: the shapes of infra.ts, with names loosened to strings so tests can feed a
// fixture that has kinds of resources infra.ts does not declare yet (private workers, push, DLQ).

export interface PlanFunction {
  name: string;
  bundle: string;
  trigger: { kind: 'http'; public: boolean } | { kind: 'pubsub'; topic: string } | { kind: 'task'; queue: string };
  memory: string;
  timeoutSeconds: number;
  ingress: 'ALLOW_ALL' | 'ALLOW_INTERNAL_ONLY' | 'ALLOW_INTERNAL_AND_GCLB';
  minInstances: number;
  maxInstances: number;
  concurrency: number;
  secrets: readonly string[];
  envSecrets?: Readonly<Record<string, string>>;
  privateNetwork?: boolean;
  urlEnv?: string;
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
  functions: readonly PlanFunction[];
  schedules: readonly PlanSchedule[];
  firestore: { ttl: readonly { collection: string; field: string }[] };
  indexes: FirestoreIndexes;
  network: { vpcConnector: { name: string; network: string; range: string } };
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
    functions: infra.functions,
    schedules: infra.schedules,
    firestore: infra.firestore,
    indexes: indexesFile as FirestoreIndexes,
    network: infra.network,
  };
}

// ---------------------------------------------------------------------------------------------
// What the plan is.

export type StepKind =
  | 'api'
  | 'network'
  | 'service-account'
  | 'iam'
  | 'topic'
  | 'subscription'
  | 'queue'
  | 'bucket'
  | 'secret'
  | 'firestore'
  | 'function'
  | 'scheduler';

export interface PlanStep {
  kind: StepKind;
  description: string;
  /** The full argument vector, `gcloud` first. */
  args: string[];
  /** A `create`: ALREADY_EXISTS means "there already", not failure. */
  allowExists?: boolean;
  /** Run instead when `args` failed with ALREADY_EXISTS: converges the settings of what exists. */
  update?: string[];
  /** A removal: NOT_FOUND means "already gone". */
  allowMissing?: boolean;
  /** IAM on a just-created service account can fail until it propagates: retry this many times. */
  retries?: number;
}

export interface PlanOptions {
  projectId: string;
  region: string;
  /** Only deploy the functions of these bundles (all other resources are still converged). */
  bundles?: string[];
  /** APP_VERSION of the deployed functions. */
  version?: string;
  /**
   * Needed for the function URLs (`https://<service>-<number>.<region>.run.app`) and the Pub/Sub
   * service agent. deploy.sh looks it up; without it the plan shows PROJECT_NUMBER_PLACEHOLDER.
   */
  projectNumber?: string;
  /** Where the generated files (bucket lifecycle JSON) go; see planFiles(). */
  filesDir?: string;
  /** Location of the Firestore database when it has to be created (default: region). */
  firestoreLocation?: string;
}

export const PROJECT_NUMBER_PLACEHOLDER = 'PROJECT_NUMBER';

/**
 * Decision: the APIs the brief lists, plus iam (service accounts) and cloudresourcemanager
 * (project IAM bindings), which fresh projects do not always have; eventarc only when a function has
 * a Pub/Sub trigger (gen2 event triggers are Eventarc triggers).
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
] as const;

/**
 * Decision: infra.ts declares no service accounts, so they are named here. One runtime identity for
 * every function (the brief's choice; per-function identities would be tighter), and one invoker
 * identity per kind of caller, so each caller can reach only the functions meant for it.
 */
export const SERVICE_ACCOUNTS = {
  runtime: { id: 'virtuoso-functions', displayName: 'Virtuoso functions (runtime)' },
  tasksInvoker: { id: 'virtuoso-tasks-invoker', displayName: 'Virtuoso Cloud Tasks invoker (OIDC)' },
  pushInvoker: { id: 'virtuoso-push-invoker', displayName: 'Virtuoso Pub/Sub push and Eventarc invoker (OIDC)' },
  schedulerInvoker: { id: 'virtuoso-scheduler-invoker', displayName: 'Virtuoso Cloud Scheduler invoker (OIDC)' },
} as const;
export type ServiceAccountRole = keyof typeof SERVICE_ACCOUNTS;

export const serviceAccountEmail = (role: ServiceAccountRole, projectId: string) =>
  `${SERVICE_ACCOUNTS[role].id}@${projectId}.iam.gserviceaccount.com`;

/**
 * A 2nd gen function is a Cloud Run service named after it in lower case, and its deterministic URL
 * is `https://<service>-<project number>.<region>.run.app`. Decision: OIDC callers (Tasks, push,
 * Scheduler) use this URL, not the cloudfunctions.net alias, because Cloud Run checks the token's
 * audience against its own URLs; and it is known before the first deploy, unlike the hashed one.
 */
export function functionUrl(name: string, region: string, projectNumber: string): string {
  const label = `${name.toLowerCase()}-${projectNumber}`;
  if (label.length > 63) {
    throw new Error(`function '${name}': '${label}' is longer than a DNS label (63); shorten the name`);
  }
  return `https://${label}.${region}.run.app`;
}

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
const defaultFilesDir = () => join(tmpdir(), 'virtuoso-deploy');

/** The files the plan refers to; the CLI writes them with --write-files before the plan runs. */
export function planFiles(
  opts: Pick<PlanOptions, 'projectId' | 'filesDir'>,
  input: InfraInput = defaultInfra(),
): { path: string; content: string }[] {
  const dir = opts.filesDir ?? defaultFilesDir();
  return Object.entries(input.buckets).map(([key, b]) => ({
    path: lifecycleFilePath(dir, input.bucketName(opts.projectId, key)),
    content: lifecycleJson(b.lifecycle),
  }));
}

// ---------------------------------------------------------------------------------------------
// Checks: a plan is only made from an infra that hangs together.

const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9-]{0,61}[A-Za-z0-9]$/;
const RESOURCE_NAME = /^[A-Za-z][A-Za-z0-9_.~+%-]{2,254}$/;

export function validateInfra(input: InfraInput): void {
  const problems: string[] = [];
  const topicNames = new Set(Object.values(input.topics));
  const fnByName = new Map(input.functions.map((f) => [f.name, f]));
  const secretNames = new Set(Object.values(input.secrets));
  const dupes = (kind: string, names: string[]) =>
    names.filter((n, i) => names.indexOf(n) !== i).forEach((n) => problems.push(`duplicate ${kind} '${n}'`));
  dupes('topic', [...Object.values(input.topics)]);
  dupes('subscription', input.subscriptions.map((s) => s.name));
  dupes('function', input.functions.map((f) => f.name));
  dupes('schedule', input.schedules.map((s) => s.name));
  dupes('queue', Object.values(input.queues).map((q) => q.name));

  for (const t of topicNames) if (!RESOURCE_NAME.test(t)) problems.push(`topic '${t}': not a valid Pub/Sub name`);
  for (const s of input.subscriptions) {
    const where = `subscription '${s.name}'`;
    if (!RESOURCE_NAME.test(s.name)) problems.push(`${where}: not a valid Pub/Sub name`);
    if (!topicNames.has(s.topic)) problems.push(`${where}: unknown topic '${s.topic}'`);
    if (s.ackDeadlineSeconds < 10 || s.ackDeadlineSeconds > 600) problems.push(`${where}: ack deadline must be 10–600 s`);
    if (s.retentionSeconds < 600 || s.retentionSeconds > 31 * 86400) problems.push(`${where}: retention must be 10 min–31 days`);
    const { minimumBackoffSeconds: lo, maximumBackoffSeconds: hi } = s.retry;
    if (lo < 0 || hi > 600 || lo > hi) problems.push(`${where}: retry backoff must satisfy 0 ≤ min ≤ max ≤ 600 s`);
    if (s.deadLetter) {
      if (!topicNames.has(s.deadLetter.topic)) problems.push(`${where}: unknown dead-letter topic '${s.deadLetter.topic}'`);
      if (s.deadLetter.topic === s.topic) problems.push(`${where}: dead-letters into its own topic`);
      const n = s.deadLetter.maxDeliveryAttempts;
      if (!Number.isInteger(n) || n < 5 || n > 100) problems.push(`${where}: maxDeliveryAttempts must be 5–100`);
    }
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
  for (const f of input.functions) {
    const where = `function '${f.name}'`;
    if (!FUNCTION_NAME.test(f.name)) problems.push(`${where}: names are letters, digits and hyphens (≤ 63)`);
    if (!/^[a-z0-9][a-z0-9_-]*$/.test(f.bundle)) problems.push(`${where}: bad bundle '${f.bundle}'`);
    if (!/^\d+(Mi|Gi)$/.test(f.memory)) problems.push(`${where}: memory '${f.memory}' is not <n>Mi or <n>Gi`);
    const maxTimeout = f.trigger.kind === 'pubsub' ? 540 : 3600; // event-driven gen2 functions: 9 min
    if (f.timeoutSeconds < 1 || f.timeoutSeconds > maxTimeout) problems.push(`${where}: timeout must be 1–${maxTimeout} s`);
    if (f.minInstances < 0 || f.maxInstances < 1 || f.minInstances > f.maxInstances) {
      problems.push(`${where}: need 0 ≤ minInstances ≤ maxInstances, maxInstances ≥ 1`);
    }
    if (f.concurrency < 1 || f.concurrency > 1000) problems.push(`${where}: concurrency must be 1–1000`);
    if (f.trigger.kind === 'pubsub' && !topicNames.has(f.trigger.topic)) {
      problems.push(`${where}: unknown trigger topic '${f.trigger.topic}'`);
    }
    if (f.trigger.kind === 'task' && !input.queues[f.trigger.queue]) problems.push(`${where}: unknown queue '${f.trigger.queue}'`);
    for (const s of [...f.secrets, ...Object.values(f.envSecrets ?? {})]) {
      if (!secretNames.has(s)) problems.push(`${where}: unknown secret '${s}'`);
    }
    for (const env of Object.keys(f.envSecrets ?? {})) {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(env) || RESERVED_ENV.has(env)) problems.push(`${where}: bad env var name '${env}'`);
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

/** Set by the plan itself (--set-env-vars), so not available to envSecrets. */
const RESERVED_ENV = new Set(['GOOGLE_CLOUD_PROJECT', 'REGION', 'APP_VERSION', 'PORT', 'K_SERVICE', 'K_REVISION']);

// ---------------------------------------------------------------------------------------------
// The plan.

const INGRESS_FLAG: Record<PlanFunction['ingress'], string> = {
  ALLOW_ALL: 'all',
  ALLOW_INTERNAL_ONLY: 'internal-only',
  ALLOW_INTERNAL_AND_GCLB: 'internal-and-gclb',
};

const isPublic = (f: PlanFunction) => f.trigger.kind === 'http' && f.trigger.public;

export function deployPlan(opts: PlanOptions, input: InfraInput = defaultInfra()): PlanStep[] {
  validateInfra(input);
  const { projectId: P, region: R } = opts;
  if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(P)) throw new Error(`'${P}' is not a project id`);
  if (!/^[a-z]+-[a-z]+\d+$/.test(R)) throw new Error(`'${R}' is not a region`);
  const version = opts.version ?? 'dev';
  // --set-env-vars splits on commas; keep the value plain.
  if (!/^[A-Za-z0-9._+-]{1,63}$/.test(version)) throw new Error(`version '${version}' must match [A-Za-z0-9._+-]{1,63}`);
  const projectNumber = opts.projectNumber ?? PROJECT_NUMBER_PLACEHOLDER;
  if (opts.projectNumber !== undefined && !/^\d{1,20}$/.test(opts.projectNumber)) throw new Error('project number must be digits');

  const allBundles = [...new Set(input.functions.map((f) => f.bundle))];
  const unknown = (opts.bundles ?? []).filter((b) => !allBundles.includes(b));
  if (unknown.length) throw new Error(`unknown bundle(s) ${unknown.join(', ')}; infra.ts has ${allBundles.join(', ')}`);
  const selected = opts.bundles?.length ? input.functions.filter((f) => opts.bundles!.includes(f.bundle)) : input.functions;

  const filesDir = opts.filesDir ?? defaultFilesDir();
  const sa = (role: ServiceAccountRole) => serviceAccountEmail(role, P);
  const member = (role: ServiceAccountRole) => `serviceAccount:${sa(role)}`;
  const pubsubAgent = `serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  const firestoreAgent = `serviceAccount:service-${projectNumber}@gcp-sa-firestore.iam.gserviceaccount.com`;
  const url = (fn: string) => functionUrl(fn, R, projectNumber);
  const withProject = (...args: string[]) => ['gcloud', ...args, `--project=${P}`];
  const IAM_RETRIES = 4;

  const steps: PlanStep[] = [];
  const add = (step: PlanStep) => steps.push(step);

  const pubsubTriggered = input.functions.filter((f) => f.trigger.kind === 'pubsub');
  const pushSubs = input.subscriptions.filter((s) => s.pushTo);
  const pullSubs = input.subscriptions.filter((s) => !s.pushTo);
  const deadLettered = input.subscriptions.filter((s) => s.deadLetter);

  // 1. APIs. One call: `services enable` is idempotent and waits for the operation.
  const usesVpc = input.functions.some((f) => f.privateNetwork);
  const apis = [...REQUIRED_APIS, ...(pubsubTriggered.length ? ['eventarc.googleapis.com'] : []), ...(usesVpc ? ['vpcaccess.googleapis.com'] : [])];
  add({ kind: 'api', description: `enable ${apis.length} APIs`, args: withProject('services', 'enable', ...apis) });
  if (usesVpc) {
    const c = input.network.vpcConnector;
    add({
      kind: 'network',
      description: `VPC connector ${c.name} (${c.range} on ${c.network}) for private addresses such as Memorystore`,
      args: withProject('compute', 'networks', 'vpc-access', 'connectors', 'create', c.name, `--region=${R}`, `--network=${c.network}`, `--range=${c.range}`),
      allowExists: true,
    });
  }

  // 2. Service accounts.
  for (const role of Object.keys(SERVICE_ACCOUNTS) as ServiceAccountRole[]) {
    const { id, displayName } = SERVICE_ACCOUNTS[role];
    add({
      kind: 'service-account',
      description: `service account ${id}`,
      args: withProject('iam', 'service-accounts', 'create', id, `--display-name=${displayName}`),
      allowExists: true,
    });
  }

  // 3. Project-level roles. Firestore has no per-collection IAM, so datastore.user is project-wide.
  const projectRole = (m: string, role: string, why: string) =>
    add({
      kind: 'iam',
      description: `${role} on the project for ${m.replace(/^serviceAccount:/, '')} (${why})`,
      args: ['gcloud', 'projects', 'add-iam-policy-binding', P, `--member=${m}`, `--role=${role}`, '--condition=None'],
      retries: IAM_RETRIES,
    });
  projectRole(member('runtime'), 'roles/datastore.user', 'Firestore reads and writes');
  if (input.functions.some((f) => f.name === 'backup')) {
    projectRole(member('runtime'), 'roles/datastore.importExportAdmin', 'managed Firestore exports (backup)');
  }
  if (pubsubTriggered.length) {
    projectRole(member('pushInvoker'), 'roles/eventarc.eventReceiver', 'Eventarc triggers run as it');
  }

  // 4. Topics, and the runtime may publish to every one (events, webhook fan-out).
  for (const topic of Object.values(input.topics)) {
    add({ kind: 'topic', description: `topic ${topic}`, args: withProject('pubsub', 'topics', 'create', topic), allowExists: true });
  }
  for (const topic of Object.values(input.topics)) {
    add({
      kind: 'iam',
      description: `runtime may publish to ${topic}`,
      args: withProject('pubsub', 'topics', 'add-iam-policy-binding', topic, `--member=${member('runtime')}`, '--role=roles/pubsub.publisher'),
      retries: IAM_RETRIES,
    });
  }

  // 5. Pull subscriptions (the archives logArchive drains) and the runtime's right to pull them.
  const subscriptionSteps = (s: PlanSubscription) => {
    const settings = [
      `--ack-deadline=${s.ackDeadlineSeconds}`,
      `--message-retention-duration=${s.retentionSeconds}s`,
      `--min-retry-delay=${s.retry.minimumBackoffSeconds}s`,
      `--max-retry-delay=${s.retry.maximumBackoffSeconds}s`,
      // Decision: subscriptions never expire. The default drops one after 31 days without
      // subscribers, which would silently lose an archive whose drainer is not deployed yet.
      '--expiration-period=never',
    ];
    const deadLetter = s.deadLetter
      ? [`--dead-letter-topic=${s.deadLetter.topic}`, `--max-delivery-attempts=${s.deadLetter.maxDeliveryAttempts}`]
      : [];
    // The push endpoint carries /projects/P/topics/T, as the local stack does: Functions Framework
    // turns a push on that path into a CloudEvent. The token audience is the service URL itself.
    const push = s.pushTo
      ? [
          `--push-endpoint=${url(s.pushTo)}/projects/${P}/topics/${s.topic}`,
          `--push-auth-service-account=${sa('pushInvoker')}`,
          `--push-auth-token-audience=${url(s.pushTo)}`,
        ]
      : [];
    add({
      kind: 'subscription',
      description: `${s.pushTo ? `push subscription to ${s.pushTo}` : 'pull subscription'} ${s.name} on ${s.topic}`,
      args: withProject('pubsub', 'subscriptions', 'create', s.name, `--topic=${s.topic}`, ...settings, ...deadLetter, ...push),
      allowExists: true,
      // A subscription's topic cannot change; everything else converges. (Push→pull is not
      // converged: infra.ts turning a push subscription into a pull one needs a manual step.)
      update: withProject(
        'pubsub', 'subscriptions', 'update', s.name, ...settings,
        ...(s.deadLetter ? deadLetter : ['--clear-dead-letter-policy']),
        ...push,
      ),
      retries: s.pushTo ? IAM_RETRIES : undefined, // push auth needs the fresh invoker account
    });
  };
  pullSubs.forEach(subscriptionSteps);
  for (const s of pullSubs) {
    add({
      kind: 'iam',
      description: `runtime may pull ${s.name}`,
      args: withProject('pubsub', 'subscriptions', 'add-iam-policy-binding', s.name, `--member=${member('runtime')}`, '--role=roles/pubsub.subscriber'),
      retries: IAM_RETRIES,
    });
  }

  // 6. Cloud Tasks queues, with the seed's rate and retry settings. Decision: no maxRetryDuration,
  // so maxAttempts alone ends retries (Cloud Tasks stops only when both limits are reached).
  for (const q of Object.values(input.queues)) {
    const settings = [
      `--max-dispatches-per-second=${q.rate.maxDispatchesPerSecond}`,
      `--max-concurrent-dispatches=${q.rate.maxConcurrentDispatches}`,
      `--max-attempts=${q.retry.maxAttempts}`,
      `--min-backoff=${q.retry.minBackoffSeconds}s`,
      `--max-backoff=${q.retry.maxBackoffSeconds}s`,
      `--max-doublings=${q.retry.maxDoublings}`,
    ];
    add({
      kind: 'queue',
      description: `queue ${q.name}`,
      args: withProject('tasks', 'queues', 'create', q.name, `--location=${R}`, ...settings),
      allowExists: true,
      update: withProject('tasks', 'queues', 'update', q.name, `--location=${R}`, ...settings),
    });
    add({
      kind: 'iam',
      description: `runtime may enqueue into ${q.name}`,
      args: withProject('tasks', 'queues', 'add-iam-policy-binding', q.name, `--location=${R}`, `--member=${member('runtime')}`, '--role=roles/cloudtasks.enqueuer'),
      retries: IAM_RETRIES,
    });
  }
  if (Object.keys(input.queues).length) {
    // Creating a task with an OIDC token as the tasks invoker needs actAs on that account.
    add({
      kind: 'iam',
      description: 'runtime may act as the tasks invoker (OIDC tokens on enqueued tasks)',
      args: withProject('iam', 'service-accounts', 'add-iam-policy-binding', sa('tasksInvoker'), `--member=${member('runtime')}`, '--role=roles/iam.serviceAccountUser'),
      retries: IAM_RETRIES,
    });
  }

  // 7. Buckets. Decision: in the functions' region, uniform bucket-level access, public access
  // prevention enforced; the runtime gets objectAdmin on this bucket only.
  for (const key of Object.keys(input.buckets)) {
    const name = input.bucketName(P, key);
    const lifecycle = `--lifecycle-file=${lifecycleFilePath(filesDir, name)}`;
    add({
      kind: 'bucket',
      description: `bucket gs://${name} with its lifecycle rules`,
      args: withProject('storage', 'buckets', 'create', `gs://${name}`, `--location=${R}`, '--uniform-bucket-level-access', '--public-access-prevention', lifecycle),
      allowExists: true,
      update: withProject('storage', 'buckets', 'update', `gs://${name}`, '--uniform-bucket-level-access', '--public-access-prevention', lifecycle),
    });
    add({
      kind: 'iam',
      description: `runtime may read and write objects in gs://${name}`,
      args: withProject('storage', 'buckets', 'add-iam-policy-binding', `gs://${name}`, `--member=${member('runtime')}`, '--role=roles/storage.objectAdmin'),
      retries: IAM_RETRIES,
    });
    if (input.functions.some((f) => f.name === 'backup')) {
      // Managed exports are written by Firestore's service agent, not by the caller.
      add({
        kind: 'iam',
        description: `Firestore service agent may write managed exports to gs://${name}`,
        args: withProject('storage', 'buckets', 'add-iam-policy-binding', `gs://${name}`, `--member=${firestoreAgent}`, '--role=roles/storage.objectAdmin'),
        retries: IAM_RETRIES,
      });
    }
  }

  // 8. Secrets: the containers only. Values are added by people (`gcloud secrets versions add`),
  // never by the plan. The runtime may read exactly the secrets some function reads or maps.
  const readSecrets = new Set(input.functions.flatMap((f) => [...f.secrets, ...Object.values(f.envSecrets ?? {})]));
  for (const secret of Object.values(input.secrets)) {
    add({
      kind: 'secret',
      description: `secret ${secret} (no value)`,
      args: withProject('secrets', 'create', secret, '--replication-policy=automatic'),
      allowExists: true,
    });
  }
  for (const secret of Object.values(input.secrets).filter((s) => readSecrets.has(s))) {
    add({
      kind: 'iam',
      description: `runtime may read secret ${secret}`,
      args: withProject('secrets', 'add-iam-policy-binding', secret, `--member=${member('runtime')}`, '--role=roles/secretmanager.secretAccessor'),
      retries: IAM_RETRIES,
    });
  }

  // 9. Firestore: the database (Decision: native mode, in the region, only if missing — its
  // location can never change), TTL policies, composite indexes and index exemptions. Index and
  // TTL builds take minutes and run on after the plan (--async).
  add({
    kind: 'firestore',
    description: 'Firestore (default) database, native mode',
    args: withProject('firestore', 'databases', 'create', `--location=${opts.firestoreLocation ?? R}`, '--type=firestore-native'),
    allowExists: true,
  });
  for (const t of input.firestore.ttl) {
    add({
      kind: 'firestore',
      description: `TTL policy on ${t.collection}.${t.field}`,
      args: withProject('firestore', 'fields', 'ttls', 'update', t.field, `--collection-group=${t.collection}`, '--enable-ttl', '--async'),
    });
  }
  for (const index of input.indexes.indexes) {
    const fieldConfigs = index.fields.map((f) => {
      if (f.arrayConfig) return `--field-config=field-path=${f.fieldPath},array-config=${f.arrayConfig.toLowerCase()}`;
      return `--field-config=field-path=${f.fieldPath},order=${(f.order ?? 'ASCENDING').toLowerCase()}`;
    });
    const scope = (index.queryScope ?? 'COLLECTION') === 'COLLECTION_GROUP' ? 'collection-group' : 'collection';
    add({
      kind: 'firestore',
      description: `composite index on ${index.collectionGroup} (${index.fields.map((f) => f.fieldPath).join(', ')})`,
      args: withProject('firestore', 'indexes', 'composite', 'create', `--collection-group=${index.collectionGroup}`, `--query-scope=${scope}`, ...fieldConfigs, '--async'),
      allowExists: true,
    });
  }
  for (const o of input.indexes.fieldOverrides ?? []) {
    // An override replaces the field's single-field indexes with the ones it lists (none: exempt).
    const indexFlags = (o.indexes as readonly SingleFieldIndex[]).map((i) => {
      const parts = [
        ...(i.arrayConfig ? [`array-config=${i.arrayConfig.toLowerCase()}`] : []),
        ...(i.order ? [`order=${i.order.toLowerCase()}`] : []),
        `query-scope=${(i.queryScope ?? 'COLLECTION') === 'COLLECTION_GROUP' ? 'collection-group' : 'collection'}`,
      ];
      return `--index=${parts.join(',')}`;
    });
    add({
      kind: 'firestore',
      description: indexFlags.length
        ? `single-field indexes on ${o.collectionGroup}.${o.fieldPath}: ${indexFlags.map((f) => f.slice('--index='.length)).join('; ')}`
        : `no single-field indexes on ${o.collectionGroup}.${o.fieldPath}`,
      args: withProject('firestore', 'indexes', 'fields', 'update', o.fieldPath, `--collection-group=${o.collectionGroup}`, ...(indexFlags.length ? indexFlags : ['--disable-indexes']), '--async'),
    });
  }

  // 10. Functions, then who may invoke them.
  if (pushSubs.length || pubsubTriggered.length) {
    // Pub/Sub mints the push OIDC tokens as the push invoker. Projects from before April 2021 need
    // this grant to the Pub/Sub service agent; newer ones have it implicitly.
    add({
      kind: 'iam',
      description: 'Pub/Sub service agent may mint OIDC tokens as the push invoker',
      args: withProject('iam', 'service-accounts', 'add-iam-policy-binding', sa('pushInvoker'), `--member=${pubsubAgent}`, '--role=roles/iam.serviceAccountTokenCreator'),
      retries: IAM_RETRIES,
    });
  }
  // An env-var secret must have a version, or the deploy fails half-way with a vaguer error.
  for (const secret of [...new Set(selected.flatMap((f) => Object.values(f.envSecrets ?? {})))]) {
    const users = selected.filter((f) => Object.values(f.envSecrets ?? {}).includes(secret)).map((f) => f.name);
    add({
      kind: 'secret',
      description: `check: secret ${secret} has a version (${users.join(', ')} map it into env; if not, add one with 'gcloud secrets versions add ${secret} --data-file=-')`,
      args: withProject('secrets', 'versions', 'describe', 'latest', `--secret=${secret}`, '--format=value(name)'),
    });
  }
  // Every function learns the task workers' URLs and the identity their tasks are signed as.
  const workerEnv = [
    ...input.functions.filter((f) => f.urlEnv).map((f) => `${f.urlEnv}=${url(f.name)}`),
    ...(input.functions.some((f) => f.trigger.kind === 'task') ? [`TASKS_INVOKER_SA=${sa('tasksInvoker')}`] : []),
  ];
  for (const f of selected) {
    add({ kind: 'function', description: describeFunction(f), args: functionDeployArgs(f, { P, R, version, runtimeSa: sa('runtime'), triggerSa: sa('pushInvoker'), vpcConnector: input.network.vpcConnector.name, env: workerEnv }) });
  }
  for (const f of selected) {
    if (!isPublic(f)) {
      // `--no-allow-unauthenticated` does not take back a public grant made earlier, so a function
      // that infra.ts turned private loses allUsers here (absent binding: nothing to do).
      add({
        kind: 'iam',
        description: `${f.name} is not public`,
        args: withProject('functions', 'remove-invoker-policy-binding', f.name, `--region=${R}`, '--member=allUsers'),
        allowMissing: true,
      });
    }
    const invokers = new Set<ServiceAccountRole>();
    if (f.trigger.kind === 'task') invokers.add('tasksInvoker');
    if (f.trigger.kind === 'pubsub') invokers.add('pushInvoker'); // the Eventarc trigger's identity
    if (pushSubs.some((s) => s.pushTo === f.name)) invokers.add('pushInvoker');
    // Decision: Scheduler's account may invoke its targets even when they are public, so a target
    // made private later keeps working.
    if (input.schedules.some((s) => s.target === f.name)) invokers.add('schedulerInvoker');
    for (const role of invokers) {
      add({
        kind: 'iam',
        description: `${SERVICE_ACCOUNTS[role].id} may invoke ${f.name}`,
        args: withProject('functions', 'add-invoker-policy-binding', f.name, `--region=${R}`, `--member=${member(role)}`),
        retries: IAM_RETRIES,
      });
    }
  }

  // 11. Push subscriptions, now that their endpoints exist; then dead-lettering rights.
  pushSubs.forEach(subscriptionSteps);
  for (const dlTopic of [...new Set(deadLettered.map((s) => s.deadLetter!.topic))]) {
    add({
      kind: 'iam',
      description: `Pub/Sub service agent may publish dead letters to ${dlTopic}`,
      args: withProject('pubsub', 'topics', 'add-iam-policy-binding', dlTopic, `--member=${pubsubAgent}`, '--role=roles/pubsub.publisher'),
      retries: IAM_RETRIES,
    });
  }
  for (const s of deadLettered) {
    add({
      kind: 'iam',
      description: `Pub/Sub service agent may forward dead letters out of ${s.name}`,
      args: withProject('pubsub', 'subscriptions', 'add-iam-policy-binding', s.name, `--member=${pubsubAgent}`, '--role=roles/pubsub.subscriber'),
      retries: IAM_RETRIES,
    });
  }

  // 12. Scheduler jobs, calling their function with an OIDC token (audience = the function URL).
  const fnByName = new Map(input.functions.map((f) => [f.name, f]));
  for (const j of input.schedules) {
    const target = url(j.target);
    // Decision: the attempt deadline follows the target's timeout, within Scheduler's 15 s–30 min.
    const deadline = Math.min(Math.max(fnByName.get(j.target)!.timeoutSeconds, 15), 1800);
    const common = [
      `--location=${R}`,
      `--schedule=${j.schedule}`,
      '--time-zone=Etc/UTC', // infra.ts schedules are UTC
      `--uri=${target}`,
      `--http-method=${j.method.toLowerCase()}`,
      `--oidc-service-account-email=${sa('schedulerInvoker')}`,
      `--oidc-token-audience=${target}`,
      `--attempt-deadline=${deadline}s`,
    ];
    const body = j.body ? [`--message-body=${JSON.stringify(j.body)}`] : [];
    add({
      kind: 'scheduler',
      description: `scheduler job ${j.name} (${j.schedule} UTC) → ${j.target}`,
      args: withProject('scheduler', 'jobs', 'create', 'http', j.name, ...common, ...(j.body ? ['--headers=Content-Type=application/json'] : []), ...body),
      allowExists: true,
      update: withProject(
        'scheduler', 'jobs', 'update', 'http', j.name, ...common,
        ...(j.body ? ['--update-headers=Content-Type=application/json', ...body] : ['--clear-headers', '--clear-message-body']),
      ),
      retries: IAM_RETRIES,
    });
  }

  return steps;
}

function describeFunction(f: PlanFunction): string {
  const t = f.trigger;
  const trigger =
    t.kind === 'http' ? (t.public ? 'public HTTP' : 'private HTTP') : t.kind === 'task' ? `Cloud Tasks ${t.queue}` : `Pub/Sub ${t.topic}`;
  return `function ${f.name} (bundle ${f.bundle}, ${trigger})`;
}

function functionDeployArgs(
  f: PlanFunction,
  ctx: { P: string; R: string; version: string; runtimeSa: string; triggerSa: string; vpcConnector?: string; env?: readonly string[] },
): string[] {
  const envSecrets = Object.entries(f.envSecrets ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const trigger =
    f.trigger.kind === 'pubsub'
      ? // Decision: --retry, so a 503 from the handler is redelivered (our retryable errors rely on it).
        [`--trigger-topic=${f.trigger.topic}`, `--trigger-service-account=${ctx.triggerSa}`, '--retry', '--no-allow-unauthenticated']
      : ['--trigger-http', isPublic(f) ? '--allow-unauthenticated' : '--no-allow-unauthenticated'];
  return [
    'gcloud', 'functions', 'deploy', f.name,
    '--gen2',
    '--runtime=nodejs24',
    `--region=${ctx.R}`,
    `--project=${ctx.P}`,
    `--source=dist/${f.bundle}`,
    `--entry-point=${f.name}`,
    `--memory=${f.memory}`,
    // Concurrency above 1 needs a whole vCPU; below 1 GiB gen2 would otherwise give a fraction.
    ...(f.concurrency > 1 ? ['--cpu=1'] : []),
    `--timeout=${f.timeoutSeconds}s`,
    `--ingress-settings=${INGRESS_FLAG[f.ingress]}`,
    `--min-instances=${f.minInstances}`,
    `--max-instances=${f.maxInstances}`,
    `--concurrency=${f.concurrency}`,
    `--service-account=${ctx.runtimeSa}`,
    // Only private ranges through the connector: Virtuoso and Google APIs stay on the direct path.
    ...(f.privateNetwork && ctx.vpcConnector ? [`--vpc-connector=${ctx.vpcConnector}`, '--egress-settings=private-ranges-only'] : []),
    `--set-env-vars=${[`GOOGLE_CLOUD_PROJECT=${ctx.P}`, `REGION=${ctx.R}`, `APP_VERSION=${ctx.version}`, ...(ctx.env ?? [])].join(',')}`,
    // Env-var secrets resolve at instance start. Decision: `latest`, so a redeploy picks up a new
    // version; --clear-secrets when none, so a removed mapping does not linger.
    ...(envSecrets.length ? [`--set-secrets=${envSecrets.map(([env, s]) => `${env}=${s}:latest`).join(',')}`] : ['--clear-secrets']),
    ...trigger,
  ];
}

// ---------------------------------------------------------------------------------------------
// Printing.

/** POSIX shell quoting, for showing a plan; the plan itself is argument vectors. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export const shellJoin = (args: readonly string[]) => args.map(shellQuote).join(' ');

/** The plan as a shell script: one command per line, comments for what deploy.sh tolerates. */
export function formatPlan(steps: readonly PlanStep[], files: readonly { path: string; content: string }[] = []): string {
  const lines: string[] = [];
  for (const f of files) {
    lines.push(`# file ${f.path} (written by --write-files): ${JSON.stringify(JSON.parse(f.content))}`);
  }
  for (const s of steps) {
    const notes = [s.allowExists && 'may already exist', s.allowMissing && 'may already be gone', s.retries && `retried ${s.retries}×`].filter(Boolean);
    lines.push(`# ${s.description}${notes.length ? ` [${notes.join(', ')}]` : ''}`, shellJoin(s.args));
    if (s.update) lines.push(`#   if it exists: ${shellJoin(s.update)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Defence in depth: fail if a secret's local value (its env var, as shared/secrets.ts reads) shows up in the plan. */
export function assertNoSecretValues(steps: readonly PlanStep[], env: NodeJS.ProcessEnv, input: InfraInput = defaultInfra()): void {
  const text = JSON.stringify(steps);
  for (const secret of Object.values(input.secrets)) {
    const value = env[infra.secretEnvName(secret as SecretName)];
    for (const v of (value ?? '').split(/[\s,]+/)) {
      if (v.length >= 8 && text.includes(v)) throw new Error(`the plan contains the value of secret ${secret}; refusing to print it`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CLI.

interface CliArgs extends PlanOptions {
  json: boolean;
  writeFiles: boolean;
}

export function parseArgs(argv: readonly string[]): CliArgs {
  const out: Partial<CliArgs> & { bundles: string[] } = { bundles: [], json: false, writeFiles: false };
  const valued: Record<string, keyof CliArgs> = {
    '--project': 'projectId',
    '--region': 'region',
    '--version': 'version',
    '--project-number': 'projectNumber',
    '--files-dir': 'filesDir',
    '--firestore-location': 'firestoreLocation',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--json') out.json = true;
    else if (flag === '--write-files') out.writeFiles = true;
    else if (flag in valued) {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
      (out as Record<string, unknown>)[valued[flag]] = v;
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else out.bundles.push(a);
  }
  if (!out.projectId) throw new Error('--project is required');
  if (!out.region) throw new Error('--region is required');
  return out as CliArgs;
}

function main(argv: readonly string[]): number {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    console.error(`deploy-plan: ${(err as Error).message}`);
    console.error(USAGE);
    return 2;
  }
  try {
    const steps = deployPlan(args);
    assertNoSecretValues(steps, process.env);
    const files = planFiles(args);
    if (args.writeFiles) {
      for (const f of files) {
        mkdirSync(join(f.path, '..'), { recursive: true });
        writeFileSync(f.path, f.content);
      }
    }
    process.stdout.write(args.json ? `${JSON.stringify(steps, null, 2)}\n` : formatPlan(steps, files));
    return 0;
  } catch (err) {
    console.error(`deploy-plan: ${(err as Error).message}`);
    return 1;
  }
}

const USAGE =
  'usage: tsx scripts/deploy-plan.ts --project P --region R [--version V] [--project-number N] [--firestore-location L]\n' +
  '                                  [--json] [--write-files] [--files-dir DIR] [bundle...]';

if (require.main === module) process.exitCode = main(process.argv.slice(2));
