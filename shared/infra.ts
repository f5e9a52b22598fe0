/**
 * The one list of cloud resources. deploy.sh (through scripts/deploy-plan.ts), the local stack
 * (`npm start`) and the tests read it; nothing else spells a topic, queue, bucket, secret or
 * function name by hand. Plain data, no imports: safe to load anywhere.
 */

/** Firestore collections (names from the seed). */
export const collections = {
  sessions: 'sessions',
  testRuns: 'test_runs',
  userPreferences: 'user_preferences',
  /** `command_history/{userId}/commands/{commandId}` */
  commandHistory: 'command_history',
  apiKeys: 'api_keys',
  webhookDeliveries: 'webhook_deliveries',
  idempotency: 'idempotency',
  backups: 'backups',
  /** Health-check round trips write here (one document per instance). */
  health: '_health',
  /** `created_steps/{stepId}`: which command created each Virtuoso step (retries adopt only their own). */
  createdSteps: 'created_steps',
  /** `test_run_claims/goal:{goalId}`: which test run owns each goal it created (resumes adopt only their own). */
  testRunClaims: 'test_run_claims',
  /** `callback_secrets/{tenantId}`: each tenant's completion-callback signing secret, encrypted (shared/testruns/callback-secrets.ts). */
  callbackSecrets: 'callback_secrets',
} as const;

/**
 * The collection groups a backup copies (shared/backup/portable.ts): every collection above and
 * the subcollections `command_history/{userId}/commands` and `test_runs/{id}/definition`, but not
 * the backups' own records or the health checks' scratch documents.
 */
export const backupCollectionGroups: readonly string[] = [
  ...Object.values(collections).filter((c) => c !== collections.backups && c !== collections.health),
  'commands',
  'definition',
];

export const topics = {
  commandEvents: 'command-events',
  testEvents: 'test-events',
  systemEvents: 'system-events',
  webhookEvents: 'webhook-events',
  deadLetter: 'dead-letter',
} as const;
export type TopicName = (typeof topics)[keyof typeof topics];

export interface SubscriptionSpec {
  name: string;
  topic: TopicName;
  /** Push to this function (Pub/Sub push with an OIDC token in production); pull when absent. */
  pushTo?: FunctionName;
  ackDeadlineSeconds: number;
  /** How long unacknowledged messages are kept. */
  retentionSeconds: number;
  /** Pub/Sub retry policy backoff (best effort). */
  retry: { minimumBackoffSeconds: number; maximumBackoffSeconds: number };
  /** After this many delivery attempts the message goes to `dead-letter` (5–100). */
  deadLetter?: { topic: TopicName; maxDeliveryAttempts: number };
  /** Drained by logArchive into `logs/{topic}/…`. */
  archive?: true;
}

const DAY = 24 * 3600;

/** The seed's figure: after this many delivery attempts a message goes to `dead-letter`. */
export const DEAD_LETTER_ATTEMPTS = 5;

/**
 * A pull subscription that keeps everything published on `topic` for a week: drained hourly by
 * logArchive, and there to inspect (`npm run pull`). A dead-letter topic without a subscription
 * loses messages (DeadLetterPolicy docs), so `dead-letter` has one too. Messages logArchive fails to
 * archive DEAD_LETTER_ATTEMPTS times go on to `dead-letter` (and so to its archive); the
 * dead-letter topic's own archive has no dead-letter policy, since it could only point at itself.
 */
const archiveOf = (topic: TopicName): SubscriptionSpec => ({
  name: `${topic}-archive`,
  topic,
  archive: true,
  ackDeadlineSeconds: 60,
  retentionSeconds: 7 * DAY,
  retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
  ...(topic === topics.deadLetter ? {} : { deadLetter: { topic: topics.deadLetter, maxDeliveryAttempts: DEAD_LETTER_ATTEMPTS } }),
});

export const subscriptions: readonly SubscriptionSpec[] = [
  archiveOf(topics.webhookEvents),
  archiveOf(topics.commandEvents),
  archiveOf(topics.testEvents),
  archiveOf(topics.systemEvents),
  archiveOf(topics.deadLetter),
];

/** The subscriptions logArchive drains, one per topic. */
export const archiveSubscriptions = subscriptions.filter((s) => s.archive);

export interface QueueSpec {
  name: string;
  rate: { maxDispatchesPerSecond: number; maxConcurrentDispatches: number };
  /** maxAttempts counts the first attempt. Backoff doubles maxDoublings times, then grows linearly. */
  retry: { maxAttempts: number; minBackoffSeconds: number; maxBackoffSeconds: number; maxDoublings: number };
}

export const queues = {
  commandExecution: {
    name: 'command-execution',
    rate: { maxDispatchesPerSecond: 100, maxConcurrentDispatches: 1000 },
    retry: { maxAttempts: 5, minBackoffSeconds: 10, maxBackoffSeconds: 3600, maxDoublings: 5 },
  },
  testExecution: {
    name: 'test-execution',
    rate: { maxDispatchesPerSecond: 50, maxConcurrentDispatches: 500 },
    retry: { maxAttempts: 3, minBackoffSeconds: 10, maxBackoffSeconds: 1800, maxDoublings: 5 },
  },
  /**
   * Completion callbacks of test runs (delivered by testRunWorker): 15 attempts, 10 s doubling to
   * about 3 hours, then every 3 hours: about 15 hours in all, like Standard Webhooks senders retry.
   */
  testCallbacks: {
    name: 'test-callbacks',
    rate: { maxDispatchesPerSecond: 50, maxConcurrentDispatches: 200 },
    retry: { maxAttempts: 15, minBackoffSeconds: 10, maxBackoffSeconds: 10800, maxDoublings: 10 },
  },
} as const satisfies Record<string, QueueSpec>;

export interface LifecycleRule {
  prefix: string;
  ageDays: number;
  action: 'Delete' | 'SetStorageClass';
  storageClass?: 'NEARLINE' | 'COLDLINE';
}

export const buckets = {
  /** `<project>-virtuoso-data`: logs, artifacts and backups, aged by the rules below. */
  data: {
    suffix: 'virtuoso-data',
    lifecycle: [
      { prefix: 'logs/', ageDays: 30, action: 'Delete' },
      { prefix: 'artifacts/', ageDays: 7, action: 'SetStorageClass', storageClass: 'NEARLINE' },
      { prefix: 'backups/', ageDays: 90, action: 'SetStorageClass', storageClass: 'COLDLINE' },
    ] satisfies LifecycleRule[],
  },
  /**
   * `<project>-virtuoso-api-analytics`: the public APIs' request logs, written hourly by the
   * `api-analytics` log sink (logSinks below) under the log's name. The seed's ages: to Nearline at
   * 7 days, Coldline at 90, deleted at 365 (its long-term bucket's retention). No function reads it.
   */
  analytics: {
    suffix: 'virtuoso-api-analytics',
    lifecycle: [
      { prefix: 'run.googleapis.com/', ageDays: 7, action: 'SetStorageClass', storageClass: 'NEARLINE' },
      { prefix: 'run.googleapis.com/', ageDays: 90, action: 'SetStorageClass', storageClass: 'COLDLINE' },
      { prefix: 'run.googleapis.com/', ageDays: 365, action: 'Delete' },
    ] satisfies LifecycleRule[],
  },
} as const;

export const bucketName = (projectId: string, bucket: keyof typeof buckets = 'data') =>
  `${projectId}-${buckets[bucket].suffix}`;

/** Object name prefixes inside the data bucket. */
export const objectPrefixes = {
  /** Archived messages and aged-out history of one source, by UTC hour (logArchive). */
  logs: (source: string, day: string, hour: string) => `logs/${source}/${day}/${hour}/`,
  /** logArchive's manifests: each lists the objects of one archived batch. */
  logManifests: (day: string) => `logs/_manifests/${day}/`,
  testResults: (runId: string) => `artifacts/test-results/${runId}/`,
  reports: (date: string) => `artifacts/reports/${date}/`,
  /** Portable Firestore backups of one day (shared/backup/portable.ts); all of them without a day. */
  firestoreBackups: (date?: string) => (date ? `backups/firestore/${date}/` : 'backups/firestore/'),
  configBackups: (date: string) => `backups/configs/${date}/`,
};

/**
 * Secret Manager secrets. Locally each is read from the environment variable named after it
 * (`virtuoso-webhook-secret` → `VIRTUOSO_WEBHOOK_SECRET`).
 */
export const secrets = {
  virtuosoApiKey: 'virtuoso-api-key',
  /** HMAC-SHA1 secret(s) for `X-Virtuoso-Signature`; several, separated by whitespace or commas, while rotating. */
  virtuosoWebhookSecret: 'virtuoso-webhook-secret',
  /** Standard Webhooks secret(s) (`whsec_…`), for senders other than Virtuoso. */
  webhookSigningSecret: 'webhook-signing-secret',
  /** The Memorystore instance's private IP (mapped to REDIS_HOST). */
  memorystoreHost: 'memorystore-host',
  /** The Memorystore instance's AUTH string. */
  memorystoreAuth: 'memorystore-auth',
  /** The Memorystore instance's server CA certificates (PEM), which its TLS certificate is checked against. */
  memorystoreCa: 'memorystore-ca',
  /** The Virtuoso organization id (the seed's setup script keeps it as a secret). */
  virtuosoOrgId: 'virtuoso-org-id',
  /**
   * The key (32 random bytes, base64) that encrypts each tenant's completion-callback secret in
   * Firestore; several, separated by whitespace, while rotating it (the first encrypts).
   */
  callbackSigningKey: 'callback-signing-key',
  /** An API key (tenant `ci-smoke`) the delivery pipeline's smoke check uses (scripts/smoke.ts); no function reads it. */
  ciSmokeApiKey: 'ci-smoke-api-key',
} as const;
export type SecretName = (typeof secrets)[keyof typeof secrets];

export const secretEnvName = (name: SecretName) => name.toUpperCase().replace(/-/g, '_');

/**
 * Where each secret's value comes from. `manual`: a person adds it (`gcloud secrets versions add`);
 * deploy says which are missing, and how to add them, before it deploys any function. `memorystore`:
 * deploy copies it from the Memorystore instance (a new version only when the value changed).
 */
export type SecretSource =
  | { kind: 'manual'; required: boolean; value: string }
  | { kind: 'memorystore'; field: 'host' | 'authString' | 'serverCa' };

export const secretSources: Readonly<Record<SecretName, SecretSource>> = {
  'virtuoso-api-key': { kind: 'manual', required: true, value: 'the Virtuoso API token (Virtuoso → profile → API tokens)' },
  'virtuoso-webhook-secret': { kind: 'manual', required: true, value: "the webhook secret set in Virtuoso's project settings (several, space-separated, while rotating)" },
  'webhook-signing-secret': { kind: 'manual', required: false, value: 'Standard Webhooks secret(s), whsec_<base64>, for senders other than Virtuoso (without one that scheme is refused)' },
  'virtuoso-org-id': { kind: 'manual', required: true, value: 'the Virtuoso organization id (a number)' },
  'memorystore-host': { kind: 'memorystore', field: 'host' },
  'memorystore-auth': { kind: 'memorystore', field: 'authString' },
  'memorystore-ca': { kind: 'memorystore', field: 'serverCa' },
  'callback-signing-key': {
    kind: 'manual',
    required: false,
    value: "32 random bytes, base64 (VALUE=$(openssl rand -base64 32)), which seals tenants' callback secrets; without it a test run asking for a completion callback is refused",
  },
  'ci-smoke-api-key': { kind: 'manual', required: false, value: 'an API key for the delivery pipeline\'s smoke check (npm run api-keys -- create --tenant ci-smoke --user smoke); without it cloudbuild.yaml cannot run' },
};

/**
 * The Serverless VPC Access connector through which functions reach Memorystore (a private IP).
 * Only private ranges go through it; everything else (Virtuoso, Google APIs) goes out directly.
 */
export const network = {
  vpcConnector: { name: 'virtuoso-connector', network: 'default', range: '10.8.0.0/28' },
} as const;

/**
 * The Memorystore for Redis instance (the seed's cache): highly available, AUTH on, in-transit
 * encryption (TLS on port 6378, the server's certificate signed by the instance's own CA), and
 * evicting least recently used keys when full (every key is a cache entry or a short window).
 * Functions that declare `uses.redis` get the host, the AUTH string and the CA from the secrets.
 */
export const memorystore = {
  instance: 'virtuoso-cache',
  tier: 'STANDARD_HA',
  sizeGb: 1,
  redisVersion: 'REDIS_7_2',
  authEnabled: true,
  transitEncryption: 'SERVER_AUTHENTICATION',
  /** Memorystore serves TLS on 6378 (6379 is plain text). */
  port: 6378,
  config: { 'maxmemory-policy': 'allkeys-lru' },
  network: network.vpcConnector.network,
  secrets: { host: secrets.memorystoreHost, auth: secrets.memorystoreAuth, ca: secrets.memorystoreCa },
} as const;

/**
 * The identities that call functions, one per kind of caller, so each can reach only the functions
 * meant for it; and the one Cloud Build runs function builds as. Each function runs as its own
 * account (`functionServiceAccount`), granted only what its `uses` declares.
 */
export const serviceAccounts = {
  tasksInvoker: { id: 'virtuoso-tasks-invoker', displayName: 'Virtuoso Cloud Tasks invoker (OIDC)' },
  pushInvoker: { id: 'virtuoso-push-invoker', displayName: 'Virtuoso Pub/Sub push and Eventarc invoker (OIDC)' },
  schedulerInvoker: { id: 'virtuoso-scheduler-invoker', displayName: 'Virtuoso Cloud Scheduler invoker (OIDC)' },
  builder: { id: 'virtuoso-builder', displayName: 'Virtuoso function builds (Cloud Build)' },
} as const;
export type ServiceAccountRole = keyof typeof serviceAccounts;

/** The account a function runs as: `virtuoso-` and its name in kebab case (`commandWorker` → `virtuoso-command-worker`). */
export const functionServiceAccount = (fn: string) => ({
  id: `virtuoso-${fn.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
  displayName: `Virtuoso function ${fn} (runtime)`,
});

/** Object name prefixes a function may be granted (IAM conditions on the data bucket). */
export type ObjectAccess = 'read' | 'readwrite';

/**
 * What a function reaches, besides its `secrets` and `envSecrets`. Deploy grants exactly this (one
 * service account per function) and nothing else; the local stack ignores it.
 */
export interface FunctionUses {
  /** Firestore has no per-collection IAM: reads and writes anywhere in the database. */
  firestore: boolean;
  /** Memorystore: through the VPC connector, with TLS and AUTH (host, AUTH and CA from their secrets). */
  redis?: boolean;
  publishes?: readonly TopicName[];
  /** Topics whose existence it checks (health). */
  inspects?: readonly TopicName[];
  /** Pull subscriptions it drains. */
  pulls?: readonly string[];
  /** Queues it creates tasks in (with the tasks invoker's OIDC identity on them). */
  enqueues?: readonly (keyof typeof queues)[];
  /** Object name prefixes in the data bucket. */
  objects?: readonly { prefix: string; access: ObjectAccess }[];
  /** Starts Firestore managed exports. */
  firestoreExports?: boolean;
}

export interface FunctionSpec {
  /** Entry point name, also the deployed function's name. */
  name: string;
  /** esbuild bundle: `functions/<bundle>/index.ts` → `dist/<bundle>/`. */
  bundle: string;
  trigger:
    | { kind: 'http'; public: boolean }
    | { kind: 'pubsub'; topic: TopicName; deadLetter: { topic: TopicName; maxDeliveryAttempts: number } }
    /** Cloud Tasks calls it with the tasks of these queues. */
    | { kind: 'task'; queues: readonly (keyof typeof queues)[] };
  memory: '256Mi' | '512Mi' | '1Gi' | '2Gi';
  timeoutSeconds: number;
  ingress: 'ALLOW_ALL' | 'ALLOW_INTERNAL_ONLY' | 'ALLOW_INTERNAL_AND_GCLB';
  minInstances: number;
  maxInstances: number;
  /** Concurrent requests per instance (2nd gen). */
  concurrency: number;
  /** Secrets read at run time through Secret Manager (cached, so rotation needs no redeploy). */
  secrets: readonly SecretName[];
  /** Secrets mapped to environment variables at instance start (values that never rotate in place). */
  envSecrets?: Readonly<Record<string, SecretName>>;
  uses: FunctionUses;
  /** Task workers: the environment variable through which the functions that enqueue find this one's URL. */
  urlEnv?: string;
  /** Node.js flags for the function's process (deployed as NODE_OPTIONS; the benches start it with them too). */
  nodeOptions?: string;
  /**
   * The process's own environment, read by the runtime rather than our code (glibc's
   * MALLOC_ARENA_MAX); deployed as plain environment variables, and the benches start it so too.
   */
  processEnv?: Readonly<Record<string, string>>;
}

/** Prefixes of the data bucket that functions are granted (see objectPrefixes). */
const LOGS = 'logs/';
const TEST_RESULTS = 'artifacts/test-results/';
const BACKUPS = 'backups/';

export const functions = [
  {
    name: 'health',
    bundle: 'health',
    trigger: { kind: 'http', public: true },
    memory: '256Mi',
    timeoutSeconds: 30,
    ingress: 'ALLOW_ALL',
    minInstances: 0,
    maxInstances: 5,
    concurrency: 80,
    secrets: [],
    uses: { firestore: true, redis: true, inspects: [topics.webhookEvents] },
  },
  {
    name: 'webhook',
    bundle: 'webhook',
    trigger: { kind: 'http', public: true },
    memory: '512Mi',
    timeoutSeconds: 60,
    ingress: 'ALLOW_ALL',
    minInstances: 1,
    maxInstances: 50,
    concurrency: 80,
    secrets: [secrets.virtuosoWebhookSecret, secrets.webhookSigningSecret],
    uses: { firestore: true, publishes: [topics.webhookEvents] },
  },
  {
    name: 'commands',
    bundle: 'commands',
    trigger: { kind: 'http', public: true },
    memory: '512Mi',
    timeoutSeconds: 120,
    ingress: 'ALLOW_ALL',
    minInstances: 0,
    maxInstances: 50,
    concurrency: 80,
    secrets: [secrets.virtuosoApiKey],
    envSecrets: { VIRTUOSO_ORG_ID: secrets.virtuosoOrgId },
    uses: { firestore: true, redis: true, publishes: [topics.commandEvents], enqueues: ['commandExecution'] },
  },
  {
    // Private: invoked only by Cloud Tasks (queue command-execution) with an OIDC token.
    name: 'commandWorker',
    bundle: 'commands',
    trigger: { kind: 'task', queues: ['commandExecution'] },
    urlEnv: 'COMMAND_WORKER_URL',
    memory: '512Mi',
    timeoutSeconds: 600,
    ingress: 'ALLOW_INTERNAL_ONLY',
    minInstances: 0,
    maxInstances: 100,
    concurrency: 80,
    secrets: [secrets.virtuosoApiKey],
    envSecrets: { VIRTUOSO_ORG_ID: secrets.virtuosoOrgId },
    // Enqueues too: a continuation after a live lease, and the sweep's requeues.
    uses: { firestore: true, redis: true, publishes: [topics.commandEvents], enqueues: ['commandExecution'] },
  },
  {
    name: 'testRuns',
    bundle: 'test-runs',
    trigger: { kind: 'http', public: true },
    memory: '512Mi',
    timeoutSeconds: 60,
    ingress: 'ALLOW_ALL',
    minInstances: 0,
    maxInstances: 20,
    concurrency: 80,
    secrets: [secrets.callbackSigningKey],
    // Reads the reports it serves and the tenant's callback secret; a cancel publishes
    // test.cancelled and queues the run's completion callback.
    uses: {
      firestore: true,
      redis: true,
      publishes: [topics.testEvents],
      enqueues: ['testExecution', 'testCallbacks'],
      objects: [{ prefix: TEST_RESULTS, access: 'read' }],
    },
  },
  {
    // Private: invoked only by Cloud Tasks (queues test-execution and test-callbacks) with an OIDC
    // token. A build of thousands of steps runs up to Cloud Tasks' 30-minute dispatch deadline.
    name: 'testRunWorker',
    bundle: 'test-runs',
    trigger: { kind: 'task', queues: ['testExecution', 'testCallbacks'] },
    urlEnv: 'TEST_RUN_WORKER_URL',
    // A build's garbage is short-lived answers and bodies: a small young generation keeps the peak
    // near what is live (1,000-step build: 236 MiB peak with Node's default; README, "Benchmarks").
    // 4 MiB, not 2: under the deployed 1 GiB, alternating runs gave 146-149 against 138-145 MiB at the
    // peak, and 500-520 against 580-630 ms of CPU per build (fewer scavenges of answers in flight).
    nodeOptions: '--max-semi-space-size=4',
    // Two malloc arenas, not glibc's eight per core: the process's threads (libuv's pool, V8's
    // helpers) each took an arena of their own, and what they freed stayed resident. The peak after
    // 11 builds of 1,000 steps: 148 MiB, against 166-170 MiB with the default; CPU unchanged.
    processEnv: { MALLOC_ARENA_MAX: '2' },
    memory: '1Gi',
    timeoutSeconds: 1800,
    ingress: 'ALLOW_INTERNAL_ONLY',
    minInstances: 0,
    maxInstances: 50,
    concurrency: 10,
    secrets: [secrets.virtuosoApiKey, secrets.callbackSigningKey],
    envSecrets: { VIRTUOSO_ORG_ID: secrets.virtuosoOrgId },
    // Redis: what a build creates makes the commands API's cached reads of it stale.
    uses: {
      firestore: true,
      redis: true,
      publishes: [topics.testEvents],
      enqueues: ['testExecution', 'testCallbacks'],
      objects: [{ prefix: TEST_RESULTS, access: 'readwrite' }],
    },
  },
  {
    // Private: Eventarc delivers webhook-events as CloudEvents; FINISHED executions complete runs.
    // Eventarc makes the subscription; deploy gives it the dead-letter policy declared here.
    name: 'testRunEvents',
    bundle: 'test-runs',
    trigger: { kind: 'pubsub', topic: topics.webhookEvents, deadLetter: { topic: topics.deadLetter, maxDeliveryAttempts: DEAD_LETTER_ATTEMPTS } },
    memory: '512Mi',
    timeoutSeconds: 300,
    ingress: 'ALLOW_INTERNAL_ONLY',
    minInstances: 0,
    maxInstances: 20,
    concurrency: 20,
    secrets: [secrets.virtuosoApiKey],
    // A run it completes queues its completion callback.
    uses: { firestore: true, publishes: [topics.testEvents], enqueues: ['testCallbacks'], objects: [{ prefix: TEST_RESULTS, access: 'readwrite' }] },
  },
  {
    // Private: Cloud Scheduler calls it hourly (OIDC); drains the archive subscriptions into Storage.
    name: 'logArchive',
    bundle: 'log-archive',
    trigger: { kind: 'http', public: false },
    memory: '1Gi',
    timeoutSeconds: 540,
    ingress: 'ALLOW_INTERNAL_ONLY',
    minInstances: 0,
    maxInstances: 1,
    concurrency: 1,
    secrets: [],
    uses: { firestore: true, pulls: archiveSubscriptions.map((s) => s.name), objects: [{ prefix: LOGS, access: 'readwrite' }] },
  },
  {
    // Private: Cloud Scheduler calls it (OIDC): a full backup daily, an incremental one every hour.
    name: 'backup',
    bundle: 'backup',
    trigger: { kind: 'http', public: false },
    memory: '1Gi',
    timeoutSeconds: 1800,
    ingress: 'ALLOW_INTERNAL_ONLY',
    minInstances: 0,
    maxInstances: 1,
    concurrency: 1,
    secrets: [],
    uses: { firestore: true, firestoreExports: true, objects: [{ prefix: BACKUPS, access: 'readwrite' }] },
  },
] as const satisfies readonly FunctionSpec[];
export type FunctionName = (typeof functions)[number]['name'];

export interface ScheduleSpec {
  name: string;
  /** cron, UTC */
  schedule: string;
  target: FunctionName;
  method: 'GET' | 'POST';
  body?: Record<string, unknown>;
}

export const schedules: readonly ScheduleSpec[] = [
  { name: 'health-check', schedule: '*/5 * * * *', target: 'health', method: 'GET' },
  // A safety net: a run whose deadline task never got through is ended here.
  { name: 'test-runs-sweep', schedule: '*/15 * * * *', target: 'testRunWorker', method: 'POST', body: { kind: 'sweep' } },
  // Queued commands whose attempts ran out (a long outage) or died are resumed, or ended (shared/commands/sweep.ts).
  { name: 'commands-sweep', schedule: '*/5 * * * *', target: 'commandWorker', method: 'POST', body: { kind: 'sweep' } },
  // Hourly, a few minutes past the hour, so the last hour's messages are in.
  { name: 'log-archive', schedule: '5 * * * *', target: 'logArchive', method: 'POST', body: {} },
  // Recovery point objective < 1 h: a full backup daily, and an incremental one every hour but the
  // full one's (the function takes one request at a time).
  { name: 'backup-full', schedule: '30 3 * * *', target: 'backup', method: 'POST', body: {} },
  { name: 'backup-incremental', schedule: '30 0-2,4-23 * * *', target: 'backup', method: 'POST', body: { incremental: true } },
];

/**
 * Firestore: point-in-time recovery (7 days of versions, to the minute) and delete protection on
 * the database; TTL policies (documents are deleted within about a day after the field's time).
 * Composite indexes live in firestore.indexes.json (Firebase's format), which deploy applies.
 */
export const firestore = {
  pointInTimeRecovery: true,
  deleteProtection: true,
  ttl: [
    { collection: collections.webhookDeliveries, field: 'expiresAt' },
    { collection: collections.idempotency, field: 'expiresAt' },
    { collection: collections.sessions, field: 'expiresAt' },
    { collection: collections.testRunClaims, field: 'expiresAt' },
  ],
};

// ---------------------------------------------------------------------------------------------
// Operations: what an operator is told (alerts), sees (one dashboard) and keeps (log sinks).
// scripts/deploy-plan-monitoring.ts turns these into gcloud commands and files; README "Operations"
// says what each alert means and what to do first.

/** The Cloud Run service behind a 2nd gen function: its name in lower case. */
export const cloudRunService = (fn: FunctionName) => fn.toLowerCase();

/**
 * One condition on a log entry as Cloud Logging stores it (`jsonPayload.*` is a line of
 * shared/log.ts; `labels.*` its `logging.googleapis.com/labels`). A filter is all of its conditions.
 */
export type LogCondition =
  | { field: string; equals: string | number }
  | { field: string; present: true }
  | { field: string; atLeast: number }
  | { severityAtLeast: 'WARNING' | 'ERROR' }
  /** The entry's log, e.g. `run.googleapis.com/requests` (Cloud Run's request log). */
  | { logId: string }
  | { anyOf: readonly LogCondition[] }
  | { allOf: readonly LogCondition[] };

/** The entries of the functions' own services (not the platform's request log). */
const ownServices = (names: readonly FunctionName[]): LogCondition[] => [
  { field: 'resource.type', equals: 'cloud_run_revision' },
  { anyOf: names.map((n) => ({ field: 'resource.labels.service_name', equals: cloudRunService(n) })) },
];
/** The lines the functions wrote themselves (shared/log.ts: stdout, ERROR on stderr), not Cloud Run's request log. */
const ownLines = (names: readonly FunctionName[]): LogCondition[] => [
  ...ownServices(names),
  { anyOf: [{ logId: 'run.googleapis.com/stdout' }, { logId: 'run.googleapis.com/stderr' }] },
];
const ALL_FUNCTIONS = functions.map((f) => f.name);
const PUBLIC_FUNCTIONS = functions.filter((f) => f.trigger.kind === 'http' && f.trigger.public).map((f) => f.name);

export interface LogMetricSpec {
  /** The metric is `logging.googleapis.com/user/<name>`. */
  name: string;
  description: string;
  /** A counter of the entries matching every condition. */
  filter: readonly LogCondition[];
  /** Metric labels, each the value of a field of the entry. */
  labels?: Readonly<Record<string, string>>;
}

/** Counters of what only the functions' logs say (the platform's own metrics cover the rest). */
export const logMetrics = {
  /** shared/testruns/complete.ts failRun: the one place a run ends in `error`. */
  testRunErrors: {
    name: 'virtuoso_test_runs_ended_in_error',
    description: 'Test runs that ended in status error (a build that could not go on, or a timeout), by error code',
    filter: [...ownLines(ALL_FUNCTIONS), { field: 'jsonPayload.runId', present: true }, { field: 'jsonPayload.status', equals: 'error' }],
    labels: { code: 'jsonPayload.code' },
  },
  /** An ERROR of backup: an answer 5xx (shared/http.ts) or a managed export that did not start. */
  backupFailures: {
    name: 'virtuoso_backup_failures',
    description: 'Backup runs that failed (the function answered 5xx) or whose managed export did not start',
    filter: [...ownLines(['backup']), { severityAtLeast: 'ERROR' }],
  },
  /** shared/backup/portable.ts: the line written once a backup's manifest is stored. */
  backupsCompleted: {
    name: 'virtuoso_backups_completed',
    description: 'Backups whose manifest was stored, full or incremental',
    filter: [...ownLines(['backup']), { field: 'jsonPayload.backupStatus', equals: 'completed' }],
    labels: { kind: 'jsonPayload.kind' },
  },
  /** An ERROR of logArchive: it answered 5xx (nothing unarchived was acknowledged). */
  logArchiveFailures: {
    name: 'virtuoso_log_archive_failures',
    description: 'Log-archive runs that failed (the function answered 5xx)',
    filter: [...ownLines(['logArchive']), { severityAtLeast: 'ERROR' }],
  },
  /** shared/virtuoso/client.ts: every answer of Virtuoso's API that is a 429 or a 5xx, retried or not. */
  virtuosoErrors: {
    name: 'virtuoso_api_errors',
    description: "Virtuoso API answers 429 or 5xx, by status and calling function",
    filter: [...ownLines(ALL_FUNCTIONS), { anyOf: [{ field: 'jsonPayload.virtuosoStatus', equals: 429 }, { field: 'jsonPayload.virtuosoStatus', atLeast: 500 }] }],
    labels: { status: 'jsonPayload.virtuosoStatus', function: 'resource.labels.service_name' },
  },
} as const satisfies Record<string, LogMetricSpec>;
export type LogMetricKey = keyof typeof logMetrics;

/** What an alert watches. */
export type AlertSignal =
  /** A log metric's count over `windowSeconds` above `above`. */
  | { kind: 'log-count'; metric: LogMetricKey; windowSeconds: number; above: number }
  /** No entry of a log metric for `forSeconds`. */
  | { kind: 'log-absent'; metric: LogMetricKey; forSeconds: number }
  /** Cloud Run answers of these functions: the share of 5xx, per function, over `windowSeconds`. */
  | { kind: 'http-5xx-ratio'; functions: readonly FunctionName[]; windowSeconds: number; above: number; minRequests: number }
  /** Cloud Run answers of one function with one status, counted over `windowSeconds`. */
  | { kind: 'http-status-count'; function: FunctionName; status: number; windowSeconds: number; above: number }
  /** Undelivered messages of these subscriptions above `above` for `forSeconds`. */
  | { kind: 'pubsub-backlog'; subscriptions: readonly string[]; forSeconds: number; above: number };

export interface AlertSpec {
  /** Stable: deploy finds the policy by its display name, `Virtuoso: <title>`. */
  title: string;
  signal: AlertSignal;
  /** What it means and what to do first (the policy's documentation, shown in the notification). */
  runbook: string;
}

const HOUR = 3600;
const deadLetterSubscriptions = subscriptions.filter((s) => s.topic === topics.deadLetter).map((s) => s.name);

/**
 * The alert policies (issue 15 §3). Thresholds are decisions, each with its reason: a dead letter
 * or a failed backup is always worth a look; rates are over 5 minutes with a floor of requests so
 * one unlucky call on an idle function does not page.
 */
export const alerts = {
  deadLetters: {
    title: 'dead letters waiting',
    signal: { kind: 'pubsub-backlog', subscriptions: deadLetterSubscriptions, forSeconds: 60, above: 0 },
    runbook:
      'A message failed 5 deliveries and was dead-lettered; logArchive moves it to gs://<project>-virtuoso-data/logs/dead-letter/ within the hour. ' +
      'First: `npm run pull -- dead-letter-archive` (or read the archived NDJSON), find its source topic and eventId, and look up that function\'s errors in Logging.',
  },
  http5xx: {
    title: '5xx rate per function',
    signal: { kind: 'http-5xx-ratio', functions: ALL_FUNCTIONS, windowSeconds: 300, above: 0.05, minRequests: 10 },
    runbook:
      'More than 5% of a function\'s answers over 5 minutes were 5xx (at least 10 requests). ' +
      'First: the function\'s ERROR entries (Error Reporting groups them), then `health` (its deep check, `GET /`) for a dependency that is down; a bad deploy: `./deploy.sh --rollback <function>`.',
  },
  webhook503: {
    title: 'webhook answering 503',
    signal: { kind: 'http-status-count', function: 'webhook', status: 503, windowSeconds: 300, above: 0 },
    runbook:
      'The webhook answered 503: a delivery could not be published to webhook-events (Pub/Sub) or recorded (Firestore). Virtuoso retries, but executions may finish late. ' +
      'First: `health` (its deep check, `GET /`), then the webhook\'s ERROR entries; the inbox (`npm run deliveries -- list`) shows what was received.',
  },
  testRunErrors: {
    title: 'test runs ending in error',
    signal: { kind: 'log-count', metric: 'testRunErrors', windowSeconds: 900, above: 0 },
    runbook:
      'A test run ended in status error (its build could not go on, or it timed out). ' +
      'First: `GET /test-runs/<runId>` for its error, the metric\'s `code` label for the kind; many at once point at Virtuoso (see the Virtuoso errors alert).',
  },
  backupFailed: {
    title: 'backup failed',
    signal: { kind: 'log-count', metric: 'backupFailures', windowSeconds: 300, above: 0 },
    runbook:
      'A backup run failed or its managed export did not start; the backup is recorded as failed in `backups`. ' +
      'First: the backup function\'s ERROR entry; then run one by hand: `gcloud scheduler jobs run backup-full --location=<region>`.',
  },
  backupMissing: {
    title: 'no backup completed',
    signal: { kind: 'log-absent', metric: 'backupsCompleted', forSeconds: HOUR + 30 * 60 },
    runbook:
      'No backup completed for 90 minutes (one is due every hour): the recovery point objective (< 1 h) is missed. ' +
      'First: `gcloud scheduler jobs describe backup-incremental --location=<region>` (paused? last attempt?), then the backup function\'s entries.',
  },
  logArchiveFailed: {
    title: 'log archive failed',
    signal: { kind: 'log-count', metric: 'logArchiveFailures', windowSeconds: 300, above: 0 },
    runbook:
      'A log-archive run failed; nothing unarchived was acknowledged, and the next hourly run goes on (messages are kept 7 days). ' +
      'First: the logArchive ERROR entry (Storage, Pub/Sub or Firestore trouble); run it by hand: `gcloud scheduler jobs run log-archive --location=<region>`.',
  },
  virtuosoErrors: {
    title: 'Virtuoso API answering 429/5xx',
    signal: { kind: 'log-count', metric: 'virtuosoErrors', windowSeconds: 300, above: 10 },
    runbook:
      'Virtuoso answered 429 or 5xx more than 10 times in 5 minutes: commands and test runs are retried and slow down, then fail. ' +
      'First: the metric\'s `status` label (429: we call too fast, see the queues\' rates; 5xx: Virtuoso is in trouble, check its status page).',
  },
} as const satisfies Record<string, AlertSpec>;

/**
 * Where alerts go. Decision: a channel made outside deploy (any kind: e-mail, Slack, PagerDuty),
 * named by its resource name, or an e-mail address deploy makes a channel for; without either the
 * policies are made and notify nobody (the plan says so).
 */
export const alertRouting = {
  /** `projects/<p>/notificationChannels/<id>`. */
  channelEnv: 'ALERT_NOTIFICATION_CHANNEL',
  emailEnv: 'ALERT_EMAIL',
  /** The e-mail channel deploy makes is found again by this display name. */
  emailChannelName: 'Virtuoso API alerts (e-mail)',
} as const;

export const dashboard = {
  /** Deploy finds it again by this display name. */
  title: 'Virtuoso API CLI backend',
} as const;

/**
 * Log sinks (the seed's topology): security-relevant entries (severity WARNING and above of the
 * functions, and every Cloud Audit Log entry at WARNING and above) into a BigQuery dataset; the
 * public APIs' request logs (Cloud Run's, with status, latency, user agent) into the analytics
 * bucket. A sink writes as its writer identity (Logging's, known once the sink exists), which deploy
 * grants on that sink's destination only.
 */
export const logSinks = {
  security: {
    name: 'virtuoso-security-logs',
    /**
     * BigQuery: letters, digits and underscores. Decision: in BigQuery's default location (the US
     * multi-region), the only one `gcloud alpha bq datasets create` makes (README "Log sinks").
     */
    dataset: 'virtuoso_security_logs',
    filter: [
      { severityAtLeast: 'WARNING' },
      { anyOf: [{ allOf: ownServices(ALL_FUNCTIONS) }, { field: 'protoPayload.@type', equals: 'type.googleapis.com/google.cloud.audit.AuditLog' }] },
    ] as readonly LogCondition[],
  },
  analytics: {
    name: 'virtuoso-api-analytics',
    bucket: 'analytics' as const,
    filter: [
      { field: 'resource.type', equals: 'cloud_run_revision' },
      { logId: 'run.googleapis.com/requests' },
      { anyOf: PUBLIC_FUNCTIONS.map((n) => ({ field: 'resource.labels.service_name', equals: cloudRunService(n) })) },
    ] as readonly LogCondition[],
  },
} as const;
// The production topology around the functions (issue 16): the edge, the delivery pipeline's
// account and the second region. The deploy plan makes them (scripts/deploy-plan-edge.ts,
// scripts/deploy-plan-regions.ts, the ci-cd-builder in deploy-plan.ts); `npm run architecture`
// draws them.

/**
 * The edge: one global external Application Load Balancer (EXTERNAL_MANAGED) in front of the
 * public functions, each at `/<function>` (its root, as on cloudfunctions.net: the URL map strips
 * the prefix, so `https://<domain>/commands/commands` reaches `commands` as `/commands`, and one
 * base URL serves the client). On only when a domain is configured (`--domain` / EDGE_DOMAIN);
 * then the public functions take traffic from the load balancer and inside the project only.
 */
export const edge = {
  /** Prefix of every edge resource's name (`virtuoso-api-<function>` backends, `virtuoso-api` URL map…). */
  name: 'virtuoso-api',
  /** The functions behind it, each at `/<name>`. `health` is also the URL map's default (it answers 404 off its root). */
  routes: ['health', 'webhook', 'commands', 'testRuns'] as const satisfies readonly FunctionName[],
  /**
   * Cloud CDN, on these backends only (the seed: `health` liveness, public read-only answers), in
   * USE_ORIGIN_HEADERS mode: only what the function marks `public` is cached (health's
   * `?probe=live`); every authenticated answer carries `Cache-Control: no-store` (shared/http.ts).
   */
  cdn: ['health'] as const satisfies readonly FunctionName[],
  armor: {
    /** Per client IP, over every route: beyond this, 429 (`throttle`). */
    ratePerMinutePerIp: 600,
    /**
     * The preconfigured WAF rules that fit a JSON API (OWASP CRS 4.22, the current set), in preview
     * mode first: they log what they would block; turn `preview` off once the logs show no false
     * positives (README, "The edge").
     */
    waf: ['sqli-v422-stable', 'xss-v422-stable', 'scannerdetection-v422-stable', 'protocolattack-v422-stable'],
    preview: true,
  },
} as const;
export type EdgeRoute = (typeof edge.routes)[number];

/**
 * The delivery pipeline's identity (cloudbuild.yaml runs as it): it deploys functions (and acts as
 * their runtime and build accounts), moves traffic between revisions, and reads the smoke test's
 * secrets; it grants nothing and creates no infrastructure (a person runs the full ./deploy.sh).
 */
export const ciCdBuilder = {
  id: 'ci-cd-builder',
  displayName: 'Virtuoso delivery pipeline (Cloud Build)',
  /** Project roles (the seed's list). */
  roles: ['roles/cloudfunctions.developer', 'roles/run.developer', 'roles/logging.logWriter', 'roles/artifactregistry.writer'],
  /** Secrets the smoke check reads: the webhook secret (a signed webhook) and its API key. */
  secrets: [secrets.virtuosoWebhookSecret, secrets.ciSmokeApiKey],
} as const;

/**
 * The second region (`--secondary-region`, or SECONDARY_REGION): the public functions run in both
 * regions behind the load balancer (one serverless NEG per region in each backend service);
 * Firestore is created in the multi-region location that spans both; new secrets are replicated
 * to the two regions (user-managed). Queues, scheduler jobs, the task workers, Eventarc, the data
 * bucket and Memorystore stay in the primary region; the functions in the secondary one enqueue
 * into the primary's queues (TASKS_REGION). The switch when the primary is lost: README, "Failover".
 */
export const regions = {
  /** The multi-region Firestore location spanning both regions, by the regions' continent. */
  firestoreMultiRegion: { us: 'nam5', europe: 'eur3' } as Readonly<Record<string, string>>,
  /** The secondary region's Serverless VPC Access connector range (the primary uses network.vpcConnector.range). */
  secondaryConnectorRange: '10.8.0.16/28',
} as const;
