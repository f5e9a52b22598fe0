/**
 * `npm start`: the whole system on this machine. Starts the Firestore and Pub/Sub emulators (ports
 * from firebase.json; the other local services' from local-stack.json), Redis (REDIS_URL, else the server on 6379, else a private redis-server),
 * builds every function bundle and runs each through the Functions Framework on its own port
 * (firebase.json's functions port, then the next ones in shared/infra.ts order), creates the
 * topics and subscriptions of shared/infra.ts, keeps Cloud Storage in a folder (.local/storage), runs
 * the scheduler jobs, prints the URLs and example requests, and stops everything on Ctrl-C. A
 * function whose process dies is started again on its port, as Cloud Run would (supervisor.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { functions as functionSpecs, schedules, secretEnvName, secrets, type FunctionSpec } from '../shared/infra';
import { buildBundles } from './build';
import { emulatorJars } from './local-stack/emulators';
import { LOG_DIR, portInUse, spawnService, waitUntil } from './local-stack/processes';
import { startScheduler } from './local-stack/scheduler';
import { supervise } from './local-stack/supervisor';
import { startStack, type Stack } from './local-stack/stack';
import { startSandbox, type Sandbox } from './virtuoso-sandbox/server';
import { startStorageServer, type StorageServer } from './local-stack/storage-server';
import { startTasksDispatcher, type TasksDispatcher } from './local-stack/tasks-dispatcher';

const ROOT = join(__dirname, '..');
const FF_MAIN = join(ROOT, 'node_modules/@google-cloud/functions-framework/build/src/main.js');

interface FirebaseJson {
  emulators: Record<'firestore' | 'pubsub' | 'functions', { host?: string; port: number }>;
}

/** local-stack.json: ours, kept out of firebase.json (the Firebase CLI's schema allows no other keys). */
interface LocalStackJson {
  /** The Virtuoso sandbox stands in for the Virtuoso API. */
  virtuosoSandbox: { port: number; organizationId: number };
  cloudTasks: { port: number };
  cloudStorage: { port: number; dir: string };
}

export interface RunningFunction {
  spec: FunctionSpec;
  port: number;
  url: string;
  /** The process serving it now (its watchdog; a new one after a restart). */
  readonly child: ChildProcess;
  /** The function's own process id, now. */
  pid(): number | undefined;
  /** How many times it was started again after dying. */
  restarts(): number;
  stop(): Promise<void>;
}

export interface LocalSystem {
  stack: Stack;
  sandbox: Sandbox;
  tasks: TasksDispatcher;
  storage: StorageServer;
  functions: RunningFunction[];
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function localPorts(): { firestore: number; pubsub: number; functionsBase: number; sandbox: number; organizationId: number; tasks: number; storage: number; storageDir: string } {
  const fb = JSON.parse(readFileSync(join(ROOT, 'firebase.json'), 'utf8')) as FirebaseJson;
  const local = JSON.parse(readFileSync(join(ROOT, 'local-stack.json'), 'utf8')) as LocalStackJson;
  return {
    firestore: fb.emulators.firestore.port,
    pubsub: fb.emulators.pubsub.port,
    functionsBase: fb.emulators.functions.port,
    sandbox: local.virtuosoSandbox.port,
    organizationId: local.virtuosoSandbox.organizationId,
    tasks: local.cloudTasks.port,
    storage: local.cloudStorage.port,
    storageDir: join(ROOT, local.cloudStorage.dir),
  };
}

/** Local values for the secrets, unless the environment already sets them. */
function localSecrets(): Record<string, string> {
  return {
    [secretEnvName(secrets.virtuosoWebhookSecret)]: process.env[secretEnvName(secrets.virtuosoWebhookSecret)] ?? 'local-webhook-secret',
    [secretEnvName(secrets.webhookSigningSecret)]:
      process.env[secretEnvName(secrets.webhookSigningSecret)] ?? `whsec_${randomBytes(24).toString('base64')}`,
    [secretEnvName(secrets.virtuosoApiKey)]: process.env[secretEnvName(secrets.virtuosoApiKey)] ?? 'local-virtuoso-token',
    // Seals the tenants' callback secrets in the (in-memory) Firestore emulator: a new one per start is enough.
    [secretEnvName(secrets.callbackSigningKey)]: process.env[secretEnvName(secrets.callbackSigningKey)] ?? randomBytes(32).toString('base64'),
  };
}

/** One instance of a function: its process under the watchdog, ready to serve. */
export async function startFunction(spec: FunctionSpec, port: number, env: Record<string, string>, quiet: boolean): Promise<{ child: ChildProcess; pid(): number | undefined; stop(): Promise<void> }> {
  const signatureType = spec.trigger.kind === 'pubsub' ? 'cloudevent' : 'http';
  // Under the same watchdog as the emulators: a function process never outlives `npm start`.
  const svc = spawnService(
    `function-${spec.name}`,
    process.execPath,
    [FF_MAIN, `--target=${spec.name}`, `--source=${join(ROOT, 'dist', spec.bundle)}`, `--port=${port}`, `--signature-type=${signatureType}`],
    // K_SERVICE names the service in the logs as on Cloud Run; with it TRACE_EXPORTER=auto would mean
    // exporting to Google's Telemetry API, so locally tracing is off unless asked for (console, otlp).
    { ...process.env, ...env, FUNCTION_TARGET: spec.name, K_SERVICE: spec.name, TRACE_EXPORTER: env.TRACE_EXPORTER ?? process.env.TRACE_EXPORTER ?? 'none' },
  );
  if (!quiet) {
    for (const stream of [svc.child.stdout!, svc.child.stderr!]) {
      stream.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) {
          if (line.trim() && !line.startsWith('pid:')) process.stdout.write(`[${spec.name}] ${line}\n`);
        }
      });
    }
  }
  const url = `http://127.0.0.1:${port}`;
  // Any HTTP answer means the framework is serving (health's liveness probe, 405 from POST-only
  // functions). A CloudEvent function is probed with an empty Pub/Sub push, which it acknowledges.
  const probe =
    signatureType === 'cloudevent'
      ? () => fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ message: { data: '', messageId: 'probe' }, subscription: 'probe' }) })
      : () => fetch(`${url}/?probe=live`);
  await waitUntil(`function ${spec.name} on port ${port}`, async () => (await probe()).status < 500, 20_000, svc.exited);
  return { child: svc.child, pid: svc.pid, stop: svc.stop };
}

/** A function kept running: started again on its port whenever its process dies. */
export async function runFunction(spec: FunctionSpec, port: number, env: Record<string, string>, quiet: boolean): Promise<RunningFunction> {
  const supervised = await supervise(spec.name, () => startFunction(spec, port, env, quiet), (message) => process.stderr.write(`[${spec.name}] ${message} (logs: ${LOG_DIR})\n`));
  return {
    spec,
    port,
    url: `http://127.0.0.1:${port}`,
    get child() {
      return supervised.current().child;
    },
    pid: () => supervised.current().pid(),
    restarts: supervised.restarts,
    stop: supervised.stop,
  };
}

/** Starts the stack and every function; used by `npm start` and the benchmarks. */
export async function startLocalSystem(options: { quiet?: boolean; redis?: 'auto' | 'private' } = {}): Promise<LocalSystem> {
  emulatorJars(); // fails early, with a clear message, when the emulators are missing
  const ports = localPorts();
  const fnPorts = functionSpecs.map((_, i) => ports.functionsBase + i);
  const busy: string[] = [];
  for (const [what, port] of [['Firestore emulator', ports.firestore], ['Pub/Sub emulator', ports.pubsub], ['Virtuoso sandbox', ports.sandbox], ['Cloud Tasks dispatcher', ports.tasks], ['Cloud Storage (local)', ports.storage], ...fnPorts.map((p, i) => [`function ${functionSpecs[i].name}`, p])] as [string, number][]) {
    if (await portInUse(port)) busy.push(`${port} (${what})`);
  }
  if (busy.length) throw new Error(`Port(s) already in use: ${busy.join(', ')}. Is another 'npm start' running? Ports come from firebase.json and local-stack.json.`);

  const [stack] = await Promise.all([
    startStack({ projectId: process.env.GOOGLE_CLOUD_PROJECT ?? 'local-project', firestorePort: ports.firestore, pubsubPort: ports.pubsub, redis: options.redis ?? 'auto' }),
    buildBundles(),
  ]);
  const secretsEnv = localSecrets();
  const urlOf = (name: string) => `http://127.0.0.1:${fnPorts[functionSpecs.findIndex((f) => f.name === name)]}/`;
  const webhookUrl = urlOf('webhook');
  // The sandbox sends its signed execution webhooks to the local webhook function.
  const sandbox = await startSandbox({
    port: ports.sandbox,
    organizationId: ports.organizationId,
    token: secretsEnv[secretEnvName(secrets.virtuosoApiKey)],
    webhookUrl,
    webhookSecret: secretsEnv[secretEnvName(secrets.virtuosoWebhookSecret)].split(/[\s,]+/)[0],
  });
  // Cloud Tasks: the real client talks to the local dispatcher, which calls the workers.
  const tasks = await startTasksDispatcher({ port: ports.tasks });
  // Cloud Storage: the real client talks to a local JSON-API server keeping objects in a folder.
  const storage = await startStorageServer({ port: ports.storage, dir: ports.storageDir });
  const env: Record<string, string> = {
    ...stack.env,
    CLOUD_TASKS_ENDPOINT: tasks.url,
    STORAGE_ENDPOINT: storage.url,
    TEST_RUN_POLL_SECONDS: process.env.TEST_RUN_POLL_SECONDS ?? '5',
    ...Object.fromEntries((functionSpecs as readonly FunctionSpec[]).filter((f) => f.urlEnv).map((f) => [f.urlEnv!, urlOf(f.name)])),
    REGION: 'local',
    APP_VERSION: 'local',
    // Completion callbacks may go to receivers on this machine (http://127.0.0.1:…), and only here.
    CALLBACK_ALLOW_LOOPBACK: process.env.CALLBACK_ALLOW_LOOPBACK ?? 'true',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    VIRTUOSO_BASE_URL: sandbox.url,
    VIRTUOSO_ORG_ID: String(ports.organizationId),
    ...secretsEnv,
  };
  Object.assign(process.env, env);

  const running: RunningFunction[] = [];
  const stop = async () => {
    await Promise.all([...running.map((f) => f.stop()), stack.stop(), sandbox.close(), tasks.close(), storage.close()]);
  };
  try {
    running.push(...(await Promise.all(functionSpecs.map((spec, i) => runFunction(spec, fnPorts[i], env, options.quiet ?? false)))));
    // Loaded only now: the Pub/Sub client reads PUBSUB_EMULATOR_HOST when it is created.
    const { pubsub } = await import('../shared/events');
    const { provisionPubsub } = await import('./local-stack/provision');
    await provisionPubsub(pubsub(), stack.projectId, Object.fromEntries(running.map((f) => [f.spec.name, f.url])));
  } catch (err) {
    await stop();
    throw err;
  }
  return { stack, sandbox, tasks, storage, functions: running, env, stop };
}

function printSummary(sys: LocalSystem): void {
  const { stack, functions: fns, env } = sys;
  const sandboxCurl = `curl -s -H 'Authorization: Bearer ${env[secretEnvName(secrets.virtuosoApiKey)]}' '${sys.sandbox.url}/projects?organizationId=${env.VIRTUOSO_ORG_ID}'`;
  const url = (name: string) => fns.find((f) => f.spec.name === name)?.url ?? '(not running)';
  const secret = env[secretEnvName(secrets.virtuosoWebhookSecret)];
  const rows: [string, string][] = [
    ...fns.map((f) => [`function ${f.spec.name}`, f.url] as [string, string]),
    ['Firestore emulator', `127.0.0.1:${stack.firestore.port}`],
    ['Pub/Sub emulator', `127.0.0.1:${stack.pubsub.port}`],
    ['Redis', `${stack.redis.url}${stack.redis.private ? ' (private)' : ''}`],
    ['Cloud Tasks (local)', `${sys.tasks.url} (queues of shared/infra.ts, their retry settings)`],
    ['Cloud Storage (local)', `${sys.storage.url} (objects in ${sys.storage.dir})`],
    ['Virtuoso sandbox', `${sys.sandbox.url} (token ${env[secretEnvName(secrets.virtuosoApiKey)]}, organization ${env.VIRTUOSO_ORG_ID})`],
    ['Logs', LOG_DIR],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const out = [
    '',
    'Virtuoso API CLI backend — local stack is up',
    '',
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    'Try it:',
    `  curl -s '${url('health')}/?probe=live'`,
    `  curl -s '${url('health')}/'`,
    '',
    `  # a signed Virtuoso webhook (secret: VIRTUOSO_WEBHOOK_SECRET=${secret})`,
    `  body='{"event":"EXECUTION","status":"FINISHED","jobId":1234,"projectId":1,"goalId":2}'`,
    `  sig=$(printf '%s' "$body" | openssl dgst -sha1 -hmac '${secret}' | sed 's/^.* //')`,
    `  curl -s -X POST '${url('webhook')}/' -H 'Content-Type: application/json' -H "X-Virtuoso-Signature: sha1=$sig" -d "$body"`,
    '',
    '  # an API key, then CLI commands through the commands function',
    `  export FIRESTORE_EMULATOR_HOST=127.0.0.1:${stack.firestore.port} PUBSUB_EMULATOR_HOST=127.0.0.1:${stack.pubsub.port} GOOGLE_CLOUD_PROJECT=${stack.projectId}`,
    `  KEY=$(npm run -s api-keys -- create --tenant acme --user alice 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0)).key')`,
    `  curl -s -X POST '${url('commands')}/commands' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"command":"create-project \\"Demo shop\\""}'`,
    '',
    '  # a whole test from a YAML definition: built in the sandbox, executed, followed, reported',
    `  curl -s -X POST '${url('testRuns')}/test-runs' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/yaml' --data-binary @shared/schemas/examples/checkout.yaml`,
    `  curl -s '${url('testRuns')}/test-runs/RUN_ID' -H "Authorization: Bearer $KEY"          # queued → building → executing → passed`,
    `  curl -s '${url('testRuns')}/test-runs/RUN_ID/report?format=junit' -H "Authorization: Bearer $KEY" -o junit.xml`,
    '',
    '  # the Virtuoso sandbox (executions there send signed webhooks to the webhook function)',
    `  ${sandboxCurl}`,
    '',
    '  # the message it published on webhook-events, and the webhook inbox (an admin key, after the export above)',
    `  PUBSUB_EMULATOR_HOST=127.0.0.1:${stack.pubsub.port} GOOGLE_CLOUD_PROJECT=${stack.projectId} npm run pull -- webhook-events-archive`,
    `  ADMIN=$(npm run -s api-keys -- create --tenant ops --user operator --scopes admin 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0)).key')`,
    `  WEBHOOK_URL=${url('webhook')} API_KEY=$ADMIN npm run deliveries -- list --limit 5`,
    '',
    '  # archive what the archive subscriptions hold now (the scheduler does it at 5 past each hour)',
    `  curl -s -X POST '${url('logArchive')}/' -H 'Content-Type: application/json' -d '{}'`,
    '',
    '  # a Firestore backup into the local Cloud Storage, and restoring the newest one',
    `  curl -s -X POST '${url('backup')}/' -H 'Content-Type: application/json' -d '{}'`,
    `  FIRESTORE_EMULATOR_HOST=127.0.0.1:${stack.firestore.port} STORAGE_ENDPOINT=${sys.storage.url} GOOGLE_CLOUD_PROJECT=${stack.projectId} npm run restore -- latest --dry-run`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(out.join('\n'));
}

/**
 * An API key for a local user and `.local/virtuoso-config.yaml`, the last place `api-cli` looks for
 * its config (shared/client/config.ts): `npx api-cli …` in this checkout then talks to this stack.
 */
async function configureClient(sys: LocalSystem): Promise<string> {
  const { newApiKey, storeApiKey } = await import('../shared/auth');
  const { key, record } = newApiKey({ tenantId: 'local', userId: 'developer', scopes: ['commands', 'test-runs'], name: 'npm start' });
  await storeApiKey(record);
  const url = (name: string) => sys.functions.find((f) => f.spec.name === name)!.url;
  const file = join(ROOT, '.local', 'virtuoso-config.yaml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, clientConfigYaml({ commandsUrl: url('commands'), testRunsUrl: url('testRuns'), apiKey: key }), { mode: 0o600 });
  return file;
}

/** The api-cli config file for a local stack (the original CLI's keys, shared/client/config.ts). */
export function clientConfigYaml(o: { commandsUrl: string; testRunsUrl: string; apiKey: string }): string {
  return [
    '# Written by npm start for this local stack (api-cli reads it last: shared/client/config.ts).',
    'api:',
    `  commands_url: ${o.commandsUrl}`,
    `  test_runs_url: ${o.testRunsUrl}`,
    `  auth_token: ${o.apiKey}`,
    'output:',
    '  default_format: human',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  const sys = await startLocalSystem();
  printSummary(sys);
  const clientConfig = await configureClient(sys);
  process.stdout.write(
    [
      `api-cli is set up for this stack (${clientConfig}, tenant "local"):`,
      '  npx api-cli run-test shared/schemas/examples/checkout.yaml --junit out.xml',
      '  npx api-cli create-project "Demo" -o json',
      '',
    ].join('\n'),
  );
  const stopScheduler = startScheduler(
    schedules,
    (job) => sys.functions.find((f) => f.spec.name === job.target)?.url,
    (job, outcome) => process.stdout.write(`[scheduler] ${job.name} → ${job.target}: ${outcome}\n`),
  );
  // Ctrl-C: the local stack's exit hooks stop the emulators, Redis and every function process.
  process.once('SIGINT', () => {
    stopScheduler();
    process.stdout.write('\nStopping…\n');
  });
  // If whatever started us (npm, a shell) is killed outright, stop too, taking every child along.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 1000).unref();
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`npm start failed: ${err.message}\n`);
    process.exit(1);
  });
}
