/**
 * Typed configuration, read from the environment once (at cold start) and validated. A missing or
 * bad value fails with a message naming the variable, so a misdeployed function never half-works.
 * Secrets are not configuration: they come from shared/secrets.ts.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;
type Parser<T> = (raw: string | undefined, name: string) => T;

class Problem extends Error {}

const str =
  (fallback?: string): Parser<string> =>
  (raw, name) => {
    const v = raw?.trim() || fallback;
    if (v === undefined) throw new Problem(`${name} is required`);
    return v;
  };

const optional: Parser<string | undefined> = (raw) => raw?.trim() || undefined;

const int =
  (fallback: number, min: number, max: number): Parser<number> =>
  (raw, name) => {
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Problem(`${name} must be an integer between ${min} and ${max} (got '${raw}')`);
    }
    return n;
  };

const optionalInt =
  (min: number, max: number): Parser<number | undefined> =>
  (raw, name) => (raw === undefined || raw.trim() === '' ? undefined : int(0, min, max)(raw, name));

const oneOf =
  <T extends string>(values: readonly T[], fallback: T): Parser<T> =>
  (raw, name) => {
    const v = (raw?.trim() || fallback) as T;
    if (!values.includes(v)) throw new Problem(`${name} must be one of ${values.join(', ')} (got '${raw}')`);
    return v;
  };

const bool =
  (fallback: boolean): Parser<boolean> =>
  (raw, name) => {
    const v = raw?.trim().toLowerCase();
    if (!v) return fallback;
    if (v !== 'true' && v !== 'false') throw new Problem(`${name} must be true or false (got '${raw}')`);
    return v === 'true';
  };

const url =
  (protocols: readonly string[]): Parser<string | undefined> =>
  (raw, name) => {
    const v = raw?.trim();
    if (!v) return undefined;
    const u = URL.parse(v);
    // `localhost:6379` parses as a URL with the scheme `localhost:`: demand a known scheme and a host.
    if (!u || !protocols.includes(u.protocol) || !u.hostname) {
      // Never echo credentials (redis://:password@host) into an error that is printed at start.
      const shown = v.replace(/\/\/[^@/]*@/, '//***@');
      throw new Problem(`${name} must be a ${protocols.map((p) => `${p}//`).join(' or ')} URL (got '${shown}')`);
    }
    return v;
  };

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SPEC = {
  projectId: ['GOOGLE_CLOUD_PROJECT', str()],
  region: ['REGION', str('us-central1')],
  /** Where the Cloud Tasks queues are, when not in REGION (a function in the second region: the primary's). */
  tasksRegion: ['TASKS_REGION', optional],
  version: ['APP_VERSION', str('dev')],
  logLevel: ['LOG_LEVEL', oneOf(LOG_LEVELS, 'info')],
  /** Redis (Memorystore). Optional: without it the functions run uncached. `redis://host:port/db`. */
  redisUrl: ['REDIS_URL', url(['redis:', 'rediss:'])],
  /** Alternative to REDIS_URL in production, where the host comes from the `memorystore-host` secret. */
  redisHost: ['REDIS_HOST', optional],
  redisPort: ['REDIS_PORT', int(6379, 1, 65535)],
  /**
   * `on`: Memorystore's in-transit encryption: TLS, the server's certificate checked against the CA
   * in the `memorystore-ca` secret, and AUTH with the `memorystore-auth` secret (deploy sets it, with
   * REDIS_HOST and REDIS_PORT 6378). `off`: plain TCP, as the local Redis (a `rediss://` URL is TLS too).
   */
  redisTls: ['REDIS_TLS', oneOf(['off', 'on'] as const, 'off')],
  /** Each cache command gives up after this long, and the request goes on uncached. */
  redisTimeoutMs: ['REDIS_TIMEOUT_MS', int(250, 10, 10_000)],
  /** Deadline for each dependency call made by the health check. */
  dependencyTimeoutMs: ['DEPENDENCY_TIMEOUT_MS', int(2000, 50, 30_000)],
  /** How long a deep health report is reused, so a flood of checks cannot hammer the backends. */
  healthCacheMs: ['HEALTH_CACHE_MS', int(5000, 0, 300_000)],
  /**
   * Deadline of each Firestore, Cloud Tasks and Cloud Storage call made while answering: past it
   * the call is given up and the request answers 503 with Retry-After, so a frozen dependency never
   * holds a caller (their own clients wait up to 60 s, or forever for a query).
   */
  dependencyDeadlineMs: ['DEPENDENCY_DEADLINE_MS', int(5000, 100, 60_000)],
  /** How long a publish may take before it fails (webhook: 503; an event after the work: logged). */
  publishTimeoutMs: ['PUBLISH_TIMEOUT_MS', int(5000, 100, 30_000)],
  /** At most 700 KB: the raw body is kept in the delivery's Firestore document (1 MiB at most). */
  webhookMaxBodyBytes: ['WEBHOOK_MAX_BODY_BYTES', int(256 * 1024, 1024, 700 * 1024)],
  /** Duplicate deliveries inside this window are acknowledged and not published again. */
  webhookDedupeHours: ['WEBHOOK_DEDUPE_HOURS', int(72, 1, 24 * 30)],
  /** How long the inbox keeps a delivery (body, attempts, replays); at least the dedupe window, whose marker it is. */
  /** Requests per minute per user and endpoint, unless an API key sets its own (`limits.perMinute`). */
  rateLimitPerMinute: ['RATE_LIMIT_PER_MINUTE', int(1000, 1, 1_000_000)],
  /** Requests per UTC day per API key, unless the key sets its own (`limits.perDay`). */
  quotaPerDay: ['QUOTA_PER_DAY', int(100_000, 1, 100_000_000)],
  webhookRetentionHours: ['WEBHOOK_RETENTION_HOURS', int(72, 1, 24 * 90)],
  /** Standard Webhooks timestamp tolerance, both directions. */
  webhookToleranceSeconds: ['WEBHOOK_TOLERANCE_SECONDS', int(300, 1, 3600)],
  /** Secret Manager values are cached in memory this long (rotation reaches warm instances after it). */
  secretTtlMs: ['SECRET_TTL_MS', int(60_000, 0, 3_600_000)],
  /** The Virtuoso API (VIRTUOSO_API.md §1.1); locally the sandbox. */
  virtuosoBaseUrl: ['VIRTUOSO_BASE_URL', url(['http:', 'https:'])],
  /** Virtuoso organization id (required by GET /projects and POST /projects). */
  virtuosoOrgId: ['VIRTUOSO_ORG_ID', optionalInt(1, 2_147_483_647)],
  /** Local only: the REST endpoint of a Cloud Tasks stand-in (the local dispatcher). */
  cloudTasksEndpoint: ['CLOUD_TASKS_ENDPOINT', url(['http:', 'https:'])],
  /** Service account whose OIDC token Cloud Tasks attaches when calling the private workers. */
  tasksInvokerServiceAccount: ['TASKS_INVOKER_SA', optional],
  /** Where queued commands are delivered (the commandWorker's URL). */
  commandWorkerUrl: ['COMMAND_WORKER_URL', url(['http:', 'https:'])],
  /** Local only: the JSON API endpoint of a Cloud Storage stand-in (the local stack keeps objects in a folder). */
  storageEndpoint: ['STORAGE_ENDPOINT', url(['http:', 'https:'])],
  /** Where test-run tasks are delivered (the testRunWorker's URL). */
  testRunWorkerUrl: ['TEST_RUN_WORKER_URL', url(['http:', 'https:'])],
  /** How often a run in `executing` is polled (latest_status) when no FINISHED webhook has come. */
  testRunPollSeconds: ['TEST_RUN_POLL_SECONDS', int(30, 1, 3600)],
  /**
   * How long a test-run build attempt holds its run without writing progress; another delivery
   * waits this long before taking over from an attempt that died.
   */
  testRunLeaseSeconds: ['TEST_RUN_LEASE_SECONDS', int(30, 1, 600)],
  /**
   * How long a queued command's attempt holds it without renewing (it renews every third of this
   * while it works); a delivery that finds a live lease queues itself for after it, and one that
   * finds a lapsed lease takes the command over (the attempt that held it died).
   */
  commandLeaseSeconds: ['COMMAND_LEASE_SECONDS', int(30, 1, 600)],
  /** Virtuoso calls a test-run worker makes at once while building (Virtuoso answers 429 beyond its quota). */
  testRunConcurrency: ['TEST_RUN_CONCURRENCY', int(50, 1, 200)],
  /** The Virtuoso web app, for the links in a run's status (`#/project/…`, `#/checkpoint/…`). */
  virtuosoAppUrl: ['VIRTUOSO_APP_URL', str('https://app.virtuoso.qa')],
  /** logArchive moves command history older than this into Cloud Storage (logs/command-history/…). */
  archiveHistoryDays: ['ARCHIVE_HISTORY_DAYS', int(30, 1, 3650)],
  /** logArchive starts no new batch after this long (the function's timeout is 540 s). */
  archiveBudgetSeconds: ['ARCHIVE_BUDGET_SECONDS', int(300, 1, 3000)],
  /** `auto`: a full backup also starts Firestore's managed export (not on the emulator); `off`: never. */
  backupManagedExport: ['BACKUP_MANAGED_EXPORT', oneOf(['auto', 'off'] as const, 'auto')],
  /**
   * Local stack and tests only: completion callbacks may go to loopback addresses (127.0.0.0/8,
   * ::1) over plain http. Never set in production, where callbacks are https to public addresses.
   */
  callbackAllowLoopback: ['CALLBACK_ALLOW_LOOPBACK', bool(false)],
  /** How long a completion callback's receiver has to answer (Standard Webhooks senders: 15–30 s). */
  callbackTimeoutMs: ['CALLBACK_TIMEOUT_MS', int(15_000, 100, 30_000)],
  /**
   * Where OpenTelemetry spans go (shared/telemetry.ts): `otlp` (OTLP/HTTP to TRACE_OTLP_ENDPOINT),
   * `console` (stdout), `none` (no SDK loaded at all). `auto`: `otlp` on Cloud Run (K_SERVICE is
   * set there), `none` elsewhere.
   */
  traceExporter: ['TRACE_EXPORTER', oneOf(['auto', 'none', 'console', 'otlp'] as const, 'auto')],
  /** The OTLP/HTTP traces URL; default Google's Telemetry API, `https://telemetry.googleapis.com/v1/traces`. */
  traceOtlpEndpoint: ['TRACE_OTLP_ENDPOINT', url(['http:', 'https:'])],
  /** Local only: the REST endpoint of a Secret Manager stand-in (production uses Google's). */
  secretManagerEndpoint: ['SECRET_MANAGER_ENDPOINT', url(['http:', 'https:'])],
} as const;

type Spec = typeof SPEC;
export type Config = { readonly [K in keyof Spec]: ReturnType<Spec[K][1]> };

/** Parses and validates `env`; throws ConfigError listing every bad variable. Pure: for tests too. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, [name, parse]] of Object.entries(SPEC) as [string, [string, Parser<unknown>]][]) {
    try {
      out[key] = parse(env[name], name);
    } catch (err) {
      if (!(err instanceof Problem)) throw err;
      problems.push(err.message);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return Object.freeze(out) as Config;
}

let current: Config | undefined;

/** The process's configuration, loaded on first use. Entry points call it at module load (cold start). */
export function getConfig(): Config {
  return (current ??= loadConfig());
}

/** Where Redis is, if configured. */
export function redisUrlOf(config: Config): string | undefined {
  if (config.redisUrl) return config.redisUrl;
  return config.redisHost ? `redis://${config.redisHost}:${config.redisPort}` : undefined;
}
