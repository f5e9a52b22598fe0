/**
 * Least privilege, read from the deploy plan itself (every IAM binding it makes, as gcloud would
 * apply them): each function runs as its own service account, holding exactly the grants its
 * `secrets`, `envSecrets` and `uses` in shared/infra.ts call for; a public function cannot reach the
 * backups, another function's secrets or the archive subscriptions. Pure: no gcloud.
 */
import assert from 'node:assert/strict';
import * as infra from '../../shared/infra';
import { defaultInfra, deployPlan, functionEmail, invokerEmail, TRACES_WRITER_ROLE, type InfraInput, type PlanStep } from '../../scripts/deploy-plan';
import { ciCdBuilderEmail } from '../../scripts/deploy-plan-pipeline';

const P = 'demo-project';
const OPTS = { projectId: P, region: 'us-central1', projectNumber: '123456789012', filesDir: '/tmp/lp' };
const BUCKET = infra.bucketName(P);
const BACKUP_OBJECT = `backups/firestore/2026-11-26/20261126T033000000Z-ab12cd34/sessions-00001.ndjson.gz`;

interface Grant {
  /** `project`, `topic:NAME`, `subscription:NAME`, `queue:NAME`, `secret:NAME`, `bucket:NAME`, `account:EMAIL`, `function:NAME`. */
  on: string;
  role: string;
  /** The object name prefixes an IAM condition limits a bucket grant to (undefined: no condition). */
  prefixes?: string[];
  /** The BigQuery datasets an IAM condition limits a project grant to. */
  datasets?: string[];
}

const flag = (args: readonly string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** Every grant the plan makes, by member. */
function grantsOf(plan: readonly PlanStep[]): Map<string, Grant[]> {
  const out = new Map<string, Grant[]>();
  for (const s of plan) {
    const words = s.args.slice(1).filter((a) => !a.startsWith('-'));
    const i = words.indexOf('add-iam-policy-binding');
    const invokerBinding = words[1] === 'add-invoker-policy-binding';
    if (i < 0 && !invokerBinding) continue;
    const member = flag(s.args, 'member')!;
    let on: string;
    if (invokerBinding) on = `function:${words[2]}`;
    else {
      const kind = words.slice(0, i).join(' ');
      const resource = words[i + 1];
      on = {
        projects: 'project',
        'pubsub topics': `topic:${resource}`,
        'pubsub subscriptions': `subscription:${resource}`,
        'tasks queues': `queue:${resource}`,
        secrets: `secret:${resource}`,
        'storage buckets': `bucket:${resource.replace(/^gs:\/\//, '')}`,
        'iam service-accounts': `account:${resource}`,
      }[kind]!;
      assert.ok(on, `a binding this test does not know: ${kind}`);
    }
    const condition = flag(s.args, 'condition');
    const conditional = condition && condition !== 'None';
    const prefixes = conditional ? [...condition.matchAll(/objects\/([^"]*)"\)/g)].map((m) => m[1]) : [];
    const datasets = conditional ? [...new Set([...condition.matchAll(/datasets\/([A-Za-z0-9_]+)\/?"/g)].map((m) => m[1]))] : [];
    if (conditional) assert.ok(prefixes.length || datasets.length, `a condition this test cannot read: ${condition}`);
    const grants = out.get(member) ?? [];
    grants.push({ on, role: flag(s.args, 'role') ?? 'roles/run.invoker', ...(prefixes.length ? { prefixes } : {}), ...(datasets.length ? { datasets } : {}) });
    out.set(member, grants);
  }
  return out;
}

/** Whether a grant on the data bucket lets its holder read or write `object`. */
const reachesObject = (g: Grant, object: string) => g.on === `bucket:${BUCKET}` && (g.prefixes === undefined || g.prefixes.some((p) => object.startsWith(p)));

/** What a function's declaration calls for, worked out here from infra.ts on its own. */
function expectedGrants(f: infra.FunctionSpec): string[] {
  const m = infra.memorystore.secrets;
  const secrets = new Set<string>([...f.secrets, ...Object.values(f.envSecrets ?? {}), ...(f.uses.redis ? [m.host, m.auth, m.ca] : [])]);
  return [
    ...(f.uses.firestore ? ['project roles/datastore.user'] : []),
    ...(f.uses.firestoreExports ? ['project roles/datastore.importExportAdmin'] : []),
    // Every function writes its trace spans (append only).
    `project ${TRACES_WRITER_ROLE}`,
    ...(f.uses.publishes ?? []).map((t) => `topic:${t} roles/pubsub.publisher`),
    ...(f.uses.inspects ?? []).map((t) => `topic:${t} roles/pubsub.viewer`),
    ...(f.uses.pulls ?? []).map((s) => `subscription:${s} roles/pubsub.subscriber`),
    ...(f.uses.enqueues ?? []).map((q) => `queue:${infra.queues[q].name} roles/cloudtasks.enqueuer`),
    ...((f.uses.enqueues ?? []).length ? [`account:${invokerEmail('tasksInvoker', P)} roles/iam.serviceAccountUser`] : []),
    ...(f.uses.objects ?? []).map((o) => `bucket:${BUCKET} ${o.access === 'read' ? 'roles/storage.objectViewer' : 'roles/storage.objectUser'} only ${o.prefix}`),
    ...[...secrets].map((s) => `secret:${s} roles/secretmanager.secretAccessor`),
  ].sort();
}

const describeGrant = (g: Grant) => `${g.on} ${g.role}${g.prefixes ? ` only ${g.prefixes.join(',')}` : ''}${g.datasets ? ` only dataset ${g.datasets.join(',')}` : ''}`;
const FUNCTIONS = infra.functions as readonly infra.FunctionSpec[];
const isPublic = (f: infra.FunctionSpec) => f.trigger.kind === 'http' && f.trigger.public;

/** What a public function must not reach; returns the violations. */
function publicViolations(fn: infra.FunctionSpec, grants: readonly Grant[]): string[] {
  const own = new Set<string>([...fn.secrets, ...Object.values(fn.envSecrets ?? {}), ...(fn.uses.redis ? Object.values(infra.memorystore.secrets) : [])]);
  const archives = new Set(infra.archiveSubscriptions.map((s) => s.name));
  return grants.flatMap((g) => {
    const v: string[] = [];
    if (reachesObject(g, BACKUP_OBJECT)) v.push(`reaches the backups: ${describeGrant(g)}`);
    if (g.role === 'roles/datastore.importExportAdmin') v.push(`can export or import the database: ${describeGrant(g)}`);
    if (g.on.startsWith('secret:') && !own.has(g.on.slice('secret:'.length))) v.push(`reads another function's secret: ${describeGrant(g)}`);
    if (g.on.startsWith('subscription:') && archives.has(g.on.slice('subscription:'.length))) v.push(`reaches an archive subscription: ${describeGrant(g)}`);
    if (g.on === 'project' && g.role !== 'roles/datastore.user' && g.role !== TRACES_WRITER_ROLE) v.push(`has a project-wide role beyond Firestore and trace spans: ${describeGrant(g)}`);
    return v;
  });
}

describe('least privilege (the IAM bindings of the deploy plan)', () => {
  const plan = deployPlan(OPTS);
  const grants = grantsOf(plan);
  const of = (fn: string) => grants.get(`serviceAccount:${functionEmail(fn, P)}`) ?? [];

  it('runs every function as its own service account', () => {
    const accounts = FUNCTIONS.map((f) => plan.find((s) => s.kind === 'function' && s.args[3] === f.name)!.args.find((a) => a.startsWith('--service-account='))!);
    assert.equal(new Set(accounts).size, FUNCTIONS.length);
    FUNCTIONS.forEach((f, i) => assert.equal(accounts[i], `--service-account=${functionEmail(f.name, P)}`));
  });

  it('grants each function exactly what infra.ts says it uses, nothing more', () => {
    for (const f of FUNCTIONS) assert.deepEqual(of(f.name).map(describeGrant).sort(), expectedGrants(f), f.name);
  });

  it('keeps every public function away from the backups, other functions’ secrets and the archive subscriptions', () => {
    const publicFns = FUNCTIONS.filter(isPublic);
    assert.deepEqual(publicFns.map((f) => f.name), ['health', 'webhook', 'commands', 'testRuns']);
    for (const f of publicFns) assert.deepEqual(publicViolations(f, of(f.name)), [], f.name);
    // Concretely: the webhook cannot read the Virtuoso API key, nor health the webhook secret.
    assert.ok(!of('webhook').some((g) => g.on === `secret:${infra.secrets.virtuosoApiKey}`));
    assert.ok(!of('health').some((g) => g.on === `secret:${infra.secrets.virtuosoWebhookSecret}`));
    // testRuns reads reports, and only reports.
    assert.deepEqual(of('testRuns').filter((g) => g.on.startsWith('bucket:')).map(describeGrant), [`bucket:${BUCKET} roles/storage.objectViewer only artifacts/test-results/`]);
  });

  it('gives the backups to the backup function alone, and the archive subscriptions to logArchive alone', () => {
    const holders = (test: (g: Grant) => boolean) => [...grants].filter(([, gs]) => gs.some(test)).map(([member]) => member);
    assert.deepEqual(holders((g) => reachesObject(g, BACKUP_OBJECT)), [
      `serviceAccount:${functionEmail('backup', P)}`,
      'serviceAccount:service-123456789012@gcp-sa-firestore.iam.gserviceaccount.com', // writes the managed exports
    ]);
    for (const s of infra.archiveSubscriptions) {
      assert.deepEqual(holders((g) => g.on === `subscription:${s.name}`), [
        `serviceAccount:${functionEmail('logArchive', P)}`,
        ...(s.deadLetter ? ['serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com'] : []), // forwards dead letters
      ], s.name);
    }
  });

  it('lets the invokers only invoke, each only its own targets', () => {
    for (const role of ['tasksInvoker', 'schedulerInvoker'] as const) {
      for (const g of grants.get(`serviceAccount:${invokerEmail(role, P)}`) ?? []) assert.equal(g.role, 'roles/run.invoker', `${role}: ${describeGrant(g)}`);
    }
    const push = grants.get(`serviceAccount:${invokerEmail('pushInvoker', P)}`)!.map(describeGrant).sort();
    assert.deepEqual(push, ['function:testRunEvents roles/run.invoker', 'project roles/eventarc.eventReceiver']);
    assert.deepEqual(grants.get(`serviceAccount:${invokerEmail('builder', P)}`)!.map(describeGrant), ['project roles/cloudbuild.builds.builder']);
  });

  it('lets each log sink write to its own destination only (its writer identity, looked up after the sink is made)', () => {
    const { security, analytics } = infra.logSinks;
    assert.deepEqual(grants.get('${SECURITY_SINK_WRITER}')!.map(describeGrant), [`project roles/bigquery.dataEditor only dataset ${security.dataset}`]);
    assert.deepEqual(grants.get('${ANALYTICS_SINK_WRITER}')!.map(describeGrant), [`bucket:${infra.bucketName(P, analytics.bucket)} roles/storage.objectCreator`]);
    // Nobody else holds anything on the analytics bucket or in BigQuery.
    const holders = [...grants].filter(([, gs]) => gs.some((g) => g.on === `bucket:${infra.bucketName(P, analytics.bucket)}` || g.role.startsWith('roles/bigquery.'))).map(([m]) => m);
    assert.deepEqual(holders.sort(), ['${ANALYTICS_SINK_WRITER}', '${SECURITY_SINK_WRITER}']);
  });

  it('gives the delivery pipeline (ci-cd-builder) its roles, act-as on the function and build accounts, the smoke secrets, and nothing else', () => {
    const pipeline = (grants.get(`serviceAccount:${ciCdBuilderEmail(P)}`) ?? []).map(describeGrant).sort();
    const expected = [
      ...infra.ciCdBuilder.roles.map((r) => `project ${r}`),
      ...FUNCTIONS.map((f) => `account:${functionEmail(f.name, P)} roles/iam.serviceAccountUser`),
      `account:${invokerEmail('builder', P)} roles/iam.serviceAccountUser`,
      ...infra.ciCdBuilder.secrets.map((sec) => `secret:${sec} roles/secretmanager.secretAccessor`),
    ].sort();
    assert.deepEqual(pipeline, expected);
    // It deploys and moves traffic; it cannot grant, administer or read data.
    for (const g of pipeline) assert.doesNotMatch(g, /admin|owner|editor|setIamPolicy|datastore|storage\.object|pubsub|cloudtasks/i, g);
    assert.ok(!pipeline.includes(`secret:${infra.secrets.virtuosoApiKey} roles/secretmanager.secretAccessor`), 'not the Virtuoso API key');
    // The pipeline's own plan (--functions-only) grants nothing and creates nothing but function revisions.
    const own = deployPlan({ ...OPTS, only: ['commands'], functionsOnly: true });
    assert.deepEqual([...new Set(own.map((st) => st.kind))].sort(), ['build', 'function']);
    assert.equal(grantsOf(own).size, 0);
  });

  it('fails when a public function is given more (the check can fail)', () => {
    const input = defaultInfra();
    const widened: InfraInput = {
      ...input,
      functions: input.functions.map((f) =>
        f.name === 'webhook'
          ? { ...f, secrets: [...f.secrets, infra.secrets.virtuosoApiKey], uses: { ...f.uses, objects: [{ prefix: 'backups/', access: 'read' as const }], pulls: [infra.archiveSubscriptions[0].name] } }
          : f,
      ),
    };
    const webhook = grantsOf(deployPlan(OPTS, widened)).get(`serviceAccount:${functionEmail('webhook', P)}`)!;
    const declared = FUNCTIONS.find((f) => f.name === 'webhook')!;
    const violations = publicViolations(declared, webhook);
    assert.equal(violations.length, 3, violations.join('\n'));
    assert.match(violations.join('\n'), /reaches the backups/);
    assert.match(violations.join('\n'), /another function's secret: secret:virtuoso-api-key/);
    assert.match(violations.join('\n'), /archive subscription: subscription:webhook-events-archive/);
    assert.notDeepEqual(webhook.map(describeGrant).sort(), expectedGrants(declared));
  });
});
