/**
 * The test file formats the original CLI's users bring, told apart and converted into the native
 * test definition (shared/schemas/test-definition.md):
 *
 * | format             | told by                                          | converted by          |
 * |--------------------|--------------------------------------------------|-----------------------|
 * | `native`           | `goals` with short-form steps                    | —                     |
 * | `run-test`         | top-level `steps` (the final CLI's run-test)     | formats/run-test.ts   |
 * | `create-structure` | `goals` with `{type, selector, …}` steps (gen-1) | formats/create-structure.ts |
 * | `compact`          | `test:` / `do:` (the yaml commands' dialect)     | formats/compact.ts    |
 * | `template`         | `journey:` (load-template's format)              | refused, with a pointer |
 *
 * Several YAML documents (`---`) are accepted when each is a run-test (or compact) test: each becomes
 * a goal of one run. The conversion returns the native document, notes on what it adapted, and where
 * each converted step came from (so problems point at the line the user wrote).
 */
import { isMap } from '../step-forms';
import { fromCompact, isCompact } from './compact';
import { fromCreateStructure, isCreateStructure } from './create-structure';
import { fromRunTest, Notes, type ConversionProblem, type ConvertOptions, type Seg } from './run-test';

export const FORMATS = ['native', 'run-test', 'create-structure', 'compact', 'template'] as const;
export type Format = (typeof FORMATS)[number];

export const FORMAT_DESCRIPTIONS: Readonly<Record<Format, string>> = {
  native: 'the test definition of POST /test-runs (project → goals → journeys → checkpoints → steps)',
  'run-test': "the final CLI's run-test format (name, starting_url, steps)",
  'create-structure': 'the gen-1 create-structure format (project, goals, typed steps)',
  compact: "the yaml commands' compact dialect (test, nav, data, do)",
  template: "load-template's journey template (journey, checkpoints, command steps)",
};

export function detectFormat(data: unknown): Format {
  if (!isMap(data)) return 'native';
  if (data.goals !== undefined) return isCreateStructure(data) ? 'create-structure' : 'native';
  if (data.steps !== undefined) return 'run-test';
  if (isCompact(data)) return 'compact';
  if (isMap(data.journey)) return 'template';
  return 'native';
}

export interface Conversion {
  format: Format;
  /** The native definition (the document itself for `native`). */
  document: unknown;
  notes: string[];
  problems: (ConversionProblem & { doc: number })[];
  /**
   * A path of the native document → the document and path it was written at; `found: false` when
   * nothing the user wrote maps to it (a value the conversion made up).
   */
  origin(path: readonly Seg[]): { doc: number; path: Seg[]; found: boolean };
}

const identity = (path: readonly Seg[]) => ({ doc: 0, path: [...path], found: true });

/** Converts one or more parsed documents into the native definition. */
export function toNative(docs: readonly unknown[], options: ConvertOptions = {}): Conversion {
  const formats = docs.map(detectFormat);
  const format = formats[0] ?? 'native';
  const notes = new Notes();
  const problems: Conversion['problems'] = [];
  if (docs.length > 1 && !formats.every((f) => f === 'run-test' || f === 'compact')) {
    return {
      format, document: docs[0], notes: [], origin: identity,
      problems: [{ doc: 1, path: [], message: `this YAML holds ${docs.length} documents (separated by '---'); several documents are taken only as run-test tests (one goal each): a test definition is one document, which may hold several goals` }],
    };
  }
  if (format === 'native') return { format, document: docs[0], notes: [], problems: [], origin: identity };
  if (format === 'template') {
    return {
      format, document: docs[0], notes: [], origin: identity,
      problems: [{ doc: 0, path: ['journey'], message: "this is a journey template (load-template's format), not a test: it names no goal or starting URL. Check it with the load-template command, turn it into commands with generate-commands, or write it as a test definition (shared/schemas/test-definition.md)" }],
    };
  }
  const collect = (doc: number) => (list: ConversionProblem[]) => problems.push(...list.map((p) => ({ ...p, doc })));
  const local: ConversionProblem[] = [];
  const multi = docs.length > 1;
  const at = (i: number): Seg[] => (multi ? ['documents', i] : []);
  let converted;
  if (format === 'create-structure') converted = fromCreateStructure(docs[0] as Record<string, unknown>, options, notes, local);
  else if (format === 'compact' && !multi) converted = fromCompact(docs[0] as Record<string, unknown>, [], options, notes, local);
  else {
    // run-test (one or several documents; a compact one among them is read as its run-test equivalent)
    const runTests = docs.map((d, i) => (formats[i] === 'compact' ? compactAsRunTest(d as Record<string, unknown>, at(i), options, notes, local) : (d as Record<string, unknown>)));
    converted = fromRunTest(runTests, docs.map((_d, i) => at(i)), options, notes, local);
  }
  // A problem's path starts with `documents, i` in a multi-document file: its document is i.
  const docOf = (path: readonly Seg[]) => (multi && path[0] === 'documents' && typeof path[1] === 'number' ? path[1] : undefined);
  for (const p of local) {
    const doc = docOf(p.path);
    collect(doc ?? 0)([{ ...p, path: doc === undefined ? p.path : p.path.slice(2) }]);
  }
  const origins = converted.stepOrigins;
  return {
    format,
    document: converted.document,
    notes: notes.list,
    problems,
    origin: (path) => {
      // The longest native prefix that maps; a step maps as a whole (its shape changed).
      let best: (typeof origins)[number] | undefined;
      for (const o of origins) if (o.native.length <= path.length && o.native.every((s, i) => s === path[i]) && (!best || o.native.length > best.native.length)) best = o;
      if (!best) return { doc: 0, path: [], found: false };
      const rest = best.exact ? [] : path.slice(best.native.length);
      const doc = docOf(best.source);
      return { doc: doc ?? 0, path: [...(doc === undefined ? best.source : best.source.slice(2)), ...rest], found: true };
    },
  };
}

/** A compact document inside a multi-document file: its run-test equivalent (steps under `steps`). */
function compactAsRunTest(doc: Record<string, unknown>, at: Seg[], options: ConvertOptions, notes: Notes, problems: ConversionProblem[]): Record<string, unknown> {
  const converted = fromCompact(doc, at, options, notes, problems);
  const goal = (converted.document.goals as Record<string, unknown>[])[0];
  const steps = ((goal.journeys as Record<string, unknown>[])[0].checkpoints as Record<string, unknown>[])[0].steps;
  return { name: converted.document.name, starting_url: goal.url, project: converted.document.project, variables: converted.document.variables, steps };
}

export { Notes, type ConvertOptions };
