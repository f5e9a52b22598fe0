/**
 * A step as Virtuoso stores it (`action`, `value`, `meta`, `target`, `variable`: VIRTUOSO_API.md
 * §1.5–1.6) → its short form in a test definition: the inverse of the step builders, for
 * `yaml convert <checkpoint-id>` (an existing checkpoint written as YAML). A step of a shape the
 * short forms do not have comes back as undefined, for the caller to report.
 */
import { isMap } from '../step-forms';

type Step = Record<string, unknown>;

export interface StoredStep {
  action?: string;
  value?: string;
  meta?: Record<string, unknown>;
  target?: unknown;
  variable?: string;
}

/** The selector's clue (hint text or CSS) of a stored target. */
export function clueOf(target: unknown): string | undefined {
  const selectors = isMap(target) && Array.isArray(target.selectors) ? target.selectors : [];
  const value = isMap(selectors[0]) && typeof selectors[0].value === 'string' ? selectors[0].value : undefined;
  if (value === undefined) return undefined;
  try {
    const clue = (JSON.parse(value) as { clue?: unknown }).clue;
    return typeof clue === 'string' ? clue : value;
  } catch {
    return value;
  }
}

const ASSERTS: Readonly<Record<string, string>> = {
  ASSERT_EXISTS: 'exists', ASSERT_NOT_EXISTS: 'not-exists', ASSERT_CHECKED: 'checked', ASSERT_SELECTED: 'selected',
  ASSERT_EQUALS: 'equals', ASSERT_NOT_EQUALS: 'not-equals', ASSERT_GREATER_THAN: 'gt', ASSERT_GREATER_THAN_OR_EQUAL: 'gte',
  ASSERT_LESS_THAN: 'lt', ASSERT_LESS_THAN_OR_EQUAL: 'lte', ASSERT_MATCHES: 'matches',
};
const MOUSE_BY_SELECTOR: Readonly<Record<string, string>> = { DOUBLE_CLICK: 'double-click', RIGHT_CLICK: 'right-click', OVER: 'hover' };

export function shortForm(s: StoredStep): Step | undefined {
  const meta = isMap(s.meta) ? s.meta : {};
  const clue = clueOf(s.target);
  const value = s.value ?? '';
  const type = typeof meta.type === 'string' ? meta.type : undefined;
  const xy = `${String(meta.x)},${String(meta.y)}`;
  switch (s.action) {
    case 'NAVIGATE':
      return { navigate: meta.useNewTab === true ? { url: value, newTab: true } : value };
    case 'CLICK':
      return clue ? { click: clue } : undefined;
    case 'MOUSE': {
      const action = String(meta.action ?? '');
      if (MOUSE_BY_SELECTOR[action] && clue) return { [MOUSE_BY_SELECTOR[action]]: clue };
      if (action === 'ENTER' && clue) return { mouse: { enter: clue } };
      if (action === 'MOVE') return { mouse: clue ? { 'move-to': clue } : { move: xy } };
      if (action === 'OFFSET') return { mouse: { 'move-by': xy } };
      if (action === 'DOWN' || action === 'UP') return { mouse: clue ? { [action.toLowerCase()]: clue } : action.toLowerCase() };
      return undefined;
    }
    case 'WRITE':
      if (!clue) return undefined;
      // A text from a variable has no short form: the catalogue form carries it.
      if (s.variable) return { step: 'step-interact.write', args: { selector: clue, text: value, variable: s.variable, ...(meta.append === true ? { clear: false } : {}) } };
      return { write: { selector: clue, text: value, ...(meta.append === true ? { clear: false } : {}) } };
    case 'KEY':
      if (Array.isArray(meta.modifiers) && meta.modifiers.length) return { step: 'step-interact.key', args: { key: value, modifiers: meta.modifiers.join(','), ...(clue ? { target: clue } : {}) } };
      return { key: clue ? { key: value, target: clue } : value };
    case 'PICK':
      if (!clue) return undefined;
      if (type === 'INDEX') return value === '-1' ? { select: { selector: clue, last: true } } : { select: { selector: clue, index: Number(value) } };
      return { select: { selector: clue, option: value } };
    case 'UPLOAD':
      return clue ? { upload: { selector: clue, url: value } } : undefined;
    case 'SCROLL':
      if (type === 'TOP') return { scroll: 'top' };
      if (type === 'BOTTOM') return { scroll: 'bottom' };
      if (type === 'ELEMENT' && clue) return { scroll: { element: clue } };
      if (type === 'POSITION') return { scroll: { position: xy } };
      if (type === 'OFFSET') return meta.x === 0 && meta.y === -1000 ? { scroll: 'up' } : meta.x === 0 && meta.y === 1000 ? { scroll: 'down' } : { scroll: { by: xy } };
      return undefined;
    case 'WAIT':
      if (type === 'TIME' || (!type && !clue)) return { wait: Number(value) };
      return clue ? { wait: value && value !== '20000' ? { element: clue, timeout: Number(value) } : clue } : undefined;
    case 'WINDOW':
      if (type === 'MAXIMIZE') return { window: 'maximize' };
      if (type === 'RESIZE' && isMap(meta.dimension)) return { window: { resize: `${String(meta.dimension.width)}x${String(meta.dimension.height)}` } };
      return undefined;
    case 'SWITCH':
      if (type === 'NEXT_TAB') return { window: { tab: 'next' } };
      if (type === 'PREV_TAB') return { window: { tab: 'prev' } };
      if (type === 'TAB') return { window: { tab: Number(value) } };
      if (type === 'FRAME_BY_ELEMENT' && clue) return { window: { iframe: clue } };
      if (type === 'PARENT_FRAME') return { window: 'parent-frame' };
      return undefined;
    case 'ASSERT_VARIABLE':
      return s.variable ? { assert: { variable: s.variable, value } } : undefined;
    case 'STORE':
      if (!s.variable) return undefined;
      if (!clue) return { store: { literal: value, as: s.variable } };
      if (typeof meta.attribute === 'string') return { store: { selector: clue, attribute: meta.attribute, as: s.variable } };
      return { store: { selector: clue, as: s.variable } };
    case 'ENVIRONMENT':
      if (type === 'CLEAR') return { cookie: 'clear-all' };
      if (type === 'DELETE') return { cookie: { delete: meta.name } };
      if (type === 'ADD') {
        const extra = Object.fromEntries(['domain', 'path', 'secure', 'httpOnly'].filter((k) => meta[k] !== undefined).map((k) => [k, meta[k]]));
        return { cookie: { create: meta.name, value, ...extra } };
      }
      return undefined;
    case 'DISMISS':
      if (type === 'ALERT') return { dialog: 'alert' };
      if (type === 'CONFIRM') return { dialog: { confirm: meta.action === 'CANCEL' ? 'reject' : 'accept' } };
      if (type === 'PROMPT') return meta.action === 'CANCEL' ? { dialog: { prompt: 'reject' } } : value ? { dialog: { prompt: 'accept', text: value } } : { dialog: { prompt: 'accept' } };
      return undefined;
    case 'EXECUTE':
      return { execute: value };
    case 'COMMENT':
      return { comment: value };
  }
  const kind = s.action ? ASSERTS[s.action] : undefined;
  if (kind && clue) return { assert: ['exists', 'not-exists', 'checked', 'selected'].includes(kind) ? { [kind]: clue } : { [kind]: clue, value } };
  return undefined;
}
