/**
 * The final CLI's `run-test` format (the reference's run_test_cmd.go is the specification of its step
 * spellings; VIRTUOSO_API.md §3.2), converted into the native test definition:
 *
 *   name, description, project (an id or a name), starting_url, infrastructure {organization_id,
 *   project, starting_url}, variables [{name, value}], config {continue_on_error, timeout}, steps
 *
 * becomes one goal "<name> - Goal" (the CLI's name) opening `starting_url`, with one journey "<name>"
 * whose checkpoint "Test Steps" holds the steps — the goal's own navigation checkpoint, so the steps
 * are attached and run (the CLI created a checkpoint it never attached). Each step is rewritten into
 * its native short form (`scroll: {to: top}` → `scroll: top`, `assert: {type: equals, selector, value}`
 * → `assert: {equals: selector, value}`, `{type: interact, command: write, target, value}` →
 * `write: {selector, text}`, …); native spellings pass through unchanged.
 *
 * Where the CLI was lossy or wrong, the conversion keeps what the author meant and says so in a note:
 * a missing project reuses (or creates) "Test Project <date>"; `assert: {element: x, equals: v}` is an
 * equality check (the CLI silently made it an existence check); `organization_id` is the service's;
 * `${name}` that is not a variable stays literal text, as the CLI sent it.
 */
import { canonicalGroup, STEP_COMMANDS } from '../../virtuoso/step-commands';
import { describe, isMap, StepFormError } from '../step-forms';

export type Seg = string | number;
export type Step = Record<string, unknown>;

/** A problem found while converting, at a path of the source document. */
export interface ConversionProblem {
  path: Seg[];
  message: string;
  allowed?: string[];
}

/** Collects notes once each (the same note for 40 steps is said once). */
export class Notes {
  private readonly seen = new Set<string>();
  readonly list: string[] = [];
  add(note: string): void {
    if (this.seen.has(note)) return;
    this.seen.add(note);
    this.list.push(note);
  }
}

type Scalar = string | number | boolean;
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** The first of `keys` present with a text, number or boolean value, as text ('' when none: the CLI's getString). */
export function get(m: Record<string, unknown>, ...keys: string[]): string {
  for (const k of keys) if (Object.hasOwn(m, k) && isScalar(m[k])) return String(m[k]);
  return '';
}
const has = (m: Record<string, unknown>, ...keys: string[]) => keys.some((k) => Object.hasOwn(m, k) && m[k] !== null && m[k] !== undefined);
const flag = (m: Record<string, unknown>, ...keys: string[]) => keys.some((k) => m[k] === true || m[k] === 'true');

const fail = (message: string, allowed?: string[]): never => {
  throw new StepFormError(message, allowed);
};
/** A text value, or the `value`/`text` of a map (the CLI's getStringValue). */
function stringValue(key: string, v: unknown, what: string): string {
  const s = isScalar(v) ? String(v) : isMap(v) ? get(v, 'value', 'text', 'selector', 'element') : '';
  return s.trim() ? s : fail(`${key} needs ${what}, not ${describe(v)}`);
}

const FOCUSED = '[focused]';
const ASSERT_ALIASES: Readonly<Record<string, string>> = {
  exists: 'exists', 'not-exists': 'not-exists', not_exists: 'not-exists', checked: 'checked', selected: 'selected',
  equals: 'equals', equal: 'equals', 'not-equals': 'not-equals', not_equals: 'not-equals',
  gt: 'gt', 'greater-than': 'gt', gte: 'gte', 'greater-equal': 'gte', lt: 'lt', 'less-than': 'lt', lte: 'lte', 'less-equal': 'lte',
  matches: 'matches', variable: 'variable',
};
const VALUELESS = new Set(['exists', 'not-exists', 'checked', 'selected']);

function assertStep(v: unknown, notes: Notes): Step {
  if (isScalar(v)) return { assert: String(v) };
  if (!isMap(v)) return fail(`assert needs a selector or a map, not ${describe(v)}`);
  let type = get(v, 'type', 'command');
  const selector = get(v, 'selector', 'element');
  let value = '';
  if (!type) {
    // `assert: {element: x, equals: v}`: the CLI ignored `equals` and checked that x exists.
    const named = Object.keys(v).filter((k) => Object.hasOwn(ASSERT_ALIASES, k) && k !== 'variable');
    if (!selector && named.length) return { assert: v }; // the native form: {equals: <selector>, value}
    if (named.length === 1) {
      type = named[0];
      value = get(v, named[0]);
      notes.add(`assert: {element, ${named[0]}: …} is read as an '${ASSERT_ALIASES[type]}' assertion (the original CLI made it an existence check)`);
    } else type = has(v, 'variable') ? 'variable' : 'exists';
  }
  const kind = Object.hasOwn(ASSERT_ALIASES, type) ? ASSERT_ALIASES[type] : undefined;
  if (!kind) return fail(`assert: unknown type '${type}'; allowed: ${Object.keys(ASSERT_ALIASES).join(', ')}`, Object.keys(ASSERT_ALIASES));
  if (kind === 'variable') {
    const name = get(v, 'variable', 'name');
    if (!name) fail("assert variable needs 'variable' (the variable's name)");
    return { assert: { variable: name, value: value || get(v, 'value') } };
  }
  if (!selector) fail(`assert ${kind} needs 'selector' (or 'element')`);
  if (VALUELESS.has(kind)) return { assert: { [kind]: selector } };
  const expected = value || (kind === 'matches' ? get(v, 'pattern', 'value') : get(v, 'value', kind, type.replace('-', '_')));
  return { assert: { [kind]: selector, value: expected } };
}

function writeStep(v: unknown, notes: Notes): Step {
  const focused = () => {
    notes.add(`write without a selector writes into '${FOCUSED}' (the original CLI's hint for the focused element)`);
    return FOCUSED;
  };
  if (isScalar(v)) return { write: { selector: focused(), text: String(v) } };
  if (!isMap(v)) return fail(`write needs a text or {selector, text}, not ${describe(v)}`);
  const text = get(v, 'text', 'value', 'content');
  if (!has(v, 'text', 'value', 'content')) fail("write needs 'text' (or 'value')");
  const selector = get(v, 'selector', 'element', 'into', 'target') || focused();
  return { write: { selector, text, ...(has(v, 'clear') ? { clear: v.clear } : {}) } };
}

function mouseStep(v: unknown): Step {
  if (!isMap(v) || !has(v, 'action', 'command')) return { mouse: v };
  const action = get(v, 'action', 'command');
  const selector = get(v, 'selector', 'element', 'to');
  switch (action) {
    case 'move-to':
    case 'moveTo':
      return { mouse: { 'move-to': selector || fail("mouse move-to needs 'selector'") } };
    case 'move-by':
    case 'moveBy':
      return { mouse: { 'move-by': get(v, 'offset', 'by') || fail("mouse move-by needs 'offset' as 'x,y'") } };
    case 'move':
      return { mouse: { move: get(v, 'position', 'to') || fail("mouse move needs 'position' as 'x,y'") } };
    case 'down':
    case 'up':
      return { mouse: selector ? { [action]: selector } : action };
    case 'enter':
      return { mouse: { enter: selector || fail("mouse enter needs 'selector' (the element the mouse moves into): mouse: {action: enter, selector: <element>}") } };
    default:
      return fail(`mouse: unknown action '${action}'; allowed: move-to, move-by, move, down, up, enter`, ['move-to', 'move-by', 'move', 'down', 'up', 'enter']);
  }
}

function selectStep(v: unknown): Step {
  if (!isMap(v)) return fail(`select needs {selector, option|index|last}, not ${describe(v)}`);
  const selector = get(v, 'selector', 'element', 'from');
  if (!selector) return fail("select needs 'selector' (or 'element', 'from')");
  if (has(v, 'option', 'value', 'text')) return { select: { selector, option: get(v, 'option', 'value', 'text') } };
  if (has(v, 'index')) return { select: { selector, index: v.index } };
  if (flag(v, 'last')) return { select: { selector, last: true } };
  return fail("select needs 'option', 'index' or 'last: true'", ['option', 'index', 'last']);
}

function waitStep(v: unknown): Step {
  if (!isMap(v)) return { wait: v };
  if (has(v, 'for')) return { wait: { element: v.for, ...(has(v, 'timeout') ? { timeout: v.timeout } : {}) } };
  if (has(v, 'ms', 'milliseconds')) return { wait: { time: v.ms ?? v.milliseconds } };
  return { wait: v };
}

function storeStep(v: unknown): Step {
  if (!isMap(v)) return fail(`store needs a map {selector, as}, not ${describe(v)}`);
  // The native form ({selector, as, from: text|value}, {literal, as}) passes through.
  if (has(v, 'literal') || (has(v, 'selector') && has(v, 'as') && !has(v, 'type', 'variable', 'in', 'element') && (!has(v, 'from') || ['text', 'value'].includes(get(v, 'from'))))) return { store: v };
  const as = get(v, 'as', 'variable', 'in');
  if (!as) return fail("store needs 'as' (the variable's name)");
  const type = get(v, 'type') || 'element-text';
  const selector = get(v, 'selector', 'element', 'from');
  const need = () => selector || fail(`store ${type} needs 'selector' (or 'element', 'from')`);
  switch (type) {
    case 'element-text':
    case 'text':
      return { store: { selector: need(), as } };
    case 'element-value':
    case 'value':
      return { store: { selector: need(), as, from: 'value' } };
    case 'attribute':
      return { store: { selector: need(), attribute: get(v, 'attribute', 'attr') || fail("store attribute needs 'attribute'"), as } };
    case 'literal':
      return { store: { literal: get(v, 'value'), as } };
    default:
      return fail(`store: unknown type '${type}'; allowed: element-text, element-value, attribute, literal`, ['element-text', 'element-value', 'attribute', 'literal']);
  }
}

function cookieStep(v: unknown): Step {
  if (v === 'clear' || v === 'clear-all') return { cookie: 'clear-all' };
  if (!isMap(v) || !has(v, 'action', 'command')) return { cookie: v };
  const action = get(v, 'action', 'command');
  const name = get(v, 'name');
  if (action === 'create' || action === 'set') {
    if (!name || !has(v, 'value')) fail('cookie create needs name and value');
    const extra = Object.fromEntries(['domain', 'path', 'secure', 'httpOnly'].filter((k) => has(v, k)).map((k) => [k, v[k]]));
    return { cookie: { create: name, value: get(v, 'value'), ...extra } };
  }
  if (action === 'delete' || action === 'remove') return { cookie: { delete: name || fail('cookie delete needs name') } };
  if (action === 'clear' || action === 'clear-all') return { cookie: 'clear-all' };
  return fail(`cookie: unknown action '${action}'; allowed: create, delete, clear`, ['create', 'delete', 'clear']);
}

function windowStep(v: unknown): Step {
  if (!isMap(v) || !has(v, 'action', 'command')) return { window: v };
  const action = get(v, 'action', 'command');
  if (action === 'resize') {
    const size = get(v, 'size', 'to') || (has(v, 'width') && has(v, 'height') ? `${get(v, 'width')}x${get(v, 'height')}` : '');
    return { window: { resize: size || fail("window resize needs 'size' as WIDTHxHEIGHT (or width and height)") } };
  }
  if (action === 'maximize') return { window: 'maximize' };
  if (action !== 'switch') return fail(`window: unknown action '${action}'; allowed: resize, maximize, switch`, ['resize', 'maximize', 'switch']);
  const to = get(v, 'to', 'target');
  if (['next', 'next-tab'].includes(to)) return { window: { tab: 'next' } };
  if (['prev', 'previous', 'prev-tab'].includes(to)) return { window: { tab: 'prev' } };
  if (/^tab-\d+$/.test(to)) return { window: { tab: Number(to.slice(4)) } };
  if (has(v, 'iframe')) return { window: { iframe: v.iframe } };
  if (flag(v, 'parent', 'parent-frame')) return { window: 'parent-frame' };
  return fail("window switch needs 'to: next|prev|tab-<n>', 'iframe: <selector>' or 'parent: true'", ['to', 'iframe', 'parent']);
}

function dialogStep(v: unknown): Step {
  if (v === 'dismiss' || v === 'accept') return { dialog: 'alert' };
  if (!isMap(v) || !has(v, 'type')) return { dialog: v };
  const type = get(v, 'type');
  const accept = get(v, 'action') === 'accept' || flag(v, 'accept');
  if (type === 'alert') return { dialog: 'alert' };
  if (type === 'confirm') return { dialog: { confirm: accept ? 'accept' : 'reject' } };
  if (type !== 'prompt') return fail(`dialog: unknown type '${type}'; allowed: alert, confirm, prompt`, ['alert', 'confirm', 'prompt']);
  const text = get(v, 'text', 'with');
  return text ? { dialog: { prompt: 'accept', text } } : { dialog: { prompt: accept ? 'accept' : 'reject' } };
}

function uploadStep(v: unknown): Step {
  if (!isMap(v)) return fail(`upload needs {selector, url}, not ${describe(v)}`);
  if (has(v, 'file') && !has(v, 'url', 'from')) return { upload: v }; // the native {selector, file}
  const selector = get(v, 'selector', 'element', 'to');
  const url = get(v, 'url', 'from');
  if (!selector || !url) fail('file upload needs selector and url');
  return { upload: { selector, url } };
}

/** run-test's step keys (and their other spellings) → the native step. */
const STEP_KEYS: Readonly<Record<string, (v: unknown, notes: Notes) => Step>> = {
  navigate: (v) => {
    if (!isMap(v)) return { navigate: v };
    const url = get(v, 'url', 'to');
    return { navigate: { url: url || fail("navigate needs 'url'"), ...(flag(v, 'new_tab', 'newTab') ? { newTab: true } : {}) } };
  },
  scroll: (v) => {
    if (isScalar(v)) return ['top', 'bottom', 'up', 'down'].includes(String(v)) ? { scroll: v } : { scroll: { element: String(v) } };
    if (!isMap(v)) return fail(`scroll needs a selector or a map, not ${describe(v)}`);
    const to = get(v, 'to');
    if (to) return to === 'top' || to === 'bottom' ? { scroll: to } : { scroll: { element: to } };
    if (has(v, 'position')) return { scroll: { position: v.position } };
    if (has(v, 'by')) return { scroll: { by: v.by } };
    if (get(v, 'direction') === 'up' || flag(v, 'up')) return { scroll: 'up' };
    if (get(v, 'direction') === 'down' || flag(v, 'down')) return { scroll: 'down' };
    if (has(v, 'element', 'selector')) return { scroll: { element: get(v, 'element', 'selector') } };
    return fail("scroll needs 'to', 'position', 'by' or 'direction'", ['to', 'position', 'by', 'direction']);
  },
  assert: assertStep,
  click: (v) => ({ click: isMap(v) ? get(v, 'selector', 'element') || fail("click needs 'selector'") : v }),
  'double-click': (v) => ({ 'double-click': stringValue('double-click', v, 'a selector') }),
  doubleClick: (v) => ({ 'double-click': stringValue('doubleClick', v, 'a selector') }),
  'right-click': (v) => ({ 'right-click': stringValue('right-click', v, 'a selector') }),
  rightClick: (v) => ({ 'right-click': stringValue('rightClick', v, 'a selector') }),
  hover: (v) => ({ hover: stringValue('hover', v, 'a selector') }),
  write: writeStep,
  type: writeStep,
  key: (v) => (isMap(v) && has(v, 'target') ? { key: { key: get(v, 'key', 'value', 'text'), target: v.target } } : { key: stringValue('key', v, 'a key name') }),
  press: (v) => ({ key: stringValue('press', v, 'a key name') }),
  mouse: mouseStep,
  select: selectStep,
  wait: waitStep,
  store: storeStep,
  cookie: cookieStep,
  window: windowStep,
  dialog: dialogStep,
  alert: (v) => (v === 'dismiss' || v === 'accept' ? { dialog: 'alert' } : dialogStep(isMap(v) ? { type: 'alert', ...v } : v)),
  file: uploadStep,
  upload: uploadStep,
  comment: (v) => ({ comment: stringValue('comment', v, 'a text') }),
  execute: (v) => ({ execute: stringValue('execute', v, 'a script') }),
  javascript: (v) => ({ execute: stringValue('javascript', v, 'a script') }),
  js: (v) => ({ execute: stringValue('js', v, 'a script') }),
};

/** Keys that only describe a step; dropped with a note (Virtuoso steps have none). */
const DESCRIPTIVE = ['description', 'name'];
const TYPED_KEYS = new Set(['type', 'command', 'target', 'selector', 'url', 'value', 'text', 'timeout', 'description']);
const SELECTOR_ACTIONS = new Set(['click', 'double-click', 'right-click', 'hover']);

/**
 * `{type, command?, target|selector|url, value, timeout}`: run-test's other spelling (`{type: interact,
 * command: write, target, value}`) and the gen-1 create-structure steps (`{type: fill, selector, value}`).
 * A type that is an action (`click`, `fill`, `wait`, …) is that action; otherwise the type is a group
 * and the command a subcommand (`interact write`), whose catalogue arguments `target` and `value` fill
 * in order. `waitTimeout`: the timeout of a wait for an element when none is given (gen-1: 5000 ms).
 */
function typedStep(v: Record<string, unknown>, notes: Notes, waitTimeout?: number): Step {
  const group = get(v, 'type').replace(/^step-/, '');
  const command = get(v, 'command');
  const pick = (...keys: string[]) => (has(v, ...keys) ? get(v, ...keys) : undefined);
  const selector = pick('target', 'selector');
  const url = pick('url');
  const value = pick('value', 'text');
  const what = `${group}${command ? ` ${command}` : ''}`;
  if (has(v, 'description')) notes.add("steps' 'description' is not kept (Virtuoso steps have none)");
  const need = (x: string | undefined, name: string) => x ?? fail(`${what} needs '${name}'`);
  const timeout = has(v, 'timeout') ? { timeout: v.timeout } : waitTimeout ? { timeout: waitTimeout } : {};
  const action = command && group === 'interact' ? command : command ? `${group} ${command}` : group;
  if (SELECTOR_ACTIONS.has(action)) return { [action]: need(selector, 'target') };
  switch (action) {
    case 'navigate':
    case 'navigate to':
    case 'navigate goto':
      return { navigate: need(url ?? selector ?? value, 'url') };
    case 'fill':
    case 'write':
    case 'type':
    case 'input':
      return writeStep({ ...(selector !== undefined ? { selector } : {}), text: need(value, 'value') }, notes);
    case 'key':
    case 'press':
      return selector !== undefined && value !== undefined ? { key: { key: value, target: selector } } : { key: need(value ?? selector, 'value') };
    case 'wait':
      return selector !== undefined ? { wait: { element: selector, ...timeout } } : { wait: Number(need(value ?? (has(v, 'timeout') ? get(v, 'timeout') : undefined), 'value')) };
    case 'wait element':
      return { wait: { element: need(selector, 'target'), ...timeout } };
    case 'wait time':
      return { wait: Number(need(value ?? selector, 'value')) };
    case 'assert':
      return value !== undefined ? { assert: { equals: need(selector, 'target'), value } } : { assert: need(selector, 'target') };
    case 'store':
    case 'data store':
      return { store: { selector: need(selector, 'target'), as: need(value, 'value') } };
    case 'comment':
    case 'misc comment':
      return { comment: need(value ?? selector, 'value') };
    case 'execute':
    case 'misc execute':
      return { execute: need(value ?? selector, 'value') };
    case 'upload':
    case 'file upload':
      return { upload: { selector: need(selector, 'selector'), url: need(url ?? value, 'url') } };
    case 'scroll':
      return selector !== undefined ? { scroll: { element: selector } } : { scroll: need(value, 'value') };
  }
  if (group === 'assert') return assertStep({ type: command, selector, value }, notes);
  // Anything else: the catalogue command the group and command name, arguments in order.
  const path = canonicalGroup([`step-${group}`, ...command.split(/\s+/).filter(Boolean)]);
  const found = STEP_COMMANDS.find((c) => c.paths.some((p) => p.length === path.length && p.every((w, i) => w === path[i])));
  if (!found) return fail(`unknown step type '${what}'; a typed step is {type: navigate|click|fill|wait|assert|…} or {type: <group>, command: <subcommand>} (e.g. type: interact, command: write)`);
  const values = [selector ?? url, value].filter((x): x is string => x !== undefined);
  if (values.length > found.args.length) fail(`${found.path.join(' ')} takes ${found.args.length ? found.args.map((x) => x.name).join(', ') : 'no arguments'}, not both target and value`);
  return { step: found.name, args: Object.fromEntries(values.map((x, i) => [found.args[i].name, x])) };
}

/** Words in single or double quotes, or bare (`'input#email' 'a b'` → ['input#email', 'a b']). */
function quotedWords(text: string): string[] {
  return [...text.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/**
 * A step written as one text, `"<action>: <target>"` (the CLI's YAML normalizer read these):
 * `write: 'input#email' 'a@b.c'` is a write, `wait: for .spinner` a wait for an element,
 * `wait: 2s` / `wait: 500ms` a wait in time; any other is the one-key step `{<action>: <target>}`.
 */
function textStep(raw: string, notes: Notes): Step {
  const m = /^\s*([A-Za-z][\w-]*)\s*:\s*(.*?)\s*$/s.exec(raw);
  if (!m || !Object.hasOwn(STEP_KEYS, m[1])) return fail(`a step is a map with one action key (e.g. 'click: Login button'), not ${describe(raw)}`);
  const [, action, target] = m;
  if (action === 'write' || action === 'type') {
    const words = quotedWords(target);
    if (words.length === 2) return writeStep({ selector: words[0], text: words[1] }, notes);
  }
  if (action === 'wait') {
    if (target.startsWith('for ')) return { wait: { element: target.slice(4).trim() } };
    const time = /^(\d+)\s*(ms|s)$/.exec(target);
    if (time) return { wait: Number(time[1]) * (time[2] === 's' ? 1000 : 1) };
  }
  return convertStep({ [action]: target }, notes);
}

/** One run-test (or gen-1) step → its native short form (native spellings pass through). */
export function convertStep(raw: unknown, notes: Notes, waitTimeout?: number): Step {
  if (typeof raw === 'string') return textStep(raw, notes);
  if (!isMap(raw)) return raw as Step;
  if (typeof raw.type === 'string' && Object.keys(raw).length > 1 && Object.keys(raw).every((k) => TYPED_KEYS.has(k))) return typedStep(raw, notes, waitTimeout);
  const keys = Object.keys(raw).filter((k) => Object.hasOwn(STEP_KEYS, k));
  if (keys.length !== 1) return raw; // none: native (or unknown, which the native forms report); several: the native check says so
  const extra = Object.keys(raw).filter((k) => k !== keys[0]);
  if (extra.length && extra.every((k) => DESCRIPTIVE.includes(k))) notes.add(`steps' '${extra[0]}' is not kept (Virtuoso steps have none)`);
  else if (extra.length) return raw;
  return STEP_KEYS[keys[0]](raw[keys[0]], notes);
}

const PLACEHOLDER = /\$(\$?)\{([^{}]*)\}/g;
/** `${name}` of no variable → `$${name}` (literal text, as the CLI sent it); known ones stay. */
export function escapeUnknown(v: unknown, known: ReadonlySet<string>): unknown {
  if (typeof v === 'string') return v.replace(PLACEHOLDER, (all: string, escaped: string, name: string) => (escaped || known.has(name) ? all : `$${all}`));
  if (Array.isArray(v)) return v.map((x) => escapeUnknown(x, known));
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, escapeUnknown(x, known)]));
  return v;
}

export interface ConvertOptions {
  /** run-test's `--project-name`: the project (reused if it exists, created otherwise). */
  projectName?: string;
  /** Variables sent with the request (they count as known in `${name}`). */
  variables?: Readonly<Record<string, string>>;
  /** For the default project name (the CLI's "Test Project <date>"). */
  today?: Date;
}

/** Where a part of the native document was written: `exact` parts (a step) map as a whole. */
export interface Origin {
  native: Seg[];
  source: Seg[];
  exact?: boolean;
}

export interface Converted {
  document: Record<string, unknown>;
  /** Native paths → source paths, for problems (the longest matching native prefix wins). */
  stepOrigins: Origin[];
}

const TOP_KEYS = ['name', 'description', 'project', 'starting_url', 'infrastructure', 'variables', 'config', 'steps'];
export const DEFAULT_URL = 'https://example.com';

/** The run's project, from --project-name, `project` or `infrastructure.project` (an id, a name or {name, description}). */
function projectOf(doc: Record<string, unknown>, infra: Record<string, unknown>, options: ConvertOptions, notes: Notes): unknown {
  if (options.projectName) return options.projectName;
  const ref = doc.project ?? infra.project;
  if (typeof ref === 'number' || (typeof ref === 'string' && /^\d+$/.test(ref.trim()))) return { id: String(ref).trim() };
  if (typeof ref === 'string' || isMap(ref)) return ref;
  const name = `Test Project ${(options.today ?? new Date()).toISOString().slice(0, 10)}`;
  notes.add(`no project given: the run uses the project '${name}' (reused if it exists, created otherwise), as the original CLI named it`);
  return name;
}

function variablesOf(v: unknown, problems: ConversionProblem[], at: Seg[]): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (isMap(v)) return v;
  if (!Array.isArray(v)) {
    problems.push({ path: at, message: `variables must be a list of {name, value} (or a map of names to values), not ${describe(v)}` });
    return undefined;
  }
  const out: Record<string, unknown> = {};
  v.forEach((item, i) => {
    if (isMap(item) && typeof item.name === 'string') out[item.name] = item.value ?? '';
    else problems.push({ path: [...at, i], message: `a variable is {name, value}, not ${describe(item)}` });
  });
  return out;
}

/** A run-test document (or one of several) → one native goal, plus the run's name, project and options. */
export function runTestGoal(doc: Record<string, unknown>, at: Seg[], goalIndex: number, options: ConvertOptions, notes: Notes, problems: ConversionProblem[], origins: Converted['stepOrigins']) {
  for (const k of Object.keys(doc)) if (!TOP_KEYS.includes(k)) notes.add(`'${k}' is not part of the run-test format and is ignored`);
  const infra = isMap(doc.infrastructure) ? doc.infrastructure : {};
  if (has(infra, 'organization_id')) notes.add(`infrastructure.organization_id is ignored: runs use this service's Virtuoso organization`);
  const name = typeof doc.name === 'string' && doc.name.trim() ? doc.name.trim() : `Test Run ${(options.today ?? new Date()).toISOString().slice(0, 19).replace('T', ' ')}`;
  if (!(typeof doc.name === 'string' && doc.name.trim())) notes.add(`no name given: the run is called '${name}', as the original CLI named it`);
  const variables = variablesOf(doc.variables, problems, [...at, 'variables']);
  const known = new Set([...Object.keys(variables ?? {}), ...Object.keys(options.variables ?? {})]);
  const rawSteps = Array.isArray(doc.steps) ? doc.steps : [];
  if (!Array.isArray(doc.steps)) problems.push({ path: [...at, 'steps'], message: doc.steps === undefined ? "missing 'steps' (a run-test definition needs at least one step)" : `steps must be a list, not ${describe(doc.steps)}` });
  else if (!rawSteps.length) problems.push({ path: [...at, 'steps'], message: 'a run-test definition needs at least one step' });
  const steps: Step[] = [];
  rawSteps.forEach((raw, i) => {
    try {
      origins.push({ native: ['goals', goalIndex, 'journeys', 0, 'checkpoints', 0, 'steps', steps.length], source: [...at, 'steps', i], exact: true });
      steps.push(escapeUnknown(convertStep(raw, notes), known) as Step);
    } catch (err) {
      origins.pop();
      if (!(err instanceof StepFormError)) throw err;
      problems.push({ path: [...at, 'steps', i], message: err.message, ...(err.allowed ? { allowed: err.allowed } : {}) });
    }
  });
  const first = isMap(rawSteps[0]) ? convertSafely(rawSteps[0]) : undefined;
  const firstUrl = first && typeof first.navigate === 'string' ? first.navigate : isMap(first?.navigate) ? get(first.navigate, 'url') : '';
  const startingUrl = get(doc, 'starting_url') || get(infra, 'starting_url') || firstUrl;
  if (!startingUrl) notes.add(`no starting_url: the goal opens ${DEFAULT_URL}, as the original CLI did`);
  const g: Seg[] = ['goals', goalIndex];
  origins.push(
    { native: [...g, 'url'], source: [...at, has(doc, 'starting_url') ? 'starting_url' : has(infra, 'starting_url') ? 'infrastructure' : 'steps'], exact: true },
    { native: [...g, 'name'], source: [...at, 'name'], exact: true },
    { native: [...g, 'journeys', 0, 'name'], source: [...at, 'name'], exact: true },
  );
  if (goalIndex === 0) {
    origins.push(
      { native: ['name'], source: [...at, 'name'], exact: true },
      { native: ['description'], source: [...at, 'description'] },
      { native: ['project'], source: [...at, doc.project === undefined && has(infra, 'project') ? 'infrastructure' : 'project'], exact: true },
      { native: ['variables'], source: [...at, 'variables'], exact: true },
      { native: ['options'], source: [...at, 'config'], exact: true },
    );
  }
  const config = isMap(doc.config) ? doc.config : {};
  for (const k of Object.keys(config)) if (!['continue_on_error', 'timeout'].includes(k)) notes.add(`config.${k} is not supported and is ignored`);
  return {
    name,
    description: typeof doc.description === 'string' ? doc.description : undefined,
    project: projectOf(doc, infra, options, notes),
    variables,
    config,
    goal: { name: `${name} - Goal`, url: startingUrl || DEFAULT_URL, journeys: [{ name, checkpoints: [{ name: 'Test Steps', steps }] }] },
  };
}

/** A step converted only to look at it (its notes and problems are reported where it is converted). */
function convertSafely(raw: unknown): Step | undefined {
  try {
    return convertStep(raw, new Notes());
  } catch {
    return undefined;
  }
}

/** `config` → native `options` (timeout clamped to what a run may take, with a note). */
export function optionsOf(config: Record<string, unknown>, notes: Notes): Record<string, unknown> | undefined {
  const options: Record<string, unknown> = {};
  if (typeof config.continue_on_error === 'boolean') options.continueOnError = config.continue_on_error;
  if (typeof config.timeout === 'number') {
    const t = Math.min(Math.max(Math.round(config.timeout), 60), 86400);
    if (t !== config.timeout) notes.add(`config.timeout ${config.timeout} is outside 60–86400 seconds: the run's timeout is ${t} s`);
    options.timeout = t;
  }
  return Object.keys(options).length ? options : undefined;
}

/** One or more run-test documents (several: one goal each) → a native definition. */
export function fromRunTest(docs: readonly Record<string, unknown>[], paths: readonly Seg[][], options: ConvertOptions, notes: Notes, problems: ConversionProblem[]): Converted {
  const origins: Converted['stepOrigins'] = [];
  const parts = docs.map((d, i) => runTestGoal(d, paths[i], i, options, notes, problems, origins));
  const [first] = parts;
  const projects = new Set(parts.map((p) => JSON.stringify(p.project)));
  if (projects.size > 1) problems.push({ path: [], message: `the documents name different projects (${parts.map((p) => JSON.stringify(p.project)).join(', ')}); one run builds in one project` });
  const names = new Set<string>();
  parts.forEach((p, i) => {
    if (names.has(p.goal.name)) p.goal.name = `${p.goal.name} (${i + 1})`;
    names.add(p.goal.name);
  });
  const variables = Object.assign({}, ...parts.map((p) => p.variables ?? {}));
  const runOptions = optionsOf(first.config, notes);
  const document: Record<string, unknown> = {
    name: parts.length > 1 ? `${first.name} (+${parts.length - 1} more)` : first.name,
    ...(first.description !== undefined ? { description: first.description } : {}),
    project: first.project,
    ...(Object.keys(variables).length ? { variables } : {}),
    ...(runOptions ? { options: runOptions } : {}),
    goals: parts.map((p) => p.goal),
  };
  return { document, stepOrigins: origins };
}
