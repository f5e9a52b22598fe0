/**
 * The CLI's non-step commands (VIRTUOSO_API.md §2.3, §2.4 library, execution, data), each declared once:
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
  // --- data: environments and test data tables ---------------------------------------------------
  /**
   * `create-environment --name N [--description D] [--variables k=v,k2=v2] [--copy-from ENV_ID]`.
   * POST /environments is a catalogue path and `{name, description, variables:{}}` a guess ([C] in
   * §1.4), never run against the live API. `--copy-from` sends `copyFromId` in the same body — our
   * own guess, one request with no race — and the sandbox copies the source's variables first, the
   * given ones winning. The `variables` reported are those Virtuoso answers with (what was sent if it
   * answers none), so a live API that ignored `copyFromId` would show it rather than hide it.
   * `--variables-file` needs a local file, which HTTPS callers do not have: refused (422).
   */
  def('create-environment', [], false, async ({ api }, _a, f) => {
    if (f['variables-file'] !== undefined) {
      throw unprocessable('--variables-file cannot work over HTTPS (there are no local files): pass --variables k=v,k2=v2 (in the structured form, args.variables as "k=v,...")');
    }
    const name = requiredFlag(f, 'name', 'create-environment');
    const variables = typeof f.variables === 'string' ? parseVariables(f.variables) : {};
    const copyFrom = f['copy-from'] === undefined ? undefined : id(String(f['copy-from']), '--copy-from');
    const env = await api.item<{ id: number | string; name?: string; variables?: unknown }>('POST', '/environments', {
      body: { name, description: optionalFlag(f, 'description'), variables, ...(copyFrom === undefined ? {} : { copyFromId: copyFrom }) },
    });
    return { status: 'success', environment_id: String(env.id), name: env.name ?? name, variables: isRecord(env.variables) ? env.variables : variables };
  }, { name: 'text', description: 'text', variables: 'text', 'variables-file': 'text', 'copy-from': 'id' }),
  /**
   * `manage-test-data` with exactly one action (422 otherwise), adapted to HTTPS (no local files):
   * - `--create-table --table-name N --columns a,b[,c] [--description D]` → POST /testdata/tables/create;
   * - `--import-csv "<csv text>" --table-id ID`: the CSV itself (RFC 4180; header first, naming the
   *   table's columns in any order) → GET /testdata/tables/{id} (to check the header), then POST
   *   /testdata/tables/{id}/import `{tableId, data: [[...rows, no header, in the table's column order]], format: "csv"}`;
   * - `--export-csv --table-id ID` → GET /testdata/tables/{id}/values, answered with the CSV text and
   *   the rows as objects keyed by column (`columns` keeps the order);
   * - `--get --table-id ID` → GET /testdata/tables/{id}.
   * All [C] (§1.4): paths from the catalogue, bodies guesses; the answers' field names (`rowCount`,
   * `rowsImported`, values `{columns, rows}`) are the sandbox's, unverified. One declaration, not
   * cached (read: false), although --get and --export-csv only read.
   */
  def('manage-test-data', [], false, async ({ api }, _a, f) => {
    const given = TABLE_ACTIONS.filter((k) => f[k] !== undefined);
    if (given.length !== 1) {
      throw unprocessable(`manage-test-data takes exactly one of ${TABLE_ACTIONS.map((k) => `--${k}`).join(', ')} (got ${given.length ? given.map((k) => `--${k}`).join(', ') : 'none'})`);
    }
    const action = given[0];
    const stray = Object.keys(f).filter((k) => k !== action && !TABLE_ACTION_FLAGS[action].includes(k));
    if (stray.length) throw unprocessable(`--${action} does not take ${stray.map((k) => `--${k}`).join(', ')} (it takes ${TABLE_ACTION_FLAGS[action].map((k) => `--${k}`).join(', ')})`);
    if (action === 'create-table') {
      const name = requiredFlag(f, 'table-name', 'manage-test-data --create-table');
      const columns = parseColumns(requiredFlag(f, 'columns', 'manage-test-data --create-table'));
      const t = await api.item<TableItem>('POST', '/testdata/tables/create', { body: { name, description: optionalFlag(f, 'description'), columns } });
      return { status: 'success', table_id: String(t.id), name: t.name ?? name, columns: isStringArray(t.columns) ? t.columns : columns };
    }
    const tableId = id(requiredFlag(f, 'table-id', `manage-test-data --${action}`), '--table-id');
    if (action === 'get') {
      const t = await api.item<TableItem>('GET', `/testdata/tables/${tableId}`);
      return { table_id: String(t.id ?? tableId), name: t.name, columns: t.columns, row_count: t.rowCount };
    }
    if (action === 'export-csv') {
      const path = `/testdata/tables/${tableId}/values`;
      const v = await api.item<{ columns?: unknown; rows?: unknown }>('GET', path);
      // An unexercised path: an answer of another shape is said plainly, not turned into an empty table.
      if (!isStringArray(v?.columns) || !Array.isArray(v.rows) || !v.rows.every(Array.isArray)) {
        throw new VirtuosoApiError(`GET ${path}: expected {columns, rows} in the answer`, 502, 'bad_response', false, undefined, `GET ${path}`);
      }
      const columns = v.columns;
      const rows = (v.rows as unknown[][]).map((r) => columns.map((_c, i) => (r[i] == null ? '' : String(r[i]))));
      // Rows as objects keyed by column: the command history (Firestore) cannot hold arrays in arrays.
      return { table_id: String(tableId), columns, rows: rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))), csv: toCsv([columns, ...rows]) };
    }
    // import-csv
    const [header, ...rows] = parseCsv(String(f['import-csv']));
    if (!header) throw unprocessable('--import-csv is empty: give the CSV text itself, its first line the column names');
    if (!rows.length) {
      const file = header.length === 1 && /\.(csv|txt)$/i.test(header[0]);
      throw unprocessable(file
        ? `--import-csv takes the CSV text itself, not a file name ('${header[0]}'): there are no local files over HTTPS`
        : '--import-csv has a header and no rows to import');
    }
    const bad = rows.findIndex((r) => r.length !== header.length);
    if (bad >= 0) throw unprocessable(`CSV row ${bad + 1} has ${rows[bad].length} fields but the header has ${header.length}`);
    const table = await api.item<TableItem>('GET', `/testdata/tables/${tableId}`);
    const columns = isStringArray(table.columns) ? table.columns : [];
    const names = header.map((h) => h.trim());
    const order = columns.map((c) => names.indexOf(c));
    if (names.length !== columns.length || order.some((i) => i < 0) || new Set(names).size !== names.length) {
      throw unprocessable(`The CSV header (${names.join(', ')}) does not match the columns of table ${tableId} (${columns.join(', ')})`);
    }
    const data = rows.map((r) => order.map((i) => r[i]));
    const imported = await api.item<{ rowsImported?: unknown } | undefined>('POST', `/testdata/tables/${tableId}/import`, { body: { tableId, data, format: 'csv' } });
    return { status: 'success', table_id: String(tableId), rows_imported: typeof imported?.rowsImported === 'number' ? imported.rowsImported : data.length };
  }, {
    'create-table': 'boolean', 'import-csv': 'text', 'export-csv': 'boolean', get: 'boolean',
    'table-name': 'text', columns: 'text', description: 'text', 'table-id': 'id',
  }),
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

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function requiredFlag(f: Flags, name: string, command: string): string {
  const v = f[name];
  if (typeof v !== 'string' || !v.trim()) throw unprocessable(`${command} needs --${name} <value>`);
  return v.trim();
}
const optionalFlag = (f: Flags, name: string): string => (typeof f[name] === 'string' ? f[name] : '');

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
