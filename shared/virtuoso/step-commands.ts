/**
 * The step commands of the final CLI (VIRTUOSO_API.md §2.4), each declared once: its path
 * (`step-interact mouse move-to`), its arguments and flags with their types (from which the JSON
 * Schema of the structured form is derived), and the parsedStep it builds (shared/virtuoso/steps.ts).
 *
 * Two input forms reach the same declaration:
 * - CLI string: `step-interact click 123 "Login button" 2` (tokenized and resolved by cli.ts);
 * - JSON: `{command: "step-interact.click", checkpointId: 123, args: {selector: "Login button"}, position: 2}`.
 */
import { badRequest, unprocessable } from '../errors';
import { describeErrors, validator } from '../schemas';
import { resolveArgs, type CommandShape } from './cli';
import * as s from './steps';
import type { ParsedStep } from './steps';

export type ArgType = 'selector' | 'text' | 'url' | 'int' | 'ms' | 'xy' | 'wxh' | 'variable' | 'key' | 'boolean';

interface Arg {
  name: string;
  type: ArgType;
  required?: boolean;
}

type Values = Record<string, string | number | boolean | undefined>;

export interface StepCommand {
  /** `step-interact.mouse.move-to` */
  name: string;
  path: readonly string[];
  args: readonly Arg[];
  flags: readonly Arg[];
  build(v: Values): ParsedStep;
}

const arg = (name: string, type: ArgType, required = true): Arg => ({ name, type, required });
const sel = arg('selector', 'selector');

function def(path: string, args: Arg[], build: (v: Values) => ParsedStep, flags: Arg[] = []): StepCommand {
  const parts = path.split(' ');
  return { name: parts.join('.'), path: parts, args, flags, build };
}

const str = (v: Values, k: string) => String(v[k] ?? '');
const num = (v: Values, k: string) => Number(v[k]);
const xy = (v: Values, k: string) => str(v, k).split(',').map(Number) as [number, number];

export const STEP_COMMANDS: readonly StepCommand[] = [
  // step-navigate
  def('step-navigate to', [arg('url', 'url')], (v) => s.navigate(str(v, 'url'), { newTab: v['new-tab'] === true }), [arg('new-tab', 'boolean', false)]),
  def('step-navigate scroll-top', [], () => s.scrollTop()),
  def('step-navigate scroll-bottom', [], () => s.scrollBottom()),
  def('step-navigate scroll-element', [sel], (v) => s.scrollToElement(str(v, 'selector'))),
  def('step-navigate scroll-position', [arg('position', 'xy')], (v) => s.scrollToPosition(...xy(v, 'position'))),
  def('step-navigate scroll-by', [arg('offset', 'xy')], (v) => s.scrollBy(...xy(v, 'offset'))),
  def('step-navigate scroll-up', [], () => s.scrollUp()),
  def('step-navigate scroll-down', [], () => s.scrollDown()),
  // step-interact
  def('step-interact click', [sel], (v) => s.click(str(v, 'selector'))),
  def('step-interact double-click', [sel], (v) => s.doubleClick(str(v, 'selector'))),
  def('step-interact right-click', [sel], (v) => s.rightClick(str(v, 'selector'))),
  def('step-interact hover', [sel], (v) => s.hover(str(v, 'selector'))),
  def('step-interact write', [sel, arg('text', 'text')], (v) => s.write(str(v, 'selector'), str(v, 'text'), { append: v.clear === undefined ? false : !v.clear }), [arg('clear', 'boolean', false)]),
  def('step-interact key', [arg('key', 'key')], (v) => s.key(str(v, 'key'), { selector: v.target === undefined ? undefined : str(v, 'target') }), [arg('target', 'selector', false)]),
  def('step-interact mouse move-to', [sel], (v) => s.mouseMoveTo(str(v, 'selector'))),
  def('step-interact mouse move-by', [arg('offset', 'xy')], (v) => s.mouseMoveBy(...xy(v, 'offset'))),
  def('step-interact mouse move', [arg('position', 'xy')], (v) => s.mouseMove(...xy(v, 'position'))),
  def('step-interact mouse down', [arg('selector', 'selector', false)], (v) => s.mouseDown(v.selector === undefined ? undefined : str(v, 'selector'))),
  def('step-interact mouse up', [arg('selector', 'selector', false)], (v) => s.mouseUp(v.selector === undefined ? undefined : str(v, 'selector'))),
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
  def('step-window switch tab prev', [], () => s.switchPrevTab()),
  def('step-window switch tab index', [arg('index', 'int')], (v) => s.switchTab(num(v, 'index'))),
  def('step-window switch iframe', [sel], (v) => s.switchFrame(str(v, 'selector'))),
  def('step-window switch parent-frame', [], () => s.switchParentFrame()),
  // step-data
  def('step-data store element-text', [sel, arg('variable', 'variable')], (v) => s.storeElementText(str(v, 'selector'), str(v, 'variable'))),
  def('step-data store element-value', [sel, arg('variable', 'variable')], (v) => s.storeElementValue(str(v, 'selector'), str(v, 'variable'))),
  def('step-data store attribute', [sel, arg('attribute', 'text'), arg('variable', 'variable')], (v) =>
    s.storeAttribute(str(v, 'selector'), str(v, 'attribute'), str(v, 'variable')),
  ),
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
  def('step-data cookie clear-all', [], () => s.cookieClearAll()),
  // step-dialog
  def('step-dialog dismiss-alert', [], () => s.dismissAlert()),
  def('step-dialog dismiss-confirm', [], (v) => s.dismissConfirm(v.reject !== true), [arg('accept', 'boolean', false), arg('reject', 'boolean', false)]),
  def('step-dialog dismiss-prompt', [], (v) => s.dismissPrompt(v.reject !== true), [arg('accept', 'boolean', false), arg('reject', 'boolean', false)]),
  def('step-dialog dismiss-prompt-with-text', [arg('text', 'text')], (v) => s.dismissPrompt(true, str(v, 'text'))),
  // step-wait
  def('step-wait element', [sel], (v) => s.waitForElement(str(v, 'selector'), v.timeout === undefined ? undefined : num(v, 'timeout')), [arg('timeout', 'ms', false)]),
  def('step-wait time', [arg('ms', 'ms')], (v) => s.waitTime(num(v, 'ms'))),
  // step-file
  def('step-file upload', [sel, arg('url', 'url')], (v) => s.upload(str(v, 'selector'), str(v, 'url'))),
  def('step-file upload-url', [sel, arg('url', 'url')], (v) => s.upload(str(v, 'selector'), str(v, 'url'))),
  // step-misc
  def('step-misc comment', [arg('text', 'text')], (v) => s.comment(str(v, 'text'))),
  def('step-misc execute', [arg('script', 'text')], (v) => s.executeJs(str(v, 'script'))),
];

const BY_NAME = new Map(STEP_COMMANDS.map((c) => [c.name, c]));

/** The longest command path the tokens start with. */
export function findStepCommand(tokens: readonly string[]): { command: StepCommand; rest: string[] } | undefined {
  let best: StepCommand | undefined;
  for (const c of STEP_COMMANDS) {
    if (c.path.every((p, i) => tokens[i] === p) && (!best || c.path.length > best.path.length)) best = c;
  }
  return best && { command: best, rest: tokens.slice(best.path.length) };
}

export interface StepRequest {
  command: string;
  /** From the input; when absent the session's current checkpoint is used. */
  checkpointId?: string;
  /** 1-based position, or 'last'; absent → after the session's last step (or appended). */
  position?: number | 'last';
  parsedStep: ParsedStep;
}

const PATTERNS: Partial<Record<ArgType, string>> = { xy: '^-?\\d+,-?\\d+$', wxh: '^\\d+[xX]\\d+$', variable: '^\\$?[A-Za-z_]\\w*$' };

/** The JSON Schema of a command's structured `args`. */
export function argsSchema(c: StepCommand): object {
  const prop = (a: Arg) =>
    a.type === 'boolean'
      ? { type: 'boolean' }
      : a.type === 'int' || a.type === 'ms'
        ? { type: 'integer', ...(a.type === 'ms' ? { minimum: 0, maximum: s.MAX_WAIT_MS } : {}) }
        : { type: 'string', minLength: a.type === 'text' ? 0 : 1, ...(PATTERNS[a.type] ? { pattern: PATTERNS[a.type] } : {}) };
  const all = [...c.args, ...c.flags];
  return {
    type: 'object',
    additionalProperties: false,
    required: c.args.filter((a) => a.required !== false).map((a) => a.name),
    properties: Object.fromEntries(all.map((a) => [a.name, prop(a)])),
  };
}

const schemaCache = new Map<string, object>();
function validateArgs(c: StepCommand, values: Values): void {
  let schema = schemaCache.get(c.name);
  if (!schema) schemaCache.set(c.name, (schema = argsSchema(c)));
  const v = validator(schema);
  if (!v(values)) throw unprocessable(`Invalid arguments for ${c.path.join(' ')}`, describeErrors(v));
}

/** Typed values from the CLI's strings (numbers for int/ms, true for boolean flags). */
function typed(c: StepCommand, raw: Record<string, string | true>): Values {
  const out: Values = {};
  for (const a of [...c.args, ...c.flags]) {
    const v = raw[a.name];
    if (v === undefined) continue;
    out[a.name] = (a.type === 'int' || a.type === 'ms') && typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  for (const k of Object.keys(raw)) if (!(k in out)) out[k] = raw[k];
  return out;
}

function positionOf(p: string | number | undefined): number | 'last' | undefined {
  if (p === undefined) return undefined;
  if (p === 'last') return 'last';
  const n = Number(p);
  if (!Number.isInteger(n) || n < 1) throw unprocessable(`Position must be 1 or more, or 'last' (got '${p}')`);
  return n;
}

/** A CLI string → the step to create. */
export function stepFromCli(tokens: readonly string[]): StepRequest {
  const found = findStepCommand(tokens);
  if (!found) throw badRequest(`Unknown step command '${tokens.slice(0, 2).join(' ')}'`);
  const { command, rest } = found;
  const shape: CommandShape = {
    args: command.args,
    checkpoint: true,
    booleanFlags: command.flags.filter((f) => f.type === 'boolean').map((f) => f.name),
  };
  const r = resolveArgs(rest, shape);
  const values = typed(command, { ...r.args, ...r.flags });
  validateArgs(command, values);
  return { command: command.name, checkpointId: r.checkpoint, position: positionOf(r.position), parsedStep: command.build(values) };
}

/** The structured form → the step to create. */
export function stepFromJson(input: { command: string; checkpointId?: string | number; args?: Values; position?: number | 'last' }): StepRequest {
  const command = BY_NAME.get(input.command);
  if (!command) throw badRequest(`Unknown step command '${input.command}'`);
  const values = input.args ?? {};
  validateArgs(command, values);
  const checkpointId = input.checkpointId === undefined ? undefined : String(input.checkpointId).replace(/^cp_/, '');
  if (checkpointId !== undefined && !/^\d+$/.test(checkpointId)) throw unprocessable(`'${input.checkpointId}' is not a checkpoint id`);
  return { command: command.name, checkpointId, position: positionOf(input.position), parsedStep: command.build(values) };
}
