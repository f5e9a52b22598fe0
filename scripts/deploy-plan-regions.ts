/**
 * Multi-region mode of the deploy plan (shared/infra.ts `regions`; `--secondary-region`, or
 * SECONDARY_REGION): the public functions also run in the second region, behind the load balancer;
 * Firestore is created in the multi-region location spanning both; new secrets are replicated to
 * both regions. Everything else (queues, scheduler jobs, workers, Eventarc, the bucket, Memorystore)
 * stays in the primary region; the second region's functions use them there. Single-region mode
 * (no second region) is the plan as it was.
 */
import * as infra from '../shared/infra';
import { functionDeployArgs, isPublic, withProject, type Ctx, type PlanFunction, type PlanStep } from './deploy-plan';

const REGION = /^[a-z]+-[a-z]+\d+$/;

/** The continent a region belongs to, as Firestore's multi-region locations group them. */
const continentOf = (region: string) => (region.startsWith('us-') || region.startsWith('northamerica-') ? 'us' : region.split('-')[0]);

/**
 * Where Firestore is created: the primary region in single-region mode; in multi-region mode the
 * multi-region location spanning both (nam5, eur3). Also checks the second region.
 */
export function firestoreLocationFor(primary: string, secondary: string | undefined): string {
  if (secondary === undefined) return primary;
  if (!REGION.test(secondary)) throw new Error(`'${secondary}' is not a region`);
  if (secondary === primary) throw new Error(`the second region must differ from the primary (${primary})`);
  const [a, b] = [continentOf(primary), continentOf(secondary)];
  const location = infra.regions.firestoreMultiRegion[a];
  if (a !== b || !location) {
    throw new Error(`no multi-region Firestore location spans ${primary} and ${secondary} (known: ${Object.entries(infra.regions.firestoreMultiRegion).map(([k, v]) => `${v} for ${k}`).join(', ')}); pass --firestore-location`);
  }
  return location;
}

/** `secrets create` replication: automatic, or (multi-region mode) user-managed in the two regions. */
export function secretReplication(c: Pick<Ctx, 'R' | 'secondary'>): string[] {
  return c.secondary ? ['--replication-policy=user-managed', `--locations=${c.R},${c.secondary}`] : ['--replication-policy=automatic'];
}

/** The functions that run in the second region too: the public HTTP ones (the load balancer's backends). */
export const secondaryFunctions = (c: Pick<Ctx, 'fns'>): PlanFunction[] => c.fns.filter(isPublic);

/** The second region's VPC connector (for the functions that use Redis) and its copies of the public functions. */
export function secondaryFunctionSteps(c: Ctx): PlanStep[] {
  const region = c.secondary;
  if (!region) return [];
  const fns = secondaryFunctions(c);
  const { vpcConnector: vpc } = c.input.network;
  return [
    ...(fns.some((f) => f.uses.redis)
      ? [{
          kind: 'network' as const,
          description: `VPC connector ${vpc.name} in ${region} (${infra.regions.secondaryConnectorRange} on ${vpc.network}): the cache in ${c.R}, optional`,
          args: withProject(c, 'compute', 'networks', 'vpc-access', 'connectors', 'create', vpc.name, `--region=${region}`, `--network=${vpc.network}`, `--range=${infra.regions.secondaryConnectorRange}`),
          allowExists: true,
        }]
      : []),
    ...fns.map((f): PlanStep => ({
      kind: 'function',
      description: `function ${f.name} in the second region ${region} (queues, workers and schedules stay in ${c.R})`,
      args: functionDeployArgs(c, f, region),
    })),
  ];
}

/** What the printed plan says about the regions. */
export function regionsNote(opts: { region: string; secondaryRegion?: string; firestoreLocation?: string }): string {
  if (!opts.secondaryRegion) return `regions: ${opts.region} only (single-region mode; --secondary-region R for two)`;
  return `regions: ${opts.region} (primary: queues, schedules, workers) and ${opts.secondaryRegion} (the public functions); Firestore ${opts.firestoreLocation ?? firestoreLocationFor(opts.region, opts.secondaryRegion)}`;
}
