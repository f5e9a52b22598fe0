/**
 * The deploy plan (scripts/deploy-plan.ts) against shared/infra.ts and firestore.indexes.json, plus a
 * fixture with the kinds of resources infra.ts does not declare yet (private workers, Pub/Sub
 * triggers, push with dead-lettering, POST schedules). Pure: no gcloud, no local stack.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import indexesFile from '../../firestore.indexes.json';
import * as infra from '../../shared/infra';
import { managedExportRequest } from '../../shared/backup/managed-export';
import {
  PROJECT_NUMBER_PLACEHOLDER,
  REQUIRED_APIS,
  SERVICE_ACCOUNTS,
  defaultInfra,
  deployPlan,
  functionUrl,
  lifecycleJson,
  planFiles,
  serviceAccountEmail,
  shellJoin,
  type InfraInput,
  type PlanStep,
} from '../../scripts/deploy-plan';

const P = 'demo-project';
const R = 'us-central1';
const N = '123456789012';
const OPTS = { projectId: P, region: R, projectNumber: N, version: 'abc123', filesDir: '/tmp/plan-test' };

/** Steps whose command starts with `gcloud <words...>`. */
const commands = (steps: readonly PlanStep[], ...words: string[]) =>
  steps.filter((s) => words.every((w, i) => s.args[i + 1] === w));

/** The one step `gcloud <words...> <name>`. */
function command(steps: readonly PlanStep[], words: string[], name: string): PlanStep {
  const found = commands(steps, ...words).filter((s) => s.args[words.length + 1] === name);
  assert.equal(found.length, 1, `expected one 'gcloud ${words.join(' ')} ${name}', found ${found.length}`);
  return found[0];
}

/** The value of `--name=value` in args (undefined when absent, '' for a bare flag). */
function flag(args: readonly string[], name: string): string | undefined {
  for (const a of args) {
    if (a === `--${name}`) return '';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}
const flags = (args: readonly string[], name: string) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));

const email = (role: keyof typeof SERVICE_ACCOUNTS) => serviceAccountEmail(role, P);
const url = (fn: string) => functionUrl(fn, R, N);
const indexOfStep = (steps: readonly PlanStep[], step: PlanStep) => steps.indexOf(step);

describe('deploy plan (scripts/deploy-plan.ts)', () => {
  const plan = deployPlan(OPTS);

  it('is argument vectors of gcloud commands, each with a description and the project', () => {
    assert.ok(plan.length > 20);
    for (const s of plan) {
      assert.equal(s.args[0], 'gcloud');
      assert.ok(s.description.length > 0);
      assert.ok(s.args.every((a) => typeof a === 'string' && a.length > 0));
      const project = s.args[1] === 'projects' ? s.args[3] : flag(s.args, 'project');
      assert.equal(project, P, shellJoin(s.args));
    }
  });

  it('enables every API the functions need', () => {
    const [enable] = commands(plan, 'services', 'enable');
    for (const api of ['cloudfunctions', 'run', 'cloudbuild', 'pubsub', 'cloudtasks', 'firestore', 'secretmanager', 'cloudscheduler', 'storage', 'artifactregistry']) {
      assert.ok(enable.args.includes(`${api}.googleapis.com`), api);
    }
    // Eventarc for the Pub/Sub-triggered testRunEvents; Serverless VPC Access because functions reach Memorystore through a connector.
    assert.deepEqual(enable.args.slice(3, -1), [...REQUIRED_APIS, 'eventarc.googleapis.com', 'vpcaccess.googleapis.com']);
    assert.equal(indexOfStep(plan, enable), 0, 'APIs come first');
  });

  it('creates the runtime and the three invoker service accounts before any IAM binding', () => {
    const creates = commands(plan, 'iam', 'service-accounts', 'create');
    assert.deepEqual(
      creates.map((s) => s.args[4]),
      Object.values(SERVICE_ACCOUNTS).map((a) => a.id),
    );
    assert.ok(creates.every((s) => s.allowExists));
    const lastCreate = Math.max(...creates.map((s) => indexOfStep(plan, s)));
    const firstIam = plan.findIndex((s) => s.kind === 'iam');
    assert.ok(firstIam > lastCreate);
  });

  it('creates every topic, tolerating ones that exist', () => {
    for (const topic of Object.values(infra.topics)) {
      const s = command(plan, ['pubsub', 'topics', 'create'], topic);
      assert.equal(s.allowExists, true);
      const pub = command(plan, ['pubsub', 'topics', 'add-iam-policy-binding'], topic);
      assert.equal(flag(pub.args, 'member'), `serviceAccount:${email('runtime')}`);
      assert.equal(flag(pub.args, 'role'), 'roles/pubsub.publisher');
    }
    assert.equal(commands(plan, 'pubsub', 'topics', 'create').length, Object.keys(infra.topics).length);
  });

  it('creates every subscription with its ack deadline, retention, retry and dead-letter settings', () => {
    assert.equal(commands(plan, 'pubsub', 'subscriptions', 'create').length, infra.subscriptions.length);
    for (const spec of infra.subscriptions) {
      const s = command(plan, ['pubsub', 'subscriptions', 'create'], spec.name);
      assert.equal(s.allowExists, true);
      assert.ok(s.update, 'an existing subscription is updated');
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'ack-deadline'), String(spec.ackDeadlineSeconds));
        assert.equal(flag(args, 'message-retention-duration'), `${spec.retentionSeconds}s`);
        assert.equal(flag(args, 'min-retry-delay'), `${spec.retry.minimumBackoffSeconds}s`);
        assert.equal(flag(args, 'max-retry-delay'), `${spec.retry.maximumBackoffSeconds}s`);
        assert.equal(flag(args, 'dead-letter-topic'), spec.deadLetter?.topic);
        assert.equal(flag(args, 'max-delivery-attempts'), spec.deadLetter && String(spec.deadLetter.maxDeliveryAttempts));
        assert.equal(flag(args, 'push-endpoint') !== undefined, Boolean(spec.pushTo));
      }
      assert.equal(flag(s.args, 'topic'), spec.topic);
      assert.equal(flag(s.update!, 'topic'), undefined, 'a topic cannot be changed');
      if (!spec.deadLetter) assert.equal(flag(s.update!, 'clear-dead-letter-policy'), '');
      if (!spec.pushTo) {
        const sub = command(plan, ['pubsub', 'subscriptions', 'add-iam-policy-binding'], spec.name);
        assert.equal(flag(sub.args, 'role'), 'roles/pubsub.subscriber');
      }
    }
    const dlTopic = infra.topics.deadLetter;
    assert.ok(infra.subscriptions.some((s) => s.topic === dlTopic), 'the dead-letter topic has a subscription');
  });

  it('creates the queues with the seed rate and retry numbers', () => {
    const expected = {
      'command-execution': { 'max-dispatches-per-second': '100', 'max-concurrent-dispatches': '1000', 'max-attempts': '5', 'min-backoff': '10s', 'max-backoff': '3600s', 'max-doublings': '5' },
      'test-execution': { 'max-dispatches-per-second': '50', 'max-concurrent-dispatches': '500', 'max-attempts': '3', 'max-backoff': '1800s' },
    };
    assert.equal(commands(plan, 'tasks', 'queues', 'create').length, Object.keys(infra.queues).length);
    for (const [queue, settings] of Object.entries(expected)) {
      const s = command(plan, ['tasks', 'queues', 'create'], queue);
      assert.equal(s.allowExists, true);
      assert.equal(s.update?.[3], 'update');
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'location'), R);
        for (const [name, value] of Object.entries(settings)) assert.equal(flag(args, name), value, `${queue} --${name}`);
      }
      const enq = command(plan, ['tasks', 'queues', 'add-iam-policy-binding'], queue);
      assert.equal(flag(enq.args, 'role'), 'roles/cloudtasks.enqueuer');
    }
  });

  it('creates the data bucket with the lifecycle rules of infra.ts', () => {
    const bucket = infra.bucketName(P);
    assert.equal(bucket, 'demo-project-virtuoso-data');
    const s = command(plan, ['storage', 'buckets', 'create'], `gs://${bucket}`);
    const [file] = planFiles(OPTS);
    assert.equal(file.path, join('/tmp/plan-test', `${bucket}.lifecycle.json`));
    assert.equal(flag(s.args, 'lifecycle-file'), file.path);
    assert.equal(flag(s.update!, 'lifecycle-file'), file.path, 'an existing bucket gets the rules too');
    assert.equal(flag(s.args, 'public-access-prevention'), '');
    assert.equal(file.content, lifecycleJson());

    const { rule } = JSON.parse(lifecycleJson()) as {
      rule: { action: { type: string; storageClass?: string }; condition: { age: number; matchesPrefix: string[] } }[];
    };
    const byPrefix = (p: string) => rule.find((r) => r.condition.matchesPrefix.includes(p));
    assert.deepEqual(byPrefix('logs/')?.action, { type: 'Delete' });
    assert.equal(byPrefix('logs/')?.condition.age, 30);
    assert.deepEqual(byPrefix('artifacts/')?.action, { type: 'SetStorageClass', storageClass: 'NEARLINE' });
    assert.equal(byPrefix('artifacts/')?.condition.age, 7);
    assert.deepEqual(byPrefix('backups/')?.action, { type: 'SetStorageClass', storageClass: 'COLDLINE' });
    assert.equal(byPrefix('backups/')?.condition.age, 90);
    assert.equal(rule.length, 3);
  });

  it('creates secrets without values and lets the runtime read only those a function uses', () => {
    for (const secret of Object.values(infra.secrets)) {
      const s = command(plan, ['secrets', 'create'], secret);
      assert.equal(s.allowExists, true);
      assert.equal(flag(s.args, 'data-file'), undefined);
    }
    const read = new Set(infra.functions.flatMap((f) => [...f.secrets, ...Object.values((f as infra.FunctionSpec).envSecrets ?? {})]));
    const bound = commands(plan, 'secrets', 'add-iam-policy-binding').map((s) => {
      assert.equal(flag(s.args, 'role'), 'roles/secretmanager.secretAccessor');
      assert.equal(flag(s.args, 'member'), `serviceAccount:${email('runtime')}`);
      return s.args[3];
    });
    assert.deepEqual(new Set(bound), read);
    assert.equal(commands(plan, 'secrets', 'versions', 'add').length, 0, 'never adds a secret version');
    for (const secret of new Set(infra.functions.flatMap((f) => Object.values((f as infra.FunctionSpec).envSecrets ?? {})))) {
      const check = commands(plan, 'secrets', 'versions', 'describe').find((s) => flag(s.args, 'secret') === secret);
      assert.ok(check, `checks that ${secret} has a version before a function maps it`);
      assert.ok(indexOfStep(plan, check) < plan.findIndex((s) => s.kind === 'function'));
    }
  });

  it('sets every Firestore TTL policy of infra.ts and the composite indexes', () => {
    const ttls = commands(plan, 'firestore', 'fields', 'ttls', 'update');
    assert.deepEqual(
      ttls.map((t) => `${flag(t.args, 'collection-group')}.${t.args[t.args.indexOf('update') + 1]}`).sort(),
      infra.firestore.ttl.map((t) => `${t.collection}.${t.field}`).sort(),
    );
    for (const t of ttls) assert.equal(flag(t.args, 'enable-ttl'), '');
    assert.ok(ttls.some((t) => flag(t.args, 'collection-group') === 'webhook_deliveries'));

    const indexes = commands(plan, 'firestore', 'indexes', 'composite', 'create');
    assert.equal(indexes.length, indexesFile.indexes.length);
    const [index] = indexes;
    assert.equal(index.allowExists, true);
    assert.equal(flag(index.args, 'collection-group'), 'webhook_deliveries');
    assert.equal(flag(index.args, 'query-scope'), 'collection');
    assert.deepEqual(flags(index.args, 'field-config'), ['field-path=status,order=ascending', 'field-path=receivedAt,order=descending']);

    const override = command(plan, ['firestore', 'indexes', 'fields', 'update'], 'rawBody');
    assert.equal(flag(override.args, 'disable-indexes'), '');
    // An override that lists indexes (logArchive's collection-group query on commands.createdAt).
    const createdAt = commands(plan, 'firestore', 'indexes', 'fields', 'update').find((c) => c.args.includes('createdAt') && flag(c.args, 'collection-group') === 'commands');
    assert.ok(createdAt, 'an override for commands.createdAt');
    assert.equal(flag(createdAt.args, 'disable-indexes'), undefined);
    assert.deepEqual(flags(createdAt.args, 'index'), [
      'order=ascending,query-scope=collection',
      'order=descending,query-scope=collection',
      'array-config=contains,query-scope=collection',
      'order=ascending,query-scope=collection-group',
    ]);
  });

  it('lets the runtime start managed Firestore exports and Firestore write them to the data bucket (backup)', () => {
    const roles = commands(plan, 'projects', 'add-iam-policy-binding').map((c) => flag(c.args, 'role'));
    assert.ok(roles.includes('roles/datastore.importExportAdmin'));
    const agent = commands(plan, 'storage', 'buckets', 'add-iam-policy-binding').find((c) => /gcp-sa-firestore/.test(flag(c.args, 'member') ?? ''));
    assert.ok(agent, 'the Firestore service agent on the bucket');
    assert.equal(flag(agent.args, 'role'), 'roles/storage.objectAdmin');
    assert.match(flag(agent.args, 'member')!, /^serviceAccount:service-\d+@gcp-sa-firestore\.iam\.gserviceaccount\.com$/);
  });

  it('builds the managed export request for the data bucket, under the backup’s folder', () => {
    assert.deepEqual(managedExportRequest('my-project', '20261126T033000000Z-ab12cd34', '2026-11-26'), {
      name: 'projects/my-project/databases/(default)',
      outputUriPrefix: 'gs://my-project-virtuoso-data/backups/firestore/2026-11-26/20261126T033000000Z-ab12cd34-managed',
    });
  });

  it('deploys each function with the trigger, sizing, ingress, identity and env of infra.ts', () => {
    const deploys = commands(plan, 'functions', 'deploy');
    assert.equal(deploys.length, infra.functions.length);
    for (const fn of infra.functions as readonly infra.FunctionSpec[]) {
      const { args } = command(plan, ['functions', 'deploy'], fn.name);
      assert.equal(flag(args, 'gen2'), '');
      assert.equal(flag(args, 'runtime'), 'nodejs24');
      assert.equal(flag(args, 'region'), R);
      assert.equal(flag(args, 'source'), `dist/${fn.bundle}`);
      assert.equal(flag(args, 'entry-point'), fn.name);
      assert.equal(flag(args, 'memory'), fn.memory);
      assert.equal(flag(args, 'timeout'), `${fn.timeoutSeconds}s`);
      assert.equal(flag(args, 'ingress-settings'), { ALLOW_ALL: 'all', ALLOW_INTERNAL_ONLY: 'internal-only', ALLOW_INTERNAL_AND_GCLB: 'internal-and-gclb' }[fn.ingress]);
      assert.equal(flag(args, 'min-instances'), String(fn.minInstances));
      assert.equal(flag(args, 'max-instances'), String(fn.maxInstances));
      assert.equal(flag(args, 'concurrency'), String(fn.concurrency));
      if (fn.concurrency > 1) assert.equal(flag(args, 'cpu'), '1', 'concurrency > 1 needs a whole vCPU');
      assert.equal(flag(args, 'service-account'), email('runtime'));
      // Every function knows the task workers' URLs (to enqueue) and the identity tasks are signed as.
      assert.equal(
        flag(args, 'set-env-vars'),
        `GOOGLE_CLOUD_PROJECT=${P},REGION=${R},APP_VERSION=abc123,COMMAND_WORKER_URL=${url('commandWorker')},TEST_RUN_WORKER_URL=${url('testRunWorker')},TASKS_INVOKER_SA=${email('tasksInvoker')}`,
      );
      const envSecrets = Object.entries(fn.envSecrets ?? {});
      if (envSecrets.length) {
        assert.deepEqual(flag(args, 'set-secrets')!.split(',').sort(), envSecrets.map(([k, v]) => `${k}=${v}:latest`).sort());
      } else {
        assert.equal(flag(args, 'clear-secrets'), '');
      }
      const publicHttp = fn.trigger.kind === 'http' && fn.trigger.public;
      assert.equal(flag(args, 'allow-unauthenticated') !== undefined, publicHttp, fn.name);
      assert.equal(flag(args, 'no-allow-unauthenticated') !== undefined, !publicHttp, fn.name);
      assert.equal(flag(args, 'trigger-http') !== undefined, fn.trigger.kind !== 'pubsub');
    }
  });

  it('makes nothing public except public HTTP functions', () => {
    const publicNames = new Set<string>(infra.functions.filter((f) => f.trigger.kind === 'http' && f.trigger.public).map((f) => f.name));
    for (const s of plan) {
      if (s.args.includes('--allow-unauthenticated')) {
        assert.deepEqual(s.args.slice(1, 3), ['functions', 'deploy']);
        assert.ok(publicNames.has(s.args[3]), `${s.args[3]} is not a public HTTP function`);
      }
      if (s.args.some((a) => /^--member=(allUsers|allAuthenticatedUsers)$/.test(a))) {
        assert.ok(s.args[2].startsWith('remove-'), `grants public access: ${shellJoin(s.args)}`);
      }
    }
  });

  it('creates each scheduler job calling its function URL with an OIDC token', () => {
    assert.equal(commands(plan, 'scheduler', 'jobs', 'create', 'http').length, infra.schedules.length);
    for (const job of infra.schedules) {
      const s = command(plan, ['scheduler', 'jobs', 'create', 'http'], job.name);
      assert.equal(s.allowExists, true);
      assert.equal(s.update?.slice(1, 5).join(' '), 'scheduler jobs update http');
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'schedule'), job.schedule);
        assert.equal(flag(args, 'time-zone'), 'Etc/UTC');
        assert.equal(flag(args, 'uri'), url(job.target));
        assert.equal(flag(args, 'http-method'), job.method.toLowerCase());
        assert.equal(flag(args, 'oidc-service-account-email'), email('schedulerInvoker'));
        assert.equal(flag(args, 'oidc-token-audience'), url(job.target));
      }
      const deploy = command(plan, ['functions', 'deploy'], job.target);
      assert.ok(indexOfStep(plan, s) > indexOfStep(plan, deploy), 'the job comes after its function');
      const invoker = commands(plan, 'functions', 'add-invoker-policy-binding').find(
        (b) => b.args[3] === job.target && flag(b.args, 'member') === `serviceAccount:${email('schedulerInvoker')}`,
      );
      assert.ok(invoker, `the scheduler account may invoke ${job.target}`);
    }
    assert.equal(url('health'), `https://health-${N}.${R}.run.app`);
  });

  it('names no resource that infra.ts does not declare', () => {
    assertOnlyDeclaredNames(plan, defaultInfra());
  });

  it('never contains a secret value', () => {
    const saved = { ...process.env };
    try {
      process.env.VIRTUOSO_WEBHOOK_SECRET = 'supersecret';
      process.env.VIRTUOSO_API_KEY = 'virtuoso-key-value-123';
      process.env.MEMORYSTORE_HOST = '10.1.2.3';
      const text = JSON.stringify(deployPlan(OPTS)) + JSON.stringify(planFiles(OPTS));
      for (const value of ['supersecret', 'virtuoso-key-value-123', '10.1.2.3']) assert.ok(!text.includes(value), value);

      // The CLI too (what deploy.sh --dry-run prints), with the secrets in its environment.
      const tsx = join(__dirname, '../../node_modules/.bin/tsx');
      for (const mode of [[], ['--json']]) {
        const out = spawnSync(tsx, ['scripts/deploy-plan.ts', '--project', P, '--region', R, ...mode], {
          cwd: join(__dirname, '../..'),
          env: process.env,
          encoding: 'utf8',
        });
        assert.equal(out.status, 0, out.stderr);
        const printed = mode.length ? (JSON.parse(out.stdout) as PlanStep[]).map((s) => shellJoin(s.args)).join('\n') : out.stdout;
        assert.match(printed, /^gcloud functions deploy webhook /m);
        for (const value of ['supersecret', 'virtuoso-key-value-123', '10.1.2.3']) assert.ok(!out.stdout.includes(value), value);
      }
    } finally {
      for (const k of ['VIRTUOSO_WEBHOOK_SECRET', 'VIRTUOSO_API_KEY', 'MEMORYSTORE_HOST']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it('deploys only the named bundles, and rejects unknown ones', () => {
    const only = deployPlan({ ...OPTS, bundles: ['webhook'] });
    assert.deepEqual(commands(only, 'functions', 'deploy').map((s) => s.args[3]), ['webhook']);
    assert.equal(commands(only, 'pubsub', 'topics', 'create').length, Object.keys(infra.topics).length, 'shared resources still converge');
    assert.throws(() => deployPlan({ ...OPTS, bundles: ['nope'] }), /unknown bundle/);
  });

  it('shows a placeholder for the project number until it is known', () => {
    const p = deployPlan({ projectId: P, region: R });
    const job = commands(p, 'scheduler', 'jobs', 'create', 'http')[0];
    assert.ok(flag(job.args, 'uri')!.includes(PROJECT_NUMBER_PLACEHOLDER));
    assert.throws(() => deployPlan({ ...OPTS, version: 'a,b' }), /version/);
    assert.throws(() => deployPlan({ ...OPTS, projectId: 'Bad Project' }), /project id/);
  });

  it('prints commands that a shell reads back into the same arguments', () => {
    for (const s of plan) {
      const out = spawnSync('bash', ['-c', `printf '%s\\0' ${shellJoin(s.args.slice(1))}`], { encoding: 'utf8' });
      assert.deepEqual(out.stdout.split('\0').slice(0, -1), s.args.slice(1));
    }
  });
});

describe('deploy plan for private workers, Pub/Sub triggers, push and dead letters (fixture)', () => {
  const fixture: InfraInput = {
    ...defaultInfra(),
    functions: [
      // The fixture's own commandWorker (concurrency 1), test-runs and backup functions replace infra.ts's.
      ...defaultInfra().functions.filter((f) => f.name !== 'commandWorker' && f.bundle !== 'test-runs' && f.name !== 'backup'),
      {
        name: 'commandWorker', bundle: 'commands', trigger: { kind: 'task', queue: 'commandExecution' },
        memory: '1Gi', timeoutSeconds: 600, ingress: 'ALLOW_INTERNAL_ONLY', minInstances: 0, maxInstances: 20, concurrency: 1, secrets: ['virtuoso-api-key'],
      },
      {
        name: 'testRunEvents', bundle: 'test-runs', trigger: { kind: 'http', public: false },
        memory: '512Mi', timeoutSeconds: 120, ingress: 'ALLOW_INTERNAL_ONLY', minInstances: 0, maxInstances: 10, concurrency: 10, secrets: [],
      },
      {
        name: 'systemAudit', bundle: 'audit', trigger: { kind: 'pubsub', topic: 'system-events' },
        memory: '256Mi', timeoutSeconds: 60, ingress: 'ALLOW_INTERNAL_ONLY', minInstances: 0, maxInstances: 2, concurrency: 1, secrets: [],
      },
      {
        name: 'backup', bundle: 'backup', trigger: { kind: 'http', public: false },
        memory: '1Gi', timeoutSeconds: 3600, ingress: 'ALLOW_INTERNAL_ONLY', minInstances: 0, maxInstances: 1, concurrency: 1, secrets: [],
      },
    ],
    subscriptions: [
      ...defaultInfra().subscriptions,
      {
        name: 'webhook-events-test-runs', topic: 'webhook-events', pushTo: 'testRunEvents', ackDeadlineSeconds: 120,
        retentionSeconds: 86400, retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
        deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 10 },
      },
    ],
    schedules: [...defaultInfra().schedules.filter((s) => s.target !== 'testRunWorker' && s.target !== 'commandWorker' && s.target !== 'backup'), { name: 'backup-daily', schedule: '0 3 * * *', target: 'backup', method: 'POST', body: { mode: 'full' } }],
  };
  const plan = deployPlan(OPTS, fixture);
  const deployOf = (name: string) => command(plan, ['functions', 'deploy'], name);
  const invokers = (name: string) =>
    commands(plan, 'functions', 'add-invoker-policy-binding').filter((s) => s.args[3] === name).map((s) => flag(s.args, 'member'));

  it('deploys private workers without public access and takes back any old public grant', () => {
    for (const name of ['commandWorker', 'testRunEvents', 'backup', 'systemAudit']) {
      const { args } = deployOf(name);
      assert.equal(flag(args, 'no-allow-unauthenticated'), '', name);
      assert.equal(flag(args, 'allow-unauthenticated'), undefined, name);
      assert.equal(flag(args, 'ingress-settings'), 'internal-only');
      const remove = command(plan, ['functions', 'remove-invoker-policy-binding'], name);
      assert.equal(flag(remove.args, 'member'), 'allUsers');
      assert.equal(remove.allowMissing, true);
      assert.ok(indexOfStep(plan, remove) > indexOfStep(plan, deployOf(name)));
    }
    assert.equal(flag(deployOf('commandWorker').args, 'cpu'), undefined, 'concurrency 1 keeps the fractional CPU');
    assertOnlyDeclaredNames(plan, fixture);
  });

  it('lets each OIDC caller invoke only its own targets', () => {
    assert.deepEqual(invokers('commandWorker'), [`serviceAccount:${email('tasksInvoker')}`]);
    assert.deepEqual(invokers('testRunEvents'), [`serviceAccount:${email('pushInvoker')}`]);
    assert.deepEqual(invokers('systemAudit'), [`serviceAccount:${email('pushInvoker')}`]);
    assert.deepEqual(invokers('backup'), [`serviceAccount:${email('schedulerInvoker')}`]);
    assert.deepEqual(invokers('webhook'), []);
    const actAs = command(plan, ['iam', 'service-accounts', 'add-iam-policy-binding'], email('tasksInvoker'));
    assert.equal(flag(actAs.args, 'member'), `serviceAccount:${email('runtime')}`);
    assert.equal(flag(actAs.args, 'role'), 'roles/iam.serviceAccountUser');
  });

  it('pushes with an OIDC token to the function URL, after the function, and dead-letters', () => {
    const s = command(plan, ['pubsub', 'subscriptions', 'create'], 'webhook-events-test-runs');
    for (const args of [s.args, s.update!]) {
      assert.equal(flag(args, 'push-endpoint'), `${url('testRunEvents')}/projects/${P}/topics/webhook-events`);
      assert.equal(flag(args, 'push-auth-service-account'), email('pushInvoker'));
      assert.equal(flag(args, 'push-auth-token-audience'), url('testRunEvents'));
      assert.equal(flag(args, 'dead-letter-topic'), 'dead-letter');
      assert.equal(flag(args, 'max-delivery-attempts'), '10');
      assert.equal(flag(args, 'min-retry-delay'), '10s');
      assert.equal(flag(args, 'max-retry-delay'), '600s');
    }
    assert.ok(indexOfStep(plan, s) > indexOfStep(plan, deployOf('testRunEvents')));

    const agent = `serviceAccount:service-${N}@gcp-sa-pubsub.iam.gserviceaccount.com`;
    const publish = commands(plan, 'pubsub', 'topics', 'add-iam-policy-binding').find((b) => b.args[4] === 'dead-letter' && flag(b.args, 'member') === agent);
    assert.equal(publish && flag(publish.args, 'role'), 'roles/pubsub.publisher');
    const forward = command(plan, ['pubsub', 'subscriptions', 'add-iam-policy-binding'], 'webhook-events-test-runs');
    assert.equal(flag(forward.args, 'member'), agent);
    assert.equal(flag(forward.args, 'role'), 'roles/pubsub.subscriber');
    const tokens = command(plan, ['iam', 'service-accounts', 'add-iam-policy-binding'], email('pushInvoker'));
    assert.equal(flag(tokens.args, 'member'), agent);
    assert.equal(flag(tokens.args, 'role'), 'roles/iam.serviceAccountTokenCreator');
  });

  it('deploys Pub/Sub-triggered functions as Eventarc triggers with retries', () => {
    const { args } = deployOf('systemAudit');
    assert.equal(flag(args, 'trigger-topic'), 'system-events');
    assert.equal(flag(args, 'trigger-http'), undefined);
    assert.equal(flag(args, 'retry'), '');
    assert.equal(flag(args, 'trigger-service-account'), email('pushInvoker'));
    assert.ok(commands(plan, 'services', 'enable')[0].args.includes('eventarc.googleapis.com'));
    const receiver = commands(plan, 'projects', 'add-iam-policy-binding').find((b) => flag(b.args, 'role') === 'roles/eventarc.eventReceiver');
    assert.equal(receiver && flag(receiver.args, 'member'), `serviceAccount:${email('pushInvoker')}`);
  });

  it('sends a POST schedule body as JSON', () => {
    const s = command(plan, ['scheduler', 'jobs', 'create', 'http'], 'backup-daily');
    assert.equal(flag(s.args, 'http-method'), 'post');
    assert.equal(flag(s.args, 'message-body'), '{"mode":"full"}');
    assert.equal(flag(s.args, 'headers'), 'Content-Type=application/json');
    assert.equal(flag(s.update!, 'message-body'), '{"mode":"full"}');
    assert.equal(flag(s.args, 'attempt-deadline'), '1800s', 'Scheduler allows at most 30 min');
  });

  it('refuses an infra that does not hang together', () => {
    const bad = (patch: Partial<InfraInput>, message: RegExp) => assert.throws(() => deployPlan(OPTS, { ...fixture, ...patch }), message);
    const sub = fixture.subscriptions.at(-1)!;
    bad({ subscriptions: [{ ...sub, pushTo: 'ghost' }] }, /unknown function 'ghost'/);
    bad({ subscriptions: [{ ...sub, deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 3 } }] }, /maxDeliveryAttempts/);
    bad({ subscriptions: [{ ...sub, pushTo: 'systemAudit' }] }, /already has a Pub\/Sub/);
    bad({ schedules: [{ name: 'x', schedule: '* * * * *', target: 'ghost', method: 'GET' }] }, /unknown target/);
    bad({ functions: [{ ...fixture.functions[0], secrets: ['not-declared'] }] }, /unknown secret/);
  });
});

/**
 * Every name the plan gives a resource is one infra.ts (or firestore.indexes.json) declares, or one
 * of the plan's own service accounts. Every command kind is listed here, so a new one gets a look.
 */
function assertOnlyDeclaredNames(plan: readonly PlanStep[], input: InfraInput): void {
  const names = (xs: Iterable<string>) => new Set<string>(xs);
  const declared = {
    topic: names(Object.values(input.topics)),
    subscription: names(input.subscriptions.map((s) => s.name)),
    queue: names(Object.values(input.queues).map((q) => q.name)),
    secret: names(Object.values(input.secrets)),
    function: names(input.functions.map((f) => f.name)),
    bundle: names(input.functions.map((f) => f.bundle)),
    schedule: names(input.schedules.map((s) => s.name)),
    bucket: names(Object.keys(input.buckets).map((k) => `gs://${input.bucketName(P, k)}`)),
    serviceAccountId: names(Object.values(SERVICE_ACCOUNTS).map((a) => a.id)),
    serviceAccount: names([
      ...(Object.keys(SERVICE_ACCOUNTS) as (keyof typeof SERVICE_ACCOUNTS)[]).map((r) => email(r)),
      `service-${N}@gcp-sa-pubsub.iam.gserviceaccount.com`,
      `service-${N}@gcp-sa-firestore.iam.gserviceaccount.com`,
    ]),
    collectionGroup: names([
      ...input.firestore.ttl.map((t) => t.collection),
      ...input.indexes.indexes.map((i) => i.collectionGroup),
      ...(input.indexes.fieldOverrides ?? []).map((o) => o.collectionGroup),
    ]),
    field: names([...input.firestore.ttl.map((t) => t.field), ...(input.indexes.fieldOverrides ?? []).map((o) => o.fieldPath)]),
    connector: names([input.network.vpcConnector.name]),
  };
  type Kind = keyof typeof declared;
  const positional: Record<string, Kind | null> = {
    'services enable': null,
    'compute networks vpc-access connectors create': 'connector',
    'iam service-accounts create': 'serviceAccountId',
    'iam service-accounts add-iam-policy-binding': 'serviceAccount',
    'projects add-iam-policy-binding': null, // the project itself
    'pubsub topics create': 'topic',
    'pubsub topics add-iam-policy-binding': 'topic',
    'pubsub subscriptions create': 'subscription',
    'pubsub subscriptions update': 'subscription',
    'pubsub subscriptions add-iam-policy-binding': 'subscription',
    'tasks queues create': 'queue',
    'tasks queues update': 'queue',
    'tasks queues add-iam-policy-binding': 'queue',
    'storage buckets create': 'bucket',
    'storage buckets update': 'bucket',
    'storage buckets add-iam-policy-binding': 'bucket',
    'secrets create': 'secret',
    'secrets add-iam-policy-binding': 'secret',
    'secrets versions describe': null, // `latest`; the secret is --secret
    'firestore databases create': null,
    'firestore fields ttls update': 'field',
    'firestore indexes composite create': null,
    'firestore indexes fields update': 'field',
    'functions deploy': 'function',
    'functions add-invoker-policy-binding': 'function',
    'functions remove-invoker-policy-binding': 'function',
    'scheduler jobs create http': 'schedule',
    'scheduler jobs update http': 'schedule',
  };
  const check = (kind: Kind, name: string, where: string[]) =>
    assert.ok(declared[kind].has(name), `${kind} '${name}' is not declared (in: ${shellJoin(where)})`);
  const functionUrlName = (u: string) => {
    const m = /^https:\/\/([a-z0-9-]+)-\d+\.[a-z0-9-]+\.run\.app(\/|$)/.exec(u);
    assert.ok(m, `not a function URL: ${u}`);
    const fn = [...declared.function].find((f) => f.toLowerCase() === m[1]);
    assert.ok(fn, `URL of an undeclared function: ${u}`);
  };

  for (const args of plan.flatMap((s) => [s.args, ...(s.update ? [s.update] : [])])) {
    const words = args.slice(1).filter((a) => !a.startsWith('-'));
    const path = Object.keys(positional).find((p) => words.join(' ').startsWith(`${p}`));
    assert.ok(path, `unexpected command: ${shellJoin(args)}`);
    const kind = positional[path];
    if (kind) check(kind, words[path.split(' ').length], args);
    for (const a of args) {
      const [, name, value] = /^--([a-z-]+)=(.*)$/s.exec(a) ?? [];
      if (!name) continue;
      if (['topic', 'dead-letter-topic', 'trigger-topic'].includes(name)) check('topic', value, args);
      if (name === 'source') check('bundle', value.replace(/^dist\//, ''), args);
      if (name === 'entry-point') check('function', value, args);
      if (name === 'collection-group') check('collectionGroup', value, args);
      if (name === 'secret') check('secret', value, args);
      if (['service-account', 'trigger-service-account', 'push-auth-service-account', 'oidc-service-account-email'].includes(name)) {
        check('serviceAccount', value, args);
      }
      if (name === 'member' && value.startsWith('serviceAccount:')) check('serviceAccount', value.slice('serviceAccount:'.length), args);
      if (name === 'member' && !value.startsWith('serviceAccount:')) assert.equal(value, 'allUsers', shellJoin(args));
      if (name === 'set-secrets') for (const m of value.split(',')) check('secret', m.split('=')[1].replace(/:latest$/, ''), args);
      if (['uri', 'oidc-token-audience', 'push-endpoint', 'push-auth-token-audience'].includes(name)) functionUrlName(value);
      if (name === 'push-endpoint') assert.match(value, /\/projects\/demo-project\/topics\/[a-z-]+$/);
    }
  }
}

describe('deploy plan: private network for Memorystore', () => {
  const plan = deployPlan(OPTS);

  it('creates the VPC connector and routes private ranges of the Redis users through it', () => {
    const connector = command(plan, ['compute', 'networks', 'vpc-access', 'connectors', 'create'], infra.network.vpcConnector.name);
    assert.equal(connector.allowExists, true);
    assert.equal(flag(connector.args, 'range'), infra.network.vpcConnector.range);
    for (const fn of infra.functions as readonly infra.FunctionSpec[]) {
      const { args } = command(plan, ['functions', 'deploy'], fn.name);
      if (fn.privateNetwork) {
        assert.equal(flag(args, 'vpc-connector'), infra.network.vpcConnector.name, fn.name);
        assert.equal(flag(args, 'egress-settings'), 'private-ranges-only', fn.name);
      } else {
        assert.equal(flag(args, 'vpc-connector'), undefined, fn.name);
      }
    }
    const redisUsers = (infra.functions as readonly infra.FunctionSpec[]).filter((f) => f.envSecrets?.REDIS_HOST);
    assert.ok(redisUsers.length > 0 && redisUsers.every((f) => f.privateNetwork), 'every function given REDIS_HOST can reach it');
  });
});
