import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { AppError } from '../../shared/errors';
import { assertYamlBounds, MAX_YAML_DEPTH, MAX_YAML_INDENT } from '../../shared/testruns/yaml-bounds';

const refused = (text: string, what: RegExp) =>
  assert.throws(() => assertYamlBounds(text), (e: AppError) => e.status === 400 && /nested too deeply/.test(e.message) && what.test(e.message));

describe('YAML bounds (shared/testruns/yaml-bounds.ts)', () => {
  it('passes the example definition, and brackets inside quotes, comments and block scalars', () => {
    assertYamlBounds(readFileSync(join(__dirname, '../../shared/schemas/examples/checkout.yaml'), 'utf8'));
    const deepText = '['.repeat(500);
    assertYamlBounds(`a: "${deepText}"\nb: '${deepText}'\n# ${deepText}\nc: |\n  ${deepText}\nd: >-\n    ${deepText}\n`);
    assertYamlBounds(JSON.stringify({ goals: [{ journeys: [{ checkpoints: [{ steps: [{ write: { selector: 'input[name="email"]', text: 'x' } }] }] }] }] }));
  });

  it(`refuses flow collections nested past ${MAX_YAML_DEPTH}, however they are dressed`, () => {
    assertYamlBounds('['.repeat(MAX_YAML_DEPTH) + ']'.repeat(MAX_YAML_DEPTH));
    refused('['.repeat(MAX_YAML_DEPTH + 1), /collections nested/);
    refused('['.repeat(100_000), /collections nested/); // the 200 KB
    refused('{a: '.repeat(MAX_YAML_DEPTH + 1), /collections nested/);
    // Closers hidden in quoted scalars do not close anything.
    refused('[ "]", '.repeat(MAX_YAML_DEPTH + 1), /collections nested/);
    refused("[ ']]]', ".repeat(MAX_YAML_DEPTH + 1), /collections nested/);
    // A comment cannot close one either.
    refused('[ # ]]]]\n'.repeat(MAX_YAML_DEPTH + 1), /collections nested/);
    // Deep flow after a block scalar, on a line the parser reads as YAML again (less indented than its content).
    refused(`a:\n  - c: |\n     x\n   ${'['.repeat(MAX_YAML_DEPTH + 1)}\n`, /collections nested/);
  });

  it('refuses block collections opened on one line past the limit, and indentation past its limit', () => {
    assertYamlBounds('- '.repeat(MAX_YAML_DEPTH) + 'x');
    refused('- '.repeat(MAX_YAML_DEPTH + 1) + 'x', /one line/);
    refused('- '.repeat(100_000) + 'x', /one line/);
    refused(`a:\n${' '.repeat(MAX_YAML_INDENT + 1)}b: 1\n`, /indentation/);
  });

  it('agrees with the parser: what it passes parses without a stack overflow', () => {
    for (const text of ['['.repeat(MAX_YAML_DEPTH) + ']'.repeat(MAX_YAML_DEPTH), '- '.repeat(MAX_YAML_DEPTH) + 'x']) {
      assertYamlBounds(text);
      assert.equal(parseDocument(text).errors.length, 0);
    }
  });
});
