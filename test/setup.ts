/**
 * Test harness, loaded by mocha before any test file (.mocharc.json). It fixes the environment
 * synchronously — config is read when the function modules load — then starts the real local
 * stack once per run (Firestore and Pub/Sub emulators, a private redis-server) and stops it after.
 */
import { freePortsSync } from '../scripts/local-stack/processes';

const [firestorePort, pubsubPort, redisPort, sandboxPort, tasksPort, workerPort, testRunWorkerPort, storagePort] = freePortsSync(8);

export const TEST_ENV = {
  GOOGLE_CLOUD_PROJECT: 'test-project',
  METADATA_SERVER_DETECTION: 'none',
  FIRESTORE_EMULATOR_HOST: `127.0.0.1:${firestorePort}`,
  PUBSUB_EMULATOR_HOST: `127.0.0.1:${pubsubPort}`,
  REDIS_URL: `redis://127.0.0.1:${redisPort}`,
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  APP_VERSION: 'test',
  REGION: 'test-region',
  HEALTH_CACHE_MS: '1000',
  DEPENDENCY_TIMEOUT_MS: '1500',
  REDIS_TIMEOUT_MS: '200',
  PUBLISH_TIMEOUT_MS: '3000',
  // Two Virtuoso secrets: the old and the new one, as during a rotation.
  VIRTUOSO_WEBHOOK_SECRET: 'old-virtuoso-secret new-virtuoso-secret',
  WEBHOOK_SIGNING_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  // The Virtuoso sandbox, started by the suites that need it on this port.
  VIRTUOSO_BASE_URL: `http://127.0.0.1:${sandboxPort}/api`,
  VIRTUOSO_ORG_ID: '2242',
  VIRTUOSO_API_KEY: 'test-virtuoso-token',
  // The local Cloud Tasks dispatcher and the commandWorker, started by the suites that need them.
  CLOUD_TASKS_ENDPOINT: `http://127.0.0.1:${tasksPort}`,
  COMMAND_WORKER_URL: `http://127.0.0.1:${workerPort}/`,
  TASKS_INVOKER_SA: 'tasks-invoker@test-project.iam.gserviceaccount.com',
  // Test runs: the testRunWorker and the local Cloud Storage, started by the suites that need them.
  TEST_RUN_WORKER_URL: `http://127.0.0.1:${testRunWorkerPort}/`,
  TEST_RUN_POLL_SECONDS: '1',
  STORAGE_ENDPOINT: `http://127.0.0.1:${storagePort}`,
  // Completion callbacks: the key that seals tenants' secrets, and receivers on this machine's loopback.
  CALLBACK_SIGNING_KEY: 'q3Rz0m9yLr6v8WwK1pX2cD4eF5gH7jJ8kL9mN0pQ1rs=',
  CALLBACK_ALLOW_LOOPBACK: 'true',
  CALLBACK_TIMEOUT_MS: '2000',
};
Object.assign(process.env, TEST_ENV);
delete process.env.SECRET_MANAGER_ENDPOINT;

export const ports = { firestorePort, pubsubPort, redisPort, sandboxPort, tasksPort, workerPort, testRunWorkerPort, storagePort };
