/**
 * Every command deploy.sh can run goes through the real gcloud's own argument parser, offline: a
 * fresh project (creates, lookups), a re-run (the updates that replace a create that finds its
 * resource), every `--only` variant, the rollbacks, the secret copies and the commands the plan
 * prints for adding a secret; the edge (load balancer, Cloud Armor, CDN) in single- and
 * multi-region mode, the pipeline's --functions-only plan, the failover drill's commands, and
 * cloudbuild.yaml through `gcloud builds submit --no-source`. gcloud has no credentials, so a command that parses (and reads the
 * files it names) stops at "You do not currently have an active account selected", before any
 * network call; anything else fails the test: `unrecognized arguments`, `Invalid choice`,
 * `argument --x: …`, an unreadable file. It runs wherever gcloud is installed.
 *
 * Each distinct command runs once, three at a time, in a fork of a gcloud whose start-up is done
 * (test/helpers/gcloud.ts): the same gcloud_main.main() the gcloud program runs, for a fifth of the
 * CPU. The last test checks that this and the program itself answer alike, good commands and bad.
 * DEPLOY_GCLOUD_BINARY=1 runs every command through the program instead (minutes on two cores).
 */
import assert from 'node:assert/strict';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as infra from '../../shared/infra';
import { shellJoin } from '../../scripts/deploy-format';
import { deployPlan, planFiles, rollbackPlan, serviceName, type PlanStep } from '../../scripts/deploy-plan';
import { failoverDrill } from '../../scripts/failover-drill';
import { GcloudForks, gcloudBinary, gcloudInstalled, parsed, type GcloudOutcome } from '../helpers/gcloud';

const ROOT = join(__dirname, '..', '..');
const P = 'my-project';
const R = 'us-central1';
const WORKERS = 3;

interface Variant {
  name: string;
  steps: PlanStep[];
}

/** The edge as an operator configures it (issue 16): a domain and the webhook sender's addresses. */
const EDGE = { domain: 'api.example.com', webhookSenders: ['203.0.113.0/24', '198.51.100.7', '2001:db8::/32'] };
const SECONDARY = 'us-east1';

/** Every plan deploy.sh can make for one project. */
function variants(filesDir: string): Variant[] {
  const base = { projectId: P, region: R, version: 'abc1234', filesDir };
  const multi = { ...base, secondaryRegion: SECONDARY, edge: EDGE };
  const names = [...infra.functions.map((f) => f.name as string), ...new Set(infra.functions.map((f) => f.bundle as string))];
  return [
    { name: 'everything, project number looked up', steps: deployPlan(base) },
    { name: 'everything, project number given', steps: deployPlan({ ...base, projectNumber: '123456789012' }) },
    { name: 'everything, alerts to an e-mail address (ALERT_EMAIL)', steps: deployPlan({ ...base, alerts: { email: 'oncall@example.com' } }) },
    { name: 'everything, alerts to a channel (ALERT_NOTIFICATION_CHANNEL)', steps: deployPlan({ ...base, alerts: { channel: `projects/${P}/notificationChannels/987654321` } }) },
    ...names.map((n) => ({ name: `--only ${n}`, steps: deployPlan({ ...base, only: [n] }) })),
    { name: '--only commandWorker,backup', steps: deployPlan({ ...base, only: ['commandWorker', 'backup'] }) },
    { name: 'single region, edge on (--domain, --webhook-senders)', steps: deployPlan({ ...base, edge: EDGE }) },
    { name: 'single region, edge on, no webhook allow-list', steps: deployPlan({ ...base, edge: { domain: EDGE.domain } }) },
    { name: 'multi-region, edge on (--secondary-region)', steps: deployPlan(multi) },
    { name: 'multi-region, edge on, project number given', steps: deployPlan({ ...multi, projectNumber: '123456789012' }) },
    { name: 'multi-region, no edge', steps: deployPlan({ ...base, secondaryRegion: SECONDARY }) },
    ...['commands', 'testRuns', 'health', 'webhook'].map((n) => ({ name: `multi-region, edge on, --only ${n}`, steps: deployPlan({ ...multi, only: [n] }) })),
    { name: 'the pipeline: --functions-only --only test-runs, multi-region, edge on', steps: deployPlan({ ...multi, only: ['test-runs'], functionsOnly: true }) },
    { name: 'the failover drill (multi-region, edge on)', steps: failoverDrill(multi).flatMap((s) => (s.command?.[0] === 'gcloud' ? [{ kind: 'edge' as const, description: s.say, args: s.command }] : [])) },
    ...infra.functions.flatMap((f) => [
      { name: `--rollback ${f.name}`, steps: rollbackPlan({ projectId: P, region: R, fn: f.name }) },
      { name: `--rollback ${f.name} --to REVISION`, steps: rollbackPlan({ projectId: P, region: R, fn: f.name, to: `${serviceName(f.name)}-00003-kex` }) },
      { name: `--rollback ${f.name} --to latest`, steps: rollbackPlan({ projectId: P, region: R, fn: f.name, to: 'latest' }) },
    ]),
  ];
}

/** Each gcloud command of a plan (creates and their updates, lookups, copies, fixes), lookups' sample values in. */
function gcloudCommands(steps: readonly PlanStep[]): string[][] {
  const samples = new Map(steps.flatMap((s) => [s.sets, s.find].flatMap((v) => (v ? [[v.name, v.sample] as const] : []))));
  const fill = (args: readonly string[]) =>
    args.map((a) =>
      a.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_m, name: string) => {
        const v = samples.get(name);
        assert.ok(v, `\${${name}} has no lookup before it`);
        return v;
      }),
    );
  return steps
    .flatMap((s) => [s.find?.args, s.args, s.update, s.stdinFrom, s.unlessSame, s.gate?.fix])
    .filter((a): a is string[] => a !== undefined && a[0] === 'gcloud')
    .map(fill);
}

/** Files a command reads: `--*-file=PATH`, `--source=PATH` (`-` is stdin). gcloud reads some only after the account check. */
const filesOf = (args: readonly string[]) => args.flatMap((a) => /^--(?:[a-z-]+-file|source)=(.+)$/.exec(a)?.[1] ?? []).filter((f) => f !== '-' && !f.startsWith('dist/'));

async function inPool<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]);
      }
    }),
  );
  return results;
}

describe('deploy plan through the real gcloud parser (offline)', function () {
  const filesDir = mkdtempSync(join(tmpdir(), 'deploy-gcloud-'));
  let forks: GcloudForks | undefined;

  before(async function () {
    if (!gcloudInstalled()) this.skip();
    this.timeout(120_000);
    forks = new GcloudForks(WORKERS, ROOT);
    await forks.started();
  });
  after(() => {
    forks?.stop();
    rmSync(filesDir, { recursive: true, force: true });
  });

  it('parses every command of every plan variant, and every file it names is there', async function () {
    this.timeout(15 * 60_000);
    for (const f of planFiles({ projectId: P, filesDir, edge: EDGE })) writeFileSync(f.path, f.content);
    const distinct = new Map<string, { args: string[]; variants: string[] }>();
    for (const v of variants(filesDir)) {
      for (const args of gcloudCommands(v.steps)) {
        const seen = distinct.get(JSON.stringify(args)) ?? { args, variants: [] };
        seen.variants.push(v.name);
        distinct.set(JSON.stringify(args), seen);
      }
    }
    const commands = [...distinct.values()];
    for (const c of commands) {
      for (const file of filesOf(c.args)) assert.doesNotThrow(() => accessSync(file, constants.R_OK), `${shellJoin(c.args)}: ${file} is not readable`);
    }

    const binary = process.env.DEPLOY_GCLOUD_BINARY === '1';
    const started = Date.now();
    const outcomes = await inPool(commands, WORKERS, (c) => (binary ? gcloudBinary(c.args, ROOT) : forks!.run(c.args)));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const failed = commands.map((c, i) => ({ ...c, o: outcomes[i] })).filter((c) => !parsed(c.o));
    const report = failed.map((c) => `${shellJoin(c.args)}\n  (exit ${c.o.code}; ${c.variants.slice(0, 3).join('; ')})\n  ${c.o.out.trim().split('\n').slice(0, 4).join('\n  ')}`);
    assert.equal(failed.length, 0, `${failed.length} of ${commands.length} commands did not parse:\n${report.join('\n')}`);
    process.stdout.write(`      (${commands.length} distinct commands of ${variants(filesDir).length} plans parsed in ${seconds} s, ${WORKERS} at a time, ${binary ? 'one gcloud process each' : 'in forks of gcloud'})\n`);
  });

  it('has no step it does not check: every step is a gcloud command, but the build, which precedes each deploy of its bundle', () => {
    for (const v of variants(filesDir)) {
      const build = v.steps.find((s) => s.kind === 'build');
      for (const s of v.steps) {
        if (s.kind === 'build') {
          assert.deepEqual(s.args.slice(0, 4), ['npm', 'run', 'build', '--'], v.name);
          continue;
        }
        assert.equal(s.args[0], 'gcloud', `${v.name}: ${shellJoin(s.args)}`);
        if (s.kind !== 'function') continue;
        const bundle = s.args.find((a) => a.startsWith('--source='))!.slice('--source=dist/'.length);
        assert.ok(build?.args.includes(bundle) && v.steps.indexOf(build) < v.steps.indexOf(s), `${v.name}: dist/${bundle} is built before it is deployed`);
      }
    }
  });

  it("passes cloudbuild.yaml (the delivery pipeline) through gcloud builds submit's own config parser; a broken copy fails", async function () {
    this.timeout(120_000);
    const broken = join(filesDir, 'cloudbuild-broken.yaml');
    writeFileSync(broken, readFileSync(join(ROOT, 'cloudbuild.yaml'), 'utf8').replace('    entrypoint: bash\n', '    entrypoint: bash\n    entrypoints: bash\n'));
    const submit = (config: string) => ['gcloud', 'builds', 'submit', `--config=${config}`, '--no-source', `--project=${P}`];
    const [good, bad] = await Promise.all([forks!.run(submit(join(ROOT, 'cloudbuild.yaml'))), forks!.run(submit(broken))]);
    assert.ok(parsed(good), good.out);
    assert.equal(parsed(bad), false);
    assert.match(bad.out, /\.steps\[0\]\.entrypoints: unused/);
  });

  it('tells an argument error or an unreadable file from a missing account, in a fork as in the gcloud program', async function () {
    this.timeout(120_000);
    const cases: { args: string[]; parses: boolean; says?: RegExp }[] = [
      { args: ['gcloud', 'pubsub', 'topics', 'create', 'x-topic', `--project=${P}`], parses: true },
      {
        // The command the issue found: gcloud has no query scope for single-field indexes.
        args: ['gcloud', 'firestore', 'indexes', 'fields', 'update', 'createdAt', '--collection-group=commands', '--index=order=ascending,query-scope=collection-group', `--project=${P}`],
        parses: false,
        says: /argument --index: valid keys are \[array-config, order\]; received: query-scope/,
      },
      { args: ['gcloud', 'pubsub', 'topics', 'create', 'x-topic', '--bogus', `--project=${P}`], parses: false, says: /unrecognized arguments: --bogus/ },
      { args: ['gcloud', 'redis', 'instances', 'create', 'x', `--region=${R}`, '--tier=gold', `--project=${P}`], parses: false, says: /argument --tier: Invalid choice: 'gold'/ },
      { args: ['gcloud', 'functions', 'deploy', 'x', '--gen2', '--runtime=nodejs24', `--region=${R}`, '--trigger-http', `--env-vars-file=${join(filesDir, 'absent.yaml')}`, `--project=${P}`], parses: false, says: /Unable to read file/ },
    ];
    const run = (args: string[]) => Promise.all([gcloudBinary(args, ROOT), forks!.run(args)]);
    const results: [GcloudOutcome, GcloudOutcome][] = await inPool(cases, 2, (c) => run(c.args));
    cases.forEach((c, i) => {
      for (const [how, o] of [['gcloud program', results[i][0]], ['fork', results[i][1]]] as const) {
        assert.equal(parsed(o), c.parses, `${how}: ${shellJoin(c.args)}\n${o.out}`);
        if (c.says) assert.match(o.out, c.says, how);
      }
      assert.equal(results[i][1].code, results[i][0].code, `the fork exits as the program does: ${shellJoin(c.args)}`);
    });
  });
});
