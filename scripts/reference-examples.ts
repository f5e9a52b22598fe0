/**
 * `node --import tsx scripts/reference-examples.ts [<original-cli dir>] [--out <file>]`: extracts the
 * help examples of the original Go CLI (the reference of behaviour in `../shared/reference/original-cli/`)
 * into `test/fixtures/cli-reference-examples.json`, which `test/unit/cli-reference-examples.test.ts`
 * reads. The fixture is committed, so the tests do not need the reference to be present.
 *
 * A help example is a line holding `api-cli …` inside the text cobra prints for `--help`: a command's
 * `Example:` field, its `Long:` text, or the `examples: []string{…}` of the configuration tables that
 * the step groups format into their `Long:` text. Lines inside `fmt.Errorf`/`fmt.Printf` calls (error
 * messages, "next steps" printed after a run) are not help and are left out. Each example keeps its
 * source (file and line) and, when the line is a pipeline (`cat t.yaml | api-cli run-test -`), the
 * whole line as `line`.
 *
 * The names of every flag the reference declares go into the same fixture, and its sample test files
 * (`samples/`), as they are, for the format conversions' tests (shared/testruns/formats/).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export interface ReferenceExample {
  /** `api-cli step-interact click "button.submit"` (the command as cobra's help prints it). */
  example: string;
  /** The help line when it holds more than the command (a pipeline, a leading label). */
  line?: string;
  /** `pkg_api-cli_commands_step_interact.go:68` */
  source: string;
  /** Where in the help it is: the `Example:` field, the `Long:` text, or an `examples` table. */
  field: 'Example' | 'Long' | 'examples';
}

interface Literal {
  text: string;
  /** 1-based line of the opening quote. */
  line: number;
  /** The code just before the literal (same statement), to tell which field it fills. */
  before: string;
  /** Inside an `examples: []string{…}` table. */
  inExamples: boolean;
}

/** The Go string literals of a source file (raw `…` and interpreted "…"), comments skipped. */
export function goStringLiterals(source: string): Literal[] {
  const out: Literal[] = [];
  let line = 1;
  let code = '';
  let examplesDepth = -1;
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\n') line++;
    if (ch === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      line++;
      code += '\n';
      continue;
    }
    if (ch === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      for (let j = i; j < end; j++) if (source[j] === '\n') line++;
      i = end + 1;
      continue;
    }
    if (ch === '`' || ch === '"') {
      const start = line;
      let text = '';
      let j = i + 1;
      for (; j < source.length && source[j] !== ch; j++) {
        if (ch === '"' && source[j] === '\\') {
          const next = source[++j];
          text += next === 'n' ? '\n' : next === 't' ? '\t' : next;
          continue;
        }
        if (source[j] === '\n') line++;
        text += source[j];
      }
      out.push({ text, line: start, before: code.slice(-80), inExamples: examplesDepth >= 0 && depth > examplesDepth });
      code += '""';
      i = j;
      continue;
    }
    if (ch === '{') {
      depth++;
      if (/examples:\s*\[\]string\s*$/.test(code)) examplesDepth = depth - 1;
    } else if (ch === '}') {
      depth--;
      if (depth === examplesDepth) examplesDepth = -1;
    }
    code += ch;
  }
  return out;
}

function fieldOf(l: Literal): ReferenceExample['field'] | undefined {
  if (l.inExamples) return 'examples';
  if (/\bExample:\s*$/.test(l.before)) return 'Example';
  // `Long: fmt.Sprintf(...)` is a template filled from the examples tables: those are taken directly.
  if (/\bLong:\s*$/.test(l.before)) return 'Long';
  return undefined;
}

/**
 * Every flag name the reference declares: cobra's `Flags().XxxVar(&v, "name", …)` / `Flags().Xxx("name", …)`
 * and the flag tables the step groups build their flags from (`{name: "smooth", …}`).
 */
export function extractFlags(dir: string): string[] {
  const names = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go'))) {
    const source = readFileSync(join(dir, file), 'utf8');
    for (const m of source.matchAll(/Flags\(\)\.[A-Za-z]+\((?:&?[A-Za-z]+(?:\(\w+\))?, )?"([a-z-]+)"/g)) names.add(m[1]);
    for (const m of source.matchAll(/\{name: "([a-z-]+)"/g)) names.add(m[1]);
  }
  return [...names].sort();
}

export function extractExamples(dir: string): ReferenceExample[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.go') && !f.endsWith('_test.go')).sort();
  const out: ReferenceExample[] = [];
  for (const file of files) {
    for (const lit of goStringLiterals(readFileSync(join(dir, file), 'utf8'))) {
      const field = fieldOf(lit);
      if (!field) continue;
      lit.text.split('\n').forEach((raw, k) => {
        const at = raw.indexOf('api-cli ');
        if (at < 0) return;
        const text = raw.trim();
        const example = raw.slice(at).trim();
        out.push({ example, ...(text !== example ? { line: text } : {}), source: `${file}:${lit.line + k}`, field });
      });
    }
  }
  return out;
}

function main(): void {
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const out = outAt >= 0 ? args.splice(outAt, 2)[1] : join(import.meta.dirname, '..', 'test', 'fixtures', 'cli-reference-examples.json');
  const root = resolve(args[0] ?? join(import.meta.dirname, '..', '..', 'shared', 'reference', 'original-cli'));
  const examples = extractExamples(join(root, 'src'));
  const samplesDir = join(root, 'samples');
  const samples = readdirSync(samplesDir).sort().map((file) => ({ file, text: readFileSync(join(samplesDir, file), 'utf8') }));
  const fixture = {
    description: 'Help examples, flag names and sample test files of the original Go CLI (api-cli), extracted by scripts/reference-examples.ts; do not edit by hand.',
    reference: basename(root),
    count: examples.length,
    examples,
    flags: extractFlags(join(root, 'src')),
    samples,
  };
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  process.stdout.write(`${examples.length} examples, ${samples.length} samples → ${out}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) main();
