/**
 * `parsedStep` validation (VIRTUOSO_API.md §1.5, §1.6 and the known problems of §6): a shape the
 * real API refuses is refused here with 400 code 2605 "Invalid test step command" (the reason in the
 * X-Sandbox-Detail header). Where the spec does not say, the sandbox errs on the strict side so our
 * code is caught sending shapes nobody has seen work.
 *
 * stepIndex (§1.5 leaves it open; Postman counts from 0): a 0-based insert position — the new step
 * ends up at that index, later steps move down. An index past the end (999, 9999) or negative (-1,
 * the CLI's "append") appends. Sequential 1-based positions (the CLI's habit) therefore append too.
 */
import { invalidStep, isObject, SandboxError } from './http';
import type { Step } from './model';

export type StepFields = Pick<Step, 'action' | 'value' | 'variable' | 'meta' | 'target'>;

const ASSERTS_WITHOUT_VALUE = new Set(['ASSERT_EXISTS', 'ASSERT_NOT_EXISTS', 'ASSERT_CHECKED', 'ASSERT_SELECTED']);
const ASSERTS_WITH_VALUE = new Set([
  'ASSERT_EQUALS', 'ASSERT_NOT_EQUALS', 'ASSERT_GREATER_THAN', 'ASSERT_GREATER_THAN_OR_EQUAL',
  'ASSERT_LESS_THAN', 'ASSERT_LESS_THAN_OR_EQUAL', 'ASSERT_MATCHES',
]);

/** Validates and normalizes a parsedStep; throws 2605 (or 400 "Invalid file URL") otherwise. */
export function validateParsedStep(parsed: unknown): StepFields {
  if (!isObject(parsed)) throw invalidStep('parsedStep must be an object');
  const action = parsed.action;
  if (typeof action !== 'string' || !action) throw invalidStep('parsedStep.action must be a non-empty string');
  if (parsed.value !== undefined && parsed.value !== null && typeof parsed.value !== 'string') throw invalidStep('parsedStep.value must be a string');
  const value = typeof parsed.value === 'string' ? parsed.value : '';
  if (parsed.meta !== undefined && parsed.meta !== null && !isObject(parsed.meta)) throw invalidStep('parsedStep.meta must be an object');
  const meta = isObject(parsed.meta) ? parsed.meta : {};
  if (parsed.variable !== undefined && (typeof parsed.variable !== 'string' || !/^[A-Za-z_]\w*$/.test(parsed.variable))) {
    throw invalidStep('parsedStep.variable must be a name without $ (letters, digits, _)');
  }
  const variable = parsed.variable as string | undefined;
  // WAIT and UPLOAD also took the target nested as element.target (Postman); normalize to target.
  const rawTarget = parsed.target ?? (isObject(parsed.element) ? parsed.element.target : undefined);
  const target = rawTarget === undefined || rawTarget === null ? undefined : checkTarget(rawTarget);
  const fields: StepFields = { action, value, meta, ...(variable !== undefined ? { variable } : {}), ...(target ? { target } : {}) };
  const type = typeof meta.type === 'string' ? meta.type : undefined;
  const need = (ok: unknown, why: string) => {
    if (!ok) throw invalidStep(`${action}: ${why}`);
  };
  const xy = () => need(Number.isFinite(meta.x) && Number.isFinite(meta.y), 'meta.x and meta.y must be numbers');

  switch (action) {
    case 'NAVIGATE':
      need(isHttpUrl(value), 'value must be an http(s) URL (back/forward/refresh do not exist)');
      need(type === undefined || type === 'URL', 'meta.type must be URL');
      need(meta.useNewTab === undefined || typeof meta.useNewTab === 'boolean', 'meta.useNewTab must be a boolean');
      break;
    case 'CLICK':
      need(target, 'a target is required');
      break;
    case 'MOUSE': {
      const a = meta.action;
      need(typeof a === 'string' && ['DOUBLE_CLICK', 'RIGHT_CLICK', 'OVER', 'ENTER', 'DOWN', 'UP', 'MOVE', 'OFFSET'].includes(a), 'meta.action is not a known mouse action');
      if (a === 'OFFSET' || (a === 'MOVE' && !target)) xy();
      if (a === 'DOUBLE_CLICK' || a === 'RIGHT_CLICK' || a === 'OVER' || a === 'ENTER') need(target, 'a target is required');
      break;
    }
    case 'WRITE':
      need(target, 'a target is required');
      break;
    case 'KEY':
      need(value.trim(), 'value must name a key');
      break;
    case 'PICK':
      need(target, 'a target is required');
      need(type === undefined || ['VISIBLE_TEXT', 'VALUE', 'TEXT', 'INDEX'].includes(type), 'meta.type must be VISIBLE_TEXT, VALUE, TEXT or INDEX');
      if (type === 'INDEX') need(/^-?\d+$/.test(value), 'value must be an index');
      break;
    case 'UPLOAD':
      need(target, 'a target is required');
      if (!isHttpUrl(value)) throw new SandboxError(400, '2605', `Invalid file URL ${value}`, 'UPLOAD takes a file URL only; local paths fail');
      break;
    case 'SCROLL':
      need(type && ['TOP', 'BOTTOM', 'POSITION', 'ELEMENT', 'OFFSET'].includes(type), 'meta.type must be TOP, BOTTOM, POSITION, ELEMENT or OFFSET');
      if (type === 'POSITION' || type === 'OFFSET') xy();
      if (type === 'ELEMENT') need(target, 'a target is required');
      break;
    case 'WAIT': {
      const kind = type ?? (target ? 'ELEMENT' : 'TIME');
      need(['TIME', 'ELEMENT', 'ELEMENT_NOT_VISIBLE'].includes(kind), 'meta.type must be TIME, ELEMENT or ELEMENT_NOT_VISIBLE');
      if (kind === 'TIME') need(/^\d+$/.test(value), 'value must be milliseconds');
      else {
        need(target, 'a target is required');
        need(value === '' || /^\d+$/.test(value), 'value must be a timeout in milliseconds');
      }
      break;
    }
    case 'WINDOW':
      need(type === 'RESIZE' || type === 'MAXIMIZE', 'meta.type must be RESIZE or MAXIMIZE (CLOSE is not supported)');
      if (type === 'RESIZE') {
        const d = meta.dimension;
        need(isObject(d) && positiveInt(d.width) && positiveInt(d.height), 'meta.dimension must be {width, height}');
      }
      break;
    case 'SWITCH':
      need(type && ['NEXT_TAB', 'PREV_TAB', 'TAB', 'FRAME_BY_ELEMENT', 'PARENT_FRAME'].includes(type),
        'meta.type must be NEXT_TAB, PREV_TAB, TAB, FRAME_BY_ELEMENT or PARENT_FRAME (frames by index/name and default content fail)');
      if (type === 'TAB') need(/^\d+$/.test(value), 'value must be a tab index');
      if (type === 'FRAME_BY_ELEMENT') need(target, 'a target is required');
      break;
    case 'ASSERT_VARIABLE':
      need(variable, 'variable is required');
      break;
    case 'STORE':
      need(variable, 'variable is required');
      need(type !== 'VALUE', 'meta.type VALUE is rejected; use {} or {kind:"STORE"}');
      need(target || value !== '', 'a target (element text/attribute) or a value (literal) is required');
      if (meta.attribute !== undefined) need(target && typeof meta.attribute === 'string' && meta.attribute, 'meta.attribute needs a target');
      break;
    case 'ENVIRONMENT':
      need(type === 'ADD' || type === 'DELETE' || type === 'CLEAR', 'meta.type must be ADD, DELETE or CLEAR');
      if (type !== 'CLEAR') need(typeof meta.name === 'string' && meta.name, 'meta.name (the cookie) is required');
      break;
    case 'DISMISS':
      need(type === 'ALERT' || type === 'CONFIRM' || type === 'PROMPT', 'meta.type must be ALERT, CONFIRM or PROMPT');
      if (type !== 'ALERT') need(meta.action === undefined || meta.action === 'OK' || meta.action === 'CANCEL', 'meta.action must be OK or CANCEL');
      break;
    case 'EXECUTE':
      need(value.trim(), 'value must be the script');
      break;
    case 'COMMENT':
      break;
    default:
      if (ASSERTS_WITHOUT_VALUE.has(action)) need(target, 'a target is required');
      else if (ASSERTS_WITH_VALUE.has(action)) {
        need(target, 'a target is required');
        need(value !== '', 'value (the expected value) is required');
      } else throw invalidStep(`unknown action ${action} (FILL and TYPE do not exist: use WRITE)`);
  }
  return fields;
}

/** `{selectors:[{type:"GUESS", value:"{\"clue\":\"...\"}"}]}`: the clue must be JSON-encoded. */
function checkTarget(t: unknown): Record<string, unknown> {
  if (!isObject(t) || !Array.isArray(t.selectors) || t.selectors.length === 0) throw invalidStep('target.selectors must be a non-empty array');
  for (const s of t.selectors) {
    if (!isObject(s) || typeof s.type !== 'string' || typeof s.value !== 'string' || !s.value) {
      throw invalidStep('each selector needs a string type and value');
    }
    if (s.type === 'GUESS') {
      let clue: unknown;
      try {
        clue = (JSON.parse(s.value) as { clue?: unknown }).clue;
      } catch {
        throw invalidStep('a GUESS selector value must be a JSON-encoded {"clue": ...} (quotes inside the clue must be escaped)');
      }
      if (typeof clue !== 'string' || !clue.trim()) throw invalidStep('a GUESS selector needs a non-empty clue');
    }
  }
  return t;
}

/** The clues and values a step's outcome depends on (the simulated runner fails on "FAIL"). */
export function stepTexts(s: Pick<Step, 'value' | 'target'>): string[] {
  const texts = [s.value];
  const selectors = isObject(s.target) && Array.isArray(s.target.selectors) ? s.target.selectors : [];
  for (const sel of selectors) {
    if (!isObject(sel) || typeof sel.value !== 'string') continue;
    texts.push(sel.value);
    try {
      const clue = (JSON.parse(sel.value) as { clue?: unknown }).clue;
      if (typeof clue === 'string') texts.push(clue);
    } catch {
      /* not JSON: the raw value is enough */
    }
  }
  return texts;
}

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const positiveInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
