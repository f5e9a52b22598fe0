/**
 * The failover runbook as a drill: `npm run drill:failover -- --project P --region R
 * --secondary-region S --domain D` prints, in order, what an operator does when the primary region
 * R is lost and the second region S takes over (and how to come back), each step with its command;
 * and checks that every resource a step names is one the deploy plan makes (a drill that names a
 * backend, a NEG, a function, a queue or a scheduler job the plan does not have fails, exit 1).
 * It changes nothing: the commands are printed, never run.
 *
 * The order: confirm S serves → take R out of the load balancer (serverless NEGs have no health
 * checks: the operator ejects the region) → check the edge → stop R's scheduled work where R still
 * answers → converge S as the primary (queues, workers, schedules, Eventarc; single-region plan) →
 * smoke check through the edge → later, fail back.
 */
import { parseArgs } from 'node:util';
import * as infra from '../shared/infra';
import { shellJoin } from './deploy-format';
import { edgeNames } from './deploy-plan-edge';
import { deployPlan, type PlanOptions, type PlanStep } from './deploy-plan';

/** A resource a drill step names, in a region (or global). */
export interface DrillRef {
  kind: 'function' | 'neg' | 'backend' | 'queue' | 'scheduler';
  name: string;
  region?: string;
}

export interface DrillStep {
  phase: 'check' | 'eject' | 'switch' | 'verify' | 'failback';
  say: string;
  /** The command (argument vector); absent for a step that is a judgement. */
  command?: string[];
  /** What it names, and which plan must make it: the normal one (`multi`) or the one with S as primary (`switched`). */
  refers: (DrillRef & { plan: 'multi' | 'switched' })[];
}

type DrillOptions = Pick<PlanOptions, 'projectId' | 'region' | 'secondaryRegion' | 'edge'> & { filesDir?: string };

export function failoverDrill(opts: DrillOptions): DrillStep[] {
  const { projectId: P, region: R, secondaryRegion: S, edge } = opts;
  if (!S) throw new Error('the drill needs a second region (--secondary-region)');
  if (!edge) throw new Error('the drill needs the edge (--domain): failover is the load balancer sending traffic to the healthy region');
  const routes = infra.edge.routes;
  const g = (...args: string[]) => ['gcloud', ...args, `--project=${P}`];
  const scheduled = infra.schedules;
  const queues = Object.values(infra.queues).map((q) => q.name);
  const deploy = (primary: string, secondary?: string) => [
    './deploy.sh', `--project=${P}`, `--region=${primary}`, ...(secondary ? [`--secondary-region=${secondary}`] : []), `--domain=${edge.domain}`,
    ...(edge.webhookSenders?.length ? [`--webhook-senders=${edge.webhookSenders.join(',')}`] : []),
  ];
  return [
    ...routes.map((fn): DrillStep => ({
      phase: 'check',
      say: `${fn} is deployed and ACTIVE in ${S}`,
      command: g('functions', 'describe', fn, `--region=${S}`, '--format=value(state)'),
      refers: [{ kind: 'function', name: fn, region: S, plan: 'multi' }],
    })),
    ...routes.map((fn): DrillStep => ({
      phase: 'eject',
      say: `the load balancer stops sending ${fn}'s traffic to ${R}`,
      command: g('compute', 'backend-services', 'remove-backend', edgeNames.backend(fn), '--global', `--network-endpoint-group=${edgeNames.neg(fn, R)}`, `--network-endpoint-group-region=${R}`),
      refers: [{ kind: 'backend', name: edgeNames.backend(fn), plan: 'multi' }, { kind: 'neg', name: edgeNames.neg(fn, R), region: R, plan: 'multi' }],
    })),
    {
      phase: 'verify',
      say: `the edge answers from ${S} (liveness names the region: "region":"${S}")`,
      command: ['curl', '-fsS', `https://${edge.domain}/health?probe=live`],
      refers: [],
    },
    ...scheduled.map((j): DrillStep => ({
      phase: 'switch',
      say: `pause scheduler job ${j.name} in ${R} where ${R} still answers (else: when it is back, before anything else)`,
      command: g('scheduler', 'jobs', 'pause', j.name, `--location=${R}`),
      refers: [{ kind: 'scheduler', name: j.name, region: R, plan: 'multi' }],
    })),
    ...queues.map((q): DrillStep => ({
      phase: 'switch',
      say: `pause queue ${q} in ${R} where ${R} still answers (its tasks wait; resumed on failback)`,
      command: g('tasks', 'queues', 'pause', q, `--location=${R}`),
      refers: [{ kind: 'queue', name: q, region: R, plan: 'multi' }],
    })),
    {
      phase: 'switch',
      say: `converge ${S} as the primary: queues, task workers, Eventarc, schedules and the cache there, the public functions pointed at them (Firestore is multi-region: nothing moves; a single-region plan, so ${R} is not touched)`,
      command: deploy(S),
      refers: [
        ...queues.map((q) => ({ kind: 'queue' as const, name: q, region: S, plan: 'switched' as const })),
        ...scheduled.map((j) => ({ kind: 'scheduler' as const, name: j.name, region: S, plan: 'switched' as const })),
        ...infra.functions.map((f) => ({ kind: 'function' as const, name: f.name, region: S, plan: 'switched' as const })),
      ],
    },
    {
      phase: 'verify',
      say: 'the smoke check through the edge: deep health, a signed webhook, a dry-run test run',
      command: ['npm', 'run', 'smoke', '--', `--base-url=https://${edge.domain}`],
      refers: [],
    },
    {
      phase: 'failback',
      say: `when ${R} is healthy: the normal topology again (${R} primary, ${S} second; the NEGs of ${R} go back into the backends)`,
      command: deploy(R, S),
      refers: routes.map((fn) => ({ kind: 'neg' as const, name: edgeNames.neg(fn, R), region: R, plan: 'multi' as const })),
    },
    ...queues.map((q): DrillStep => ({
      phase: 'failback',
      say: `resume queue ${q} in ${R} (the tasks it held run)`,
      command: g('tasks', 'queues', 'resume', q, `--location=${R}`),
      refers: [{ kind: 'queue', name: q, region: R, plan: 'multi' }],
    })),
    ...scheduled.map((j): DrillStep => ({
      phase: 'failback',
      say: `resume scheduler job ${j.name} in ${R}`,
      command: g('scheduler', 'jobs', 'resume', j.name, `--location=${R}`),
      refers: [{ kind: 'scheduler', name: j.name, region: R, plan: 'multi' }],
    })),
    ...scheduled.map((j): DrillStep => ({
      phase: 'failback',
      say: `delete the failover's scheduler job ${j.name} in ${S}`,
      command: g('scheduler', 'jobs', 'delete', j.name, `--location=${S}`, '--quiet'),
      refers: [{ kind: 'scheduler', name: j.name, region: S, plan: 'switched' }],
    })),
  ];
}

const flagOf = (args: readonly string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** Whether a plan makes the resource (its create, or a function's deploy, in that region). */
export function planMakes(plan: readonly PlanStep[], ref: DrillRef): boolean {
  const made = (words: string[], regionFlag?: string) =>
    plan.some((s) => words.every((w, i) => s.args[i + 1] === w) && s.args[words.length + 1] === ref.name && (!regionFlag || flagOf(s.args, regionFlag) === ref.region));
  switch (ref.kind) {
    case 'function': return made(['functions', 'deploy'], 'region');
    case 'neg': return made(['compute', 'network-endpoint-groups', 'create'], 'region');
    case 'backend': return made(['compute', 'backend-services', 'create']);
    case 'queue': return made(['tasks', 'queues', 'create'], 'location');
    case 'scheduler': return plan.some((s) => s.args.slice(1, 5).join(' ') === 'scheduler jobs create http' && s.args[5] === ref.name && flagOf(s.args, 'location') === ref.region);
  }
}

/** The references the plans do not make (none: the drill is consistent with the deploy plan). */
export function unknownReferences(steps: readonly DrillStep[], opts: DrillOptions): string[] {
  const base = { ...opts, projectNumber: '123456789012', filesDir: opts.filesDir ?? '.local/deploy' };
  const plans = {
    multi: deployPlan(base),
    switched: deployPlan({ ...base, region: opts.secondaryRegion!, secondaryRegion: undefined }),
  };
  return steps.flatMap((s, i) =>
    s.refers.filter((r) => !planMakes(plans[r.plan], r)).map((r) => `step ${i + 1} (${s.say}): ${r.kind} ${r.name}${r.region ? ` in ${r.region}` : ''} is not in the ${r.plan === 'multi' ? 'multi-region' : 'switched'} plan`),
  );
}

const PHASES: Record<DrillStep['phase'], string> = {
  check: 'Check the second region serves',
  eject: 'Take the lost region out of the load balancer',
  verify: 'Verify',
  switch: 'Move queues and schedules to the second region',
  failback: 'Fail back (when the primary is healthy)',
};

export function formatDrill(steps: readonly DrillStep[]): string {
  const lines: string[] = [];
  let phase: string | undefined;
  steps.forEach((s, i) => {
    if (s.phase !== phase) lines.push('', `## ${PHASES[s.phase]}`);
    phase = s.phase;
    lines.push(`${String(i + 1).padStart(2)}. ${s.say}`, ...(s.command ? [`    ${shellJoin(s.command)}`] : []));
  });
  return `${lines.join('\n').trimStart()}\n`;
}

const USAGE = 'usage: npm run drill:failover -- [--project P] [--region R] [--secondary-region S] [--domain D]\n';

export function main(argv: string[]): number {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: {
        project: { type: 'string', default: process.env.GOOGLE_CLOUD_PROJECT ?? 'my-project' },
        region: { type: 'string', default: 'us-central1' },
        'secondary-region': { type: 'string', default: process.env.SECONDARY_REGION ?? 'us-east1' },
        domain: { type: 'string', default: process.env.EDGE_DOMAIN ?? 'api.example.com' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    process.stderr.write(`drill:failover: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts: DrillOptions = { projectId: v.project, region: v.region, secondaryRegion: v['secondary-region'], edge: { domain: v.domain } };
  let steps: DrillStep[];
  let unknown: string[];
  try {
    steps = failoverDrill(opts);
    unknown = unknownReferences(steps, opts);
  } catch (err) {
    process.stderr.write(`drill:failover: ${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(`# Failover drill: ${opts.region} lost, ${opts.secondaryRegion} takes over (project ${opts.projectId}, https://${v.domain}). Nothing here runs: the commands are printed.\n\n`);
  process.stdout.write(formatDrill(steps));
  if (unknown.length) {
    process.stderr.write(`\ndrill:failover: the drill names resources the deploy plan does not make:\n  ${unknown.join('\n  ')}\n`);
    return 1;
  }
  const refs = steps.reduce((n, s) => n + s.refers.length, 0);
  process.stdout.write(`\n# ${steps.length} steps; each of the ${refs} resources they name is made by the deploy plan.\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
