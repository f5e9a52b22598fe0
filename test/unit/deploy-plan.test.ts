/**
 * The deploy plan (scripts/deploy-plan.ts) against shared/infra.ts and firestore.indexes.json, plus a
 * fixture with kinds of resources infra.ts does not declare (push subscriptions, another Pub/Sub
 * trigger, POST schedules with other bodies). Pure: no gcloud, no local stack. That gcloud accepts
 * every command is test/integration/deploy-gcloud.test.ts; who may reach what is least-privilege.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import indexesFile from '../../firestore.indexes.json';
import * as infra from '../../shared/infra';
import { managedExportRequest } from '../../shared/backup/managed-export';
import { formatPlan, shellJoin } from '../../scripts/deploy-format';
import {
  LEGACY_RUNTIME_ACCOUNT,
  PROJECT_NUMBER_VAR,
  REQUIRED_APIS,
  defaultInfra,
  deployPlan,
  functionEmail,
  functionUrl,
  invokerEmail,
  lifecycleJson,
  planFiles,
  rollbackPlan,
  type InfraInput,
  type PlanFunction,
  type PlanStep,
} from '../../scripts/deploy-plan';

const ROOT = join(__dirname, '..', '..');
const P = 'demo-project';
const R = 'us-central1';
const N = '123456789012';
const OPTS = { projectId: P, region: R, projectNumber: N, version: 'abc123', filesDir: '/tmp/plan-test' };
const FUNCTIONS = infra.functions as readonly infra.FunctionSpec[];

/** Steps whose command starts with `gcloud <words...>`. */
const commands = (steps: readonly PlanStep[], ...words: string[]) => steps.filter((s) => words.every((w, i) => s.args[i + 1] === w));

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

const runtime = (fn: string) => functionEmail(fn, P);
const invoker = (role: infra.ServiceAccountRole) => invokerEmail(role, P);
const url = (fn: string) => functionUrl(fn, R, N);
const at = (steps: readonly PlanStep[], step: PlanStep) => steps.indexOf(step);
const firstOf = (steps: readonly PlanStep[], kind: PlanStep['kind']) => steps.findIndex((s) => s.kind === kind);

describe('deploy plan (scripts/deploy-plan.ts)', () => {
  const plan = deployPlan(OPTS);

  it('is argument vectors: the build, then gcloud commands, each with a description and the project', () => {
    assert.deepEqual(plan[0].args, ['npm', 'run', 'build', '--', 'health', 'webhook', 'commands', 'test-runs', 'log-archive', 'backup']);
    for (const s of plan.slice(1)) {
      assert.equal(s.args[0], 'gcloud');
      assert.ok(s.description.length > 0);
      assert.ok(s.args.every((a) => typeof a === 'string' && a.length > 0));
      const project = s.args[1] === 'projects' ? s.args[3] : flag(s.args, 'project');
      assert.equal(project, P, shellJoin(s.args));
    }
    assert.equal(new Set(plan.map((s) => JSON.stringify(s.args))).size, plan.length, 'no command twice');
  });

  it('enables every API the functions need, first', () => {
    const [enable] = commands(plan, 'services', 'enable');
    // Eventarc for the Pub/Sub-triggered testRunEvents; Serverless VPC Access and Redis for Memorystore.
    assert.deepEqual(enable.args.slice(3, -1), [...REQUIRED_APIS, 'eventarc.googleapis.com', 'vpcaccess.googleapis.com', 'redis.googleapis.com']);
    assert.equal(at(plan, enable), 1, 'right after the build');
    // The service agents the plan grants rights to exist before the first grant.
    const agents = commands(plan, 'beta', 'services', 'identity', 'create');
    assert.deepEqual(agents.map((s) => flag(s.args, 'service')), ['pubsub.googleapis.com', 'firestore.googleapis.com']);
    assert.ok(agents.every((s) => at(plan, s) < firstOf(plan, 'iam')));
  });

  it('looks the project number up first when it is not given, and uses it as ${PROJECT_NUMBER}', () => {
    const p = deployPlan({ ...OPTS, projectNumber: undefined });
    assert.deepEqual(p[1].args, ['gcloud', 'projects', 'describe', P, '--format=value(projectNumber)']);
    assert.equal(p[1].sets?.name, PROJECT_NUMBER_VAR);
    const job = commands(p, 'scheduler', 'jobs', 'create', 'http')[0];
    assert.match(flag(job.args, 'uri')!, /^https:\/\/health-\$\{PROJECT_NUMBER\}\.us-central1\.run\.app$/);
    assert.equal(commands(plan, 'projects', 'describe').length, 0, 'not when given');
    assert.throws(() => deployPlan({ ...OPTS, version: 'a,b' }), /version/);
    assert.throws(() => deployPlan({ ...OPTS, projectId: 'Bad Project' }), /project id/);
    assert.throws(() => deployPlan({ ...OPTS, projectNumber: '12ab' }), /digits/);
  });

  it('creates the Memorystore instance the seed asks for: STANDARD_HA, 1 GB, Redis 7, AUTH, TLS, allkeys-lru', () => {
    const s = command(plan, ['redis', 'instances', 'create'], infra.memorystore.instance);
    assert.equal(s.allowExists, true);
    assert.equal(flag(s.args, 'tier'), 'standard');
    assert.equal(flag(s.args, 'size'), '1');
    assert.equal(flag(s.args, 'redis-version'), 'redis_7_2');
    assert.equal(flag(s.args, 'enable-auth'), '');
    assert.equal(flag(s.args, 'transit-encryption-mode'), 'server-authentication');
    assert.equal(flag(s.args, 'redis-config'), 'maxmemory-policy=allkeys-lru');
    assert.equal(flag(s.args, 'region'), R);
    assert.equal(flag(s.update!, 'update-redis-config'), 'maxmemory-policy=allkeys-lru');
    assert.equal(flag(s.update!, 'enable-auth'), '');
    const connector = command(plan, ['compute', 'networks', 'vpc-access', 'connectors', 'create'], infra.network.vpcConnector.name);
    assert.ok(at(plan, connector) < at(plan, s));
  });

  it('copies the Memorystore host, AUTH string and CA into their secrets, piped, only when changed', () => {
    const copies = plan.filter((s) => s.stdinFrom);
    assert.deepEqual(copies.map((s) => s.args[4]).sort(), Object.values(infra.memorystore.secrets).sort());
    for (const s of copies) {
      assert.deepEqual(s.args.slice(1, 5), ['secrets', 'versions', 'add', s.args[4]]);
      assert.equal(flag(s.args, 'data-file'), '-', 'the value comes on stdin, never in an argument');
      assert.deepEqual(s.unlessSame?.slice(1, 5), ['secrets', 'versions', 'access', 'latest']);
      assert.equal(flag(s.unlessSame!, 'secret'), s.args[4]);
      assert.ok(at(plan, s) > at(plan, command(plan, ['redis', 'instances', 'create'], infra.memorystore.instance)));
      assert.ok(at(plan, s) < firstOf(plan, 'function'));
    }
    const from = (secret: string) => copies.find((s) => s.args[4] === secret)!.stdinFrom!;
    assert.equal(flag(from(infra.secrets.memorystoreHost), 'format'), 'value(host)');
    assert.deepEqual(from(infra.secrets.memorystoreAuth).slice(1, 4), ['redis', 'instances', 'get-auth-string']);
    assert.equal(flag(from(infra.secrets.memorystoreCa), 'format'), 'value(serverCaCerts[].cert.join(""))');
  });

  it('creates one service account per function, the invokers and the builder, before any IAM binding', () => {
    const creates = commands(plan, 'iam', 'service-accounts', 'create').map((s) => s.args[4]);
    assert.deepEqual(creates, [...Object.values(infra.serviceAccounts).map((a) => a.id), ...FUNCTIONS.map((f) => infra.functionServiceAccount(f.name).id), infra.ciCdBuilder.id]);
    assert.equal(infra.functionServiceAccount('commandWorker').id, 'virtuoso-command-worker');
    const lastCreate = Math.max(...commands(plan, 'iam', 'service-accounts', 'create').map((s) => at(plan, s)));
    assert.ok(firstOf(plan, 'iam') > lastCreate);
  });

  it('creates every topic, and every subscription with its settings and a dead-letter policy', () => {
    for (const topic of Object.values(infra.topics)) assert.equal(command(plan, ['pubsub', 'topics', 'create'], topic).allowExists, true);
    assert.equal(commands(plan, 'pubsub', 'subscriptions', 'create').length, infra.subscriptions.length);
    for (const spec of infra.subscriptions) {
      const s = command(plan, ['pubsub', 'subscriptions', 'create'], spec.name);
      assert.equal(s.allowExists, true);
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'ack-deadline'), String(spec.ackDeadlineSeconds));
        assert.equal(flag(args, 'message-retention-duration'), `${spec.retentionSeconds}s`);
        assert.equal(flag(args, 'min-retry-delay'), `${spec.retry.minimumBackoffSeconds}s`);
        assert.equal(flag(args, 'max-retry-delay'), `${spec.retry.maximumBackoffSeconds}s`);
        assert.equal(flag(args, 'expiration-period'), 'never');
      }
      assert.equal(flag(s.args, 'topic'), spec.topic);
      assert.equal(flag(s.update!, 'topic'), undefined, 'a topic cannot be changed');
      if (spec.topic === infra.topics.deadLetter) {
        // The dead letters' own archive: it could only dead-letter into itself.
        assert.equal(flag(s.update!, 'clear-dead-letter-policy'), '');
        continue;
      }
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'dead-letter-topic'), infra.topics.deadLetter, spec.name);
        assert.equal(flag(args, 'max-delivery-attempts'), '5', 'the seed: 5 delivery attempts');
      }
      const forward = commands(plan, 'pubsub', 'subscriptions', 'add-iam-policy-binding').find((b) => b.args[4] === spec.name && flag(b.args, 'member')!.includes('gcp-sa-pubsub'));
      assert.equal(forward && flag(forward.args, 'role'), 'roles/pubsub.subscriber', `the Pub/Sub service agent may forward out of ${spec.name}`);
    }
    const publish = commands(plan, 'pubsub', 'topics', 'add-iam-policy-binding').find((b) => b.args[4] === infra.topics.deadLetter && flag(b.args, 'member')!.includes('gcp-sa-pubsub'));
    assert.ok(publish, 'the Pub/Sub service agent may publish dead letters');
    assert.equal(flag(publish.args, 'role'), 'roles/pubsub.publisher');
    assert.equal(flag(publish.args, 'member'), `serviceAccount:service-${N}@gcp-sa-pubsub.iam.gserviceaccount.com`);
  });

  it("gives the subscription Eventarc makes for testRunEvents the dead-letter policy, after each deploy", () => {
    const deploy = command(plan, ['functions', 'deploy'], 'testRunEvents');
    const trigger = plan.find((s) => s.sets?.name === 'TESTRUNEVENTS_TRIGGER')!;
    assert.deepEqual(trigger.args.slice(1, 4), ['functions', 'describe', 'testRunEvents']);
    assert.equal(flag(trigger.args, 'format'), 'value(eventTrigger.trigger)');
    const sub = plan.find((s) => s.sets?.name === 'TESTRUNEVENTS_SUBSCRIPTION')!;
    assert.deepEqual(sub.args.slice(1, 5), ['eventarc', 'triggers', 'describe', '${TESTRUNEVENTS_TRIGGER}']);
    assert.equal(flag(sub.args, 'format'), 'value(transport.pubsub.subscription)');
    const update = command(plan, ['pubsub', 'subscriptions', 'update'], '${TESTRUNEVENTS_SUBSCRIPTION}');
    assert.equal(flag(update.args, 'dead-letter-topic'), infra.topics.deadLetter);
    assert.equal(flag(update.args, 'max-delivery-attempts'), '5');
    const forward = command(plan, ['pubsub', 'subscriptions', 'add-iam-policy-binding'], '${TESTRUNEVENTS_SUBSCRIPTION}');
    assert.equal(flag(forward.args, 'role'), 'roles/pubsub.subscriber');
    assert.ok(at(plan, deploy) < at(plan, trigger) && at(plan, trigger) < at(plan, sub) && at(plan, sub) < at(plan, update));
  });

  it('creates the queues with the seed rate and retry numbers', () => {
    const expected = {
      'command-execution': { 'max-dispatches-per-second': '100', 'max-concurrent-dispatches': '1000', 'max-attempts': '5', 'min-backoff': '10s', 'max-backoff': '3600s', 'max-doublings': '5' },
      'test-execution': { 'max-dispatches-per-second': '50', 'max-concurrent-dispatches': '500', 'max-attempts': '3', 'max-backoff': '1800s' },
    };
    assert.equal(commands(plan, 'tasks', 'queues', 'create').length, Object.keys(infra.queues).length);
    for (const [queue, settings] of Object.entries(expected)) {
      const s = command(plan, ['tasks', 'queues', 'create'], queue);
      assert.equal(s.update?.[3], 'update');
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'location'), R);
        for (const [name, value] of Object.entries(settings)) assert.equal(flag(args, name), value, `${queue} --${name}`);
      }
    }
  });

  it('creates the data bucket with the lifecycle rules of infra.ts, in a file the plan names', () => {
    const bucket = infra.bucketName(P);
    const s = command(plan, ['storage', 'buckets', 'create'], `gs://${bucket}`);
    const [file] = planFiles(OPTS);
    assert.equal(file.path, join('/tmp/plan-test', `${bucket}.lifecycle.json`));
    assert.equal(flag(s.args, 'lifecycle-file'), file.path);
    assert.equal(flag(s.update!, 'lifecycle-file'), file.path, 'an existing bucket gets the rules too');
    assert.equal(flag(s.args, 'public-access-prevention'), '');
    assert.equal(file.content, lifecycleJson());
    const { rule } = JSON.parse(lifecycleJson()) as { rule: { action: { type: string; storageClass?: string }; condition: { age: number; matchesPrefix: string[] } }[] };
    const byPrefix = (p: string) => rule.find((r) => r.condition.matchesPrefix.includes(p));
    assert.deepEqual(byPrefix('logs/')?.action, { type: 'Delete' });
    assert.equal(byPrefix('logs/')?.condition.age, 30);
    assert.deepEqual(byPrefix('artifacts/')?.action, { type: 'SetStorageClass', storageClass: 'NEARLINE' });
    assert.deepEqual(byPrefix('backups/')?.action, { type: 'SetStorageClass', storageClass: 'COLDLINE' });
    assert.equal(byPrefix('backups/')?.condition.age, 90);
  });

  it('creates secrets without values, and before any function checks that each one people fill in has one', () => {
    for (const secret of Object.values(infra.secrets)) {
      const s = command(plan, ['secrets', 'create'], secret);
      assert.equal(flag(s.args, 'data-file'), undefined);
    }
    const gates = plan.filter((s) => s.gate);
    // The pipeline's smoke key is read by no function: no gate before the functions (the smoke check needs it).
    const manual = Object.entries(infra.secretSources).filter(([name, src]) => src.kind === 'manual' && name !== infra.secrets.ciSmokeApiKey).map(([name]) => name);
    assert.deepEqual(gates.map((g) => flag(g.args, 'secret')).sort(), manual.sort());
    for (const g of gates) {
      const secret = flag(g.args, 'secret')!;
      const source = infra.secretSources[secret as infra.SecretName];
      assert.deepEqual(g.args.slice(1, 5), ['secrets', 'versions', 'describe', 'latest']);
      assert.deepEqual(g.gate!.fix, ['gcloud', 'secrets', 'versions', 'add', secret, '--data-file=-', `--project=${P}`]);
      assert.equal(g.gate!.required, source.kind === 'manual' && source.required);
      assert.ok(g.gate!.needs.length > 10, 'says what value to add');
      assert.ok(at(plan, g) < firstOf(plan, 'function'), 'before any function');
    }
    assert.equal(gates.find((g) => flag(g.args, 'secret') === infra.secrets.webhookSigningSecret)?.gate?.required, false);
    assert.equal(commands(plan, 'secrets', 'versions', 'add').filter((s) => !s.stdinFrom).length, 0, 'never adds a value of its own');
  });

  it('turns on point-in-time recovery and delete protection, sets the TTL policies and the indexes', () => {
    const db = commands(plan, 'firestore', 'databases', 'create')[0];
    assert.equal(flag(db.args, 'enable-pitr'), '');
    assert.equal(flag(db.args, 'delete-protection'), '');
    assert.deepEqual(db.update?.slice(1, 5), ['firestore', 'databases', 'update', '--database=(default)']);
    assert.equal(flag(db.update!, 'enable-pitr'), '', 'an existing database gets it too');
    const ttls = commands(plan, 'firestore', 'fields', 'ttls', 'update');
    assert.deepEqual(ttls.map((t) => `${flag(t.args, 'collection-group')}.${t.args[5]}`).sort(), infra.firestore.ttl.map((t) => `${t.collection}.${t.field}`).sort());
    const indexes = commands(plan, 'firestore', 'indexes', 'composite', 'create');
    assert.equal(indexes.length, indexesFile.indexes.length);
    // logArchive's collection-group query over every user's commands: a composite index, which
    // gcloud can make (it cannot scope a single-field index to a collection group).
    const archive = indexes.find((i) => flag(i.args, 'collection-group') === 'commands' && flags(i.args, 'field-config')[0] === 'field-path=createdAt,order=ascending');
    assert.ok(archive);
    assert.equal(flag(archive.args, 'query-scope'), 'collection-group');
    assert.deepEqual(flags(archive.args, 'field-config'), ['field-path=createdAt,order=ascending', 'field-path=id,order=ascending']);
    const override = command(plan, ['firestore', 'indexes', 'fields', 'update'], 'rawBody');
    assert.equal(flag(override.args, 'disable-indexes'), '');
    for (const o of commands(plan, 'firestore', 'indexes', 'fields', 'update')) {
      for (const i of flags(o.args, 'index')) assert.doesNotMatch(i, /query-scope/, 'gcloud has no query scope here');
    }
  });

  it('refuses a collection-group single-field index, which gcloud cannot make', () => {
    const input = defaultInfra();
    const indexes = { ...input.indexes, fieldOverrides: [{ collectionGroup: 'commands', fieldPath: 'createdAt', indexes: [{ order: 'ASCENDING', queryScope: 'COLLECTION_GROUP' }] }] };
    assert.throws(() => deployPlan(OPTS, { ...input, indexes }), /COLLECTION_GROUP index, which gcloud cannot set; declare a composite index/);
  });

  it('builds the managed export request for the data bucket, under the backup’s folder', () => {
    assert.deepEqual(managedExportRequest('my-project', '20261126T033000000Z-ab12cd34', '2026-11-26'), {
      name: 'projects/my-project/databases/(default)',
      outputUriPrefix: 'gs://my-project-virtuoso-data/backups/firestore/2026-11-26/20261126T033000000Z-ab12cd34-managed',
    });
  });

  it('deploys each function as its own account, with the trigger, sizing, ingress and env of infra.ts', () => {
    assert.equal(commands(plan, 'functions', 'deploy').length, FUNCTIONS.length);
    for (const fn of FUNCTIONS) {
      const { args } = command(plan, ['functions', 'deploy'], fn.name);
      assert.equal(flag(args, 'gen2'), '');
      assert.equal(flag(args, 'runtime'), 'nodejs24');
      assert.equal(flag(args, 'source'), `dist/${fn.bundle}`);
      assert.equal(flag(args, 'entry-point'), fn.name);
      assert.equal(flag(args, 'memory'), fn.memory);
      assert.equal(flag(args, 'timeout'), `${fn.timeoutSeconds}s`);
      assert.equal(flag(args, 'ingress-settings'), { ALLOW_ALL: 'all', ALLOW_INTERNAL_ONLY: 'internal-only', ALLOW_INTERNAL_AND_GCLB: 'internal-and-gclb' }[fn.ingress]);
      assert.equal(flag(args, 'min-instances'), String(fn.minInstances));
      assert.equal(flag(args, 'max-instances'), String(fn.maxInstances));
      assert.equal(flag(args, 'concurrency'), String(fn.concurrency));
      if (fn.concurrency > 1) assert.equal(flag(args, 'cpu'), '1', 'concurrency > 1 needs a whole vCPU');
      assert.equal(flag(args, 'service-account'), runtime(fn.name));
      assert.equal(flag(args, 'build-service-account'), `projects/${P}/serviceAccounts/${invoker('builder')}`);
      assert.equal(flag(args, 'serve-all-traffic-latest-revision'), '', 'a deploy after a rollback serves the new revision');
      const env = flag(args, 'set-env-vars')!.split(',');
      assert.deepEqual(env.slice(0, 3), [`GOOGLE_CLOUD_PROJECT=${P}`, `REGION=${R}`, 'APP_VERSION=abc123']);
      // A function knows the URL of the workers whose queues it enqueues into, and the identity tasks are signed as.
      const enqueues: readonly string[] = fn.uses.enqueues ?? [];
      assert.equal(env.includes(`COMMAND_WORKER_URL=${url('commandWorker')}`), enqueues.includes('commandExecution'), fn.name);
      assert.equal(env.includes(`TEST_RUN_WORKER_URL=${url('testRunWorker')}`), enqueues.includes('testExecution') || enqueues.includes('testCallbacks'), fn.name);
      assert.equal(env.includes(`TASKS_INVOKER_SA=${invoker('tasksInvoker')}`), enqueues.length > 0, fn.name);
      // Node flags of its own (testRunWorker's smaller young generation), and none for the others.
      assert.deepEqual(env.filter((e) => e.startsWith('NODE_OPTIONS=')), fn.nodeOptions ? [`NODE_OPTIONS=${fn.nodeOptions}`] : [], fn.name);
      // Its process's own environment (testRunWorker's malloc arenas), as given.
      for (const [k, v] of Object.entries(fn.processEnv ?? {})) assert.ok(env.includes(`${k}=${v}`), `${fn.name}: ${k}`);
      // Memorystore: TLS on 6378, the host mapped from its secret, through the connector.
      assert.equal(env.includes('REDIS_TLS=on') && env.includes('REDIS_PORT=6378'), Boolean(fn.uses.redis), fn.name);
      assert.equal(flag(args, 'vpc-connector'), fn.uses.redis ? infra.network.vpcConnector.name : undefined, fn.name);
      if (fn.uses.redis) assert.equal(flag(args, 'egress-settings'), 'private-ranges-only');
      const mapped = [...Object.entries(fn.envSecrets ?? {}), ...(fn.uses.redis ? [['REDIS_HOST', infra.secrets.memorystoreHost]] : [])];
      if (mapped.length) assert.deepEqual(flag(args, 'set-secrets')!.split(',').sort(), mapped.map(([k, v]) => `${k}=${v}:latest`).sort());
      else assert.equal(flag(args, 'clear-secrets'), '');
      const publicHttp = fn.trigger.kind === 'http' && fn.trigger.public;
      assert.equal(flag(args, 'allow-unauthenticated') !== undefined, publicHttp, fn.name);
      assert.equal(flag(args, 'no-allow-unauthenticated') !== undefined, !publicHttp, fn.name);
    }
    const events = command(plan, ['functions', 'deploy'], 'testRunEvents').args;
    assert.equal(flag(events, 'trigger-topic'), infra.topics.webhookEvents);
    assert.equal(flag(events, 'trigger-service-account'), invoker('pushInvoker'));
    assert.equal(flag(events, 'retry'), '');
  });

  it('makes nothing public except public HTTP functions, and lets each OIDC caller invoke only its targets', () => {
    const publicNames = new Set<string>(FUNCTIONS.filter((f) => f.trigger.kind === 'http' && f.trigger.public).map((f) => f.name));
    for (const s of plan) {
      if (s.args.includes('--allow-unauthenticated')) assert.ok(publicNames.has(s.args[3]), `${s.args[3]} is not a public HTTP function`);
      if (s.args.some((a) => /^--member=(allUsers|allAuthenticatedUsers)$/.test(a))) assert.ok(s.args[2].startsWith('remove-'), shellJoin(s.args));
    }
    const invokers = (name: string) => commands(plan, 'functions', 'add-invoker-policy-binding').filter((s) => s.args[3] === name).map((s) => flag(s.args, 'member'));
    assert.deepEqual(invokers('commandWorker'), [`serviceAccount:${invoker('tasksInvoker')}`, `serviceAccount:${invoker('schedulerInvoker')}`]);
    assert.deepEqual(invokers('testRunWorker'), [`serviceAccount:${invoker('tasksInvoker')}`, `serviceAccount:${invoker('schedulerInvoker')}`]);
    assert.deepEqual(invokers('testRunEvents'), [`serviceAccount:${invoker('pushInvoker')}`]);
    assert.deepEqual(invokers('backup'), [`serviceAccount:${invoker('schedulerInvoker')}`]);
    assert.deepEqual(invokers('webhook'), []);
    for (const name of ['commandWorker', 'testRunWorker', 'testRunEvents', 'logArchive', 'backup']) {
      const remove = command(plan, ['functions', 'remove-invoker-policy-binding'], name);
      assert.equal(flag(remove.args, 'member'), 'allUsers');
      assert.equal(remove.allowMissing, true);
    }
  });

  it('creates each scheduler job calling its function URL with an OIDC token, after the function', () => {
    assert.equal(commands(plan, 'scheduler', 'jobs', 'create', 'http').length, infra.schedules.length);
    for (const job of infra.schedules) {
      const s = command(plan, ['scheduler', 'jobs', 'create', 'http'], job.name);
      for (const args of [s.args, s.update!]) {
        assert.equal(flag(args, 'schedule'), job.schedule);
        assert.equal(flag(args, 'time-zone'), 'Etc/UTC');
        assert.equal(flag(args, 'uri'), url(job.target));
        assert.equal(flag(args, 'oidc-service-account-email'), invoker('schedulerInvoker'));
        assert.equal(flag(args, 'oidc-token-audience'), url(job.target));
      }
      assert.ok(at(plan, s) > at(plan, command(plan, ['functions', 'deploy'], job.target)));
    }
    assert.equal(url('health'), `https://health-${N}.${R}.run.app`);
  });

  it('backs up incrementally every hour but the full backup’s, and fully every day (RPO < 1 h)', () => {
    const hours = (cron: string) => {
      const [minute, hour] = cron.split(' ');
      assert.match(minute, /^\d+$/);
      return hour.split(',').flatMap((part) => {
        const [a, b] = part.split('-').map(Number);
        return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
      });
    };
    const full = infra.schedules.find((s) => s.name === 'backup-full')!;
    const incremental = infra.schedules.find((s) => s.name === 'backup-incremental')!;
    assert.deepEqual(incremental.body, { incremental: true });
    const all = [...hours(full.schedule), ...hours(incremental.schedule)].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: 24 }, (_, h) => h), 'one backup in every hour, never two at once');
  });

  it('deletes the former shared runtime account only once every function runs as its own', () => {
    const retire = command(plan, ['iam', 'service-accounts', 'delete'], `${LEGACY_RUNTIME_ACCOUNT}@${P}.iam.gserviceaccount.com`);
    assert.equal(retire.allowMissing, true);
    assert.ok(at(plan, retire) > Math.max(...commands(plan, 'functions', 'deploy').map((s) => at(plan, s))));
    assert.equal(commands(deployPlan({ ...OPTS, only: ['webhook'] }), 'iam', 'service-accounts', 'delete').length, 0);
  });

  it('never contains a secret value, in the plan or in what --dry-run prints', () => {
    const values = { VIRTUOSO_WEBHOOK_SECRET: 'supersecret', VIRTUOSO_API_KEY: 'virtuoso-key-value-123', MEMORYSTORE_AUTH: 'auth-string-xyz', MEMORYSTORE_HOST: '10.1.2.3' };
    const saved = { ...process.env };
    try {
      Object.assign(process.env, values);
      const text = JSON.stringify(deployPlan(OPTS)) + JSON.stringify(planFiles(OPTS));
      for (const v of Object.values(values)) assert.ok(!text.includes(v), v);
    } finally {
      for (const k of Object.keys(values)) if (saved[k] === undefined) delete process.env[k];
    }
    const out = spawnSync(join(ROOT, 'deploy.sh'), ['--dry-run', '--project', P, '--region', R], { cwd: ROOT, env: { ...process.env, ...values }, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.match(out.stdout, /^gcloud functions deploy webhook /m);
    for (const v of Object.values(values)) assert.ok(!out.stdout.includes(v), v);
  });

  it('prints a dry run that bash reads back into the same commands, with every file it names written', () => {
    const out = spawnSync(join(ROOT, 'deploy.sh'), ['--dry-run', '--project', P, '--region', R, '--project-number', N], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(spawnSync('bash', ['-n'], { input: out.stdout }).status, 0, 'valid bash');
    const files = [...out.stdout.matchAll(/--[a-z-]+-file=(\S+)/g)].map((m) => m[1]).filter((f) => f !== '-');
    assert.ok(files.length > 0);
    for (const f of files) assert.ok(existsSync(f.startsWith('/') ? f : join(ROOT, f)), `${f} exists after the dry run`);
    assert.match(out.stdout, new RegExp(`^cd ${ROOT.replace(/[/.]/g, '\\$&')}$`, 'm'), 'from the project root, where dist/ is built');
    // Each printed command, read by bash, gives back the plan's argument vector (lookups as their values).
    const plan = deployPlan({ ...OPTS, version: 'x', filesDir: join(ROOT, '.local', 'deploy') });
    const text = formatPlan(plan, { lines: [], root: ROOT, files: [] });
    // A step found by its display name prints two lines: NAME=$(the search), then if found update, else create.
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('cd '));
    assert.equal(lines.length, plan.length + plan.filter((s) => s.find).length);
    // Each variable a lookup (or a search) sets stands for itself, as the plan spells it.
    const variables = plan.flatMap((s) => [s.sets?.name, s.find?.name]).filter(Boolean).map((n) => `${n}='\${${n}}'`).join(' ');
    const readBack = (line: string) =>
      spawnSync('bash', ['-c', `f() { printf '%s\\0' "$@"; }; ${variables}; f ${line}`], { encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
    let i = 0;
    for (const s of plan) {
      if (s.find) {
        const [search, branch] = [lines[i++], lines[i++]];
        assert.deepEqual(readBack(search.slice(search.indexOf('$(') + 2, -1)), s.find.args, search);
        assert.ok(branch.startsWith(`if [ -n "\${${s.find.name}}" ]; then `) && branch.endsWith('; fi'), branch);
        const [update, create] = branch.slice(branch.indexOf('; then ') + 7, -4).split('; else ');
        assert.deepEqual(readBack(create), s.args, branch);
        assert.deepEqual(readBack(update), s.update, branch);
        continue;
      }
      const line = lines[i++];
      const command = s.sets ? line.slice(line.indexOf('$(') + 2, -1) : s.stdinFrom ? line.split(' | ')[1] : line;
      assert.deepEqual(readBack(command), s.args, line);
    }
  });
});

describe('deploy plan: --only one function and what it needs', () => {
  const base = deployPlan(OPTS);
  const only = (...names: string[]) => deployPlan({ ...OPTS, only: names });

  it('deploys commandWorker (a function of the commands bundle) with its account, secrets, queue, topic, Memorystore and sweep', () => {
    const p = only('commandWorker');
    assert.deepEqual(p[0].args.slice(4), ['commands'], 'builds its bundle only');
    assert.deepEqual(commands(p, 'functions', 'deploy').map((s) => s.args[3]), ['commandWorker']);
    assert.deepEqual(commands(p, 'iam', 'service-accounts', 'create').map((s) => s.args[4]).sort(), ['virtuoso-builder', 'virtuoso-command-worker', 'virtuoso-scheduler-invoker', 'virtuoso-tasks-invoker']);
    assert.deepEqual(commands(p, 'tasks', 'queues', 'create').map((s) => s.args[4]), ['command-execution'], 'the queue that calls it');
    assert.deepEqual(commands(p, 'pubsub', 'topics', 'create').map((s) => s.args[4]), ['command-events']);
    assert.ok(commands(p, 'redis', 'instances', 'create').length === 1, 'it uses Redis');
    assert.deepEqual(p.filter((s) => s.gate).map((g) => flag(g.args, 'secret')).sort(), ['virtuoso-api-key', 'virtuoso-org-id']);
    assert.deepEqual(commands(p, 'functions', 'add-invoker-policy-binding').map((s) => flag(s.args, 'member')), [`serviceAccount:${invoker('tasksInvoker')}`, `serviceAccount:${invoker('schedulerInvoker')}`]);
    assert.deepEqual(commands(p, 'scheduler', 'jobs', 'create', 'http').map((s) => s.args[5]), ['commands-sweep']);
    assert.equal(commands(p, 'pubsub', 'subscriptions', 'create').length, 0);
    assert.equal(commands(p, 'storage', 'buckets', 'create').length, 0, 'it stores no objects');
    // Every step is one the full plan has (the same command), so --only converges nothing else.
    const full = new Set(base.map((s) => JSON.stringify(s.args)));
    for (const s of p.slice(1)) assert.ok(full.has(JSON.stringify(s.args)), shellJoin(s.args));
  });

  it('deploys logArchive with the archive subscriptions, their dead letters, the bucket and its schedule', () => {
    const p = only('logArchive');
    assert.deepEqual(commands(p, 'functions', 'deploy').map((s) => s.args[3]), ['logArchive']);
    assert.deepEqual(commands(p, 'pubsub', 'subscriptions', 'create').map((s) => s.args[4]), infra.archiveSubscriptions.map((s) => s.name));
    assert.deepEqual(commands(p, 'pubsub', 'topics', 'create').map((s) => s.args[4]).sort(), Object.values(infra.topics).sort());
    assert.equal(commands(p, 'storage', 'buckets', 'create').length, 1);
    assert.deepEqual(commands(p, 'scheduler', 'jobs', 'create', 'http').map((s) => s.args[5]), ['log-archive']);
    assert.equal(commands(p, 'redis', 'instances', 'create').length, 0, 'no Redis');
  });

  it('takes a bundle for all of its functions, and refuses names infra.ts does not have', () => {
    assert.deepEqual(commands(only('test-runs'), 'functions', 'deploy').map((s) => s.args[3]), ['testRuns', 'testRunWorker', 'testRunEvents']);
    assert.throws(() => only('nope'), /unknown function\(s\) nope/);
  });
});

describe('rollback plan', () => {
  it('sends all traffic to the revision before the latest, found with gcloud, without a build', () => {
    const p = rollbackPlan({ projectId: P, region: R, fn: 'commandWorker' });
    assert.equal(p.filter((s) => s.kind === 'build').length, 0);
    assert.deepEqual(p.map((s) => s.args.slice(1, 4).join(' ')), ['run services describe', 'run revisions list', 'run services update-traffic']);
    assert.equal(p[0].args[4], 'commandworker', 'the Cloud Run service behind the function');
    assert.equal(flag(p[0].args, 'format'), 'value(status.latestReadyRevisionName)');
    assert.equal(flag(p[1].args, 'filter'), 'NOT metadata.name=${LATEST_REVISION}');
    assert.equal(flag(p[1].args, 'sort-by'), '~metadata.creationTimestamp');
    assert.equal(flag(p[2].args, 'to-revisions'), '${PREVIOUS_REVISION}=100');
  });

  it('goes to a named revision, or back to the latest', () => {
    assert.equal(flag(rollbackPlan({ projectId: P, region: R, fn: 'webhook', to: 'webhook-00003-kex' })[0].args, 'to-revisions'), 'webhook-00003-kex=100');
    assert.equal(flag(rollbackPlan({ projectId: P, region: R, fn: 'webhook', to: 'latest' })[0].args, 'to-latest'), '');
    assert.throws(() => rollbackPlan({ projectId: P, region: R, fn: 'webhook', to: 'x y' }), /revision name/);
    assert.throws(() => rollbackPlan({ projectId: P, region: R, fn: 'ghost' }), /unknown function/);
  });
});

describe('deploy plan for push subscriptions and other triggers (fixture)', () => {
  const defaults = defaultInfra();
  const worker: PlanFunction = {
    name: 'auditWorker', bundle: 'audit', trigger: { kind: 'http', public: false }, memory: '256Mi', timeoutSeconds: 60,
    ingress: 'ALLOW_INTERNAL_ONLY', minInstances: 0, maxInstances: 2, concurrency: 1, secrets: [], uses: { firestore: true },
  };
  const fixture: InfraInput = {
    ...defaults,
    functions: [...defaults.functions, worker],
    subscriptions: [
      ...defaults.subscriptions,
      {
        name: 'system-events-audit', topic: 'system-events', pushTo: 'auditWorker', ackDeadlineSeconds: 120,
        retentionSeconds: 86400, retry: { minimumBackoffSeconds: 10, maximumBackoffSeconds: 600 },
        deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 10 },
      },
    ],
    schedules: [...defaults.schedules, { name: 'audit-daily', schedule: '0 3 * * *', target: 'auditWorker', method: 'POST', body: { mode: 'full' } }],
  };
  const plan = deployPlan(OPTS, fixture);

  it('pushes with an OIDC token to the function URL, after the function, and dead-letters', () => {
    const s = command(plan, ['pubsub', 'subscriptions', 'create'], 'system-events-audit');
    for (const args of [s.args, s.update!]) {
      assert.equal(flag(args, 'push-endpoint'), `${url('auditWorker')}/projects/${P}/topics/system-events`);
      assert.equal(flag(args, 'push-auth-service-account'), invoker('pushInvoker'));
      assert.equal(flag(args, 'push-auth-token-audience'), url('auditWorker'));
      assert.equal(flag(args, 'max-delivery-attempts'), '10');
    }
    assert.ok(at(plan, s) > at(plan, command(plan, ['functions', 'deploy'], 'auditWorker')));
    const forward = command(plan, ['pubsub', 'subscriptions', 'add-iam-policy-binding'], 'system-events-audit');
    assert.equal(flag(forward.args, 'role'), 'roles/pubsub.subscriber');
    const invokers = commands(plan, 'functions', 'add-invoker-policy-binding').filter((b) => b.args[3] === 'auditWorker').map((b) => flag(b.args, 'member'));
    assert.deepEqual(invokers, [`serviceAccount:${invoker('pushInvoker')}`, `serviceAccount:${invoker('schedulerInvoker')}`]);
  });

  it('sends a POST schedule body as JSON, within Scheduler’s deadline', () => {
    const s = command(plan, ['scheduler', 'jobs', 'create', 'http'], 'audit-daily');
    assert.equal(flag(s.args, 'http-method'), 'post');
    assert.equal(flag(s.args, 'message-body'), '{"mode":"full"}');
    assert.equal(flag(s.args, 'headers'), 'Content-Type=application/json');
    assert.equal(flag(command(plan, ['scheduler', 'jobs', 'create', 'http'], 'backup-full').args, 'attempt-deadline'), '1800s', 'Scheduler allows at most 30 min');
  });

  it('refuses an infra that does not hang together', () => {
    const bad = (patch: Partial<InfraInput>, message: RegExp) => assert.throws(() => deployPlan(OPTS, { ...fixture, ...patch }), message);
    const sub = fixture.subscriptions.at(-1)!;
    bad({ subscriptions: [...defaults.subscriptions, { ...sub, pushTo: 'ghost' }] }, /unknown function 'ghost'/);
    bad({ subscriptions: [...defaults.subscriptions, { ...sub, deadLetter: { topic: 'dead-letter', maxDeliveryAttempts: 3 } }] }, /maxDeliveryAttempts/);
    bad({ subscriptions: [...defaults.subscriptions, { ...sub, deadLetter: undefined }] }, /every subscription needs a dead-letter policy/);
    bad({ subscriptions: [...defaults.subscriptions, { ...sub, pushTo: 'testRunEvents' }] }, /already has a Pub\/Sub/);
    bad({ schedules: [{ name: 'x', schedule: '* * * * *', target: 'ghost', method: 'GET' }] }, /unknown target/);
    bad({ functions: [{ ...worker, secrets: ['not-declared'] }] }, /unknown secret/);
    bad({ functions: [{ ...worker, uses: { firestore: true, publishes: ['nope'] } }] }, /uses unknown topic 'nope'/);
    bad({ functions: [{ ...worker, uses: { firestore: true, objects: [{ prefix: 'backups', access: 'read' }] } }] }, /must be folders ending in '\/'/);
    bad({ functions: [{ ...worker, name: 'aVeryLongFunctionNameThatMakesAnAccountId' }] }, /service account id/);
    bad({ functions: [...fixture.functions, { ...worker, name: 'AuditWorker' }] }, /case-insensitive/);
    // --set-env-vars splits on commas: a process environment is names and plain values.
    bad({ functions: [{ ...worker, processEnv: { MALLOC_ARENA_MAX: '2,X=1' } }] }, /bad processEnv/);
    bad({ functions: [{ ...worker, processEnv: { 'malloc arena': '2' } }] }, /bad processEnv/);
  });
});

describe('deploy.sh', () => {
  it('prints its usage, and refuses bad options with status 2', () => {
    const help = spawnSync(join(ROOT, 'deploy.sh'), ['--help'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--rollback FUNCTION/);
    const bad = spawnSync(join(ROOT, 'deploy.sh'), ['--project', P, '--bogus'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    const unknown = spawnSync(join(ROOT, 'deploy.sh'), ['--dry-run', '--project', P, '--only', 'ghost'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown function\(s\) ghost/);
    assert.ok(readFileSync(join(ROOT, 'deploy.sh'), 'utf8').includes('scripts/deploy.ts'));
  });
});
