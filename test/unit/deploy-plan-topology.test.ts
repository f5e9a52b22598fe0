/**
 * The deploy plan's topology modes (issue 16): the edge (scripts/deploy-plan-edge.ts), the second
 * region (scripts/deploy-plan-regions.ts) and the pipeline's functions-only plan. Pure: no gcloud
 * (that every command parses is test/integration/deploy-gcloud.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import * as infra from '../../shared/infra';
import { deployPlan, planFiles, type PlanStep } from '../../scripts/deploy-plan';
import { armorPriorities, edgeNames, urlMapFilePath } from '../../scripts/deploy-plan-edge';
import { firestoreLocationFor } from '../../scripts/deploy-plan-regions';

const P = 'demo-project';
const R = 'us-central1';
const S = 'us-east1';
const OPTS = { projectId: P, region: R, projectNumber: '123456789012', version: 'abc123', filesDir: '/tmp/topology-test' };
const EDGE = { domain: 'api.example.com', webhookSenders: ['203.0.113.0/24'] };
const PUBLIC = ['health', 'webhook', 'commands', 'testRuns'];

const flag = (args: readonly string[], name: string) => {
  for (const a of args) {
    if (a === `--${name}`) return '';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
};
const commands = (steps: readonly PlanStep[], ...words: string[]) => steps.filter((s) => words.every((w, i) => s.args[i + 1] === w));
const deploys = (steps: readonly PlanStep[], region = R) => commands(steps, 'functions', 'deploy').filter((s) => flag(s.args, 'region') === region);
const env = (s: PlanStep) => Object.fromEntries(flag(s.args, 'set-env-vars')!.split(',').map((kv) => kv.split('=') as [string, string]));
const index = (steps: readonly PlanStep[], s: PlanStep | undefined) => {
  assert.ok(s);
  return steps.indexOf(s);
};

describe('deploy plan: the edge, the second region, the pipeline', () => {
  describe('the edge', () => {
    const single = deployPlan(OPTS);
    const withEdge = deployPlan({ ...OPTS, edge: EDGE });

    it('is off without a domain: no edge step, the public functions take traffic from everywhere', () => {
      assert.equal(single.filter((s) => s.kind === 'edge').length, 0);
      for (const s of deploys(single)) {
        const fn = infra.functions.find((f) => f.name === s.args[3])!;
        assert.equal(flag(s.args, 'ingress-settings'), fn.ingress === 'ALLOW_ALL' ? 'all' : 'internal-only', fn.name);
      }
    });

    it('puts the public functions behind the load balancer only (internal-and-gclb); the private ones stay internal', () => {
      for (const s of deploys(withEdge)) {
        assert.equal(flag(s.args, 'ingress-settings'), PUBLIC.includes(s.args[3]) ? 'internal-and-gclb' : 'internal-only', s.args[3]);
      }
    });

    it('gives each public function a serverless NEG on its Cloud Run service, a backend with Cloud Armor, and CDN on health alone', () => {
      for (const fn of PUBLIC) {
        const neg = commands(withEdge, 'compute', 'network-endpoint-groups', 'create').find((s) => s.args[4] === edgeNames.neg(fn, R));
        assert.equal(flag(neg!.args, 'network-endpoint-type'), 'serverless');
        assert.equal(flag(neg!.args, 'cloud-run-service'), fn.toLowerCase());
        const create = commands(withEdge, 'compute', 'backend-services', 'create').find((s) => s.args[4] === edgeNames.backend(fn))!;
        assert.equal(flag(create.args, 'load-balancing-scheme'), 'EXTERNAL_MANAGED');
        const update = commands(withEdge, 'compute', 'backend-services', 'update').find((s) => s.args[4] === edgeNames.backend(fn))!;
        assert.equal(flag(update.args, 'security-policy'), edgeNames.policy);
        assert.equal(flag(update.args, 'enable-cdn'), fn === 'health' ? '' : undefined, fn);
        assert.equal(flag(update.args, 'no-enable-cdn'), fn === 'health' ? undefined : '', fn);
        if (fn === 'health') assert.equal(flag(update.args, 'cache-mode'), 'USE_ORIGIN_HEADERS');
        const add = commands(withEdge, 'compute', 'backend-services', 'add-backend').filter((s) => s.args[4] === edgeNames.backend(fn));
        assert.deepEqual(add.map((s) => flag(s.args, 'network-endpoint-group')), [edgeNames.neg(fn, R)]);
        assert.ok(index(withEdge, neg) < index(withEdge, add[0]) && index(withEdge, create) < index(withEdge, add[0]));
      }
    });

    it('has Cloud Armor: a rate rule per client IP, the four WAF rules in preview, the webhook allow-list (removed when not configured)', () => {
      const rules = commands(withEdge, 'compute', 'security-policies', 'rules', 'create');
      const rate = rules.find((s) => s.args[5] === String(armorPriorities.rate))!;
      assert.equal(flag(rate.args, 'action'), 'throttle');
      assert.equal(flag(rate.args, 'enforce-on-key'), 'IP');
      assert.equal(flag(rate.args, 'rate-limit-threshold-count'), String(infra.edge.armor.ratePerMinutePerIp));
      assert.equal(flag(rate.args, 'exceed-action'), 'deny-429');
      const waf = rules.filter((s) => /evaluatePreconfiguredWaf/.test(flag(s.args, 'expression') ?? ''));
      assert.deepEqual(waf.map((s) => /'([a-z0-9-]+)'/.exec(flag(s.args, 'expression')!)![1]), ['sqli-v422-stable', 'xss-v422-stable', 'scannerdetection-v422-stable', 'protocolattack-v422-stable']);
      for (const s of waf) assert.equal(flag(s.args, 'preview'), '', 'preview first');
      for (const s of rules) assert.ok(s.update && s.allowExists, 'a re-run converges each rule');
      const allow = rules.find((s) => s.args[5] === String(armorPriorities.webhookSenders))!;
      assert.match(flag(allow.args, 'expression')!, /^request\.path\.startsWith\('\/webhook'\) && !request\.path\.startsWith\('\/webhook\/deliveries'\) && !\(inIpRange\(origin\.ip, '203\.0\.113\.0\/24'\)\)$/);
      const none = deployPlan({ ...OPTS, edge: { domain: EDGE.domain } });
      const removed = commands(none, 'compute', 'security-policies', 'rules', 'delete');
      assert.deepEqual(removed.map((s) => [s.args[5], s.allowMissing]), [[String(armorPriorities.webhookSenders), true]]);
    });

    it('imports the URL map from a file the plan writes: each function at /<function>, prefix stripped, on the domain', () => {
      const imp = commands(withEdge, 'compute', 'url-maps', 'import')[0];
      assert.equal(flag(imp.args, 'source'), urlMapFilePath(OPTS.filesDir));
      const file = planFiles({ ...OPTS, edge: EDGE }).find((f) => f.path === urlMapFilePath(OPTS.filesDir))!;
      const map = parse(file.content) as { hostRules: { hosts: string[] }[]; pathMatchers: { routeRules: { matchRules: { prefixMatch?: string; fullPathMatch?: string }[]; service: string; routeAction: { urlRewrite: { pathPrefixRewrite: string } } }[] }[] };
      assert.deepEqual(map.hostRules[0].hosts, [EDGE.domain]);
      const rules = map.pathMatchers[0].routeRules;
      for (const fn of PUBLIC) {
        const mine = rules.filter((r) => r.service.endsWith(`/backendServices/${edgeNames.backend(fn)}`));
        assert.deepEqual(mine.map((r) => r.matchRules[0]), [{ fullPathMatch: `/${fn}` }, { prefixMatch: `/${fn}/` }]);
        for (const r of mine) assert.equal(r.routeAction.urlRewrite.pathPrefixRewrite, '/');
      }
      assert.deepEqual(planFiles(OPTS).map((f) => f.path).filter((p) => p.endsWith('.yaml')), [], 'no edge, no URL map file');
    });

    it('makes the certificate, proxy, address and forwarding rule in order, after the functions, then shows the address for DNS', () => {
      const cert = commands(withEdge, 'compute', 'ssl-certificates', 'create')[0];
      assert.equal(flag(cert.args, 'domains'), EDGE.domain);
      const proxy = commands(withEdge, 'compute', 'target-https-proxies', 'create')[0];
      assert.equal(flag(proxy.args, 'ssl-certificates'), cert.args[4]);
      assert.ok(proxy.update, 'a new domain moves the proxy to its certificate');
      const rule = commands(withEdge, 'compute', 'forwarding-rules', 'create')[0];
      assert.equal(flag(rule.args, 'target-https-proxy'), proxy.args[4]);
      assert.equal(flag(rule.args, 'ports'), '443');
      const lastFunction = Math.max(...deploys(withEdge).map((s) => withEdge.indexOf(s)));
      assert.ok(lastFunction < withEdge.findIndex((s) => s.kind === 'edge'));
      assert.ok(index(withEdge, cert) < index(withEdge, proxy) && index(withEdge, proxy) < index(withEdge, rule));
      assert.equal(withEdge.at(-1)?.kind === 'service-account' ? withEdge.at(-2)?.sets?.name : withEdge.at(-1)?.sets?.name, 'EDGE_ADDRESS');
    });

    it('leaves the load balancer to a full deploy: --only keeps the ingress but makes no edge step', () => {
      const only = deployPlan({ ...OPTS, edge: EDGE, only: ['commands'] });
      assert.equal(only.filter((s) => s.kind === 'edge').length, 0);
      assert.equal(flag(deploys(only)[0].args, 'ingress-settings'), 'internal-and-gclb');
    });

    it('refuses a bad domain or sender address, naming it', () => {
      assert.throws(() => deployPlan({ ...OPTS, edge: { domain: 'not a domain' } }), /'not a domain' is not a domain name/);
      assert.throws(() => deployPlan({ ...OPTS, edge: { domain: 'api.example.com', webhookSenders: ['10.0.0.0/8; rm'] } }), /webhook sender '10\.0\.0\.0\/8; rm' is not an IP address/);
      assert.throws(() => deployPlan({ ...OPTS, only: ['commands'], edge: { domain: 'x' } }), /'x' is not a domain name/, 'with --only too');
    });
  });

  describe('the second region', () => {
    const multi = deployPlan({ ...OPTS, edge: EDGE, secondaryRegion: S });

    it('creates Firestore in the multi-region location spanning both regions, and refuses a pair none spans', () => {
      assert.equal(flag(commands(multi, 'firestore', 'databases', 'create')[0].args, 'location'), 'nam5');
      assert.equal(firestoreLocationFor('europe-west1', 'europe-west4'), 'eur3');
      assert.equal(firestoreLocationFor(R, undefined), R);
      assert.throws(() => firestoreLocationFor(R, 'europe-west1'), /no multi-region Firestore location spans us-central1 and europe-west1/);
      assert.throws(() => firestoreLocationFor(R, R), /must differ/);
      const given = deployPlan({ ...OPTS, secondaryRegion: 'europe-west1', firestoreLocation: 'nam5' });
      assert.equal(flag(commands(given, 'firestore', 'databases', 'create')[0].args, 'location'), 'nam5', '--firestore-location decides');
    });

    it('replicates new secrets to the two regions (user-managed)', () => {
      for (const s of commands(multi, 'secrets', 'create')) {
        assert.equal(flag(s.args, 'replication-policy'), 'user-managed');
        assert.equal(flag(s.args, 'locations'), `${R},${S}`);
      }
      for (const s of commands(deployPlan(OPTS), 'secrets', 'create')) assert.equal(flag(s.args, 'replication-policy'), 'automatic');
    });

    it('runs the public functions in both regions behind the same backends; the workers, queues and schedules in the primary', () => {
      assert.deepEqual(deploys(multi, S).map((s) => s.args[3]), PUBLIC);
      assert.deepEqual(deploys(multi, R).map((s) => s.args[3]), infra.functions.map((f) => f.name));
      for (const fn of PUBLIC) {
        const add = commands(multi, 'compute', 'backend-services', 'add-backend').filter((s) => s.args[4] === edgeNames.backend(fn));
        assert.deepEqual(add.map((s) => flag(s.args, 'network-endpoint-group-region')), [R, S], fn);
      }
      for (const s of commands(multi, 'tasks', 'queues', 'create')) assert.equal(flag(s.args, 'location'), R);
      for (const s of commands(multi, 'scheduler', 'jobs', 'create', 'http')) assert.equal(flag(s.args, 'location'), R);
    });

    it("points the second region's functions at the primary's queues and workers", () => {
      const commandsInS = env(deploys(multi, S).find((s) => s.args[3] === 'commands')!);
      assert.equal(commandsInS.REGION, S);
      assert.equal(commandsInS.TASKS_REGION, R);
      assert.equal(commandsInS.COMMAND_WORKER_URL, `https://commandworker-123456789012.${R}.run.app`);
      assert.equal(env(deploys(multi, S).find((s) => s.args[3] === 'health')!).TASKS_REGION, undefined, 'health enqueues nothing');
      assert.equal(env(deploys(multi, R).find((s) => s.args[3] === 'commands')!).TASKS_REGION, undefined, 'the primary uses its own');
      const connector = commands(multi, 'compute', 'networks', 'vpc-access', 'connectors', 'create').find((s) => flag(s.args, 'region') === S)!;
      assert.equal(flag(connector.args, 'range'), infra.regions.secondaryConnectorRange);
      assert.notEqual(infra.regions.secondaryConnectorRange, infra.network.vpcConnector.range);
    });
  });

  it('the pipeline (--functions-only): the build and the function deploys in both regions, nothing else', () => {
    const own = deployPlan({ ...OPTS, edge: EDGE, secondaryRegion: S, only: ['test-runs'], functionsOnly: true });
    assert.deepEqual(own.map((s) => `${s.kind} ${s.kind === 'function' ? `${s.args[3]} ${flag(s.args, 'region')}` : s.args.slice(0, 3).join(' ')}`), [
      'build npm run build',
      `function testRuns ${R}`,
      `function testRunWorker ${R}`,
      `function testRunEvents ${R}`,
      `function testRuns ${S}`,
    ]);
    assert.equal(flag(own[1].args, 'ingress-settings'), 'internal-and-gclb', 'the edge configuration is kept');
  });

  describe('./deploy.sh --dry-run', () => {
    const ROOT = join(__dirname, '..', '..');
    const dryRun = (...args: string[]) =>
      spawnSync(join(ROOT, 'deploy.sh'), ['--dry-run', '--project', P, '--region', R, '--project-number', '123456789012', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, EDGE_DOMAIN: '', SECONDARY_REGION: '', EDGE_WEBHOOK_SENDERS: '' },
      });

    it('says in its header when the edge is off and the mode is single-region', () => {
      const out = dryRun();
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, /^# edge: off \(no --domain \/ EDGE_DOMAIN\)/m);
      assert.match(out.stdout, /^# regions: us-central1 only \(single-region mode/m);
    });

    it('prints the edge and two regions as a pasteable script, the URL map file written', () => {
      const out = dryRun('--domain', 'api.example.com', '--secondary-region', S, '--webhook-senders', '203.0.113.0/24');
      assert.equal(out.status, 0, out.stderr);
      assert.match(out.stdout, /^# edge: https:\/\/api\.example\.com\/<function>/m);
      assert.match(out.stdout, /^# regions: us-central1 \(primary: queues, schedules, workers\) and us-east1 \(the public functions\); Firestore nam5$/m);
      assert.equal(spawnSync('bash', ['-n'], { input: out.stdout }).status, 0, 'valid bash');
      const source = /--source=(\S+\.url-map\.yaml)/.exec(out.stdout)?.[1];
      assert.ok(source && existsSync(source.startsWith('/') ? source : join(ROOT, source)), `${source} written`);
    });

    it('refuses --webhook-senders without a domain, and a bad domain, with status 2', () => {
      const senders = dryRun('--webhook-senders', '203.0.113.0/24');
      assert.equal(senders.status, 2);
      assert.match(senders.stderr, /--webhook-senders goes with --domain/);
      const bad = dryRun('--domain', 'Not_A_Domain');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /'Not_A_Domain' is not a domain name/);
    });
  });
});
