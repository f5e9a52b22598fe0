/**
 * Every JSON Schema the functions compile at run time is a valid draft-07 schema. The functions'
 * own Ajv skips that meta-schema check to save its cost on every cold start (shared/schemas), so
 * this is where a malformed schema is caught: the schema files, each CLI command's argument
 * schema and each step command's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { AJV_OPTIONS, validator } from '../../shared/schemas';
import { COMMANDS } from '../../shared/virtuoso/commands';
import { argsSchema, STEP_COMMANDS } from '../../shared/virtuoso/step-commands';

const SCHEMA_DIR = join(__dirname, '..', '..', 'shared', 'schemas');

function everySchema(): [string, object][] {
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'));
  return [
    ...files.map((f): [string, object] => [f, JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as object]),
    ...COMMANDS.map((c): [string, object] => [`command ${c.path.join(' ')}`, c.schema]),
    ...STEP_COMMANDS.map((c): [string, object] => [`step command ${c.name}`, argsSchema(c)]),
  ];
}

describe('JSON Schemas the functions compile (unit)', () => {
  const all = everySchema();

  it('covers the schema files and both command catalogues', () => {
    assert.ok(all.filter(([name]) => name.endsWith('.json')).length >= 30, 'schema files');
    assert.ok(all.some(([name]) => name === 'command create-project'));
    assert.ok(all.some(([name]) => name.startsWith('step command ')));
  });

  it('each is valid against the JSON Schema meta-schema and compiles in strict mode', () => {
    const checked = new Ajv({ ...AJV_OPTIONS, validateSchema: true });
    // The files that others refer to by $id (the OpenAPI components) are known before any compiles.
    for (const [name, schema] of all) if (name.endsWith('.json') && '$id' in schema) checked.addSchema(schema as Record<string, unknown>);
    for (const [name, schema] of all) {
      assert.equal(checked.validateSchema(schema), true, `${name}: ${checked.errorsText(checked.errors)}`);
      assert.doesNotThrow(() => ('$id' in schema ? checked.getSchema(schema.$id as string) : checked.compile(schema)), name);
    }
  });

  it('the meta-schema check would refuse a malformed schema (so the check above can fail)', () => {
    const checked = new Ajv({ ...AJV_OPTIONS, validateSchema: true });
    assert.equal(checked.validateSchema({ type: 'object', properties: { a: { type: 'no-such-type' } } }), false);
    assert.equal(checked.validateSchema({ type: 'object', required: 'a' }), false);
  });

  it('the functions still refuse an unknown keyword when they compile a schema (strict mode)', () => {
    assert.throws(() => validator({ type: 'object', propertiez: {} }), /unknown keyword/);
  });
});
