/**
 * The short forms of steps in a test definition (shared/schemas/test-definition.md). A step is a map with one
 * action key (`click: Login button`); each key's form turns its value into a command of the step
 * catalogue and that command's arguments (shared/virtuoso/step-commands.ts), which the catalogue then
 * validates and builds. `{step: <command>, args}` reaches any catalogue command directly.
 *
 * Forms throw StepFormError (what is wrong, what is allowed) or, for shapes the Virtuoso API refuses,
 * the AppError of `unsupportedStep` naming the alternative. `buildStepCommand` then runs the
 * arguments through the catalogue's own schema (its findings said in the words of the short form)
 * and the command's builder.
 */
import type { AppError } from '../errors';
import { isPlainObject } from '../json';
import { validator } from '../schemas';
import { ARG_DESCRIPTIONS, argsSchema, STEP_COMMANDS, stepFromJson, type ArgType, type StepCommand } from '../virtuoso/step-commands';
import { type ParsedStep, unsupportedStep } from '../virtuoso/steps';

export type Scalar = string | number | boolean;

export interface StepSpec {
  /** The action key of the short form (`click`), or `step` for the catalogue form. */
  key: string;
  /** The catalogue command, e.g. `step-interact.click`. */
  command: string;
  args: Record<string, Scalar>;
  /** The name the user wrote for an argument, where it differs from the catalogue's (`by` for `offset`). */
  names: Record<string, string>;
}

/** A step the forms refuse; the message says what is wrong and what is allowed. */
export class StepFormError extends Error {
  constructor(
    message: string,
    readonly allowed?: string[],
  ) {
    super(message);
    this.name = 'StepFormError';
  }
}

/** A map form (shared/json.ts's guard, under the name the forms use). */
export const isMap = isPlainObject;
const isScalar = (v: unknown): v is Scalar => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** How a value reads in a message: 'text', 42, a map, a list, nothing. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `'${v.length > 60 ? `${v.slice(0, 57)}...` : v}'`;
  return String(v);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]++;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

/** The closest candidate to a misspelt word, if one is close enough. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = distance(w, c.toLowerCase());
    if (d <= Math.max(1, Math.floor(c.length / 3)) && (!best || d < best.d)) best = { c, d };
  }
  return best?.c;
}
const didYouMean = (word: string, candidates: readonly string[]) => {
  const s = suggest(word, candidates);
  return s ? ` (did you mean '${s}'?)` : '';
};

// --- reading values -------------------------------------------------------------------------------
function text(key: string, v: unknown, what = 'a text'): string {
  if (isScalar(v)) return String(v);
  throw new StepFormError(`${key} needs ${what}, not ${describe(v)}`);
}
const selector = (key: string, v: unknown) => text(key, v, 'a selector (hint text or CSS)');

/** The fields of a map form; unknown keys and missing required ones are refused. */
function fields(key: string, v: unknown, allowed: readonly string[], required: readonly string[] = []): Record<string, unknown> {
  if (!isMap(v)) throw new StepFormError(`${key} needs a map with ${allowed.join(', ')}, not ${describe(v)}`, [...allowed]);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) throw new StepFormError(`unknown key '${k}' in ${key}${didYouMean(k, allowed)}; allowed: ${allowed.join(', ')}`, [...allowed]);
  }
  for (const k of required) if (v[k] === undefined || v[k] === null) throw new StepFormError(`${key}: missing '${k}'`, [...allowed]);
  return v;
}

/** A map form that takes exactly one of `choices` (plus `extra` keys the caller checks). */
function choice(key: string, v: unknown, choices: readonly string[], extra: readonly string[] = []): [string, Record<string, unknown>] {
  const f = fields(key, v, [...choices, ...extra]);
  const found = choices.filter((c) => f[c] !== undefined);
  if (found.length === 1) return [found[0], f];
  throw new StepFormError(
    found.length ? `${key} takes one of ${choices.join(', ')}, not both ${found.join(' and ')}` : `${key} needs one of: ${choices.join(', ')}`,
    [...choices],
  );
}

/** Refuses keys of a map form that do not go with the chosen variant. */
function only(key: string, f: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(f).filter((k) => f[k] !== undefined && !allowed.includes(k));
  if (extra.length) throw new StepFormError(`${key}: '${extra[0]}' does not go with ${allowed[0]}; allowed with ${allowed[0]}: ${allowed.join(', ')}`, [...allowed]);
}

/** A keyword value (`scroll: top`), with what the map forms are when the word is unknown. */
function keyword(key: string, v: unknown, words: Record<string, () => StepSpec>, maps: string): StepSpec {
  const word = String(v).trim();
  const make = Object.hasOwn(words, word) ? words[word] : undefined;
  if (make) return make();
  const allowed = Object.keys(words);
  throw new StepFormError(`${key} takes ${allowed.join(', ')}${maps ? ` or ${maps}` : ''}, not ${describe(v)}${didYouMean(word, allowed)}`, allowed);
}

function spec(key: string, command: string, args: Record<string, unknown> = {}, names: Record<string, string> = {}): StepSpec {
  const out: Record<string, Scalar> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v === undefined) continue;
    if (!isScalar(v)) throw new StepFormError(`${key}: '${names[k] ?? k}' must be a text, number or true/false, not ${describe(v)}`);
    out[k] = v;
  }
  return { key, command, args: out, names };
}

const refused = (what: string, instead: string) => () => {
  throw unsupportedStep(what, instead);
};

// --- the forms --------------------------------------------------------------------------------------
const VALUELESS = ['exists', 'not-exists', 'checked', 'selected'] as const;
const COMPARISONS = ['equals', 'not-equals', 'gt', 'gte', 'lt', 'lte', 'matches'] as const;
const accepts = (key: string, v: unknown): boolean => {
  if (v === 'accept') return true;
  if (v === 'reject') return false;
  throw new StepFormError(`${key} takes accept or reject, not ${describe(v)}`, ['accept', 'reject']);
};
const selectorForm = (key: string, command: string) => (v: unknown) => spec(key, command, { selector: selector(key, v) }, { selector: key });

type Form = (value: unknown) => StepSpec;

/** Short-form key → the function building its command and arguments. Documented in shared/schemas/test-definition.md. */
export const STEP_FORMS: Readonly<Record<string, Form>> = {
  navigate: (v) => {
    if (isScalar(v)) {
      const word = String(v).trim().toLowerCase();
      if (word === 'back') refused('Navigating back', "use navigate: <the page's URL>, or execute: history.back()")();
      if (word === 'forward') refused('Navigating forward', "use navigate: <the page's URL>, or execute: history.forward()")();
      if (word === 'refresh' || word === 'reload') refused('Refreshing the page', 'use navigate: <the same URL>, or execute: location.reload()')();
      return spec('navigate', 'step-navigate.to', { url: String(v) }, { url: 'navigate' });
    }
    const f = fields('navigate', v, ['url', 'newTab'], ['url']);
    return spec('navigate', 'step-navigate.to', { url: f.url, 'new-tab': f.newTab }, { 'new-tab': 'newTab' });
  },
  scroll: (v) => {
    if (isScalar(v)) {
      const words = Object.fromEntries(['top', 'bottom', 'up', 'down'].map((w) => [w, () => spec('scroll', `step-navigate.scroll-${w}`)]));
      return keyword('scroll', v, words, "{element: <selector>}, {position: 'x,y'} or {by: 'x,y'}");
    }
    const [k, f] = choice('scroll', v, ['element', 'position', 'by']);
    if (k === 'element') return spec('scroll', 'step-navigate.scroll-element', { selector: selector('scroll element', f.element) }, { selector: 'element' });
    if (k === 'position') return spec('scroll', 'step-navigate.scroll-position', { position: f.position });
    return spec('scroll', 'step-navigate.scroll-by', { offset: f.by }, { offset: 'by' });
  },
  click: selectorForm('click', 'step-interact.click'),
  'double-click': selectorForm('double-click', 'step-interact.double-click'),
  'right-click': selectorForm('right-click', 'step-interact.right-click'),
  hover: selectorForm('hover', 'step-interact.hover'),
  write: (v) => {
    const f = fields('write', v, ['selector', 'text', 'clear'], ['selector', 'text']);
    return spec('write', 'step-interact.write', { selector: f.selector, text: f.text, clear: f.clear });
  },
  key: (v) => {
    if (isScalar(v)) return spec('key', 'step-interact.key', { key: String(v) }, { key: 'key' });
    const f = fields('key', v, ['key', 'target'], ['key']);
    return spec('key', 'step-interact.key', { key: f.key, target: f.target });
  },
  mouse: (v) => {
    if (isScalar(v)) {
      return keyword('mouse', v, { down: () => spec('mouse', 'step-interact.mouse.down'), up: () => spec('mouse', 'step-interact.mouse.up') }, 'a map {move-to | move | move-by | down | up | enter: ...}');
    }
    const [k, f] = choice('mouse', v, ['move-to', 'move', 'move-by', 'down', 'up', 'enter']);
    if (k === 'move') return spec('mouse', 'step-interact.mouse.move', { position: f.move }, { position: 'move' });
    if (k === 'move-by') return spec('mouse', 'step-interact.mouse.move-by', { offset: f['move-by'] }, { offset: 'move-by' });
    return spec('mouse', `step-interact.mouse.${k}`, { selector: selector(`mouse ${k}`, f[k]) }, { selector: k });
  },
  select: (v) => {
    const [k, f] = choice('select', v, ['option', 'index', 'last'], ['selector']);
    if (f.selector === undefined || f.selector === null) throw new StepFormError("select: missing 'selector'", ['selector', 'option', 'index', 'last']);
    if (k === 'option') return spec('select', 'step-interact.select.option', { selector: f.selector, value: f.option }, { value: 'option' });
    if (k === 'index') return spec('select', 'step-interact.select.index', { selector: f.selector, index: f.index });
    if (f.last !== true) throw new StepFormError(`select: last takes true (to pick the last option), not ${describe(f.last)}; use option or index otherwise`, ['true']);
    return spec('select', 'step-interact.select.last', { selector: f.selector });
  },
  assert: (v) => {
    if (isScalar(v)) return spec('assert', 'step-assert.exists', { selector: selector('assert', v) }, { selector: 'assert' });
    const [k, f] = choice('assert', v, [...VALUELESS, ...COMPARISONS, 'variable'], ['value']);
    if ((VALUELESS as readonly string[]).includes(k)) {
      if (f.value !== undefined) throw new StepFormError(`assert ${k} takes no value`);
      return spec('assert', `step-assert.${k}`, { selector: selector(`assert ${k}`, f[k]) }, { selector: k });
    }
    if (f.value === undefined || f.value === null) throw new StepFormError(`assert ${k}: missing 'value' (the expected ${k === 'matches' ? 'regular expression' : 'value'})`, [k, 'value']);
    if (k === 'variable') return spec('assert', 'step-assert.variable', { name: text('assert variable', f.variable), value: f.value }, { name: 'variable' });
    if (k === 'matches') return spec('assert', 'step-assert.matches', { selector: selector('assert matches', f.matches), regex: f.value }, { selector: k, regex: 'value' });
    return spec('assert', `step-assert.${k}`, { selector: selector(`assert ${k}`, f[k]), value: f.value }, { selector: k });
  },
  wait: (v) => {
    if (typeof v === 'number' || (typeof v === 'string' && /^\s*\d+\s*$/.test(v))) return spec('wait', 'step-wait.time', { ms: v }, { ms: 'wait' });
    if (isScalar(v)) return spec('wait', 'step-wait.element', { selector: selector('wait', v) }, { selector: 'wait' });
    const [k, f] = choice('wait', v, ['element', 'time'], ['timeout']);
    if (k === 'time') {
      only('wait', f, ['time']);
      return spec('wait', 'step-wait.time', { ms: f.time }, { ms: 'time' });
    }
    return spec('wait', 'step-wait.element', { selector: selector('wait element', f.element), timeout: f.timeout }, { selector: 'element' });
  },
  store: (v) => {
    const f = fields('store', v, ['selector', 'attribute', 'from', 'literal', 'as'], ['as']);
    const names = { variable: 'as' };
    if (f.literal !== undefined) {
      only('store', f, ['literal', 'as']);
      return spec('store', 'step-data.store.literal', { value: f.literal, variable: f.as }, { ...names, value: 'literal' });
    }
    if (f.selector === undefined || f.selector === null) throw new StepFormError("store needs 'selector' (or 'literal')", ['selector', 'literal']);
    if (f.attribute !== undefined) {
      only('store', f, ['attribute', 'selector', 'as']);
      return spec('store', 'step-data.store.attribute', { selector: f.selector, attribute: f.attribute, variable: f.as }, names);
    }
    if (f.from !== undefined && f.from !== 'text' && f.from !== 'value') throw new StepFormError(`store: from takes text or value, not ${describe(f.from)}`, ['text', 'value']);
    return spec('store', f.from === 'value' ? 'step-data.store.element-value' : 'step-data.store.element-text', { selector: f.selector, variable: f.as }, names);
  },
  cookie: (v) => {
    if (isScalar(v)) return keyword('cookie', v, { 'clear-all': () => spec('cookie', 'step-data.cookie.clear-all') }, '{create: <name>, value} or {delete: <name>}');
    const [k, f] = choice('cookie', v, ['create', 'delete'], ['value', 'domain', 'path', 'secure', 'httpOnly']);
    if (k === 'delete') {
      only('cookie', f, ['delete']);
      return spec('cookie', 'step-data.cookie.delete', { name: f.delete }, { name: 'delete' });
    }
    if (f.value === undefined || f.value === null) throw new StepFormError("cookie create: missing 'value'", ['create', 'value', 'domain', 'path', 'secure', 'httpOnly']);
    return spec(
      'cookie',
      'step-data.cookie.create',
      { name: f.create, value: f.value, domain: f.domain, path: f.path, secure: f.secure, 'http-only': f.httpOnly },
      { name: 'create', 'http-only': 'httpOnly' },
    );
  },
  window: (v) => {
    if (isScalar(v)) {
      return keyword(
        'window',
        v,
        {
          maximize: () => spec('window', 'step-window.maximize'),
          'parent-frame': () => spec('window', 'step-window.switch.parent-frame'),
          close: refused('Closing a window', 'use window: {tab: next|prev|<index>} to switch to another tab'),
          'main-content': refused('Switching to the main content', 'use window: parent-frame (once per nesting level)'),
        },
        "{resize: 'WIDTHxHEIGHT'}, {tab: next|prev|<index>} or {iframe: <selector>}",
      );
    }
    const [k, f] = choice('window', v, ['resize', 'tab', 'iframe']);
    if (k === 'resize') return spec('window', 'step-window.resize', { size: f.resize }, { size: 'resize' });
    if (k === 'iframe') {
      if (typeof f.iframe === 'number') refused('Switching to a frame by index', 'use window: {iframe: <selector of the frame element>}')();
      return spec('window', 'step-window.switch.iframe', { selector: selector('window iframe', f.iframe) }, { selector: 'iframe' });
    }
    if (f.tab === 'next' || f.tab === 'prev') return spec('window', `step-window.switch.tab.${f.tab}`);
    return spec('window', 'step-window.switch.tab.index', { index: f.tab }, { index: 'tab' });
  },
  dialog: (v) => {
    if (isScalar(v)) {
      return keyword(
        'dialog',
        v,
        {
          alert: () => spec('dialog', 'step-dialog.dismiss-alert'),
          confirm: () => spec('dialog', 'step-dialog.dismiss-confirm', { accept: true }),
          prompt: () => spec('dialog', 'step-dialog.dismiss-prompt', { accept: true }),
        },
        '{confirm: accept|reject}, {prompt: accept|reject} or {prompt: accept, text}',
      );
    }
    const [k, f] = choice('dialog', v, ['alert', 'confirm', 'prompt'], ['text']);
    const accept = accepts(`dialog ${k}`, f[k]);
    if (k === 'alert') {
      only('dialog', f, ['alert']);
      if (!accept) throw new StepFormError('dialog alert: an alert can only be accepted (alert: accept)', ['accept']);
      return spec('dialog', 'step-dialog.dismiss-alert');
    }
    if (k === 'confirm') only('dialog', f, ['confirm']);
    if (f.text === undefined) return spec('dialog', `step-dialog.dismiss-${k}`, accept ? { accept: true } : { reject: true });
    if (!accept) throw new StepFormError('dialog prompt: text goes with prompt: accept (a rejected prompt takes no answer)', ['accept']);
    return spec('dialog', 'step-dialog.dismiss-prompt-with-text', { text: f.text });
  },
  upload: (v) => {
    const [k, f] = choice('upload', v, ['url', 'file'], ['selector']);
    if (f.selector === undefined || f.selector === null) throw new StepFormError("upload: missing 'selector'", ['selector', 'url', 'file']);
    return spec('upload', k === 'url' ? 'step-file.upload-url' : 'step-file.upload', { selector: f.selector, url: f[k] }, { url: k });
  },
  comment: (v) => spec('comment', 'step-misc.comment', { text: text('comment', v) }, { text: 'comment' }),
  execute: (v) => spec('execute', 'step-misc.execute', { script: text('execute', v, 'a script') }, { script: 'execute' }),
};

/** Keys people reach for that the Virtuoso API has no step for, with what to use instead. */
const UNSUPPORTED: Readonly<Record<string, () => AppError>> = {
  fill: () => unsupportedStep("'fill' (a FILL step)", 'use write: {selector, text}'),
  type: () => unsupportedStep("'type' (a TYPE step)", 'use write: {selector, text}'),
  drag: () => unsupportedStep('Drag and drop', 'use mouse: {down: <source>}, then mouse: {up: <target>}'),
  check: () => unsupportedStep("'check'", 'use click: <the checkbox> (a click toggles it), then assert: {checked: <the checkbox>}'),
  uncheck: () => unsupportedStep("'uncheck'", 'use click: <the checkbox> (a click toggles it)'),
  screenshot: () => unsupportedStep('A screenshot step', 'there is no such step; check the page with assert steps'),
};

export const FORM_KEYS: readonly string[] = Object.keys(STEP_FORMS);

/** How each short form is written, for messages (and kept in line with shared/schemas/test-definition.md). */
export const USAGE: Readonly<Record<string, string>> = {
  navigate: 'navigate: <url> | {url, newTab}',
  scroll: "scroll: top | bottom | up | down | {element: <selector>} | {position: 'x,y'} | {by: 'x,y'}",
  click: 'click: <selector>',
  'double-click': 'double-click: <selector>',
  'right-click': 'right-click: <selector>',
  hover: 'hover: <selector>',
  write: 'write: {selector, text, clear}',
  key: 'key: <key> | {key, target}',
  mouse: "mouse: down | up | {move-to: <selector>} | {move: 'x,y'} | {move-by: 'x,y'} | {down: <selector>} | {up: <selector>} | {enter: <selector>}",
  select: 'select: {selector, option} | {selector, index} | {selector, last: true}',
  assert: 'assert: <selector> | {exists|not-exists|checked|selected: <selector>} | {equals|not-equals|gt|gte|lt|lte|matches: <selector>, value} | {variable: <name>, value}',
  wait: 'wait: <ms> | <selector> | {element: <selector>, timeout} | {time: <ms>}',
  store: 'store: {selector, as, from: text|value} | {selector, attribute, as} | {literal, as}',
  cookie: 'cookie: clear-all | {create: <name>, value, domain, path, secure, httpOnly} | {delete: <name>}',
  window: "window: maximize | parent-frame | {resize: 'WxH'} | {tab: next|prev|<index>} | {iframe: <selector>}",
  dialog: 'dialog: alert | confirm | prompt | {confirm: accept|reject} | {prompt: accept|reject, text}',
  upload: 'upload: {selector, url} | {selector, file}',
  comment: 'comment: <text>',
  execute: 'execute: <script>',
};
const COMMAND_NAMES: readonly string[] = STEP_COMMANDS.map((c) => c.name);

function catalogueStep(v: Record<string, unknown>): StepSpec {
  const f = fields('step', v, ['step', 'args'], ['step']);
  const command = text('step', f.step, 'a step command name');
  if (!COMMAND_NAMES.includes(command)) {
    throw new StepFormError(`unknown step command '${command}'${didYouMean(command, COMMAND_NAMES)}; see the catalogue (e.g. step-interact.click)`, [...COMMAND_NAMES]);
  }
  if (f.args !== undefined && f.args !== null && !isMap(f.args)) throw new StepFormError(`step ${command}: args must be a map of argument names to values, not ${describe(f.args)}`);
  return spec('step', command, isMap(f.args) ? f.args : {});
}

/** The command and arguments of one step as written in a definition. */
export function stepSpec(step: unknown): StepSpec {
  if (!isMap(step)) {
    throw new StepFormError(`a step is a map with one action key (e.g. 'click: Login button'), not ${describe(step)}`, [...FORM_KEYS, 'step']);
  }
  if (Object.hasOwn(step, 'step')) return catalogueStep(step);
  const keys = Object.keys(step);
  if (keys.length !== 1) {
    throw new StepFormError(
      keys.length ? `a step has exactly one action key; found ${keys.length}: ${keys.join(', ')} (write each as its own step)` : 'empty step; a step is a map with one action key (e.g. click: Login button)',
      [...FORM_KEYS],
    );
  }
  const key = keys[0];
  const form = Object.hasOwn(STEP_FORMS, key) ? STEP_FORMS[key] : undefined;
  if (form && (step[key] === null || step[key] === undefined)) throw new StepFormError(`${key} needs a value: ${USAGE[key]}`);
  if (form) return form(step[key]);
  const unsupported = Object.hasOwn(UNSUPPORTED, key) ? UNSUPPORTED[key] : undefined;
  if (unsupported) throw unsupported();
  throw new StepFormError(`unknown step '${key}'${didYouMean(key, FORM_KEYS)}; allowed: ${FORM_KEYS.join(', ')}, or {step: <command>, args}`, [...FORM_KEYS, 'step']);
}

/** A step as written, on one line, for reports: `click: Login button`, `write: {selector: Email, text: a@b.c}`. */
export function stepLabel(step: unknown, max = 200): string {
  const inline = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (Array.isArray(v)) return `[${v.map(inline).join(', ')}]`;
    if (typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${inline(x)}`).join(', ')}}`;
    return String(v);
  };
  const whole = isMap(step)
    ? Object.entries(step)
        .map(([k, x]) => `${k}: ${inline(x)}`)
        .join(', ')
    : inline(step);
  const line = whole.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

// --- from the short form to the parsedStep -----------------------------------------------------------
const COMMANDS = new Map(STEP_COMMANDS.map((c) => [c.name, c]));
const ARG_SCHEMAS = new Map<string, object>();
const ALLOWED: Readonly<Record<ArgType, string>> = ARG_DESCRIPTIONS;

const argsOf = (c: StepCommand) => [...c.args, ...c.flags];

/** Values in the types the catalogue expects: digits → integers, numbers → text, 'x, y' → 'x,y'. */
function coerce(c: StepCommand, args: Record<string, Scalar>): Record<string, Scalar> {
  const types = new Map(argsOf(c).map((a) => [a.name, a.type]));
  const out: Record<string, Scalar> = {};
  for (const [k, v] of Object.entries(args)) {
    const type = types.get(k);
    if (type === 'int' || type === 'ms') out[k] = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v.trim()) : v;
    else if (type === 'boolean') out[k] = v === 'true' ? true : v === 'false' ? false : v;
    else if (type === 'xy' || type === 'wxh') out[k] = String(v).replace(/\s+/g, '');
    else if (type) out[k] = String(v);
    else out[k] = v;
  }
  return out;
}

/** The catalogue's own argument schema, with its findings said in the words of the short form. */
function checkArgs(c: StepCommand, spec: StepSpec, args: Record<string, Scalar>): void {
  let schema = ARG_SCHEMAS.get(c.name);
  if (!schema) ARG_SCHEMAS.set(c.name, (schema = argsSchema(c)));
  const v = validator(schema);
  if (v(args)) return;
  const e = v.errors![0];
  const prefix = spec.key === 'step' ? `step ${c.name}` : spec.key;
  const all = argsOf(c).map((a) => a.name);
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties') {
    throw new StepFormError(`${prefix}: unknown argument '${p.additionalProperty}'; allowed: ${all.join(', ') || 'none'}`, all);
  }
  if (e.keyword === 'required') throw new StepFormError(`${prefix}: missing '${spec.names[String(p.missingProperty)] ?? p.missingProperty}'`, all);
  const name = e.instancePath.slice(1);
  const arg = argsOf(c).find((a) => a.name === name);
  const shown = spec.names[name] ?? name;
  const what = arg ? ALLOWED[arg.type] : 'valid';
  throw new StepFormError(`${shown === spec.key ? spec.key : `${prefix}: '${shown}'`} must be ${what}, not ${describe(args[name])}`);
}

/**
 * One step as written (variables already substituted) → its catalogue command, the arguments in the
 * catalogue's types and the parsedStep its builder makes. Throws StepFormError, or the builder's AppError.
 */
export function buildStepCommand(step: unknown): { command: string; args: Record<string, Scalar>; parsedStep: ParsedStep } {
  const spec = stepSpec(step);
  const command = COMMANDS.get(spec.command)!;
  const args = coerce(command, spec.args);
  checkArgs(command, spec, args);
  return { command: command.name, args, parsedStep: stepFromJson({ command: command.name, args }).parsedStep };
}
