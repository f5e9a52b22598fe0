/**
 * Step builders: one function per step the CLI can create, each returning the `parsedStep` Virtuoso
 * accepts (VIRTUOSO_API.md §1.5–1.6, shapes verified against the live API). Shapes the API refuses
 * (FILL, frames by index or name, navigate back/forward, window close, local-file upload, …) are
 * refused here, before any request, with a message saying what to use instead.
 */
import { AppError } from '../errors';

export interface StepTarget {
  selectors: [{ type: 'GUESS'; value: string }];
}

export interface ParsedStep {
  action: string;
  value: string;
  target?: StepTarget;
  /** Store/assert variable name, without `$`. */
  variable?: string;
  meta: Record<string, unknown>;
}

/** A step shape Virtuoso does not support (it would answer 2605 or 400): 422, with the alternative. */
export function unsupportedStep(what: string, instead: string): AppError {
  return new AppError('unprocessable_entity', `${what} is not supported by the Virtuoso API; ${instead}`, {
    details: { unsupported: what, instead },
  });
}

function invalid(message: string): AppError {
  return new AppError('unprocessable_entity', message);
}

/**
 * The selector: natural-language hint or CSS, carried as a JSON-encoded `clue` (encoded properly,
 * so quotes inside a selector cannot break the request — the CLI's string formatting did).
 */
export function target(selector: string): StepTarget {
  const clue = selector.trim();
  if (!clue) throw invalid('A selector (hint text or CSS) is required');
  return { selectors: [{ type: 'GUESS', value: JSON.stringify({ clue }) }] };
}

/** Variable names go without `$` (Virtuoso adds it); a leading `$` is dropped. */
export function variableName(name: string): string {
  const v = name.trim().replace(/^\$/, '');
  if (!/^[A-Za-z_][\w]*$/.test(v)) throw invalid(`'${name}' is not a valid variable name (letters, digits and _; no spaces)`);
  return v;
}

const step = (action: string, value = '', meta: Record<string, unknown> = {}, extra: Partial<ParsedStep> = {}): ParsedStep => ({
  action,
  value,
  meta,
  ...extra,
});

function httpUrl(url: string, what: string): string {
  const u = URL.parse(url.trim());
  if (!u) throw invalid(`${what} needs an absolute http(s) URL (got '${url}')`);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(`${what} needs an http(s) URL (got '${url}')`);
  return u.toString();
}

function int(n: number, what: string, min = -Infinity, max = Infinity): number {
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${what} must be an integer${Number.isFinite(min) ? ` from ${min}` : ''}${Number.isFinite(max) ? ` to ${max}` : ''} (got ${n})`);
  return n;
}

/** Waits are capped at 60 s, as in the CLI. */
export const MAX_WAIT_MS = 60_000;

// --- navigation ---------------------------------------------------------------------------------
export const navigate = (url: string, options: { newTab?: boolean } = {}) =>
  step('NAVIGATE', httpUrl(url, 'navigate'), { kind: 'NAVIGATE', type: 'URL', useNewTab: options.newTab ?? false });
export const navigateBack = () => {
  throw unsupportedStep('Navigating back', "navigate to the page's URL, or execute 'history.back()'");
};
export const navigateForward = () => {
  throw unsupportedStep('Navigating forward', "navigate to the page's URL, or execute 'history.forward()'");
};
export const refresh = () => {
  throw unsupportedStep('Refreshing the page', "navigate to the same URL, or execute 'location.reload()'");
};

export const scrollTop = () => step('SCROLL', '', { type: 'TOP' });
export const scrollBottom = () => step('SCROLL', '', { type: 'BOTTOM' });
export const scrollToElement = (selector: string) => step('SCROLL', '', { type: 'ELEMENT' }, { target: target(selector) });
export const scrollToPosition = (x: number, y: number) => step('SCROLL', '', { type: 'POSITION', x: int(x, 'x'), y: int(y, 'y') });
export const scrollBy = (x: number, y: number) => step('SCROLL', '', { type: 'OFFSET', x: int(x, 'x'), y: int(y, 'y') });
export const scrollUp = () => scrollBy(0, -1000);
export const scrollDown = () => scrollBy(0, 1000);

// --- interaction --------------------------------------------------------------------------------
export const click = (selector: string) => step('CLICK', '', {}, { target: target(selector) });
const mouse = (action: string) => (selector: string) => step('MOUSE', '', { action }, { target: target(selector) });
export const doubleClick = mouse('DOUBLE_CLICK');
export const rightClick = mouse('RIGHT_CLICK');
export const hover = mouse('OVER');
export const mouseEnter = mouse('ENTER');
export const mouseMoveTo = mouse('MOVE');
export const mouseDown = (selector?: string) => (selector ? mouse('DOWN')(selector) : step('MOUSE', '', { action: 'DOWN' }));
export const mouseUp = (selector?: string) => (selector ? mouse('UP')(selector) : step('MOUSE', '', { action: 'UP' }));
export const mouseMove = (x: number, y: number) => step('MOUSE', '', { action: 'MOVE', x: int(x, 'x'), y: int(y, 'y') });
export const mouseMoveBy = (x: number, y: number) => step('MOUSE', '', { action: 'OFFSET', x: int(x, 'x'), y: int(y, 'y') });
export const dragAndDrop = () => {
  throw unsupportedStep('Drag and drop', 'use mouse down on the source, then mouse up on the target');
};

/** `variable`: the CLI's `write --variable` (the text comes from that variable; [C] in VIRTUOSO_API.md §1.6). */
export const write = (selector: string, text: string, options: { append?: boolean; variable?: string } = {}) =>
  step('WRITE', text, { append: options.append ?? false }, { target: target(selector), ...(options.variable === undefined ? {} : { variable: variableName(options.variable) }) });
export const fill = () => {
  throw unsupportedStep('FILL', 'use write <selector> <text>');
};
/** `modifiers`: ctrl, shift, alt, meta, sent as `meta.modifiers` ([C] in VIRTUOSO_API.md §1.6). */
export const key = (keyName: string, options: { selector?: string; modifiers?: readonly string[] } = {}) => {
  if (!keyName.trim()) throw invalid('A key name is required (e.g. ENTER, Tab)');
  const meta = options.modifiers?.length ? { modifiers: [...options.modifiers] } : {};
  return step('KEY', keyName.trim(), meta, options.selector ? { target: target(options.selector) } : {});
};

export const selectOption = (selector: string, option: string) => step('PICK', option, { type: 'VISIBLE_TEXT' }, { target: target(selector) });
export const selectIndex = (selector: string, index: number) =>
  step('PICK', String(int(index, 'index', -1)), { type: 'INDEX' }, { target: target(selector) });
export const selectLast = (selector: string) => selectIndex(selector, -1);

export const upload = (selector: string, fileUrl: string) => {
  if (!/^https?:\/\//i.test(fileUrl.trim())) {
    throw unsupportedStep('Uploading a local file', 'host the file and pass its http(s) URL');
  }
  return step('UPLOAD', httpUrl(fileUrl, 'upload'), {}, { target: target(selector) });
};

// --- waits --------------------------------------------------------------------------------------
export const waitTime = (ms: number) => step('WAIT', String(int(ms, 'wait time (ms)', 0, MAX_WAIT_MS)), { type: 'TIME' });
export const waitForElement = (selector: string, timeoutMs = 20_000) =>
  step('WAIT', String(int(timeoutMs, 'timeout (ms)', 0, MAX_WAIT_MS)), { type: 'ELEMENT' }, { target: target(selector) });

// --- window, tabs and frames ----------------------------------------------------------------------
export const windowResize = (width: number, height: number) =>
  step('WINDOW', '', { type: 'RESIZE', dimension: { width: int(width, 'width', 1), height: int(height, 'height', 1) } });
export const windowMaximize = () => step('WINDOW', '', { type: 'MAXIMIZE' });
export const windowClose = () => {
  throw unsupportedStep('Closing a window', 'switch to another tab instead');
};
export const switchNextTab = () => step('SWITCH', '', { type: 'NEXT_TAB' });
export const switchPrevTab = () => step('SWITCH', '', { type: 'PREV_TAB' });
export const switchTab = (index: number) => step('SWITCH', String(int(index, 'tab index', 0)), { type: 'TAB' });
export const switchFrame = (selector: string) => step('SWITCH', '', { type: 'FRAME_BY_ELEMENT' }, { target: target(selector) });
export const switchParentFrame = () => step('SWITCH', '', { type: 'PARENT_FRAME' });
export const switchFrameByIndex = () => {
  throw unsupportedStep('Switching to a frame by index', 'switch iframe <selector of the frame element>');
};
export const switchFrameByName = () => {
  throw unsupportedStep('Switching to a frame by name', 'switch iframe <selector of the frame element>');
};
export const switchMainContent = () => {
  throw unsupportedStep('Switching to the main content', 'switch parent-frame (once per nesting level)');
};

// --- assertions -----------------------------------------------------------------------------------
export const ASSERTIONS = {
  exists: 'ASSERT_EXISTS',
  'not-exists': 'ASSERT_NOT_EXISTS',
  checked: 'ASSERT_CHECKED',
  selected: 'ASSERT_SELECTED',
  equals: 'ASSERT_EQUALS',
  'not-equals': 'ASSERT_NOT_EQUALS',
  gt: 'ASSERT_GREATER_THAN',
  gte: 'ASSERT_GREATER_THAN_OR_EQUAL',
  lt: 'ASSERT_LESS_THAN',
  lte: 'ASSERT_LESS_THAN_OR_EQUAL',
  matches: 'ASSERT_MATCHES',
} as const;
export type AssertionKind = keyof typeof ASSERTIONS;
const VALUELESS: ReadonlySet<AssertionKind> = new Set(['exists', 'not-exists', 'checked', 'selected']);

export function assertion(kind: AssertionKind, selector: string, expected?: string): ParsedStep {
  const action = ASSERTIONS[kind];
  if (!action) throw invalid(`Unknown assertion '${kind}'; use one of ${Object.keys(ASSERTIONS).join(', ')}`);
  if (!VALUELESS.has(kind) && (expected === undefined || expected === '')) throw invalid(`assert ${kind} needs an expected value`);
  if (kind === 'matches') {
    try {
      new RegExp(expected!);
    } catch {
      throw invalid(`assert matches needs a valid regular expression (got '${expected}')`);
    }
  }
  return step(action, VALUELESS.has(kind) ? '' : expected!, {}, { target: target(selector) });
}
export const assertVariable = (name: string, expected: string) =>
  step('ASSERT_VARIABLE', expected, { kind: 'ASSERT_VARIABLE', type: 'EQUALS' }, { variable: variableName(name) });

// --- data ---------------------------------------------------------------------------------------
// STORE with meta.type VALUE is rejected by the API: `{}` is sent.
export const storeElementText = (selector: string, variable: string) =>
  step('STORE', '', {}, { target: target(selector), variable: variableName(variable) });
export const storeElementValue = storeElementText;
export const storeAttribute = (selector: string, attribute: string, variable: string) => {
  if (!attribute.trim()) throw invalid('An attribute name is required (e.g. href)');
  return step('STORE', '', { attribute: attribute.trim() }, { target: target(selector), variable: variableName(variable) });
};
export const storeLiteral = (value: string, variable: string) => step('STORE', value, {}, { variable: variableName(variable) });

export interface CookieOptions {
  domain?: string;
  path?: string;
  secure?: boolean;
  httpOnly?: boolean;
}
export const cookieCreate = (name: string, value: string, options: CookieOptions = {}) => {
  if (!name.trim()) throw invalid('A cookie name is required');
  return step('ENVIRONMENT', value, { type: 'ADD', name: name.trim(), ...options });
};
export const cookieDelete = (name: string) => step('ENVIRONMENT', '', { type: 'DELETE', name });
export const cookieClearAll = () => step('ENVIRONMENT', '', { type: 'CLEAR' });

// --- dialogs ------------------------------------------------------------------------------------
export const dismissAlert = () => step('DISMISS', '', { type: 'ALERT' });
export const dismissConfirm = (accept = true) => step('DISMISS', '', { type: 'CONFIRM', action: accept ? 'OK' : 'CANCEL' });
export const dismissPrompt = (accept = true, text = '') => step('DISMISS', text, { type: 'PROMPT', action: accept ? 'OK' : 'CANCEL' });

// --- misc ---------------------------------------------------------------------------------------
export const executeJs = (script: string) => {
  if (!script.trim()) throw invalid('A script is required');
  return step('EXECUTE', script, { explicit: true, script });
};
export const comment = (text: string) => step('COMMENT', text, {});

/** The body of POST /teststeps. Position: 0-based index; omitted → appended (past the end). */
export const APPEND = 9999;
export function createStepBody(checkpointId: string | number, parsedStep: ParsedStep, stepIndex: number = APPEND) {
  const id = typeof checkpointId === 'string' ? checkpointId.replace(/^cp_/, '') : checkpointId;
  if (!/^\d+$/.test(String(id))) throw invalid(`'${checkpointId}' is not a checkpoint id (digits, optionally prefixed cp_)`);
  return { checkpointId: Number(id), stepIndex: int(stepIndex, 'position', 0), parsedStep };
}
