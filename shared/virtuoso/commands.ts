/**
 * The CLI's non-step commands (VIRTUOSO_API.md §2.3, §2.4 library, execution), each declared once:
 * path, arguments, and what it does against the API. Outputs use the CLI's key names (§2.1):
 * snake_case for infrastructure (`{status, project_id, name}`), `id` for steps.
 */
import { badRequest, unprocessable } from '../errors';
import { resolveArgs, type ArgSpec } from './cli';
import type { VirtuosoClient } from './client';
import { VirtuosoApiError } from './client';
import { setTimeout as sleep } from 'node:timers/promises';
import { navigate } from './steps';

/** How long `monitor-execution --follow` may wait (the commands function answers within 120 s). */
const MAX_FOLLOW_SECONDS = 100;

export interface CommandContext {
  api: VirtuosoClient;
  organizationId?: number;
}

type Args = Record<string, string>;
type Flags = Record<string, string | true>;

export interface Command {
  /** `create-project`, `library.attach` */
  name: string;
  path: readonly string[];
  args: readonly ArgSpec[];
  booleanFlags?: readonly string[];
  /** Reads of things that do not change by themselves: their answers may be cached (5 min). */
  read: boolean;
  /** The JSON Schema of its arguments and flags together (the structured form's `args`). */
  schema: object;
  run(ctx: CommandContext, args: Args, flags: Flags): Promise<unknown>;
}

/** How a value is checked: ids are digits (the CLI's `cp_`/`lib_`/… prefixes allowed), ints digits. */
type ParamType = 'id' | 'int' | 'url' | 'text' | 'boolean';
type Param = ArgSpec & { type: ParamType };

const a = (name: string, required = true, type: ParamType = /Id$/.test(name) ? 'id' : 'text'): Param => ({ name, required, type });

const PARAM_SCHEMAS: Record<ParamType, object> = {
  id: { type: ['string', 'integer'], pattern: '^(cp_|lib_|journey_|step_)?\\d+$', minimum: 0 },
  int: { type: ['string', 'integer'], pattern: '^\\d+$', minimum: 0 },
  url: { type: 'string', pattern: '^https?://\\S+$' },
  text: { type: 'string', minLength: 1 },
  boolean: { type: 'boolean' },
};

/** The JSON Schema of a command's arguments and flags (unknown flags are refused, as the CLI does). */
function schemaOf(args: readonly Param[], flags: Readonly<Record<string, ParamType>>): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: args.filter((x) => x.required !== false).map((x) => x.name),
    properties: {
      ...Object.fromEntries(args.map((x) => [x.name, PARAM_SCHEMAS[x.type]])),
      ...Object.fromEntries(Object.entries(flags).map(([k, t]) => [k, PARAM_SCHEMAS[t]])),
    },
  };
}

/** An id argument: digits, optionally with the CLI's prefixes (`cp_`, `lib_`, `journey_`, `step_`). */
export function id(value: string | undefined, what: string): number {
  const v = String(value ?? '').replace(/^(cp|lib|journey|step)_/, '');
  if (!/^\d+$/.test(v)) throw unprocessable(`${what} must be a numeric id (got '${value}')`);
  return Number(v);
}

function orgOf(ctx: CommandContext): number {
  if (!ctx.organizationId) throw unprocessable('No Virtuoso organization is configured (VIRTUOSO_ORG_ID)');
  return ctx.organizationId;
}

/** The goal `meta` block sent on create (verified, §1.4). */
export const GOAL_META = {
  onlyManagersCanPublishJourneys: null,
  disableSameOrigin: false,
  disableEventLogs: false,
  bridgeClientUuid: null,
  defaultMaxParallelism: null,
  maxParallelism: null,
  legacyElementSelection: null,
  clientSideLibraryShimsEnabled: false,
  popupAutoDismiss: true,
  waitForNetworkTraffic: null,
  failScriptOnNavigate: null,
};

interface Snapshots {
  snapshots: { snapshotId: number | string }[];
}
export async function latestSnapshot(api: VirtuosoClient, goalId: number): Promise<string> {
  const v = await api.item<Snapshots>('GET', `/goals/${goalId}/versions`);
  const first = v.snapshots?.[0]?.snapshotId;
  if (first === undefined) throw unprocessable(`Goal ${goalId} has no snapshot`);
  return String(first);
}

interface Case {
  id: number;
  title: string;
  steps?: { id: number }[];
}
interface JourneyWithCases {
  id: number;
  name: string;
  title?: string;
  goalId?: number;
  cases?: Case[];
}

function def(path: string, args: Param[], read: boolean, run: Command['run'], flags: Record<string, ParamType> = {}): Command {
  const parts = path.split(' ');
  const booleanFlags = Object.entries(flags).filter(([, t]) => t === 'boolean').map(([k]) => k);
  return { name: parts.join('.'), path: parts, args, read, run, booleanFlags, schema: schemaOf(args, flags) };
}

export const COMMANDS: readonly Command[] = [
  // --- infrastructure ---------------------------------------------------------------------------
  def('create-project', [a('name')], false, async ({ api, ...ctx }, { name }, f) => {
    const p = await api.item<{ id: number; name: string }>('POST', '/projects', {
      body: { name, organizationId: orgOf({ api, ...ctx }), ...(typeof f.description === 'string' ? { description: f.description } : typeof f.d === 'string' ? { description: f.d } : {}) },
    });
    return { status: 'success', project_id: String(p.id), name: p.name };
  }, { description: 'text', d: 'text' }),
  def('create-goal', [a('projectId'), a('name')], false, async ({ api }, { projectId, name }, f) => {
    const url = typeof f.url === 'string' ? f.url : 'https://www.example.com';
    navigate(url); // the same URL check as a navigation step, before any request
    const g = await api.item<{ id: number; name: string }>('POST', '/goals', {
      body: { projectId: id(projectId, 'projectId'), name, url, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: GOAL_META, createFirstJourney: true },
    });
    return { status: 'success', goal_id: String(g.id), snapshot_id: await latestSnapshot(api, g.id), name: g.name };
  }, { url: 'url' }),
  def('create-journey', [a('goalId'), a('snapshotId'), a('name')], false, async ({ api }, { goalId, snapshotId, name }) => {
    const j = await api.item<JourneyWithCases>('POST', '/testsuites', {
      body: { goalId: id(goalId, 'goalId'), snapshotId: id(snapshotId, 'snapshotId'), name, title: name, archived: false, draft: true },
    });
    return { status: 'success', journey_id: String(j.id), name: j.title ?? name, goal_id: String(id(goalId, 'goalId')) };
  }),
  def('create-checkpoint', [a('journeyId'), a('goalId'), a('snapshotId'), a('name')], false, async ({ api }, args, f) => {
    // Position 1 is the navigation checkpoint, so new checkpoints go at 2 or later (§3.1).
    const position = typeof f.position === 'string' ? id(f.position, 'position') : 2;
    if (position < 2) throw unprocessable('Checkpoints are attached at position 2 or later (1 is the navigation checkpoint)');
    const c = await api.item<{ id: number; title: string }>('POST', '/testcases', {
      body: { goalId: id(args.goalId, 'goalId'), snapshotId: id(args.snapshotId, 'snapshotId'), title: args.name },
    });
    const base = { checkpoint_id: String(c.id), journey_id: String(id(args.journeyId, 'journeyId')), position, name: c.title };
    try {
      await api.item('POST', `/testsuites/${id(args.journeyId, 'journeyId')}/checkpoints/attach`, { body: { checkpointId: c.id, position } });
    } catch (err) {
      // The checkpoint exists but is not attached: say so, with its id, so the caller can attach it.
      if (err instanceof VirtuosoApiError && !err.retryable) return { status: 'partial', ...base, error: err.message };
      throw err;
    }
    return { status: 'success', ...base };
  }, { position: 'int' }),
  def('update-journey', [a('journeyId')], false, async ({ api }, { journeyId }, f) => {
    if (typeof f.name !== 'string' || !f.name.trim()) throw badRequest('update-journey needs --name <title>');
    const j = await api.item<JourneyWithCases>('PUT', `/testsuites/${id(journeyId, 'journeyId')}`, { body: { title: f.name } });
    return { status: 'success', journey_id: String(j.id), name: j.title ?? f.name };
  }, { name: 'text' }),
  def('get-step', [a('stepId')], true, async ({ api }, { stepId }) => {
    const s = await api.item<Record<string, unknown>>('GET', `/teststeps/${id(stepId, 'stepId')}`);
    return {
      id: String(s.id), canonical_id: s.canonicalId, checkpoint_id: String(s.checkpointId), step_index: s.stepIndex, action: s.action,
      value: s.value, optional: s.optional, ignore_outcome: s.ignoreOutcome, skip: s.skip, meta: s.meta, target: s.target,
    };
  }),
  def('update-navigation', [a('stepId'), a('canonicalId', true, 'text')], false, async ({ api }, { stepId, canonicalId }, f) => {
    if (typeof f.url !== 'string') throw badRequest('update-navigation needs --url <url>');
    const step = navigate(f.url, { newTab: f['new-tab'] === true });
    const sid = id(stepId, 'stepId');
    await api.item('PUT', `/teststeps/${sid}/properties`, {
      body: { id: sid, canonicalId, action: step.action, value: step.value, meta: step.meta, optional: false, ignoreOutcome: false, skip: false },
    });
    return { status: 'success', step_id: String(sid), url: step.value };
  }, { url: 'url', 'new-tab': 'boolean' }),
  // --- reads --------------------------------------------------------------------------------------
  def('list-projects', [], true, async (ctx, _a, f) => {
    const limit = typeof f.limit === 'string' ? id(f.limit, 'limit') : 50;
    const offset = typeof f.offset === 'string' ? Number(f.offset) : 0;
    const list = await ctx.api.list<{ name: string; description?: string }>('GET', '/projects', { query: { organizationId: orgOf(ctx), limit, offset } });
    return list.map(({ id: pid, value }) => ({ id: pid, name: value.name, description: value.description ?? '' }));
  }, { limit: 'int', offset: 'int' }),
  def('list-goals', [a('projectId')], true, async ({ api }, { projectId }) => {
    const list = await api.list<{ name: string; url?: string }>('GET', `/projects/${id(projectId, 'projectId')}/goals`, { query: { archived: false } });
    return list.map(({ id: gid, value }) => ({ id: gid, name: value.name, url: value.url }));
  }),
  def('list-journeys', [a('goalId'), a('snapshotId')], true, async ({ api }, { goalId, snapshotId }) => {
    const list = await api.list<{ journey: JourneyWithCases }>('GET', '/testsuites/latest_status', {
      query: { goalId: id(goalId, 'goalId'), snapshotId: id(snapshotId, 'snapshotId'), includeSequencesDetails: true },
    });
    return list.map(({ id: jid, value }) => ({ id: jid, name: value.journey.name, title: value.journey.title, checkpoints: value.journey.cases?.length }));
  }),
  def('list-checkpoints', [a('journeyId')], true, async ({ api }, { journeyId }) => {
    const j = await api.item<JourneyWithCases>('GET', `/testsuites/${id(journeyId, 'journeyId')}`);
    return (j.cases ?? []).map((c, i) => ({ id: String(c.id), title: i === 0 ? `[Navigation] ${c.title}` : c.title, position: i + 1, steps: c.steps?.length ?? 0 }));
  }),
  def('list-checkpoint-steps', [a('checkpointId')], true, async ({ api }, { checkpointId }) => {
    const c = await api.item<{ steps?: { id: number; action?: string; value?: string }[] }>('GET', `/testcases/${id(checkpointId, 'checkpointId')}`);
    return (c.steps ?? []).map((s, i) => ({ id: String(s.id), position: i + 1, action: s.action, value: s.value }));
  }),
  // --- execution ----------------------------------------------------------------------------------
  def('execute-goal', [a('goalId'), a('snapshotId', false)], false, async ({ api }, { goalId, snapshotId }) => {
    const gid = id(goalId, 'goalId');
    const sid = snapshotId ? String(id(snapshotId, 'snapshotId')) : await latestSnapshot(api, gid);
    const job = await api.item<{ id: number | string; status?: string }>('POST', `/goals/${gid}/snapshots/${sid}/execute`, { body: {} });
    // Job ids come back as numbers (the CLI broke on that): always a string here.
    return { status: 'success', execution_id: String(job.id), goal_id: String(gid), snapshot_id: sid, execution_status: job.status ?? 'LAUNCHED' };
  }),
  // An execution's status changes by itself: never served from the cache.
  def('execution-status', [a('executionId')], false, async ({ api }, { executionId }) => {
    const list = await api.list<Record<string, unknown>>('GET', '/testsuites/latest_status', {
      query: { jobId: id(executionId, 'executionId'), includeSequencesDetails: true, includeTrackingDetails: true },
    });
    return { execution_id: String(id(executionId, 'executionId')), journeys: list.map(({ id: jid, value }) => ({ journey_id: jid, ...value })) };
  }),
  /**
   * `monitor-execution EXEC_ID [--follow --interval 5 --timeout 60]`: the execution's state
   * (LAUNCHED, STARTED, FINISHED) and outcome; with --follow, polled every --interval seconds until
   * FINISHED or --timeout (at most 100 s, within the function's own limit; a CI pipeline that needs
   * longer runs the command again, or uses a test run, which is followed to its end).
   */
  def('monitor-execution', [a('executionId')], false, async ({ api }, { executionId }, f) => {
    const jobId = id(executionId, 'executionId');
    const follow = f.follow === true;
    const intervalS = typeof f.interval === 'string' ? Number(f.interval) : 5;
    const timeoutS = typeof f.timeout === 'string' ? Number(f.timeout) : 60;
    if (intervalS < 1 || timeoutS > MAX_FOLLOW_SECONDS) throw unprocessable(`--interval must be at least 1 and --timeout at most ${MAX_FOLLOW_SECONDS} seconds`);
    const deadline = Date.now() + timeoutS * 1000;
    for (let polls = 1; ; polls++) {
      const list = await api.list<{ status?: string; outcome?: string | null }>('GET', '/testsuites/latest_status', {
        query: { jobId, includeSequencesDetails: true, includeTrackingDetails: true },
      });
      const statuses = list.map((j) => String(j.value.status ?? 'UNKNOWN').toUpperCase());
      const finished = statuses.length > 0 && statuses.every((st) => st === 'FINISHED');
      const status = finished ? 'FINISHED' : statuses.includes('STARTED') ? 'STARTED' : (statuses[0] ?? 'UNKNOWN');
      const outcome = finished ? (list.some((j) => String(j.value.outcome ?? '').toUpperCase() === 'FAIL') ? 'FAIL' : 'PASS') : null;
      const done = finished || !follow || Date.now() + intervalS * 1000 > deadline;
      if (done) {
        return {
          execution_id: String(jobId), status, outcome, finished, polls, ...(follow && !finished ? { timed_out: true } : {}),
          journeys: list.map((j) => ({ journey_id: j.id, status: j.value.status, outcome: j.value.outcome ?? null })),
        };
      }
      await sleep(intervalS * 1000);
    }
  }, { follow: 'boolean', interval: 'int', timeout: 'int' }),
  def('get-execution-analysis', [a('analysisId')], true, async ({ api }, { analysisId }) =>
    api.item('GET', `/executions/analysis/${id(analysisId, 'analysisId')}`, { query: { includeAI: true } }),
  ),
  // --- library ------------------------------------------------------------------------------------
  def('library add', [a('checkpointId')], false, async ({ api }, { checkpointId }) => {
    const l = await api.item<{ id: number; name?: string }>('POST', `/testcases/${id(checkpointId, 'checkpointId')}/add-to-library`);
    return { status: 'success', library_checkpoint_id: String(l.id), name: l.name };
  }),
  def('library get', [a('libraryId')], true, async ({ api }, { libraryId }) => api.item('GET', `/library/checkpoints/${id(libraryId, 'libraryId')}`)),
  def('library attach', [a('journeyId'), a('libraryId'), a('position', true, 'int')], false, async ({ api }, args) => {
    const position = id(args.position, 'position');
    if (position < 1) throw unprocessable('position must be 1 or more');
    await api.item('POST', `/testsuites/${id(args.journeyId, 'journeyId')}/checkpoints/attach`, { body: { libraryCheckpointId: id(args.libraryId, 'libraryId'), position } });
    return { status: 'success', journey_id: String(id(args.journeyId, 'journeyId')), library_checkpoint_id: String(id(args.libraryId, 'libraryId')), position };
  }),
  def('library move-step', [a('libraryId'), a('stepId'), a('position', true, 'int')], false, async ({ api }, args) => {
    const position = id(args.position, 'position');
    if (position < 1) throw unprocessable('position must be 1 or more');
    await api.call('POST', `/library/checkpoints/${id(args.libraryId, 'libraryId')}/steps/${id(args.stepId, 'stepId')}/move`, { body: { position } });
    return { status: 'success', library_checkpoint_id: String(id(args.libraryId, 'libraryId')), step_id: String(id(args.stepId, 'stepId')), position };
  }),
  def('library remove-step', [a('libraryId'), a('stepId')], false, async ({ api }, args) => {
    await api.call('DELETE', `/library/checkpoints/${id(args.libraryId, 'libraryId')}/steps/${id(args.stepId, 'stepId')}`);
    return { status: 'success', library_checkpoint_id: String(id(args.libraryId, 'libraryId')), step_id: String(id(args.stepId, 'stepId')) };
  }),
  def('library update', [a('libraryId'), a('title')], false, async ({ api }, { libraryId, title }) => {
    const l = await api.item<{ id: number; name?: string }>('PUT', `/library/checkpoints/${id(libraryId, 'libraryId')}`, { body: { name: title } });
    return { status: 'success', library_checkpoint_id: String(l.id), name: l.name ?? title };
  }),
];

export function findCommand(tokens: readonly string[]): { command: Command; rest: string[] } | undefined {
  let best: Command | undefined;
  for (const c of COMMANDS) if (c.path.every((p, i) => tokens[i] === p) && (!best || c.path.length > best.path.length)) best = c;
  return best && { command: best, rest: tokens.slice(best.path.length) };
}

/** Runs a non-step command given as CLI tokens (`create-goal 12 "Checkout" --url https://…`). */
export async function runCliCommand(ctx: CommandContext, tokens: readonly string[]): Promise<{ command: string; output: unknown }> {
  const found = findCommand(tokens);
  if (!found) throw badRequest(`Unknown command '${tokens.slice(0, 2).join(' ')}'`);
  const r = resolveArgs(found.rest, { args: found.command.args, booleanFlags: found.command.booleanFlags });
  return { command: found.command.name, output: await found.command.run(ctx, r.args, r.flags) };
}
