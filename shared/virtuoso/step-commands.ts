/**
 * The step commands of the final CLI (VIRTUOSO_API.md §2.4; the reference's `step_*.go`), each
 * declared once: its path (`step-interact mouse move-to`) and the other spellings the CLI took
 * (`goto`, `top`, the groups' old names `data`, `dialog`, `wait`, …), its arguments and flags with
 * their types (from which the JSON Schema of the structured form is derived), and the parsedStep it
 * builds (shared/virtuoso/steps.ts).
 *
 * Every flag the original declared is accepted. Flags that change the request are sent; the others
 * (the original accepted them and sent nothing: `--smooth`, `--duration`, `--delay`, `--repeat`,
 * click's `--element-type`, the element `--position` …) are accepted and reported in the step's
 * `notes`, so nobody believes they took effect.
 *
 * Two input forms reach the same declaration:
 * - CLI string: `step-interact click 123 "Login button" 2` (tokenized and resolved by cli.ts);
 * - JSON: `{command: "step-interact.click", checkpointId: 123, args: {selector: "Login button"}, position: 2}`.
 */
import type { ErrorObject } from 'ajv';
import { AppError, badRequest } from '../errors';
import { validator } from '../schemas';
import { argPath, invalidArguments, quoteArg, resolveArgs, unknownFlag, type ArgumentProblem, type CommandShape, type FlagSpec } from './cli';
import * as s from './steps';
import type { ParsedStep } from './steps';

export type ArgType = 'selector' | 'text' | 'url' | 'int' | 'ms' | 'xy' | 'wxh' | 'variable' | 'key' | 'boolean' | 'element-position' | 'modifiers';

interface Arg {
  name: string;
  type: ArgType;
  required?: boolean;
  variadic?: boolean;
  /** Accepted and not sent: why (reported in the step's notes). */
  noEffect?: string;
}

type Values = Record<string, string | number | boolean | undefined>;

export interface StepCommand {
  /** `step-interact.mouse.move-to` */
  name: string;
  path: readonly string[];
  /** Other spellings of the path (aliases of the last word, old names). */
  paths: readonly (readonly string[])[];
  args: readonly Arg[];
  flags: readonly Arg[];
  /** `--position` is where on the element. */
  elementPosition?: boolean;
  build(v: Values): ParsedStep;
}

/** What each argument type takes, for messages. */
export const ARG_DESCRIPTIONS: Readonly<Record<ArgType, string>> = {
  selector: 'a selector (hint text or CSS)',
  text: 'a text',
  url: 'a URL',
  int: 'an integer',
  ms: `a whole number of milliseconds from 0 to ${s.MAX_WAIT_MS}`,
  xy: "two integers as 'x,y' (e.g. '0,500')",
  wxh: "a size as 'WIDTHxHEIGHT' (e.g. '1024x768')",
  variable: 'a variable name (letters, digits and _, not starting with a digit)',
  key: 'a key name (e.g. Enter, Tab)',
  boolean: 'true or false',
  'element-position': 'one of TOP_LEFT, TOP_CENTER, TOP_RIGHT, CENTER_LEFT, CENTER, CENTER_RIGHT, BOTTOM_LEFT, BOTTOM_CENTER, BOTTOM_RIGHT',
  modifiers: 'modifier keys separated by commas: ctrl, shift, alt, meta',
};

const ELEMENT_POSITIONS = ['TOP_LEFT', 'TOP_CENTER', 'TOP_RIGHT', 'CENTER_LEFT', 'CENTER', 'CENTER_RIGHT', 'BOTTOM_LEFT', 'BOTTOM_CENTER', 'BOTTOM_RIGHT'];
const MODIFIERS = ['ctrl', 'shift', 'alt', 'meta'];

const arg = (name: string, type: ArgType, required = true): Arg => ({ name, type, required });
const sel = arg('selector', 'selector');
const noEffect = (name: string, type: ArgType, why: string): Arg => ({ name, type, required: false, noEffect: why });
const smooth = noEffect('smooth', 'boolean', "Virtuoso's scroll steps have no smooth option");
const elementPosition = (what: string) =>
  noEffect('position', 'element-position', `Virtuoso's ${what} step takes no point on the element (the original CLI did not send it either); the step position is --step-position or a trailing number`);

interface DefOptions {
  aliases?: readonly string[];
  elementPosition?: boolean;
}

function def(path: string, args: Arg[], build: (v: Values) => ParsedStep, flags: Arg[] = [], options: DefOptions = {}): StepCommand {
  const parts = path.split(' ');
  const paths = [parts, ...(options.aliases ?? []).map((a) => (a.includes(' ') ? a.split(' ') : [...parts.slice(0, -1), a]))];
  return { name: parts.join('.'), path: parts, paths, args, flags, build, ...(options.elementPosition ? { elementPosition: true } : {}) };
}

const str = (v: Values, k: string) => String(v[k] ?? '');
const opt = (v: Values, k: string) => (v[k] === undefined ? undefined : str(v, k));
const num = (v: Values, k: string) => Number(v[k]);
const xy = (v: Values, k: string) => str(v, k).split(',').map(Number) as [number, number];
/** scroll-position / scroll-by: `x,y` as an argument, or `--x`/`--y` (0 when absent, as in the CLI). */
const coordinates = (v: Values, k: string): [number, number] => (v[k] !== undefined ? xy(v, k) : [v.x === undefined ? 0 : num(v, 'x'), v.y === undefined ? 0 : num(v, 'y')]);

/** `--accept` / `--reject` (the CLI refused both at once); `fallback` when neither is given. */
function accepted(v: Values, fallback: boolean): boolean {
  if (v.accept === true && v.reject === true) throw invalidArguments('step-dialog', [{ path: argPath('accept'), flag: '--accept', message: 'give --accept or --reject, not both' }]);
  return v.accept === true ? true : v.reject === true ? false : fallback;
}

const acceptReject = [arg('accept', 'boolean', false), arg('reject', 'boolean', false)];

export const STEP_COMMANDS: readonly StepCommand[] = [
  // step-navigate
  def('step-navigate to', [arg('url', 'url')], (v) => s.navigate(str(v, 'url'), { newTab: v['new-tab'] === true }), [
    arg('new-tab', 'boolean', false),
    noEffect('wait', 'boolean', 'Virtuoso always waits for the page to load'),
  ], { aliases: ['url', 'goto'] }),
  def('step-navigate scroll-top', [], () => s.scrollTop(), [smooth], { aliases: ['top'] }),
  def('step-navigate scroll-bottom', [], () => s.scrollBottom(), [smooth], { aliases: ['bottom'] }),
  def('step-navigate scroll-element', [sel], (v) => s.scrollToElement(str(v, 'selector')), [
    smooth,
    noEffect('into-view', 'boolean', 'Virtuoso scrolls the element into view'),
    noEffect('block', 'text', "Virtuoso's scroll step takes no alignment"),
    noEffect('inline', 'text', "Virtuoso's scroll step takes no alignment"),
  ], { aliases: ['element', 'to-element'] }),
  def('step-navigate scroll-position', [arg('position', 'xy', false)], (v) => s.scrollToPosition(...coordinates(v, 'position')), [arg('x', 'int', false), arg('y', 'int', false), smooth], {
    aliases: ['position', 'to-position', 'xy'],
  }),
  def('step-navigate scroll-by', [arg('offset', 'xy', false)], (v) => s.scrollBy(...coordinates(v, 'offset')), [arg('x', 'int', false), arg('y', 'int', false), smooth], {
    aliases: ['by', 'offset'],
  }),
  def('step-navigate scroll-up', [], () => s.scrollUp(), [smooth], { aliases: ['up'] }),
  def('step-navigate scroll-down', [], () => s.scrollDown(), [smooth], { aliases: ['down'] }),
  // step-interact
  def('step-interact click', [sel], (v) => s.click(str(v, 'selector')), [
    noEffect('variable', 'variable', 'Virtuoso has no verified click-from-a-variable field; to click the element a variable names, give the selector as $name'),
    elementPosition('CLICK'),
    noEffect('element-type', 'text', "Virtuoso's CLICK takes no element type (it finds the element from the selector)"),
  ], { elementPosition: true }),
  def('step-interact double-click', [sel], (v) => s.doubleClick(str(v, 'selector')), [elementPosition('double-click')], { elementPosition: true }),
  def('step-interact right-click', [sel], (v) => s.rightClick(str(v, 'selector')), [elementPosition('right-click')], { elementPosition: true }),
  def('step-interact hover', [sel], (v) => s.hover(str(v, 'selector')), [
    elementPosition('hover'),
    noEffect('duration', 'int', 'Virtuoso hovers for as long as the next step takes'),
  ], { elementPosition: true }),
  def('step-interact write', [sel, arg('text', 'text')], (v) => s.write(str(v, 'selector'), str(v, 'text'), { append: v.clear === undefined ? false : !v.clear, variable: opt(v, 'variable') }), [
    arg('clear', 'boolean', false),
    arg('variable', 'variable', false),
    noEffect('delay', 'int', 'Virtuoso types at its own pace'),
  ], { aliases: ['input', 'type'] }),
  def('step-interact key', [arg('key', 'key')], (v) => {
    const modifiers = [...new Set([...(opt(v, 'modifiers')?.split(',') ?? []), ...MODIFIERS.filter((m) => v[m] === true)])];
    return s.key(str(v, 'key'), { selector: opt(v, 'target'), modifiers });
  }, [
    arg('target', 'selector', false),
    arg('modifiers', 'modifiers', false),
    ...MODIFIERS.map((m) => arg(m, 'boolean', false)),
    noEffect('repeat', 'int', 'a KEY step presses once; add the step again to press again'),
  ]),
  def('step-interact mouse move-to', [sel], (v) => s.mouseMoveTo(str(v, 'selector'))),
  def('step-interact mouse move-by', [arg('offset', 'xy')], (v) => s.mouseMoveBy(...xy(v, 'offset'))),
  def('step-interact mouse move', [arg('position', 'xy')], (v) => s.mouseMove(...xy(v, 'position'))),
  def('step-interact mouse down', [arg('selector', 'selector', false)], (v) => s.mouseDown(opt(v, 'selector'))),
  def('step-interact mouse up', [arg('selector', 'selector', false)], (v) => s.mouseUp(opt(v, 'selector'))),
  def('step-interact mouse enter', [sel], (v) => s.mouseEnter(str(v, 'selector'))),
  def('step-interact select option', [sel, arg('value', 'text')], (v) => s.selectOption(str(v, 'selector'), str(v, 'value'))),
  def('step-interact select index', [sel, arg('index', 'int')], (v) => s.selectIndex(str(v, 'selector'), num(v, 'index'))),
  def('step-interact select last', [sel], (v) => s.selectLast(str(v, 'selector'))),
  // step-assert
  ...(['exists', 'not-exists', 'checked', 'selected'] as const).map((k) => def(`step-assert ${k}`, [sel], (v) => s.assertion(k, str(v, 'selector')))),
  ...(['equals', 'not-equals', 'gt', 'gte', 'lt', 'lte'] as const).map((k) =>
    def(`step-assert ${k}`, [sel, arg('value', 'text')], (v) => s.assertion(k, str(v, 'selector'), str(v, 'value'))),
  ),
  def('step-assert matches', [sel, arg('regex', 'text')], (v) => s.assertion('matches', str(v, 'selector'), str(v, 'regex'))),
  def('step-assert variable', [arg('name', 'variable'), arg('value', 'text')], (v) => s.assertVariable(str(v, 'name'), str(v, 'value'))),
  // step-window
  def('step-window resize', [arg('size', 'wxh')], (v) => {
    const [w, h] = str(v, 'size').toLowerCase().split('x').map(Number);
    return s.windowResize(w, h);
  }),
  def('step-window maximize', [], () => s.windowMaximize()),
  def('step-window switch tab next', [], () => s.switchNextTab()),
  def('step-window switch tab prev', [], () => s.switchPrevTab(), [], { aliases: ['previous'] }),
  def('step-window switch tab index', [arg('index', 'int')], (v) => s.switchTab(num(v, 'index'))),
  def('step-window switch iframe', [sel], (v) => s.switchFrame(str(v, 'selector'))),
  def('step-window switch parent-frame', [], () => s.switchParentFrame()),
  // step-data
  def('step-data store element-text', [sel, arg('variable', 'variable')], (v) => s.storeElementText(str(v, 'selector'), str(v, 'variable')), [], { aliases: ['text'] }),
  def('step-data store element-value', [sel, arg('variable', 'variable')], (v) => s.storeElementValue(str(v, 'selector'), str(v, 'variable')), [], { aliases: ['value'] }),
  def('step-data store attribute', [sel, arg('attribute', 'text'), arg('variable', 'variable')], (v) =>
    s.storeAttribute(str(v, 'selector'), str(v, 'attribute'), str(v, 'variable')),
  [], { aliases: ['element-attribute'] }),
  def('step-data store literal', [arg('value', 'text'), arg('variable', 'variable')], (v) => s.storeLiteral(str(v, 'value'), str(v, 'variable'))),
  def(
    'step-data cookie create',
    [arg('name', 'text'), arg('value', 'text')],
    (v) =>
      s.cookieCreate(str(v, 'name'), str(v, 'value'), {
        ...(v.domain === undefined ? {} : { domain: str(v, 'domain') }),
        ...(v.path === undefined ? {} : { path: str(v, 'path') }),
        ...(v.secure === true ? { secure: true } : {}),
        ...(v['http-only'] === true ? { httpOnly: true } : {}),
      }),
    [arg('domain', 'text', false), arg('path', 'text', false), arg('secure', 'boolean', false), arg('http-only', 'boolean', false)],
  ),
  def('step-data cookie delete', [arg('name', 'text')], (v) => s.cookieDelete(str(v, 'name'))),
  def('step-data cookie clear-all', [], () => s.cookieClearAll(), [], { aliases: ['clear', 'wipe'] }),
  // step-dialog: the CLI cancels a confirm or a prompt unless told --accept; a prompt answered with a text is accepted.
  def('step-dialog dismiss-alert', [], () => s.dismissAlert()),
  def('step-dialog dismiss-confirm', [], (v) => s.dismissConfirm(accepted(v, false)), acceptReject),
  def('step-dialog dismiss-prompt', [], (v) => s.dismissPrompt(accepted(v, false)), acceptReject),
  def('step-dialog dismiss-prompt-with-text', [arg('text', 'text')], (v) => (accepted(v, true) ? s.dismissPrompt(true, str(v, 'text')) : s.dismissPrompt(false)), acceptReject),
  // step-wait
  def('step-wait element', [sel], (v) => s.waitForElement(str(v, 'selector'), v.timeout === undefined ? undefined : num(v, 'timeout')), [arg('timeout', 'ms', false)]),
  def('step-wait time', [arg('ms', 'ms')], (v) => s.waitTime(num(v, 'ms'))),
  // step-file
  def('step-file upload', [sel, arg('url', 'url')], (v) => s.upload(str(v, 'selector'), str(v, 'url'))),
  def('step-file upload-url', [sel, arg('url', 'url')], (v) => s.upload(str(v, 'selector'), str(v, 'url')), [], { aliases: ['url'] }),
  // step-misc: the text is every remaining word (the CLI joined them)
  def('step-misc comment', [{ ...arg('text', 'text'), variadic: true }], (v) => s.comment(str(v, 'text')), [], { aliases: ['add-comment'] }),
  def('step-misc execute', [{ ...arg('script', 'text'), variadic: true }], (v) => s.executeJs(str(v, 'script'))),
];

/** The groups' earlier names (the CLI's help still uses some: `data store …`, `dialog …`, `wait …`). */
const GROUP_ALIASES: Readonly<Record<string, readonly string[]>> = {
  navigate: ['step-navigate'],
  interact: ['step-interact'],
  assert: ['step-assert'],
  window: ['step-window'],
  data: ['step-data'],
  dialog: ['step-dialog'],
  wait: ['step-wait'],
  file: ['step-file'],
  misc: ['step-misc'],
  mouse: ['step-interact', 'mouse'],
  select: ['step-interact', 'select'],
};

/** Commands the CLI removed or never had, with what to use instead (answered before any request). */
const REFUSED: Readonly<Record<string, () => AppError>> = {
  'step-navigate back': () => s.unsupportedStep('Navigating back', "use step-navigate to <the page's URL>, or step-misc execute 'history.back()'"),
  'step-navigate forward': () => s.unsupportedStep('Navigating forward', "use step-navigate to <the page's URL>, or step-misc execute 'history.forward()'"),
  'step-navigate refresh': () => s.unsupportedStep('Refreshing the page', "use step-navigate to <the same URL>, or step-misc execute 'location.reload()'"),
  'step-navigate scroll-left': () => s.unsupportedStep('Scrolling left', "use step-navigate scroll-by -- '-500,0'"),
  'step-navigate scroll-right': () => s.unsupportedStep('Scrolling right', "use step-navigate scroll-by '500,0'"),
  'step-window close': () => s.unsupportedStep('Closing a window', 'switch to another tab: step-window switch tab next|prev|index <n>'),
  'step-window switch main-content': () => s.unsupportedStep('Switching to the main content', 'use step-window switch parent-frame (once per nesting level)'),
  'step-interact fill': () => s.unsupportedStep("'fill' (a FILL step)", 'use step-interact write <selector> <text>'),
  'step-interact drag': () => s.unsupportedStep('Drag and drop', 'use step-interact mouse down <source>, then step-interact mouse up <target>'),
};

const BY_NAME = new Map<string, StepCommand>();
for (const c of STEP_COMMANDS) for (const p of c.paths) BY_NAME.set(p.join('.'), c);

/** Tokens with a group's earlier name replaced by the current one (`data store …` → `step-data store …`). */
export function canonicalGroup(tokens: readonly string[]): string[] {
  const group = Object.hasOwn(GROUP_ALIASES, tokens[0] ?? '') ? GROUP_ALIASES[tokens[0]] : undefined;
  return group ? [...group, ...tokens.slice(1)] : [...tokens];
}

/** Whether the tokens (or a structured name) ask for a step command, in any of its spellings. */
export function isStepCommand(tokens: readonly string[]): boolean {
  return canonicalGroup(tokens)[0]?.startsWith('step-') ?? false;
}

/** The longest command path the tokens start with, in any of its spellings. */
export function findStepCommand(input: readonly string[]): { command: StepCommand; rest: string[] } | undefined {
  const tokens = canonicalGroup(input);
  let best: { command: StepCommand; length: number } | undefined;
  for (const c of STEP_COMMANDS) {
    for (const p of c.paths) {
      if (p.every((w, i) => tokens[i] === w) && (!best || p.length > best.length)) best = { command: c, length: p.length };
    }
  }
  return best && { command: best.command, rest: tokens.slice(best.length) };
}

/** The refusal of a command the CLI removed or never had (`step-navigate back`), if the tokens ask for one. */
export function refusedCommand(tokens: readonly string[]): AppError | undefined {
  const canonical = canonicalGroup(tokens);
  for (const length of [3, 2]) {
    const make = REFUSED[canonical.slice(0, length).join(' ')];
    if (make) return make();
  }
  return undefined;
}

export interface StepRequest {
  command: string;
  /** From the input; when absent the session's current checkpoint is used. */
  checkpointId?: string;
  /** 1-based position, or 'last'; absent → after the session's last step (or appended). */
  position?: number | 'last';
  parsedStep: ParsedStep;
  /** Flags accepted without effect, and why. */
  notes?: string[];
}

const PATTERNS: Partial<Record<ArgType, string>> = {
  xy: '^-?\\d+,-?\\d+$',
  wxh: '^\\d+[xX]\\d+$',
  variable: '^\\$?[A-Za-z_]\\w*$',
  modifiers: `^(${MODIFIERS.join('|')})(,(${MODIFIERS.join('|')}))*$`,
};

/** The JSON Schema of a command's structured `args`. */
export function argsSchema(c: StepCommand): object {
  const prop = (a: Arg) =>
    a.type === 'boolean'
      ? { type: 'boolean' }
      : a.type === 'int' || a.type === 'ms'
        ? { type: 'integer', ...(a.type === 'ms' ? { minimum: 0, maximum: s.MAX_WAIT_MS } : {}) }
        : a.type === 'element-position'
          ? { type: 'string', enum: ELEMENT_POSITIONS }
          : { type: 'string', minLength: a.type === 'text' ? 0 : 1, ...(PATTERNS[a.type] ? { pattern: PATTERNS[a.type] } : {}) };
  const all = [...c.args, ...c.flags];
  return {
    type: 'object',
    additionalProperties: false,
    required: c.args.filter((a) => a.required !== false).map((a) => a.name),
    properties: Object.fromEntries(all.map((a) => [a.name, prop(a)])),
  };
}

export function shapeOf(c: StepCommand): CommandShape {
  return {
    name: c.path.join(' '),
    args: c.args,
    checkpoint: true,
    elementPosition: c.elementPosition,
    flags: Object.fromEntries(c.flags.map((f): [string, FlagSpec] => [f.name, { kind: f.type === 'boolean' ? 'boolean' : f.type === 'modifiers' ? 'list' : 'value' }])),
  };
}

/** ajv's findings for a command, as problems in the CLI's words. */
function problemsOf(c: StepCommand, errors: readonly ErrorObject[], values: Values): ArgumentProblem[] {
  const positional = new Set(c.args.map((a) => a.name));
  const shown = (name: string) => (positional.has(name) ? `<${name}>` : `--${name}`);
  return errors.map((e) => {
    const p = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties') return unknownFlag(String(p.additionalProperty), shapeOf(c));
    if (e.keyword === 'required') {
      const name = String(p.missingProperty);
      return { path: argPath(name), flag: shown(name), message: `missing ${shown(name)}` };
    }
    const name = e.instancePath.slice(1);
    const a = [...c.args, ...c.flags].find((x) => x.name === name);
    const v = values[name];
    const got = typeof v === 'string' ? `'${v}'` : String(v);
    return { path: argPath(name), flag: shown(name), message: `${shown(name)} must be ${a ? ARG_DESCRIPTIONS[a.type] : 'valid'}, not ${got}` };
  });
}

const schemaCache = new Map<string, object>();
function validateArgs(c: StepCommand, values: Values): void {
  let schema = schemaCache.get(c.name);
  if (!schema) schemaCache.set(c.name, (schema = argsSchema(c)));
  const v = validator(schema);
  if (!v(values)) throw invalidArguments(c.path.join(' '), problemsOf(c, v.errors ?? [], values));
}

/** Typed values from the CLI's strings: numbers for int/ms, lists lower-cased without spaces. */
function typed(c: StepCommand, raw: Record<string, string | boolean>): Values {
  const out: Values = {};
  for (const a of [...c.args, ...c.flags]) {
    const v = raw[a.name];
    if (v === undefined) continue;
    if ((a.type === 'int' || a.type === 'ms') && typeof v === 'string' && /^-?\d+$/.test(v)) out[a.name] = Number(v);
    else if (a.type === 'modifiers' && typeof v === 'string') out[a.name] = v.toLowerCase().replace(/\s+/g, '');
    else if (a.type === 'element-position' && typeof v === 'string') out[a.name] = v.toUpperCase();
    else out[a.name] = v;
  }
  for (const k of Object.keys(raw)) if (!(k in out)) out[k] = raw[k];
  return out;
}

/** The notes for flags given that take no effect. */
function notesOf(c: StepCommand, values: Values): string[] {
  return c.flags.filter((f) => f.noEffect && values[f.name] !== undefined && values[f.name] !== false).map((f) => `--${f.name} is accepted and has no effect: ${f.noEffect}`);
}

function positionOf(p: string | number | undefined, flag: string): number | 'last' | undefined {
  if (p === undefined) return undefined;
  if (p === 'last') return 'last';
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1) throw invalidArguments('the step', [{ path: '/position', flag, message: `the step position must be 1 or more, or 'last' (got '${p}')` }]);
  return n;
}

function request(c: StepCommand, values: Values, checkpointId: string | undefined, position: number | 'last' | undefined): StepRequest {
  validateArgs(c, values);
  const notes = notesOf(c, values);
  return { command: c.name, checkpointId, position, parsedStep: c.build(values), ...(notes.length ? { notes } : {}) };
}

/** A CLI string → the step to create. */
export function stepFromCli(tokens: readonly string[]): StepRequest {
  const refused = refusedCommand(tokens);
  if (refused) throw refused;
  const found = findStepCommand(tokens);
  if (!found) throw badRequest(`Unknown step command '${canonicalGroup(tokens).slice(0, 3).join(' ')}'`, [{ path: '/command', flag: tokens.slice(0, 2).join(' '), message: 'no such step command' }]);
  const { command, rest } = found;
  const r = resolveArgs(rest, shapeOf(command));
  const values = typed(command, { ...r.args, ...(Object.fromEntries(Object.entries(r.flags)) as Record<string, string | boolean>) });
  return request(command, values, r.checkpoint, positionOf(r.position, '[position]'));
}

/** A structured name (`step-interact.click`, `data.store.element-text`) → its command. */
export function stepCommandByName(name: string): StepCommand | undefined {
  return BY_NAME.get(canonicalGroup(name.split('.')).join('.'));
}

/** The structured form → the step to create. */
export function stepFromJson(input: { command: string; checkpointId?: string | number; args?: Values; position?: number | 'last' }): StepRequest {
  const refused = refusedCommand(input.command.split('.'));
  if (refused) throw refused;
  const command = stepCommandByName(input.command);
  if (!command) throw badRequest(`Unknown step command '${input.command}'`, [{ path: '/command', flag: input.command, message: 'no such step command' }]);
  const checkpointId = input.checkpointId === undefined ? undefined : String(input.checkpointId).replace(/^cp_/, '');
  if (checkpointId !== undefined && !/^\d+$/.test(checkpointId)) {
    throw invalidArguments(command.path.join(' '), [{ path: '/checkpointId', flag: 'checkpointId', message: `'${input.checkpointId}' is not a checkpoint id (digits, optionally cp_12345)` }]);
  }
  return request(command, input.args ?? {}, checkpointId, positionOf(input.position, 'position'));
}


/** A step command and its arguments written as a command line (`step-interact write Email "a b"`). */
export function stepCommandLine(name: string, args: Readonly<Record<string, string | number | boolean>>): string {
  const c = stepCommandByName(name);
  if (!c) throw new Error(`no step command ${name}`);
  const words = [...c.path];
  const positional = c.args.filter((x) => args[x.name] !== undefined).map((x) => String(args[x.name]));
  const flags = c.flags.filter((x) => args[x.name] !== undefined && args[x.name] !== false).map((x) => (args[x.name] === true ? `--${x.name}` : `--${x.name} ${quoteArg(String(args[x.name]))}`));
  // A text that starts with '-' goes after '--', where it cannot be a flag (a negative number never is one).
  const dashed = positional.some((p) => p.startsWith('-') && !/^-\d[\d.,]*$/.test(p));
  return [...words, ...flags, ...(dashed ? ['--'] : []), ...positional.map(quoteArg)].join(' ');
}
