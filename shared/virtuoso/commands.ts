/**
 * The CLI's non-step commands (VIRTUOSO_API.md §2.3, §2.4 library, execution, data; the reference's
 * `manage_*.go`), each declared once: path, arguments, flags with their types, and what it does
 * against the API. Outputs use the CLI's key names (§2.1): snake_case for infrastructure
 * (`{status, project_id, name}`), `id` for steps.
 *
 * Ids take the prefixes the CLI's help shows (`cp_123`, `exec_8003`, `tbl_11002`, `env_10002`, …: see
 * ID_PREFIXES). A command that read a local file reads it from the request's `files` (name →
 * content; `stdin` for `-`): HTTPS cannot reach the caller's disk, and a missing file is refused
 * with that reason. Flags accepted without effect are reported in `notes`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { basename } from 'node:path';
import type { ErrorObject } from 'ajv';
import { badRequest, unprocessable } from '../errors';
import { isPlainObject } from '../json';
import { validator } from '../schemas';
import { argPath, invalidArguments, unknownFlag, type ArgSpec, type ArgumentProblem, type CommandShape, type FlagKind } from './cli';
import type { VirtuosoClient } from './client';
import { VirtuosoApiError } from './client';
import { navigate } from './steps';

/** How long `--follow`/`--wait` may wait in one answer (the commands function answers within 120 s). */
export const MAX_FOLLOW_SECONDS = 100;

/** A test run the command started (run-test, yaml run); see shared/testruns/submit.ts. */
export interface QueuedRun {
  id: string;
  name: string;
  status: string;
  statusUrl: string;
  totals: { operations: number; steps: number };
}

/** What a test-definition command needs from test runs (given by the caller, so the catalogue stays free of Firestore). */
export interface TestRunPort {
  queue(source: string, options: { execute: boolean; variables: Record<string, string>; projectName?: string }): Promise<QueuedRun>;
}

export interface CommandContext {
  api: Pick<VirtuosoClient, 'item' | 'list' | 'call'>;
  organizationId?: number;
  /** The caller's files, by the name the command line uses (HTTPS cannot read the caller's disk). */
  files?: Readonly<Record<string, string>>;
  /** What the CLI would have read from standard input (`run-test -`). */
  stdin?: string;
  /** Starts test runs (run-test, yaml run); absent where runs cannot be started (the check before recording). */
  testRuns?: TestRunPort;
  /** The base URL of the Virtuoso API, for validate-config. */
  baseUrl?: string;
}

type Args = Record<string, string>;
type Flags = Record<string, string | boolean>;

/** A command's output with what was accepted without effect (flags that change nothing here). */
export class Noted {
  constructor(
    readonly output: unknown,
    readonly notes: readonly string[],
  ) {}
}
/** The output, with notes when there are any. */
export const noted = (output: unknown, notes: readonly string[]): unknown => (notes.length ? new Noted(output, notes) : output);

export interface Command {
  /** `create-project`, `library.attach` */
  name: string;
  path: readonly string[];
  args: readonly Param[];
  flags: Readonly<Record<string, FlagParam>>;
  /** Reads of things that do not change by themselves: their answers may be cached (5 min). */
  read: boolean;
  /** The JSON Schema of its arguments and flags together (the structured form's `args`). */
  schema: object;
  /** Checks that need no request (a test definition's validity, a file that was not sent), run before anything is recorded. */
  check?(ctx: Pick<CommandContext, 'files' | 'stdin'>, args: Args, flags: Flags): void;
  /** The output, or a Noted output. */
  run(ctx: CommandContext, args: Args, flags: Flags): Promise<unknown>;
}

/** How a value is checked: ids are digits (with the CLI's prefixes), ints digits, files names. */
type ParamType = 'id' | 'int' | 'signed-int' | 'url' | 'text' | 'boolean' | 'file' | 'optional-file' | 'pairs';
/** A positional argument. */
export type Param = ArgSpec & { type: ParamType };
/** A flag (its name is its key in the command's `flags`); `short`: its one-letter form. */
export interface FlagParam {
  type: ParamType;
  short?: string;
}

/** The prefixes the CLI (and its help) wrote before an id, by argument name. */
export const ID_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  projectId: ['project', 'proj'],
  goalId: ['goal'],
  snapshotId: ['snapshot'],
  journeyId: ['journey', 'suite'],
  checkpointId: ['cp', 'checkpoint'],
  stepId: ['step'],
  libraryId: ['lib', 'library'],
  executionId: ['exec', 'execution', 'job'],
  analysisId: ['exec', 'execution', 'analysis'],
  'table-id': ['tbl', 'table'],
  'copy-from': ['env', 'environment'],
};

const idPattern = (name: string) => `^(${(ID_PREFIXES[name] ?? []).map((p) => `${p}_`).join('|')})?\\d+$`;
const a = (name: string, required = true, type: ParamType = /Id$/.test(name) ? 'id' : 'text', variadic = false): Param => ({ name, required, type, ...(variadic ? { variadic } : {}) });
export const f = (type: ParamType, short?: string): FlagParam => ({ type, ...(short ? { short } : {}) });

function paramSchema(name: string, p: { type: ParamType }): object {
  switch (p.type) {
    case 'id':
      return { type: ['string', 'integer'], pattern: idPattern(name), minimum: 0 };
    case 'int':
      return { type: ['string', 'integer'], pattern: '^\\d+$', minimum: 0 };
    case 'signed-int':
      return { type: ['string', 'integer'], pattern: '^-?\\d+$' };
    case 'url':
      return { type: 'string', pattern: '^https?://\\S+$' };
    case 'boolean':
      return { type: 'boolean' };
    case 'optional-file':
      return { type: ['string', 'boolean'] };
    default:
      return { type: 'string', minLength: 1 };
  }
}

/** What each parameter type takes, for messages. */
function describeParam(name: string, p: { type: ParamType }): string {
  switch (p.type) {
    case 'id': {
      const prefixes = ID_PREFIXES[name] ?? [];
      return `a numeric id (e.g. 12345${prefixes.length ? ` or ${prefixes[0]}_12345` : ''})`;
    }
    case 'int':
      return 'a whole number';
    case 'signed-int':
      return 'an integer';
    case 'url':
      return 'an http(s) URL';
    case 'boolean':
      return 'a flag without a value (true or false in the structured form)';
    default:
      return 'a non-empty text';
  }
}

/** The JSON Schema of a command's arguments and flags (unknown flags are refused, as the CLI does). */
function schemaOf(args: readonly Param[], flags: Readonly<Record<string, FlagParam>>): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: args.filter((x) => x.required !== false).map((x) => x.name),
    properties: {
      ...Object.fromEntries(args.map((x) => [x.name, paramSchema(x.name, x)])),
      ...Object.fromEntries(Object.entries(flags).map(([k, t]) => [k, paramSchema(k, t)])),
    },
  };
}

const FLAG_KINDS: Record<ParamType, FlagKind> = {
  id: 'value', int: 'value', 'signed-int': 'value', url: 'value', text: 'value', file: 'value', pairs: 'list', boolean: 'boolean', 'optional-file': 'optional-value',
};

export function commandShape(c: Pick<Command, 'path' | 'args' | 'flags'>): CommandShape {
  return {
    name: c.path.join(' '),
    args: c.args,
    flags: Object.fromEntries(Object.entries(c.flags).map(([k, p]) => [k, { kind: FLAG_KINDS[p.type], ...(p.short ? { short: p.short } : {}) }])),
  };
}

/** ajv's findings for a command, as problems in the CLI's words. */
export function commandProblems(c: Command, errors: readonly ErrorObject[], values: Record<string, unknown>): ArgumentProblem[] {
  const shown = (name: string) => (c.args.some((x) => x.name === name) ? `<${name}>` : `--${name}`);
  return errors.map((e) => {
    const p = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties') return unknownFlag(String(p.additionalProperty), commandShape(c));
    if (e.keyword === 'required') {
      const name = String(p.missingProperty);
      return { path: argPath(name), flag: shown(name), message: `missing ${shown(name)}` };
    }
    const name = e.instancePath.slice(1);
    const param = c.args.find((x) => x.name === name) ?? c.flags[name];
    const v = values[name];
    return { path: argPath(name), flag: shown(name), message: `${shown(name)} must be ${param ? describeParam(name, param) : 'valid'}, not ${typeof v === 'string' ? `'${v}'` : String(v)}` };
  });
}

/** Checks a command's arguments and flags against its schema (both forms alike): 422 naming each problem. */
export function validateCommandArgs(c: Command, values: Record<string, unknown>): void {
  const v = validator(c.schema);
  if (!v(values)) throw invalidArguments(c.path.join(' '), commandProblems(c, v.errors ?? [], values));
}

/** An id argument: digits, optionally with the CLI's prefixes (`cp_`, `lib_`, `exec_`, `tbl_`, …). */
export function id(value: string | number | undefined, what: string): number {
  const v = String(value ?? '').replace(/^[a-z]+_/, '');
  if (!/^\d+$/.test(v)) throw unprocessable(`${what} must be a numeric id (got '${value}')`);
  return Number(v);
}

function orgOf(ctx: CommandContext): number {
  if (!ctx.organizationId) throw unprocessable('No Virtuoso organization is configured (VIRTUOSO_ORG_ID)');
  return ctx.organizationId;
}

/**
 * The content of a file the command line names: `-` is standard input (`stdin`), any other name is
 * looked up in `files` (exactly, else by its base name when that is unambiguous). HTTPS cannot read
 * the caller's disk: a file that was not sent is refused, saying how to send it.
 */
export function inputFile(ctx: Pick<CommandContext, 'files' | 'stdin'>, name: string, command: string, alternative = ''): string {
  if (name === '-') {
    if (ctx.stdin !== undefined) return ctx.stdin;
    throw unprocessable(`${command} reads standard input ('-'): send what you would have piped in as the request's "stdin"${alternative}`, [
      { path: '/stdin', flag: '-', message: 'standard input was not sent' },
    ]);
  }
  const files = ctx.files ?? {};
  if (Object.hasOwn(files, name)) return files[name];
  const same = Object.keys(files).filter((k) => basename(k) === basename(name));
  if (same.length === 1) return files[same[0]];
  throw unprocessable(
    `${command} reads the file '${name}' on your machine, which this service cannot reach over HTTPS: send its content in the request's "files" ({"files": {"${name}": "<content>"}})${alternative}`,
    [{ path: `/files/${name}`, flag: name, message: 'this file was not sent with the request' }],
  );
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
export async function latestSnapshot(api: CommandContext['api'], goalId: number): Promise<string> {
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

export function def(path: string, args: Param[], read: boolean, run: Command['run'], flags: Record<string, FlagParam> = {}, check?: Command['check']): Command {
  const parts = path.split(' ');
  return { name: parts.join('.'), path: parts, args, read, run, flags, schema: schemaOf(args, flags), ...(check ? { check } : {}) };
}

const LIST_FLAGS = { limit: f('int'), offset: f('int') };
/** `--limit`/`--offset` on a list Virtuoso answers whole (the CLI's list flags, applied here). */
function page<T>(items: T[], flags: Flags): T[] {
  const offset = typeof flags.offset === 'string' ? Number(flags.offset) : 0;
  const limit = typeof flags.limit === 'string' ? Number(flags.limit) : 50;
  return items.slice(offset, offset + limit);
}

interface FollowOptions {
  follow: boolean;
  intervalSeconds: number;
  /** The --timeout asked for, if any (the CLI's default was 300 s). */
  timeoutSeconds?: number;
  /** How to go on when an answer stops following before the end. */
  followOn: string;
}

/**
 * An execution's state (LAUNCHED, STARTED, FINISHED) and outcome from its journeys' latest status;
 * with `follow`, polled every interval until FINISHED or the timeout. One answer follows at most
 * MAX_FOLLOW_SECONDS (the CLI's default was 300 s): a longer --timeout, or an execution still running
 * when the answer stops following, is said in a note with how to go on.
 */
async function followExecution(api: CommandContext['api'], jobId: number, o: FollowOptions): Promise<{ output: Record<string, unknown>; notes: string[] }> {
  const notes: string[] = [];
  if (o.follow && o.timeoutSeconds !== undefined && o.timeoutSeconds > MAX_FOLLOW_SECONDS) {
    notes.push(`--timeout ${o.timeoutSeconds} is longer than one answer may wait: followed for at most ${MAX_FOLLOW_SECONDS} s`);
  }
  const timeoutS = Math.min(o.timeoutSeconds ?? MAX_FOLLOW_SECONDS, MAX_FOLLOW_SECONDS);
  const deadline = Date.now() + timeoutS * 1000;
  for (let polls = 1; ; polls++) {
    const list = await api.list<{ status?: string; outcome?: string | null }>('GET', '/testsuites/latest_status', {
      query: { jobId, includeSequencesDetails: true, includeTrackingDetails: true },
    });
    const statuses = list.map((j) => String(j.value.status ?? 'UNKNOWN').toUpperCase());
    const finished = statuses.length > 0 && statuses.every((st) => st === 'FINISHED');
    const status = finished ? 'FINISHED' : statuses.includes('STARTED') ? 'STARTED' : (statuses[0] ?? 'UNKNOWN');
    const outcome = finished ? (list.some((j) => String(j.value.outcome ?? '').toUpperCase() === 'FAIL') ? 'FAIL' : 'PASS') : null;
    if (finished || !o.follow || Date.now() + o.intervalSeconds * 1000 > deadline) {
      const timedOut = o.follow && !finished;
      if (timedOut) notes.push(`not finished after ${timeoutS} s of following: ${o.followOn}, or follow a test run (POST /test-runs), which is followed to its end`);
      const output = {
        execution_id: String(jobId), status, outcome, finished, polls, ...(timedOut ? { timed_out: true } : {}),
        journeys: list.map((j) => ({ journey_id: j.id, status: j.value.status, outcome: j.value.outcome ?? null })),
      };
      return { output, notes };
    }
    await sleep(o.intervalSeconds * 1000);
  }
}

const seconds = (flags: Flags, name: string): number | undefined => (typeof flags[name] === 'string' ? Number(flags[name]) : undefined);

export const COMMANDS: readonly Command[] = [
  // --- infrastructure ---------------------------------------------------------------------------
  def('create-project', [a('name')], false, async (ctx, { name }, fl) => {
    const p = await ctx.api.item<{ id: number; name: string }>('POST', '/projects', {
      body: { name, organizationId: orgOf(ctx), ...(typeof fl.description === 'string' ? { description: fl.description } : {}) },
    });
    return { status: 'success', project_id: String(p.id), name: p.name };
  }, { description: f('text', 'd') }),
  def('create-goal', [a('projectId'), a('name')], false, async ({ api }, { projectId, name }, fl) => {
    const url = typeof fl.url === 'string' ? fl.url : 'https://www.example.com';
    navigate(url); // the same URL check as a navigation step, before any request
    const g = await api.item<{ id: number; name: string }>('POST', '/goals', {
      body: { projectId: id(projectId, 'projectId'), name, url, environmentId: null, deviceSize: { width: 1280, height: 800 }, meta: GOAL_META, createFirstJourney: true },
    });
    return { status: 'success', goal_id: String(g.id), snapshot_id: await latestSnapshot(api, g.id), name: g.name };
  }, { url: f('url') }),
  def('create-journey', [a('goalId'), a('snapshotId'), a('name')], false, async ({ api }, { goalId, snapshotId, name }) => {
    const j = await api.item<JourneyWithCases>('POST', '/testsuites', {
      body: { goalId: id(goalId, 'goalId'), snapshotId: id(snapshotId, 'snapshotId'), name, title: name, archived: false, draft: true },
    });
    return { status: 'success', journey_id: String(j.id), name: j.title ?? name, goal_id: String(id(goalId, 'goalId')) };
  }),
  def('create-checkpoint', [a('journeyId'), a('goalId'), a('snapshotId'), a('name')], false, async ({ api }, args, fl) => {
    // Position 1 is the navigation checkpoint, so new checkpoints go at 2 or later (§3.1).
    const position = typeof fl.position === 'string' ? Number(fl.position) : 2;
    if (position < 2) throw invalidArguments('create-checkpoint', [{ path: argPath('position'), flag: '--position', message: 'checkpoints are attached at position 2 or later (1 is the navigation checkpoint)' }]);
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
  }, { position: f('int') }),
  def('update-journey', [a('journeyId')], false, async ({ api }, { journeyId }, fl) => {
    if (typeof fl.name !== 'string' || !fl.name.trim()) throw badRequest('update-journey needs --name <title>', [{ path: argPath('name'), flag: '--name', message: 'missing --name <title>' }]);
    const j = await api.item<JourneyWithCases>('PUT', `/testsuites/${id(journeyId, 'journeyId')}`, { body: { title: fl.name } });
    return { status: 'success', journey_id: String(j.id), name: j.title ?? fl.name };
  }, { name: f('text') }),
  def('get-step', [a('stepId')], true, async ({ api }, { stepId }) => {
    const s = await api.item<Record<string, unknown>>('GET', `/teststeps/${id(stepId, 'stepId')}`);
    return {
      id: String(s.id), canonical_id: s.canonicalId, checkpoint_id: String(s.checkpointId), step_index: s.stepIndex, action: s.action,
      value: s.value, optional: s.optional, ignore_outcome: s.ignoreOutcome, skip: s.skip, meta: s.meta, target: s.target,
    };
  }),
  def('update-navigation', [a('stepId'), a('canonicalId', true, 'text')], false, async ({ api }, { stepId, canonicalId }, fl) => {
    if (typeof fl.url !== 'string') throw badRequest('update-navigation needs --url <url>', [{ path: argPath('url'), flag: '--url', message: 'missing --url <url>' }]);
    const step = navigate(fl.url, { newTab: fl['new-tab'] === true });
    const sid = id(stepId, 'stepId');
    await api.item('PUT', `/teststeps/${sid}/properties`, {
      body: { id: sid, canonicalId, action: step.action, value: step.value, meta: step.meta, optional: false, ignoreOutcome: false, skip: false },
    });
    return { status: 'success', step_id: String(sid), url: step.value };
  }, { url: f('url'), 'new-tab': f('boolean') }),
  // --- reads --------------------------------------------------------------------------------------
  def('list-projects', [], true, async (ctx, _a, fl) => {
    const limit = typeof fl.limit === 'string' ? Number(fl.limit) : 50;
    const offset = typeof fl.offset === 'string' ? Number(fl.offset) : 0;
    const list = await ctx.api.list<{ name: string; description?: string }>('GET', '/projects', { query: { organizationId: orgOf(ctx), limit, offset } });
    return list.map(({ id: pid, value }) => ({ id: pid, name: value.name, description: value.description ?? '' }));
  }, LIST_FLAGS),
  def('list-goals', [a('projectId')], true, async ({ api }, { projectId }, fl) => {
    const list = await api.list<{ name: string; url?: string }>('GET', `/projects/${id(projectId, 'projectId')}/goals`, { query: { archived: false } });
    return page(list.map(({ id: gid, value }) => ({ id: gid, name: value.name, url: value.url })), fl);
  }, LIST_FLAGS),
  def('list-journeys', [a('goalId'), a('snapshotId')], true, async ({ api }, { goalId, snapshotId }, fl) => {
    const list = await api.list<{ journey: JourneyWithCases }>('GET', '/testsuites/latest_status', {
      query: { goalId: id(goalId, 'goalId'), snapshotId: id(snapshotId, 'snapshotId'), includeSequencesDetails: true },
    });
    return page(list.map(({ id: jid, value }) => ({ id: jid, name: value.journey.name, title: value.journey.title, checkpoints: value.journey.cases?.length })), fl);
  }, LIST_FLAGS),
  def('list-checkpoints', [a('journeyId')], true, async ({ api }, { journeyId }, fl) => {
    const j = await api.item<JourneyWithCases>('GET', `/testsuites/${id(journeyId, 'journeyId')}`);
    return page((j.cases ?? []).map((c, i) => ({ id: String(c.id), title: i === 0 ? `[Navigation] ${c.title}` : c.title, position: i + 1, steps: c.steps?.length ?? 0 })), fl);
  }, LIST_FLAGS),
  def('list-checkpoint-steps', [a('checkpointId')], true, async ({ api }, { checkpointId }, fl) => {
    const c = await api.item<{ steps?: { id: number; action?: string; value?: string }[] }>('GET', `/testcases/${id(checkpointId, 'checkpointId')}`);
    return page((c.steps ?? []).map((s, i) => ({ id: String(s.id), position: i + 1, action: s.action, value: s.value })), fl);
  }, LIST_FLAGS),
  // --- execution ----------------------------------------------------------------------------------
  /** `execute-goal GOAL_ID [SNAPSHOT_ID] [--wait [--timeout S]]`: with --wait, followed like monitor-execution --follow. */
  def('execute-goal', [a('goalId'), a('snapshotId', false)], false, async ({ api }, { goalId, snapshotId }, fl) => {
    const gid = id(goalId, 'goalId');
    const sid = snapshotId ? String(id(snapshotId, 'snapshotId')) : await latestSnapshot(api, gid);
    const job = await api.item<{ id: number | string; status?: string }>('POST', `/goals/${gid}/snapshots/${sid}/execute`, { body: {} });
    // Job ids come back as numbers (the CLI broke on that): always a string here.
    const started = { status: 'success', execution_id: String(job.id), goal_id: String(gid), snapshot_id: sid, execution_status: job.status ?? 'LAUNCHED' };
    if (fl.wait !== true) return started;
    const jobId = id(job.id, 'execution id');
    const followed = await followExecution(api, jobId, { follow: true, intervalSeconds: 5, timeoutSeconds: seconds(fl, 'timeout'), followOn: `run monitor-execution ${jobId} --follow` });
    const { status, outcome, finished, timed_out: timedOut } = followed.output;
    return noted({ ...started, execution_status: status, outcome, finished, ...(timedOut ? { timed_out: true } : {}) }, followed.notes);
  }, { wait: f('boolean'), timeout: f('int') }),
  // An execution's status changes by itself: never served from the cache.
  def('execution-status', [a('executionId')], false, async ({ api }, { executionId }) => {
    const list = await api.list<Record<string, unknown>>('GET', '/testsuites/latest_status', {
      query: { jobId: id(executionId, 'executionId'), includeSequencesDetails: true, includeTrackingDetails: true },
    });
    return { execution_id: String(id(executionId, 'executionId')), journeys: list.map(({ id: jid, value }) => ({ journey_id: jid, ...value })) };
  }),
  /**
   * `monitor-execution EXEC_ID [--follow --interval 5 --timeout S]`: the execution's state
   * (LAUNCHED, STARTED, FINISHED) and outcome; with --follow, polled every --interval seconds until
   * FINISHED or --timeout (at most MAX_FOLLOW_SECONDS in one answer, which then says so).
   */
  def('monitor-execution', [a('executionId')], false, async ({ api }, { executionId }, fl) => {
    const intervalSeconds = seconds(fl, 'interval') ?? 5;
    if (intervalSeconds < 1) throw invalidArguments('monitor-execution', [{ path: argPath('interval'), flag: '--interval', message: '--interval must be at least 1 second' }]);
    const jobId = id(executionId, 'executionId');
    const followed = await followExecution(api, jobId, { follow: fl.follow === true, intervalSeconds, timeoutSeconds: seconds(fl, 'timeout'), followOn: `run monitor-execution ${jobId} --follow again` });
    return noted(followed.output, followed.notes);
  }, { follow: f('boolean'), interval: f('int'), timeout: f('int') }),
  /** `get-execution-analysis EXEC_ID [--ai-insights] [--failures-only]`: --ai-insights asks Virtuoso for its AI explanation. */
  def('get-execution-analysis', [a('analysisId')], true, async ({ api }, { analysisId }, fl) => {
    const output = await api.item('GET', `/executions/analysis/${id(analysisId, 'analysisId')}`, { query: { includeAI: fl['ai-insights'] === true } });
    const notes = fl['failures-only'] === true ? ['--failures-only is accepted and has no effect: an analysis covers one step execution, with its failure reason when it failed (the original CLI answered the same with or without it)'] : [];
    return noted(output, notes);
  }, { 'ai-insights': f('boolean'), 'failures-only': f('boolean') }),
  // --- data: environments and test data tables ---------------------------------------------------
  /**
   * `create-environment --name N [--description D] [--variables k=v,k2=v2] [--variables-file F] [--copy-from ENV_ID]`.
   * POST /environments is a catalogue path and `{name, description, variables:{}}` a guess ([C] in
   * §1.4), never run against the live API. `--copy-from` sends `copyFromId` in the same body — our
   * own guess, one request with no race — and the sandbox copies the source's variables first, the
   * given ones winning. `--variables-file` names a JSON file of {name: value}, read from the request's
   * `files`; `--variables` win over it. The `variables` reported are those Virtuoso answers with.
   */
  def('create-environment', [], false, async (ctx, _a, fl) => {
    const name = requiredFlag(fl, 'name', 'create-environment');
    const fromFile = typeof fl['variables-file'] === 'string' ? variablesFile(inputFile(ctx, fl['variables-file'], 'create-environment --variables-file', ', or pass --variables k=v,k2=v2'), fl['variables-file']) : {};
    const variables = { ...fromFile, ...(typeof fl.variables === 'string' ? parseVariables(fl.variables) : {}) };
    const copyFrom = fl['copy-from'] === undefined ? undefined : id(String(fl['copy-from']), '--copy-from');
    const env = await ctx.api.item<{ id: number | string; name?: string; variables?: unknown }>('POST', '/environments', {
      body: { name, description: optionalFlag(fl, 'description'), variables, ...(copyFrom === undefined ? {} : { copyFromId: copyFrom }) },
    });
    return { status: 'success', environment_id: String(env.id), name: env.name ?? name, variables: isPlainObject(env.variables) ? env.variables : variables };
  }, { name: f('text'), description: f('text'), variables: f('text'), 'variables-file': f('file'), 'copy-from': f('id') }, (ctx, _a, fl) => {
    if (typeof fl['variables-file'] === 'string') variablesFile(inputFile(ctx, fl['variables-file'], 'create-environment --variables-file', ', or pass --variables k=v,k2=v2'), fl['variables-file']);
    if (typeof fl.variables === 'string') parseVariables(fl.variables);
  }),
  /**
   * `manage-test-data` with exactly one action (422 otherwise), as the CLI took them:
   * - `--create-table --table-name N --columns a,b[,c] [--description D]` → POST /testdata/tables/create;
   * - `--import-csv <file or CSV text> --table-id ID`: the file from the request's `files` (or the CSV
   *   text itself; RFC 4180, header first, naming the table's columns in any order) → GET
   *   /testdata/tables/{id} (to check the header), then POST /testdata/tables/{id}/import
   *   `{tableId, data: [[...rows, no header, in the table's column order]], format: "csv"}`;
   * - `--export-csv [file] --table-id ID` → GET /testdata/tables/{id}/values, answered with the CSV
   *   text (what the CLI wrote to the file) and the rows as objects keyed by column;
   * - `--get --table-id ID`, or `--table-id ID` alone (as in the CLI) → GET /testdata/tables/{id}.
   * All [C] (§1.4): paths from the catalogue, bodies guesses; the answers' field names (`rowCount`,
   * `rowsImported`, values `{columns, rows}`) are the sandbox's, unverified. Not cached.
   */
  def('manage-test-data', [], false, async (ctx, _a, fl) => {
    const given = TABLE_ACTIONS.filter((k) => fl[k] !== undefined && fl[k] !== false);
    if (!given.length && typeof fl['table-id'] === 'string') given.push('get');
    if (given.length !== 1) {
      throw unprocessable(`manage-test-data takes exactly one of ${TABLE_ACTIONS.map((k) => `--${k}`).join(', ')} (got ${given.length ? given.map((k) => `--${k}`).join(', ') : 'none'})`, [
        { path: '/args', flag: given.map((k) => `--${k}`).join(' ') || 'manage-test-data', message: 'give one action' },
      ]);
    }
    const action = given[0];
    const stray = Object.keys(fl).filter((k) => k !== action && fl[k] !== false && !TABLE_ACTION_FLAGS[action].includes(k));
    if (stray.length) throw unprocessable(`--${action} does not take ${stray.map((k) => `--${k}`).join(', ')} (it takes ${TABLE_ACTION_FLAGS[action].map((k) => `--${k}`).join(', ')})`);
    if (action === 'create-table') {
      const name = requiredFlag(fl, 'table-name', 'manage-test-data --create-table');
      const columns = parseColumns(requiredFlag(fl, 'columns', 'manage-test-data --create-table'));
      const t = await ctx.api.item<TableItem>('POST', '/testdata/tables/create', { body: { name, description: optionalFlag(fl, 'description'), columns } });
      return { status: 'success', table_id: String(t.id), name: t.name ?? name, columns: isStringArray(t.columns) ? t.columns : columns };
    }
    const tableId = id(requiredFlag(fl, 'table-id', `manage-test-data --${action}`), '--table-id');
    if (action === 'get') {
      const t = await ctx.api.item<TableItem>('GET', `/testdata/tables/${tableId}`);
      return { table_id: String(t.id ?? tableId), name: t.name, columns: t.columns, row_count: t.rowCount };
    }
    if (action === 'export-csv') {
      const path = `/testdata/tables/${tableId}/values`;
      const v = await ctx.api.item<{ columns?: unknown; rows?: unknown }>('GET', path);
      // An unexercised path: an answer of another shape is said plainly, not turned into an empty table.
      if (!isStringArray(v?.columns) || !Array.isArray(v.rows) || !v.rows.every(Array.isArray)) {
        throw new VirtuosoApiError(`GET ${path}: expected {columns, rows} in the answer`, 502, 'bad_response', false, undefined, `GET ${path}`);
      }
      const columns = v.columns;
      const rows = (v.rows as unknown[][]).map((r) => columns.map((_c, i) => (r[i] == null ? '' : String(r[i]))));
      const file = typeof fl['export-csv'] === 'string' ? fl['export-csv'] : undefined;
      // Rows as objects keyed by column: the command history (Firestore) cannot hold arrays in arrays.
      const output = { table_id: String(tableId), columns, rows: rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))), csv: toCsv([columns, ...rows]), ...(file ? { file } : {}) };
      return noted(output, file ? [`the CSV is in the answer's "csv": there is no local file to write '${file}' to`] : []);
    }
    return importCsv(ctx, tableId, String(fl['import-csv']));
  }, {
    'create-table': f('boolean'), 'import-csv': f('text'), 'export-csv': f('optional-file'), get: f('boolean'),
    'table-name': f('text'), columns: f('text'), description: f('text'), 'table-id': f('id'),
  }, (ctx, _a, fl) => {
    if (typeof fl['import-csv'] === 'string') csvSource(ctx, fl['import-csv']);
  }),
  // --- library ------------------------------------------------------------------------------------
  def('library add', [a('checkpointId')], false, async ({ api }, { checkpointId }) => {
    const l = await api.item<{ id: number; name?: string }>('POST', `/testcases/${id(checkpointId, 'checkpointId')}/add-to-library`);
    return { status: 'success', library_checkpoint_id: String(l.id), name: l.name };
  }),
  def('library get', [a('libraryId')], true, async ({ api }, { libraryId }) => api.item('GET', `/library/checkpoints/${id(libraryId, 'libraryId')}`)),
  def('library attach', [a('journeyId'), a('libraryId'), a('position', true, 'int')], false, async ({ api }, args) => {
    const position = Number(args.position);
    if (position < 1) throw invalidArguments('library attach', [{ path: argPath('position'), flag: '<position>', message: 'position must be 1 or more' }]);
    await api.item('POST', `/testsuites/${id(args.journeyId, 'journeyId')}/checkpoints/attach`, { body: { libraryCheckpointId: id(args.libraryId, 'libraryId'), position } });
    return { status: 'success', journey_id: String(id(args.journeyId, 'journeyId')), library_checkpoint_id: String(id(args.libraryId, 'libraryId')), position };
  }),
  def('library move-step', [a('libraryId'), a('stepId'), a('position', true, 'int')], false, async ({ api }, args) => {
    const position = Number(args.position);
    if (position < 1) throw invalidArguments('library move-step', [{ path: argPath('position'), flag: '<position>', message: 'position must be 1 or more' }]);
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
  // --- configuration ------------------------------------------------------------------------------
  /**
   * `validate-config`: the CLI checked its config file and its token by listing projects. Here the
   * configuration is the service's own: its base URL and organization, and the token (never shown)
   * proven by one list call, timed.
   */
  def('validate-config', [], false, async (ctx) => {
    const organization = orgOf(ctx);
    const started = performance.now();
    await ctx.api.list('GET', '/projects', { query: { organizationId: organization, limit: 1, offset: 0 } });
    return {
      status: 'valid',
      config: { base_url: ctx.baseUrl ?? null, organization_id: String(organization) },
      api_test: { reachable: true, authenticated: true, response_time_ms: Math.round(performance.now() - started) },
    };
  }),
];

// --- data commands: flags, variables, CSV ------------------------------------------------------------

const TABLE_ACTIONS = ['create-table', 'import-csv', 'export-csv', 'get'] as const;
/** The other flags each manage-test-data action takes. */
const TABLE_ACTION_FLAGS: Record<(typeof TABLE_ACTIONS)[number], readonly string[]> = {
  'create-table': ['table-name', 'columns', 'description'],
  'import-csv': ['table-id'],
  'export-csv': ['table-id'],
  get: ['table-id'],
};

interface TableItem {
  id?: number | string;
  name?: string;
  columns?: unknown;
  rowCount?: number;
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function requiredFlag(fl: Flags, name: string, command: string): string {
  const v = fl[name];
  if (typeof v !== 'string' || !v.trim()) throw invalidArguments(command, [{ path: argPath(name), flag: `--${name}`, message: `${command} needs --${name} <value>` }]);
  return v.trim();
}
const optionalFlag = (fl: Flags, name: string): string => (typeof fl[name] === 'string' ? fl[name] : '');

/** Variable names as Virtuoso's `$name` references take them. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Names that Firestore reserves as field names: outputs are kept in the command history, so a
 * variable or column named so would fail the command after Virtuoso made the change. Refused first.
 */
const RESERVED_NAME = /^__.*__$/;
const notReserved = (name: string, what: string): string => {
  if (RESERVED_NAME.test(name)) throw unprocessable(`${what} '${name}' is reserved (names of the form __x__ cannot be kept in the command history)`);
  return name;
};

/**
 * `k=v,k2=v2` → `{k: "v", k2: "v2"}`. A value runs from the first `=` to the next comma (so it may
 * hold `=`, never `,`); spaces around names and values are dropped; empty items are skipped.
 */
export function parseVariables(text: string): Record<string, string> {
  const vars = new Map<string, string>();
  for (const item of text.split(',')) {
    if (!item.trim()) continue;
    const eq = item.indexOf('=');
    if (eq < 0) throw unprocessable(`--variables takes name=value pairs separated by commas ('${item.trim()}' has no '=')`);
    const name = item.slice(0, eq).trim();
    if (!VARIABLE_NAME.test(name)) throw unprocessable(`Variable name '${name}' is not valid: letters, digits and _, not starting with a digit`);
    notReserved(name, 'Variable name');
    if (vars.has(name)) throw unprocessable(`Variable '${name}' is given twice`);
    vars.set(name, item.slice(eq + 1).trim());
  }
  return Object.fromEntries(vars);
}

/** `a, b,c` → ["a", "b", "c"]: at least one, none empty, none twice. */
function parseColumns(text: string): string[] {
  const columns = text.split(',').map((c) => c.trim());
  if (columns.some((c) => !c)) throw unprocessable(`--columns takes names separated by commas, none empty (got '${text}')`);
  const dupe = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dupe !== undefined) throw unprocessable(`Column '${dupe}' is given twice`);
  for (const c of columns) notReserved(c, 'Column name');
  return columns;
}

/**
 * RFC 4180 text → records of fields. A quoted field may hold commas, line breaks and quotes (doubled:
 * `""`); CRLF, LF or CR ends a record; the last line break is optional; blank lines and a leading BOM
 * are skipped. A quote inside an unquoted field, text after a closing quote or an unclosed quote is 422.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quotedField = false;
  let line = 1;
  const endField = () => {
    record.push(field);
    field = '';
    quotedField = false;
  };
  const endRecord = () => {
    const blank = record.length === 0 && field === '' && !quotedField;
    endField();
    if (!blank) records.push(record);
    record = [];
  };
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      if (field !== '' || quotedField) throw unprocessable(`CSV line ${line}: a quote inside an unquoted field (quote the whole field and double the quote: "a""b")`);
      const start = line;
      quotedField = true;
      for (i++; ; i++) {
        if (i >= text.length) throw unprocessable(`CSV line ${start}: a quoted field is never closed`);
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        } else if (text[i] === '\n' || (text[i] === '\r' && text[i + 1] !== '\n')) {
          line++;
        }
        field += text[i];
      }
      i++; // past the closing quote
      if (i < text.length && !',\r\n'.includes(text[i])) throw unprocessable(`CSV line ${line}: '${text[i]}' after a closing quote (a quoted field ends at a comma or a line break)`);
    } else if (ch === ',') {
      endField();
      i++;
    } else if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
    } else {
      field += ch;
      i++;
    }
  }
  endRecord();
  return records;
}

/** Records → RFC 4180 text (CRLF after each record); a lone empty field is quoted so that it is not a blank line. */
export function toCsv(records: readonly (readonly string[])[]): string {
  const cell = (v: string, alone: boolean) => (/[",\r\n]/.test(v) || (alone && v === '') ? `"${v.replace(/"/g, '""')}"` : v);
  return records.map((r) => `${r.map((v) => cell(v, r.length === 1)).join(',')}\r\n`).join('');
}

/** A `--variables-file`: a JSON object of names to values (the CLI's format). */
function variablesFile(content: string, file: string): Record<string, string> {
  let data: unknown;
  try {
    data = JSON.parse(content);
  } catch (err) {
    throw unprocessable(`--variables-file '${file}' is not JSON: ${(err as Error).message}`);
  }
  if (!isPlainObject(data)) throw unprocessable(`--variables-file '${file}' must hold a JSON object of variable names to values`);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(data)) {
    if (!VARIABLE_NAME.test(name)) throw unprocessable(`Variable name '${name}' in '${file}' is not valid: letters, digits and _, not starting with a digit`);
    notReserved(name, 'Variable name');
    if (value !== null && typeof value === 'object') throw unprocessable(`Variable '${name}' in '${file}' must be a text, number or true/false`);
    out[name] = String(value ?? '');
  }
  return out;
}

/** `--import-csv`: a file sent in `files`, or the CSV text itself; a bare file name that was not sent is refused. */
function csvSource(ctx: Pick<CommandContext, 'files' | 'stdin'>, value: string): string {
  const files = ctx.files ?? {};
  const named = Object.keys(files).some((k) => k === value || basename(k) === basename(value));
  if (named || (!/[,\r\n]/.test(value) && /\.(csv|txt|tsv)$/i.test(value.trim()))) {
    return inputFile(ctx, value.trim(), 'manage-test-data --import-csv', ', or pass the CSV text itself as the value of --import-csv');
  }
  return value;
}

async function importCsv(ctx: CommandContext, tableId: number, value: string): Promise<unknown> {
  const [header, ...rows] = parseCsv(csvSource(ctx, value));
  if (!header) throw unprocessable('--import-csv is empty: give the CSV text itself (or a file sent in "files"), its first line the column names');
  if (!rows.length) throw unprocessable('--import-csv has a header and no rows to import');
  const bad = rows.findIndex((r) => r.length !== header.length);
  if (bad >= 0) throw unprocessable(`CSV row ${bad + 1} has ${rows[bad].length} fields but the header has ${header.length}`);
  const table = await ctx.api.item<TableItem>('GET', `/testdata/tables/${tableId}`);
  const columns = isStringArray(table.columns) ? table.columns : [];
  const names = header.map((h) => h.trim());
  const order = columns.map((c) => names.indexOf(c));
  if (names.length !== columns.length || order.some((i) => i < 0) || new Set(names).size !== names.length) {
    throw unprocessable(`The CSV header (${names.join(', ')}) does not match the columns of table ${tableId} (${columns.join(', ')})`);
  }
  const data = rows.map((r) => order.map((i) => r[i]));
  const imported = await ctx.api.item<{ rowsImported?: unknown } | undefined>('POST', `/testdata/tables/${tableId}/import`, { body: { tableId, data, format: 'csv' } });
  return { status: 'success', table_id: String(tableId), rows_imported: typeof imported?.rowsImported === 'number' ? imported.rowsImported : data.length };
}
