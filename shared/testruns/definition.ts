/**
 * The test definition (shared/schemas/test-definition.md; JSON Schema: shared/schemas/test-definition.json):
 * project → goals → journeys → checkpoints → steps, plus variables and options, written in YAML or
 * JSON. `parseDefinition` reads and checks the whole of it — every step goes through its catalogue
 * command's validation and builder — so nothing reaches Virtuoso until all of it is valid.
 *
 * A syntax error is a 400 naming line and column; every other problem is collected (up to 50) into
 * one 422 whose details give each problem's path (`goals[0].journeys[1].checkpoints[2].steps[4]`),
 * what is wrong, what is allowed and, for YAML text, its line and column.
 */
import type { ErrorObject } from 'ajv';
import { assertYamlBounds } from './yaml-bounds';
import { yaml } from '../yaml';
import type { Document } from 'yaml';
import { AppError, badRequest, unprocessable } from '../errors';
import { validator } from '../schemas';
import schemaJson from '../schemas/test-definition.json';
import type { ParsedStep } from '../virtuoso/steps';
import { buildStepCommand, describe, isMap, stepLabel, StepFormError, suggest } from './step-forms';
import { type Conversion, detectFormat, type Format, toNative } from './formats';

export interface StepDef {
  /** STEP_COMMANDS name, e.g. 'step-interact.click'. */
  command: string;
  args: Record<string, string | number | boolean>;
  parsedStep: ParsedStep;
  /** the short form as written, one line, for reports: 'click: Login button' */
  label: string;
}
export interface CheckpointDef {
  name: string;
  steps: StepDef[];
}
export interface JourneyDef {
  name: string;
  checkpoints: CheckpointDef[];
}
export interface GoalDef {
  name: string;
  url: string;
  journeys: JourneyDef[];
}
/** Stored with each run as parsed (store.ts): a change to this shape changes store.ts's PARSED_FORMAT. */
export interface TestDefinition {
  /** The format it was written in (converted into this native definition when not `native`). */
  format: Format;
  /** What the conversion adapted (empty for a native definition). */
  notes: string[];
  name: string;
  description?: string;
  project: { id?: string; name?: string; description?: string };
  variables: Record<string, string>;
  options: { continueOnError: boolean; timeoutSeconds: number };
  goals: GoalDef[];
  totalSteps: number;
  /**
   * The definition as plain data (YAML read, step values kept as written; converted into the native
   * format): what a run stores, so that workers read it back with JSON.parse instead of parsing YAML again.
   */
  document: Record<string, unknown>;
}
export interface DefinitionProblem {
  path: string;
  message: string;
  allowed?: string[];
  line?: number;
  column?: number;
}

export const testDefinitionSchema: object = schemaJson;
export const MAX_TOTAL_STEPS = 5000;
export const MAX_PROBLEMS = 50;
export const DEFAULT_TIMEOUT_SECONDS = 3600;

type Seg = string | number;
type Position = { line: number; column: number };

/** `['goals', 0, 'journeys', 1]` → `goals[0].journeys[1]`. */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const seg of path) {
    // An index (a number) is never a name: `[0]`; a key that is not a name is quoted: `["a b"]`, `["12"]`.
    if (/^[A-Za-z_$][\w$-]*$/.test(String(seg))) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

// --- reading the source --------------------------------------------------------------------------
interface Source {
  data: unknown;
  /** Line and column of the node at a path (YAML text only). */
  locate?: (path: readonly Seg[]) => Position | undefined;
  /** The value at a path with numbers kept as written (`007`, `1.50`), for step values (YAML text only). */
  asWritten?: (path: readonly Seg[]) => unknown;
}

/** The documents of a YAML (or JSON) text; a syntax error in any of them is a 400 naming line and column. */
function readDocuments(text: string): Source[] {
  // Every way in (POST /test-runs, a JSON `definition` string, a command's file) is bounded here,
  // before the parser builds anything.
  assertYamlBounds(text);
  const { LineCounter, parseAllDocuments, isScalar: isYamlScalar } = yaml();
  const lineCounter = new LineCounter();
  // (Duplicate keys are a syntax error: the parser's default, uniqueKeys.) An empty text is an empty list.
  const all: readonly Document.Parsed[] = parseAllDocuments(text, { lineCounter, prettyErrors: false, merge: true });
  const errors = all.flatMap((d) => d.errors);
  if (errors.length) {
    const details = errors.slice(0, MAX_PROBLEMS).map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return { path: '', message: e.message, line, column: col };
    });
    const first = details[0];
    // `{text: ${user}}`: in a flow map the braces of a placeholder end the map unless the value is quoted.
    const line = text.split('\n')[first.line - 1];
    const hint = /[{[].*\$\{/.test(line) ? '; inside {...} or [...], quote values that contain ${variables}: "${name}"' : '';
    throw badRequest(`The test definition is not valid YAML or JSON: line ${first.line}, column ${first.column}: ${first.message}${hint}`, details);
  }
  // A document with nothing in it (a trailing `---`) is no document; an empty text is one empty document.
  const present = all.filter((d) => !(isYamlScalar(d.contents) && d.contents.value === null && !d.contents.source));
  if (!all.length) return [{ data: null }];
  return (present.length ? present : all.slice(0, 1)).map((doc) => {
    let data: unknown;
    try {
      // A step written once and reused by alias (`- *login`) is common; the default of 100 aliases is not enough.
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw badRequest(`The test definition could not be read: ${message}`, [{ path: '', message }]);
    }
    // `&a [*a]`: an alias inside the collection it names reads as a collection that holds itself.
    if (holdsItself(data)) {
      const message = 'an alias (*name) is used inside the collection its anchor (&name) names';
      throw badRequest(`The test definition could not be read: ${message}`, [{ path: '', message }]);
    }
    return {
      data,
      locate: (path) => {
        const { range } = nodeAt(doc, path);
        if (!range) return undefined;
        const { line, col } = lineCounter.linePos(range[0]);
        return { line, column: col };
      },
      asWritten: (path) => {
        const { node, found } = nodeAt(doc, path);
        return found ? writtenValue(doc, node) : undefined;
      },
    };
  });
}

/** Whether a value read from YAML contains itself (an alias inside its own anchor's collection). */
function holdsItself(v: unknown, open = new Set<object>()): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (open.has(v)) return true;
  open.add(v);
  const found = Object.values(v).some((x) => holdsItself(x, open));
  open.delete(v);
  return found;
}

const keyOf = (key: unknown) => String(yaml().isScalar(key) ? key.value : key);
const rangeOf = (node: unknown) => (node as { range?: [number, number, number] | null } | null)?.range ?? undefined;

/** The YAML node at a path, and where it (or, for a map entry, its key) starts; else the nearest ancestor's position. */
function nodeAt(doc: Document, path: readonly Seg[]): { node: unknown; found: boolean; range?: [number, number, number] } {
  const { isAlias, isMap: isYamlMap, isSeq } = yaml();
  let node: unknown = doc.contents;
  let range = rangeOf(node);
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isYamlMap(node)) {
      const pair = node.items.find((p) => keyOf(p.key) === String(seg));
      if (!pair) return { node, found: false, range };
      range = rangeOf(pair.key) ?? rangeOf(pair.value) ?? range;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] != null) {
      node = node.items[seg];
      range = rangeOf(node) ?? range;
    } else {
      return { node, found: false, range };
    }
  }
  return { node, found: true, range };
}

const MISSING = Symbol('missing');
/** A node as JS, with numbers whose text would change by conversion (`007`, `1.50`, `0x1F`) kept as written. */
function writtenValue(doc: Document, node: unknown): unknown {
  // (The text holds no alias inside its own anchor: readDocuments refused it, so this ends.)
  const { isAlias, isMap: isYamlMap, isScalar: isYamlScalar, isSeq } = yaml();
  const convert = (n: unknown): unknown => {
    if (isAlias(n)) return convert(n.resolve(doc));
    if (isYamlScalar(n)) return typeof n.value === 'number' && n.source !== String(n.value) ? n.source : n.value;
    if (isSeq(n)) {
      const items = n.items.map((i) => convert(i));
      return items.includes(MISSING) ? MISSING : items;
    }
    if (isYamlMap(n)) {
      const entries: [string, unknown][] = [];
      for (const p of n.items) {
        // A merge key (`<<: *base`, its value a Symbol): leave the merge to toJS.
        if (isYamlScalar(p.key) && typeof p.key.value === 'symbol') return MISSING;
        const v = convert(p.value);
        if (v === MISSING) return MISSING;
        entries.push([keyOf(p.key), v]);
      }
      return Object.fromEntries(entries); // own keys, `__proto__` included
    }
    return null; // an empty value (`text:`)
  };
  const v = convert(node);
  return v === MISSING ? undefined : v;
}

// --- problems ------------------------------------------------------------------------------------
/** Where a problem at a path of the definition is shown: the path the user wrote, and its line and column. */
type Place = (path: readonly Seg[]) => { path: readonly Seg[]; at?: Position; prefix?: string };

class Problems {
  private readonly all: DefinitionProblem[] = [];
  private readonly keys = new Set<string>();
  private readonly paths = new Set<string>();

  constructor(private readonly place: Place) {}

  add(path: readonly Seg[], message: string, allowed?: readonly string[]): void {
    this.paths.add(formatPath(path));
    const shown = this.place(path);
    this.addAt(formatPath(shown.path), `${shown.prefix ?? ''}${message}`, allowed, shown.at);
  }

  /** A problem already placed (found while converting another format). */
  addAt(p: string, message: string, allowed?: readonly string[], at?: Position): void {
    const key = `${p}\n${message}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.all.push({ path: p, message, ...(allowed?.length ? { allowed: [...allowed] } : {}), ...(at ? { line: at.line, column: at.column } : {}) });
  }

  has(path: readonly Seg[]): boolean {
    return this.paths.has(formatPath(path));
  }

  get count(): number {
    return this.all.length;
  }

  error(): AppError {
    // By line and column; problems at one place stay in the order found (the sort is stable).
    const sorted = [...this.all].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    const n = sorted.length;
    const first = sorted[0];
    const where = `${first.path ? `${first.path}: ` : ''}${first.message}`;
    const message =
      n === 1
        ? `The test definition has 1 problem: ${where}`
        : `The test definition has ${n} problems${n > MAX_PROBLEMS ? ` (the first ${MAX_PROBLEMS} are listed)` : ''}; the first: ${where}`;
    return unprocessable(message, sorted.slice(0, MAX_PROBLEMS));
  }
}

// --- schema errors in words -----------------------------------------------------------------------
interface SchemaNode {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  required?: string[];
  minimum?: number;
  maximum?: number;
}
const ROOT = schemaJson as unknown as SchemaNode & { definitions: Record<string, SchemaNode> };
const deref = (s: SchemaNode) => (s.$ref ? ROOT.definitions[s.$ref.replace('#/definitions/', '')] : s);

/**
 * The (non-step) schema that applies at a path of the definition where ajv found a problem: every
 * such path exists in the schema (a list's items; a key of `properties`, or of `variables`, whose
 * values are `additionalProperties`).
 */
function schemaAt(path: readonly Seg[]): SchemaNode {
  let s: SchemaNode = ROOT;
  for (const seg of path) s = deref((typeof seg === 'number' ? s.items : (s.properties?.[seg] ?? s.additionalProperties)) as SchemaNode);
  return s;
}

const NOUNS: Record<string, string> = { goals: 'goal', journeys: 'journey', checkpoints: 'checkpoint', steps: 'step' };
const TYPE_WORDS: Record<string, string> = {
  object: 'a map',
  array: 'a list',
  string: 'a text',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};
const STEP_PATH = /^\/goals\/\d+\/journeys\/\d+\/checkpoints\/\d+\/steps\/\d+(\/|$)/;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An ajv instance path (`/goals/0/name`) as a path (an index of a list is a number), and the value there. */
function pointer(data: unknown, p: string): { path: Seg[]; value: unknown } {
  const path: Seg[] = [];
  let value = data;
  for (const raw of p.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const seg = Array.isArray(value) ? Number(key) : key;
    path.push(seg);
    value = (value as Record<Seg, unknown>)[seg]; // every collection on an instance path exists
  }
  return { path, value };
}

/** One ajv error as a problem, or undefined when it is covered elsewhere (steps and project are checked in code). */
function schemaProblem(e: ErrorObject, data: unknown): { path: Seg[]; message: string; allowed?: string[] } | undefined {
  if (STEP_PATH.test(e.instancePath) || e.instancePath === '/project' || e.instancePath.startsWith('/project/')) return undefined;
  if ((e as { propertyName?: string }).propertyName !== undefined) return undefined; // reported by its propertyNames error
  const { path, value } = pointer(data, e.instancePath);
  const field = String(path.at(-1)); // the key the problem is at (no keyword below is at a list's index)
  const schema = schemaAt(path);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': {
      const required = schema.required as string[];
      const what = path.length === 0 ? 'the definition' : `a ${NOUNS[String(path[path.length - 2])] ?? field}`;
      return { path, message: `missing '${p.missingProperty}' (${what} needs ${required.join(', ')})` };
    }
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const allowed = Object.keys(schema.properties as object).filter((k) => k !== '$schema');
      const hint = suggest(key, allowed);
      return { path: [...path, key], message: `unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed: ${allowed.join(', ')}`, allowed };
    }
    case 'propertyNames': {
      const name = String(p.propertyName);
      return { path: [...path, name], message: `'${name}' is not a valid variable name: letters, digits and _, not starting with a digit, at most 100 characters` };
    }
    case 'type': {
      const types = ([] as string[]).concat(p.type as string | string[]);
      const words = types.map((t) => TYPE_WORDS[t] ?? t);
      if (path.length === 0) return { path, message: `the definition must be a map with name, project and goals, not ${describe(value)}`, allowed: words };
      return { path, message: `must be ${words.join(' or ')}, not ${describe(value)}`, allowed: words };
    }
    // The lists are goals, journeys, checkpoints and steps; the least any needs is 1 (steps: 0).
    case 'minItems':
      return { path, message: `needs at least ${p.limit} ${NOUNS[field]}` };
    case 'maxItems':
      return { path, message: `has ${(value as unknown[]).length} ${NOUNS[field]}s; at most ${p.limit} are allowed` };
    case 'maxProperties': // variables
      return { path, message: `has ${Object.keys(value as object).length} entries; at most ${p.limit} are allowed` };
    case 'minLength': // names: one character at least (the same as their pattern's problem, listed once)
      return { path, message: 'must not be blank' };
    case 'maxLength': // names and goal URLs
      return { path, message: `is ${(value as string).length} characters long; at most ${p.limit} are allowed` };
    case 'minimum':
    case 'maximum': // options.timeout, the one bounded number
      return { path, message: `must be from ${schema.minimum} to ${schema.maximum} seconds, not ${describe(value)}` };
    case 'pattern': // names and goal URLs
      if (field === 'name') return { path, message: 'must not be blank' };
      return { path, message: `must be an http(s) URL (or begin with a \${variable}), not ${describe(value)}` };
    default:
      return { path, message: e.message ?? 'is not valid' };
  }
}

// --- project, names, variables ---------------------------------------------------------------------
function nameProblem(v: unknown, max = 200): string | undefined {
  if (typeof v !== 'string') return `must be a text, not ${describe(v)}`;
  if (!v.trim()) return 'must not be blank';
  if (v.length > max) return `is ${v.length} characters long; at most ${max} are allowed`;
  return undefined;
}

function readProject(p: unknown, problems: Problems): TestDefinition['project'] {
  const at = ['project'];
  if (typeof p === 'string') {
    const bad = nameProblem(p);
    if (bad) problems.add(at, bad);
    return { name: p.trim() };
  }
  if (!isMap(p)) {
    problems.add(at, `must be a project name, {name, description?} or {id}, not ${describe(p)}`, ['<name>', '{name, description?}', '{id}']);
    return {};
  }
  if (p.id !== undefined) {
    const others = Object.keys(p).filter((k) => k !== 'id');
    if (others.length) problems.add([...at, others[0]], `unknown key '${others[0]}' next to id; a project is {id} (an existing project) or {name, description?}`, ['id']);
    const id = String(p.id).trim(); // 42 or ' 42 '; anything else fails the test below
    if (!/^[1-9]\d*$/.test(id)) problems.add([...at, 'id'], `must be a project id (a positive integer), not ${describe(p.id)}`);
    return { id };
  }
  const allowed = ['name', 'description'];
  for (const k of Object.keys(p)) {
    if (!allowed.includes(k)) problems.add([...at, k], `unknown key '${k}'; allowed: name, description (or id alone)`, [...allowed, 'id']);
  }
  if (p.name === undefined) problems.add(at, "missing 'name' (a project is a name, {name, description?} or {id})");
  else {
    const bad = nameProblem(p.name);
    if (bad) problems.add([...at, 'name'], bad);
  }
  if (p.description !== undefined && (typeof p.description !== 'string' || p.description.length > 2000)) {
    problems.add([...at, 'description'], `must be a text of at most 2000 characters, not ${describe(p.description)}`);
  }
  return { name: typeof p.name === 'string' ? p.name.trim() : undefined, ...(typeof p.description === 'string' ? { description: p.description } : {}) };
}

function uniqueNames(items: unknown[], base: Seg[], noun: string, scope: string, problems: Problems): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    if (!isMap(item) || typeof item.name !== 'string' || !item.name.trim()) return;
    const name = item.name.trim();
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else problems.add([...base, i, 'name'], `duplicate ${noun} name '${name}' (${formatPath([...base, first])} has it too); ${noun} names must be unique ${scope}`);
  });
}

const PLACEHOLDER = /\$(\$?)\{([^{}]*)\}/g;

/** `${name}` → the variable's value; `$${name}` → the literal `${name}`; `$name` and `$$` stay as they are. */
function substitute(v: unknown, vars: ReadonlyMap<string, string>, unknown: Set<string>): unknown {
  if (typeof v === 'string') {
    return v.replace(PLACEHOLDER, (all: string, escape: string, name: string) => {
      if (escape) return all.slice(1);
      const value = vars.get(name);
      if (value === undefined) unknown.add(name);
      return value ?? all;
    });
  }
  if (Array.isArray(v)) return v.map((x) => substitute(x, vars, unknown));
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, vars, unknown)]));
  return v;
}

function unknownVariables(names: Set<string>, vars: ReadonlyMap<string, string>): { message: string; allowed: string[] } {
  const list = [...names].map((n) => `'${n}'`).join(', ');
  const defined = [...vars.keys()];
  return {
    message: `unknown variable${names.size === 1 ? '' : 's'} ${list}; defined: ${defined.join(', ') || 'none'} (write $\${name} for the literal text \${name})`,
    allowed: defined,
  };
}

// --- steps ---------------------------------------------------------------------------------------
function buildStep(raw: unknown, vars: ReadonlyMap<string, string>, path: Seg[], problems: Problems): StepDef | undefined {
  const label = stepLabel(raw);
  const unknown = new Set<string>();
  const value = substitute(raw, vars, unknown);
  if (unknown.size) {
    const { message, allowed } = unknownVariables(unknown, vars);
    problems.add(path, message, allowed);
    return undefined;
  }
  try {
    return { ...buildStepCommand(value), label };
  } catch (err) {
    if (err instanceof StepFormError) problems.add(path, err.message, err.allowed);
    else if (err instanceof AppError) problems.add(path, err.message);
    else throw err;
    return undefined;
  }
}

// --- the definition --------------------------------------------------------------------------------
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
/** A name or URL as written, trimmed (once the schema has no problem with it, it is a text). */
const str = (v: unknown): string => String(v).trim();

export interface ParseOptions {
  /** Sent with the request; they win over the definition's own `variables`. */
  variables?: Record<string, string>;
  /** run-test's `--project-name`: the project of a converted run-test definition. */
  projectName?: string;
}

/** How the documents read are turned into the native definition, and where problems in it are shown. */
function nativeSource(sources: Source[], conversion: Conversion): { src: Source; place?: Place } {
  if (conversion.format === 'native') return { src: sources[0] };
  const multi = sources.length > 1;
  const place: Place = (path) => {
    const o = conversion.origin(path);
    const shown = multi ? ['documents', o.doc, ...o.path] : o.path;
    return { path: shown, at: sources[o.doc].locate?.(o.path), ...(o.found ? {} : { prefix: `(the converted definition's ${formatPath(path)}) ` }) };
  };
  return { src: { data: conversion.document }, place };
}

/**
 * text: YAML or JSON source (JSON is valid YAML), in the native format or one of the original CLI's
 * (run-test, create-structure, the compact dialect: shared/testruns/formats/); or an already-parsed
 * object. `overrides.variables` win over the definition's own `variables`. Throws 400 for a syntax
 * error, 422 listing every problem.
 */
export function parseDefinition(source: string | Record<string, unknown>, overrides: ParseOptions = {}): TestDefinition {
  const sources: Source[] = typeof source === 'string' ? readDocuments(source) : [{ data: source }];
  const native = sources.length === 1 && detectFormat(sources[0].data) === 'native';
  // A conversion rewrites the steps: it takes the documents whole, numbers as written (`007`).
  const docs = sources.map((s) => (native ? s.data : (s.asWritten?.([]) ?? s.data)));
  const conversion = toNative(docs, { variables: overrides.variables, projectName: overrides.projectName });
  const { src, place } = nativeSource(sources, conversion);
  const data = src.data;
  const problems = new Problems(place ?? ((path) => ({ path, at: src.locate?.(path) })));
  for (const p of conversion.problems) {
    const shown = sources.length > 1 ? ['documents', p.doc, ...p.path] : p.path;
    problems.addAt(formatPath(shown), p.message, p.allowed, sources[p.doc].locate?.(p.path));
  }

  const validate = validator(testDefinitionSchema);
  if (!validate(data)) {
    for (const e of validate.errors as ErrorObject[]) {
      const p = schemaProblem(e, data);
      if (p) problems.add(p.path, p.message, p.allowed);
    }
  }
  const root = isMap(data) ? data : {};

  const project = root.project === undefined ? {} : readProject(root.project, problems);

  const vars = new Map<string, string>();
  if (isMap(root.variables)) {
    for (const [k, v] of Object.entries(root.variables)) {
      if (VARIABLE_NAME.test(k) && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) vars.set(k, String(v));
    }
  }
  for (const [k, v] of Object.entries(overrides.variables ?? {})) {
    if (VARIABLE_NAME.test(k)) vars.set(k, String(v));
    else problems.add(['variables', k], `'${k}' (sent with the request) is not a valid variable name: letters, digits and _, not starting with a digit`);
  }

  let total = 0;
  const goalList = list(root.goals);
  uniqueNames(goalList, ['goals'], 'goal', 'in a definition', problems);
  const goals: GoalDef[] = goalList.map((g, gi) => {
    const goal = isMap(g) ? g : {};
    const gp: Seg[] = ['goals', gi];
    let url = str(goal.url);
    if (typeof goal.url === 'string' && !problems.has([...gp, 'url'])) {
      const unknown = new Set<string>();
      url = String(substitute(url, vars, unknown)).trim();
      if (unknown.size) {
        const { message, allowed } = unknownVariables(unknown, vars);
        problems.add([...gp, 'url'], message, allowed);
      } else if (!isHttpUrl(url)) problems.add([...gp, 'url'], `must be an absolute http(s) URL, not ${describe(url)}`);
    }
    const journeyList = list(goal.journeys);
    uniqueNames(journeyList, [...gp, 'journeys'], 'journey', 'in a goal', problems);
    const journeys = journeyList.map((j, ji): JourneyDef => {
      const journey = isMap(j) ? j : {};
      const jp: Seg[] = [...gp, 'journeys', ji];
      const checkpointList = list(journey.checkpoints);
      uniqueNames(checkpointList, [...jp, 'checkpoints'], 'checkpoint', 'in a journey', problems);
      const checkpoints = checkpointList.map((c, ci): CheckpointDef => {
        const checkpoint = isMap(c) ? c : {};
        const cp: Seg[] = [...jp, 'checkpoints', ci];
        const steps: StepDef[] = [];
        list(checkpoint.steps).forEach((s, si) => {
          total += 1;
          if (total > MAX_TOTAL_STEPS) return;
          const sp: Seg[] = [...cp, 'steps', si];
          // Only a step holding a number can differ from its text (`007`, `1.50`): look at the YAML only then.
          const written = hasNumber(s) ? src.asWritten?.(sp) : undefined;
          if (written !== undefined && Array.isArray(checkpoint.steps)) checkpoint.steps[si] = written;
          const step = buildStep(written ?? s, vars, sp, problems);
          if (step) steps.push(step);
        });
        return { name: str(checkpoint.name), steps };
      });
      return { name: str(journey.name), checkpoints };
    });
    return { name: str(goal.name), url, journeys };
  });
  if (total > MAX_TOTAL_STEPS) {
    problems.add(['goals'], `the definition has ${total} steps; at most ${MAX_TOTAL_STEPS} are allowed (split it into several definitions)`);
  }

  if (problems.count) throw problems.error();

  const options = isMap(root.options) ? root.options : {};
  return {
    format: conversion.format,
    notes: conversion.notes,
    name: str(root.name),
    ...(typeof root.description === 'string' ? { description: root.description } : {}),
    project,
    variables: Object.fromEntries(vars),
    options: {
      continueOnError: options.continueOnError === true,
      timeoutSeconds: typeof options.timeout === 'number' ? options.timeout : DEFAULT_TIMEOUT_SECONDS,
    },
    goals,
    totalSteps: total,
    document: root,
  };
}

function hasNumber(v: unknown): boolean {
  if (typeof v === 'number') return true;
  if (v && typeof v === 'object') return Object.values(v).some(hasNumber);
  return false;
}

function isHttpUrl(url: string): boolean {
  const u = URL.parse(url);
  return !!u && (u.protocol === 'http:' || u.protocol === 'https:'); // (an http(s) URL always has a host)
}
