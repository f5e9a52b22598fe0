/**
 * The compact dialect of the CLI's `yaml` commands (`test:` / `nav:` / `data:` / `do:`, with one- or
 * two-letter steps: `c:` click, `t:` type, `k:` key, `ch:` check, …; the reference's yaml.go shows it
 * in its generated examples), converted into the run-test format and from there into the native one.
 *
 *   test: User Login Test                      name
 *   nav: https://example.com/login             starting_url (a full URL: there is no app base URL here)
 *   data: {email: test@example.com}            variables; `$email` in a step is `${email}`
 *   do:                                        steps
 *     - t: {"#email": $email}                  write {selector: "#email", text: ${email}}
 *     - c: Sign In                             click
 *     - ch: Welcome                            assert (exists)
 *
 * Steps the dialect's examples do not show are refused with the native form to use instead.
 */
import { describe, isMap, StepFormError } from '../step-forms';
import { fromRunTest, Notes, type ConversionProblem, type Converted, type ConvertOptions, type Seg, type Step } from './run-test';

/** Compact step keys → the run-test step they stand for. */
const COMPACT: Readonly<Record<string, (v: unknown) => Step>> = {
  c: (v) => ({ click: v }),
  click: (v) => ({ click: v }),
  t: (v) => typeStep(v),
  type: (v) => typeStep(v),
  k: (v) => ({ key: v }),
  key: (v) => ({ key: v }),
  ch: (v) => ({ assert: v }),
  check: (v) => ({ assert: v }),
  see: (v) => ({ assert: v }),
  h: (v) => ({ hover: v }),
  hover: (v) => ({ hover: v }),
  wait: (v) => ({ wait: v }),
  nav: (v) => ({ navigate: v }),
  navigate: (v) => ({ navigate: v }),
  note: (v) => ({ comment: v }),
  comment: (v) => ({ comment: v }),
  js: (v) => ({ execute: v }),
  store: (v) => storeStep(v),
};

/** `t: text` types into the focused element; `t: {selector: text}` into the selector. */
function typeStep(v: unknown): Step {
  if (!isMap(v)) return { write: v };
  const entries = Object.entries(v);
  if (entries.length !== 1) throw new StepFormError(`t: {<selector>: <text>} takes one selector, not ${entries.length}`);
  return { write: { selector: entries[0][0], text: entries[0][1] } };
}

/** `store: {<selector>: <variable>}`. */
function storeStep(v: unknown): Step {
  if (!isMap(v) || Object.keys(v).length !== 1) throw new StepFormError(`store: {<selector>: <variable>} takes one selector, not ${describe(v)}`);
  const [[selector, as]] = Object.entries(v);
  return { store: { selector, as } };
}

/** `$name` of a `data` entry → `${name}` (Virtuoso's own `$name` variables stay as they are). */
function placeholders(v: unknown, names: ReadonlySet<string>): unknown {
  if (typeof v === 'string') return v.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (all: string, name: string) => (names.has(name) ? `\${${name}}` : all));
  if (Array.isArray(v)) return v.map((x) => placeholders(x, names));
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [placeholders(k, names) as string, placeholders(x, names)]));
  return v;
}

export const isCompact = (doc: Record<string, unknown>): boolean => Array.isArray(doc.do) || (doc.test !== undefined && doc.steps === undefined && doc.goals === undefined);

export function fromCompact(doc: Record<string, unknown>, at: Seg[], options: ConvertOptions, notes: Notes, problems: ConversionProblem[]): Converted {
  const data = isMap(doc.data) ? doc.data : {};
  const names = new Set(Object.keys(data));
  for (const k of Object.keys(doc)) if (!['test', 'nav', 'data', 'do', 'description', 'project'].includes(k)) notes.add(`'${k}' is not part of the compact dialect and is ignored`);
  const nav = typeof doc.nav === 'string' ? doc.nav.trim() : '';
  if (nav && !/^https?:\/\//i.test(nav)) {
    problems.push({ path: [...at, 'nav'], message: `nav: '${nav}' is relative; the compact dialect resolved it against the app's base URL, which a test definition does not have: write the full URL (https://…)` });
  }
  const steps = (Array.isArray(doc.do) ? doc.do : []).map((raw, i) => {
    if (!isMap(raw) || Object.keys(raw).length !== 1) return raw;
    const [[key, value]] = Object.entries(raw);
    const make = Object.hasOwn(COMPACT, key) ? COMPACT[key] : undefined;
    try {
      return placeholders(make ? make(value) : raw, names);
    } catch (err) {
      if (!(err instanceof StepFormError)) throw err;
      problems.push({ path: [...at, 'do', i], message: err.message });
      return { comment: `(not converted: ${key})` };
    }
  });
  if (!Array.isArray(doc.do)) problems.push({ path: [...at, 'do'], message: "missing 'do' (the compact dialect's list of steps)" });
  const runTest: Record<string, unknown> = {
    name: doc.test,
    ...(doc.description !== undefined ? { description: doc.description } : {}),
    ...(doc.project !== undefined ? { project: doc.project } : {}),
    // A relative nav is refused above; the run-test conversion is not told it (one problem, at nav).
    ...(nav && /^https?:\/\//i.test(nav) ? { starting_url: nav } : {}),
    ...(names.size ? { variables: data } : {}),
    steps,
  };
  const converted = fromRunTest([runTest], [at], options, notes, problems);
  // Problems and origins point where the dialect writes things: do, test, nav, data.
  const RENAMED: Readonly<Record<string, string>> = { steps: 'do', name: 'test', starting_url: 'nav', variables: 'data' };
  const rename = (path: Seg[]) => path.map((s, i) => (i === at.length && typeof s === 'string' && Object.hasOwn(RENAMED, s) ? RENAMED[s] : s));
  for (const o of converted.stepOrigins) o.source = rename(o.source);
  for (const p of problems) p.path = rename(p.path);
  return converted;
}
