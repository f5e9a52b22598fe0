/**
 * The edge section of the deploy plan (shared/infra.ts `edge`): one global external Application
 * Load Balancer (EXTERNAL_MANAGED) in front of the public functions, with Cloud Armor on every
 * backend and Cloud CDN on the cacheable one only. On when a domain is configured (`--domain`,
 * EDGE_DOMAIN); otherwise the plan has no edge and says so (planNotes in deploy.ts).
 *
 *   https://<domain>/<function>/…  →  forwarding rule → target HTTPS proxy (managed certificate)
 *     → URL map (`/<function>` prefix stripped, as cloudfunctions.net does) → backend service
 *     `virtuoso-api-<function>` (Cloud Armor; CDN on health) → one serverless NEG per region
 *     → the function's Cloud Run service.
 *
 * Every create carries `allowExists`; the settings that can change (the rules, CDN, the policy on
 * each backend, the URL map, the proxy's certificate) converge on each run. The URL map is imported
 * from a generated file (the only way gcloud sets a path rewrite), written with the plan's other
 * files so a printed plan can be pasted. The section runs on a full deploy: `--only` deploys keep
 * the functions' ingress as the edge wants it and leave the edge itself as it is.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as infra from '../shared/infra';
import { IAM_RETRIES, isPublic, serviceName, withProject, type Ctx, type PlanFunction, type PlanStep } from './deploy-plan';

export interface EdgeOptions {
  /** The API's domain (`api.example.com`); its DNS A record must point at the load balancer's address. */
  domain: string;
  /** The Virtuoso webhook sender's addresses (CIDR ranges): when given, webhook intake answers only them. */
  webhookSenders?: readonly string[];
}

const DOMAIN = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CIDR = /^(\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?|[0-9a-f:]+:[0-9a-f:]*(\/\d{1,3})?)$/i;

/** Checks what the operator configured; throws a message naming the bad value. */
export function checkEdgeOptions(edge: EdgeOptions): void {
  if (!DOMAIN.test(edge.domain)) throw new Error(`'${edge.domain}' is not a domain name (lower case, e.g. api.example.com)`);
  for (const r of edge.webhookSenders ?? []) if (!CIDR.test(r)) throw new Error(`webhook sender '${r}' is not an IP address or CIDR range`);
}

const { name: EDGE } = infra.edge;
/** The names of the edge's resources (also read by the failover drill and the architecture picture). */
export const edgeNames = {
  backend: (fn: string) => `${EDGE}-${serviceName(fn)}`,
  neg: (fn: string, region: string) => `${EDGE}-${serviceName(fn)}-${region}`,
  urlMap: EDGE,
  policy: `${EDGE}-armor`,
  /** Named after the domain: a new domain gets a new certificate, and the proxy moves to it. */
  certificate: (domain: string) => `${EDGE}-${domain.replace(/\./g, '-')}`.slice(0, 63).replace(/-+$/, ''),
  proxy: `${EDGE}-https`,
  address: `${EDGE}-ip`,
  forwardingRule: `${EDGE}-https`,
};

/** Cloud Armor rule priorities (lower runs first). */
export const armorPriorities = { webhookSenders: 1000, rate: 2000, waf: 3000 } as const;

/** The regions the public functions run in: the primary, and the secondary in multi-region mode. */
export const servingRegions = (c: Pick<Ctx, 'R' | 'secondary'>) => (c.secondary ? [c.R, c.secondary] : [c.R]);

/** A public function behind the load balancer takes traffic only from it (and from inside the project). */
export function ingressOf(c: Pick<Ctx, 'edge'>, f: PlanFunction): PlanFunction['ingress'] {
  return c.edge && (infra.edge.routes as readonly string[]).includes(f.name) && isPublic(f) ? 'ALLOW_INTERNAL_AND_GCLB' : f.ingress;
}

// ---------------------------------------------------------------------------------------------
// The URL map: each function at `/<function>`, its prefix stripped.

const backendUrl = (projectId: string, fn: string) => `https://www.googleapis.com/compute/v1/projects/${projectId}/global/backendServices/${edgeNames.backend(fn)}`;

/**
 * `/<fn>` and `/<fn>/…` go to the function with `/<fn>` replaced by `/` (so `/commands/commands`
 * arrives as `/commands`, `/health` as `/`); anything else goes to `health`, which answers 404 off
 * its root. Requests for another host are refused by the host rule (they go to the default too).
 */
export function urlMap(projectId: string, domain: string) {
  const routeRules = infra.edge.routes.flatMap((fn, i) => [
    { priority: 2 * i + 1, matchRules: [{ fullPathMatch: `/${fn}` }], service: backendUrl(projectId, fn), routeAction: { urlRewrite: { pathPrefixRewrite: '/' } } },
    { priority: 2 * i + 2, matchRules: [{ prefixMatch: `/${fn}/` }], service: backendUrl(projectId, fn), routeAction: { urlRewrite: { pathPrefixRewrite: '/' } } },
  ]);
  return {
    name: edgeNames.urlMap,
    defaultService: backendUrl(projectId, 'health'),
    hostRules: [{ hosts: [domain], pathMatcher: 'api' }],
    pathMatchers: [{ name: 'api', defaultService: backendUrl(projectId, 'health'), routeRules }],
  };
}

export const urlMapFilePath = (filesDir: string) => join(filesDir, `${edgeNames.urlMap}.url-map.yaml`);

/** The URL map file `gcloud compute url-maps import` reads, when the edge is on. */
export function edgeFiles(opts: { projectId: string; filesDir: string; edge?: EdgeOptions }): { path: string; content: string }[] {
  if (!opts.edge) return [];
  return [{ path: urlMapFilePath(opts.filesDir), content: stringify(urlMap(opts.projectId, opts.edge.domain)) }];
}

// ---------------------------------------------------------------------------------------------
// The steps.

const global = (c: Ctx, ...args: string[]) => withProject(c, ...args, '--global');

/** Cloud Armor: the policy, the webhook allow-list (or its removal), the rate rule, the WAF rules. */
function armorSteps(c: Ctx, edge: EdgeOptions): PlanStep[] {
  const { armor } = infra.edge;
  const rule = (priority: number, description: string, settings: string[]): PlanStep => ({
    kind: 'edge',
    description: `Cloud Armor rule ${priority}: ${description}`,
    args: withProject(c, 'compute', 'security-policies', 'rules', 'create', String(priority), `--security-policy=${edgeNames.policy}`, ...settings),
    allowExists: true,
    update: withProject(c, 'compute', 'security-policies', 'rules', 'update', String(priority), `--security-policy=${edgeNames.policy}`, ...settings),
  });
  const senders = edge.webhookSenders ?? [];
  const steps: PlanStep[] = [{
    kind: 'edge',
    description: `Cloud Armor security policy ${edgeNames.policy}`,
    args: withProject(c, 'compute', 'security-policies', 'create', edgeNames.policy, '--type=CLOUD_ARMOR', '--description=Virtuoso API: rate per IP, WAF, webhook senders'),
    allowExists: true,
  }];
  if (senders.length) {
    // Webhook intake only from the sender's addresses; the inbox (/webhook/deliveries, API keys) from anywhere.
    const from = senders.map((r) => `inIpRange(origin.ip, '${r}')`).join(' || ');
    steps.push(rule(armorPriorities.webhookSenders, `webhook intake only from ${senders.join(', ')}`, [
      `--expression=request.path.startsWith('/webhook') && !request.path.startsWith('/webhook/deliveries') && !(${from})`,
      '--action=deny-403',
      '--description=webhook intake: Virtuoso senders only',
    ]));
  } else {
    steps.push({
      kind: 'edge',
      description: `Cloud Armor rule ${armorPriorities.webhookSenders}: no webhook allow-list configured (removed if there was one)`,
      args: withProject(c, 'compute', 'security-policies', 'rules', 'delete', String(armorPriorities.webhookSenders), `--security-policy=${edgeNames.policy}`),
      allowMissing: true,
    });
  }
  steps.push(rule(armorPriorities.rate, `at most ${armor.ratePerMinutePerIp} requests a minute per client IP, then 429`, [
    '--src-ip-ranges=*',
    '--action=throttle',
    `--rate-limit-threshold-count=${armor.ratePerMinutePerIp}`,
    '--rate-limit-threshold-interval-sec=60',
    '--conform-action=allow',
    '--exceed-action=deny-429',
    '--enforce-on-key=IP',
    '--description=rate per client IP',
  ]));
  armor.waf.forEach((waf, i) => {
    steps.push(rule(armorPriorities.waf + i, `preconfigured WAF ${waf}${armor.preview ? ' (preview: logged, not enforced)' : ''}`, [
      `--expression=evaluatePreconfiguredWaf('${waf}', {'sensitivity': 1})`,
      '--action=deny-403',
      ...(armor.preview ? ['--preview'] : []),
      `--description=WAF ${waf}`,
    ]));
  });
  return steps;
}

/** Per public function: a serverless NEG per region, the backend service (Armor, CDN, logging), its backends. */
function backendSteps(c: Ctx): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const fn of infra.edge.routes) {
    const backend = edgeNames.backend(fn);
    const cdn = (infra.edge.cdn as readonly string[]).includes(fn);
    for (const region of servingRegions(c)) {
      steps.push({
        kind: 'edge',
        description: `serverless NEG ${edgeNames.neg(fn, region)} → Cloud Run service ${serviceName(fn)} in ${region}`,
        args: withProject(c, 'compute', 'network-endpoint-groups', 'create', edgeNames.neg(fn, region), `--region=${region}`, '--network-endpoint-type=serverless', `--cloud-run-service=${serviceName(fn)}`),
        allowExists: true,
      });
    }
    steps.push(
      {
        kind: 'edge',
        description: `backend service ${backend} (global, EXTERNAL_MANAGED)`,
        args: global(c, 'compute', 'backend-services', 'create', backend, '--load-balancing-scheme=EXTERNAL_MANAGED'),
        allowExists: true,
      },
      {
        kind: 'edge',
        description: `${backend}: Cloud Armor ${edgeNames.policy}, request logs, ${cdn ? 'Cloud CDN (origin headers decide: only what the function marks public is cached)' : 'no CDN'}`,
        args: global(
          c, 'compute', 'backend-services', 'update', backend,
          `--security-policy=${edgeNames.policy}`,
          '--enable-logging', '--logging-sample-rate=1',
          ...(cdn ? ['--enable-cdn', '--cache-mode=USE_ORIGIN_HEADERS'] : ['--no-enable-cdn']),
        ),
      },
    );
    for (const region of servingRegions(c)) {
      steps.push({
        kind: 'edge',
        description: `${backend} serves from ${region}`,
        args: global(c, 'compute', 'backend-services', 'add-backend', backend, `--network-endpoint-group=${edgeNames.neg(fn, region)}`, `--network-endpoint-group-region=${region}`),
        allowExists: true,
      });
    }
  }
  return steps;
}

/** The URL map, the certificate, the proxy, the address and the forwarding rule; then the address, for DNS. */
function frontendSteps(c: Ctx, edge: EdgeOptions): PlanStep[] {
  const cert = edgeNames.certificate(edge.domain);
  const proxySettings = [`--url-map=${edgeNames.urlMap}`, `--ssl-certificates=${cert}`];
  return [
    {
      kind: 'edge',
      description: `URL map ${edgeNames.urlMap}: ${infra.edge.routes.map((f) => `/${f}`).join(', ')} on ${edge.domain} (created or replaced from the file)`,
      args: global(c, 'compute', 'url-maps', 'import', edgeNames.urlMap, `--source=${urlMapFilePath(c.filesDir)}`, '--quiet'),
    },
    {
      kind: 'edge',
      description: `Google-managed certificate ${cert} for ${edge.domain} (active once DNS points at the address)`,
      args: global(c, 'compute', 'ssl-certificates', 'create', cert, `--domains=${edge.domain}`),
      allowExists: true,
    },
    {
      kind: 'edge',
      description: `target HTTPS proxy ${edgeNames.proxy}`,
      args: global(c, 'compute', 'target-https-proxies', 'create', edgeNames.proxy, ...proxySettings),
      allowExists: true,
      update: global(c, 'compute', 'target-https-proxies', 'update', edgeNames.proxy, ...proxySettings),
    },
    {
      kind: 'edge',
      description: `global address ${edgeNames.address}`,
      args: global(c, 'compute', 'addresses', 'create', edgeNames.address, '--ip-version=IPV4'),
      allowExists: true,
    },
    {
      kind: 'edge',
      description: `forwarding rule ${edgeNames.forwardingRule}: ${edgeNames.address}:443 → ${edgeNames.proxy}`,
      args: global(
        c, 'compute', 'forwarding-rules', 'create', edgeNames.forwardingRule,
        '--load-balancing-scheme=EXTERNAL_MANAGED', '--network-tier=PREMIUM', `--address=${edgeNames.address}`, `--target-https-proxy=${edgeNames.proxy}`, '--ports=443',
      ),
      allowExists: true,
      retries: IAM_RETRIES, // the proxy can take a moment to be usable
    },
    {
      kind: 'lookup',
      description: `the load balancer's address: ${edge.domain}'s DNS A record must point at it`,
      args: global(c, 'compute', 'addresses', 'describe', edgeNames.address, '--format=value(address)'),
      sets: { name: 'EDGE_ADDRESS', sample: '203.0.113.10' },
    },
  ];
}

/** The edge, on a full deploy with a domain configured. */
export function edgeSteps(c: Ctx): PlanStep[] {
  if (!c.edge || !c.full) return [];
  return [
    { kind: 'api', description: 'enable the Compute Engine API (load balancer, Cloud Armor)', args: withProject(c, 'services', 'enable', 'compute.googleapis.com') },
    ...armorSteps(c, c.edge),
    ...backendSteps(c),
    ...frontendSteps(c, c.edge),
  ];
}

/** What the printed plan says about the edge. */
export function edgeNote(opts: { edge?: EdgeOptions; only?: readonly string[] }): string {
  if (!opts.edge) return 'edge: off (no --domain / EDGE_DOMAIN): no load balancer; the public functions answer on their own URLs';
  const base = `edge: https://${opts.edge.domain}/<function> (${infra.edge.routes.join(', ')}); their run.app URLs answer only the load balancer and the project`;
  return opts.only?.length ? `${base}; the load balancer itself is converged by a full deploy` : base;
}
