/**
 * The sandbox's object model and in-memory state (VIRTUOSO_API.md §1.3): Project → Goal → Snapshot
 * → Journey (testsuite) → Checkpoint (testcase) → Step (teststep), plus library checkpoints and
 * execution jobs; environments and test data tables (their shapes are guesses, [C] in §1.4). Numeric
 * ids from one counter per kind; canonical ids are UUID strings.
 *
 * Checkpoints hold their steps in order. A library checkpoint is a checkpoint promoted to the
 * library: the library entry and every journey it is attached to share the same checkpoint, so a
 * library edit (move, remove, rename) shows everywhere.
 */
import { randomUUID } from 'node:crypto';
import { badRequest, checkpointNotFound, notFound, projectNotFound, SandboxError } from './http';

export interface Project {
  id: number;
  name: string;
  description: string;
  organizationId: number;
  createdAt: string;
}

export interface Goal {
  id: number;
  projectId: number;
  name: string;
  url: string;
  environmentId: number | null;
  deviceSize: { width: number; height: number };
  meta: Record<string, unknown>;
  archived: boolean;
  createdAt: string;
  snapshotIds: number[];
}

export interface Snapshot {
  snapshotId: number;
  goalId: number;
  createdAt: string;
}

export interface Journey {
  id: number;
  goalId: number;
  snapshotId: number;
  name: string;
  title: string;
  canonicalId: string;
  archived: boolean;
  draft: boolean;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  /** Checkpoint ids, in order. */
  caseIds: number[];
}

export interface Checkpoint {
  id: number;
  goalId: number;
  snapshotId: number;
  title: string;
  canonicalId: string;
  /** The auto-created first checkpoint of a goal's first journey. */
  navigation: boolean;
  libraryCheckpointId: number | null;
  createdAt: string;
  /** Step ids, in order. */
  stepIds: number[];
}

export interface Step {
  id: number;
  canonicalId: string;
  checkpointId: number;
  action: string;
  value: string;
  variable?: string;
  optional: boolean;
  ignoreOutcome: boolean;
  skip: boolean;
  meta: Record<string, unknown>;
  target?: Record<string, unknown>;
}

export interface LibraryCheckpoint {
  id: number;
  checkpointId: number;
  name: string;
  description: string;
  createdAt: string;
}

/**
 * An environment (POST /environments, [C]: path from the catalogue, body `{name, description,
 * variables:{}}` a guess, never run against the live API).
 */
export interface Environment {
  id: number;
  name: string;
  description: string;
  variables: Record<string, string>;
  createdAt: string;
}

/**
 * A test data table (POST /testdata/tables/create, import, GET, values; [C]: paths from the
 * catalogue, bodies guesses). Names need not be unique: nothing is known about Virtuoso's rule.
 */
export interface TestDataTable {
  id: number;
  name: string;
  description: string;
  columns: string[];
  /** Each row has one string per column, in the columns' order. */
  rows: string[][];
  createdAt: string;
  updatedAt: string;
}

type Kind = 'project' | 'goal' | 'snapshot' | 'journey' | 'checkpoint' | 'step' | 'library' | 'job' | 'stepExecution' | 'environment' | 'table';

const now = () => new Date().toISOString();

export class SandboxState {
  readonly projects = new Map<number, Project>();
  readonly goals = new Map<number, Goal>();
  readonly snapshots = new Map<number, Snapshot>();
  readonly journeys = new Map<number, Journey>();
  readonly checkpoints = new Map<number, Checkpoint>();
  readonly steps = new Map<number, Step>();
  readonly library = new Map<number, LibraryCheckpoint>();
  readonly environments = new Map<number, Environment>();
  readonly tables = new Map<number, TestDataTable>();
  private readonly counters = new Map<Kind, number>();

  /** Each kind starts at its own base, so ids of different kinds are easy to tell apart in logs. */
  nextId(kind: Kind): number {
    const base: Record<Kind, number> = {
      project: 1000, goal: 2000, snapshot: 3000, journey: 4000, checkpoint: 5000, step: 6000, library: 7000, job: 8000, stepExecution: 9000,
      environment: 10000, table: 11000,
    };
    const n = (this.counters.get(kind) ?? base[kind]) + 1;
    this.counters.set(kind, n);
    return n;
  }

  clear(): void {
    for (const m of [this.projects, this.goals, this.snapshots, this.journeys, this.checkpoints, this.steps, this.library, this.environments, this.tables]) {
      m.clear();
    }
    this.counters.clear();
  }

  // --- lookups (each with the error the real API gives, where known) -------------------------------
  project(id: number | undefined): Project {
    const p = id === undefined ? undefined : this.projects.get(id);
    if (!p) throw projectNotFound();
    return p;
  }
  goal(id: number | undefined): Goal {
    const g = id === undefined ? undefined : this.goals.get(id);
    if (!g) throw notFound('Goal');
    return g;
  }
  journey(id: number | undefined): Journey {
    const j = id === undefined ? undefined : this.journeys.get(id);
    if (!j) throw notFound('Test suite');
    return j;
  }
  checkpoint(id: number | undefined): Checkpoint {
    const c = id === undefined ? undefined : this.checkpoints.get(id);
    if (!c) throw checkpointNotFound();
    return c;
  }
  step(id: number | undefined): Step {
    const s = id === undefined ? undefined : this.steps.get(id);
    if (!s) throw notFound('Test step');
    return s;
  }
  libraryCheckpoint(id: number | undefined): LibraryCheckpoint {
    const l = id === undefined ? undefined : this.library.get(id);
    if (!l) throw notFound('Library checkpoint');
    return l;
  }
  /** Virtuoso's codes for unknown environments and tables are not known: a plain 404 (as for goals). */
  environment(id: number | undefined): Environment {
    const e = id === undefined ? undefined : this.environments.get(id);
    if (!e) throw notFound('Environment');
    return e;
  }
  table(id: number | undefined): TestDataTable {
    const t = id === undefined ? undefined : this.tables.get(id);
    if (!t) throw notFound('Test data table');
    return t;
  }
  /** The snapshot, which must belong to the goal. */
  snapshotOf(goal: Goal, snapshotId: number | undefined): Snapshot {
    const s = snapshotId === undefined ? undefined : this.snapshots.get(snapshotId);
    if (!s || s.goalId !== goal.id) throw badRequest(`Snapshot ${snapshotId} does not belong to goal ${goal.id}`);
    return s;
  }

  // --- creation ------------------------------------------------------------------------------------
  createProject(name: string, organizationId: number, description: string): Project {
    for (const p of this.projects.values()) {
      if (p.organizationId === organizationId && p.name === name) {
        throw new SandboxError(400, '1501', 'A project with the specified name already exists');
      }
    }
    const p: Project = { id: this.nextId('project'), name, description, organizationId, createdAt: now() };
    this.projects.set(p.id, p);
    return p;
  }

  createGoal(fields: Omit<Goal, 'id' | 'archived' | 'createdAt' | 'snapshotIds'>, createFirstJourney: boolean): Goal {
    const goal: Goal = { ...fields, id: this.nextId('goal'), archived: false, createdAt: now(), snapshotIds: [] };
    this.goals.set(goal.id, goal);
    const snapshot: Snapshot = { snapshotId: this.nextId('snapshot'), goalId: goal.id, createdAt: now() };
    this.snapshots.set(snapshot.snapshotId, snapshot);
    goal.snapshotIds.push(snapshot.snapshotId);
    if (createFirstJourney) {
      const journey = this.createJourney(goal, snapshot, 'Suite 1');
      const nav = this.createCheckpoint(goal, snapshot, 'Navigation', true);
      this.addStep(nav, Number.MAX_SAFE_INTEGER, {
        action: 'NAVIGATE', value: goal.url, meta: { kind: 'NAVIGATE', type: 'URL', useNewTab: false }, optional: false, ignoreOutcome: false, skip: false,
      });
      journey.caseIds.push(nav.id);
    }
    return goal;
  }

  /** The system name is always "Suite N" (N counts the goal snapshot's journeys); the title is free. */
  createJourney(goal: Goal, snapshot: Snapshot, title: string, extra: { archived?: boolean; draft?: boolean; tags?: string[] } = {}): Journey {
    const n = [...this.journeys.values()].filter((j) => j.goalId === goal.id && j.snapshotId === snapshot.snapshotId).length + 1;
    const j: Journey = {
      id: this.nextId('journey'), goalId: goal.id, snapshotId: snapshot.snapshotId, name: `Suite ${n}`, title,
      canonicalId: randomUUID(), archived: extra.archived ?? false, draft: extra.draft ?? true, tags: extra.tags ?? [],
      createdAt: now(), updatedAt: now(), caseIds: [],
    };
    this.journeys.set(j.id, j);
    return j;
  }

  createCheckpoint(goal: Goal, snapshot: Snapshot, title: string, navigation = false): Checkpoint {
    const c: Checkpoint = {
      id: this.nextId('checkpoint'), goalId: goal.id, snapshotId: snapshot.snapshotId, title, canonicalId: randomUUID(),
      navigation, libraryCheckpointId: null, createdAt: now(), stepIds: [],
    };
    this.checkpoints.set(c.id, c);
    return c;
  }

  /** Inserts at the 0-based `index`; past the end or negative appends (see steps.ts). */
  addStep(checkpoint: Checkpoint, index: number, fields: Omit<Step, 'id' | 'canonicalId' | 'checkpointId'>): Step {
    const s: Step = { ...fields, id: this.nextId('step'), canonicalId: randomUUID(), checkpointId: checkpoint.id };
    this.steps.set(s.id, s);
    const at = index < 0 || index > checkpoint.stepIds.length ? checkpoint.stepIds.length : index;
    checkpoint.stepIds.splice(at, 0, s.id);
    return s;
  }

  /** Attaches at the 1-based `position` (1 = first); missing, or past the end, appends. */
  attach(journey: Journey, checkpoint: Checkpoint, position: number | undefined): void {
    if (journey.goalId !== checkpoint.goalId || journey.snapshotId !== checkpoint.snapshotId) {
      throw badRequest(`Checkpoint ${checkpoint.id} belongs to another goal or snapshot than test suite ${journey.id}`);
    }
    if (journey.caseIds.includes(checkpoint.id)) throw badRequest(`Checkpoint ${checkpoint.id} is already attached to test suite ${journey.id}`);
    const at = position === undefined || position < 1 || position > journey.caseIds.length ? journey.caseIds.length : position - 1;
    journey.caseIds.splice(at, 0, checkpoint.id);
    journey.updatedAt = now();
  }

  addToLibrary(checkpoint: Checkpoint): LibraryCheckpoint {
    if (checkpoint.libraryCheckpointId !== null) return this.libraryCheckpoint(checkpoint.libraryCheckpointId);
    const l: LibraryCheckpoint = { id: this.nextId('library'), checkpointId: checkpoint.id, name: checkpoint.title, description: '', createdAt: now() };
    this.library.set(l.id, l);
    checkpoint.libraryCheckpointId = l.id;
    return l;
  }

  /** With `copyFrom`, its variables first, then the given ones (which win). */
  createEnvironment(name: string, description: string, variables: Record<string, string>, copyFrom?: Environment): Environment {
    const e: Environment = { id: this.nextId('environment'), name, description, variables: { ...copyFrom?.variables, ...variables }, createdAt: now() };
    this.environments.set(e.id, e);
    return e;
  }

  createTable(name: string, description: string, columns: string[]): TestDataTable {
    if (!columns.length) throw badRequest('columns must name at least one column');
    const dupe = columns.find((c, i) => columns.indexOf(c) !== i);
    if (dupe !== undefined) throw badRequest(`Column '${dupe}' is given twice`);
    const t: TestDataTable = { id: this.nextId('table'), name, description, columns: [...columns], rows: [], createdAt: now(), updatedAt: now() };
    this.tables.set(t.id, t);
    return t;
  }

  /** Appends the rows (all or none): each must have one value per column, else 400. */
  importRows(table: TestDataTable, rows: string[][]): number {
    rows.forEach((r, i) => {
      if (r.length !== table.columns.length) {
        throw badRequest(`Row ${i + 1} has ${r.length} values but table ${table.id} has ${table.columns.length} columns (${table.columns.join(', ')})`);
      }
    });
    table.rows.push(...rows.map((r) => [...r]));
    table.updatedAt = now();
    return rows.length;
  }

  // --- views: the JSON the API answers with -------------------------------------------------------
  stepView(s: Step) {
    const cp = this.checkpoints.get(s.checkpointId);
    return {
      id: s.id, canonicalId: s.canonicalId, checkpointId: s.checkpointId, stepIndex: cp ? cp.stepIds.indexOf(s.id) : -1,
      action: s.action, value: s.value, ...(s.variable !== undefined ? { variable: s.variable } : {}),
      optional: s.optional, ignoreOutcome: s.ignoreOutcome, skip: s.skip, meta: s.meta, ...(s.target ? { target: s.target } : {}),
    };
  }
  checkpointView(c: Checkpoint) {
    return {
      id: c.id, goalId: c.goalId, snapshotId: c.snapshotId, title: c.title, canonicalId: c.canonicalId,
      navigation: c.navigation, libraryCheckpointId: c.libraryCheckpointId,
      steps: c.stepIds.map((id) => this.stepView(this.steps.get(id)!)),
    };
  }
  journeyView(j: Journey) {
    return { id: j.id, goalId: j.goalId, snapshotId: j.snapshotId, name: j.name, title: j.title, canonicalId: j.canonicalId,
      archived: j.archived, draft: j.draft, tags: j.tags, createdAt: j.createdAt, updatedAt: j.updatedAt };
  }
  journeyWithCases(j: Journey) {
    return { ...this.journeyView(j), cases: j.caseIds.map((id) => this.checkpointView(this.checkpoints.get(id)!)) };
  }
  goalView(g: Goal) {
    return { id: g.id, projectId: g.projectId, name: g.name, url: g.url, environmentId: g.environmentId, deviceSize: g.deviceSize,
      meta: g.meta, archived: g.archived, createdAt: g.createdAt };
  }
  libraryView(l: LibraryCheckpoint) {
    const c = this.checkpoints.get(l.checkpointId)!;
    return { id: l.id, name: l.name, description: l.description, checkpointId: c.id, createdAt: l.createdAt, steps: this.checkpointView(c).steps };
  }

  environmentView(e: Environment) {
    return { id: e.id, name: e.name, description: e.description, variables: { ...e.variables }, createdAt: e.createdAt };
  }
  tableView(t: TestDataTable) {
    return { id: t.id, name: t.name, description: t.description, columns: [...t.columns], rowCount: t.rows.length, createdAt: t.createdAt, updatedAt: t.updatedAt };
  }
  /** GET /testdata/tables/{id}/values: the shape is unknown (an unexercised catalogue path); this one is ours. */
  tableValues(t: TestDataTable) {
    return { tableId: t.id, columns: [...t.columns], rows: t.rows.map((r) => [...r]) };
  }

  /** Everything, for GET /__sandbox/state. */
  dump() {
    const vals = <T>(m: Map<number, T>) => [...m.values()];
    return {
      projects: vals(this.projects), goals: vals(this.goals), snapshots: vals(this.snapshots), journeys: vals(this.journeys),
      checkpoints: vals(this.checkpoints), steps: vals(this.steps).map((s) => this.stepView(s)), library: vals(this.library),
      environments: vals(this.environments), testDataTables: vals(this.tables),
    };
  }
}
