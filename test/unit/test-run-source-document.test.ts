/**
 * What a run's definition document holds (shared/testruns/store.ts `sourceDocument`): the source,
 * and the definition as parsed while both fit Firestore's 1 MiB a document with room to spare.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { parseDefinition } from '../../shared/testruns/definition';
import { PARSED_FORMAT, SOURCE_DOCUMENT_BUDGET, sourceDocument } from '../../shared/testruns/store';
import { yaml } from '../../shared/yaml';

/** A definition of `steps` comments of `textBytes` random (incompressible) characters each. */
function definitionOf(steps: number, textBytes: number): string {
  const checkpoints = Array.from({ length: Math.ceil(steps / 20) }, (_, c) => ({
    name: `Checkpoint ${c + 1}`,
    steps: Array.from({ length: Math.min(20, steps - c * 20) }, () => ({ comment: randomBytes(textBytes / 2).toString('hex') })),
  }));
  return yaml().stringify({ name: 'Big', project: 'Shop', goals: [{ name: 'G', url: 'https://shop.example.com', journeys: [{ name: 'J', checkpoints }] }] });
}

describe('test runs: the stored definition document (store.ts sourceDocument)', () => {
  it('holds the source and the definition as parsed, which unpacks to the parse itself', () => {
    const def = parseDefinition(definitionOf(100, 40));
    const doc = sourceDocument(def);
    assert.deepEqual(JSON.parse(doc.json), def.document);
    assert.equal(doc.parsedFormat, PARSED_FORMAT);
    const { document, ...parsed } = def;
    assert.ok(document);
    assert.deepEqual(JSON.parse(gunzipSync(doc.parsed!).toString('utf8')), parsed);
  });

  it('leaves the parsed form out when source and parsed together would pass the budget', () => {
    const def = parseDefinition(definitionOf(100, 40));
    const whole = sourceDocument(def);
    const size = Buffer.byteLength(whole.json) + whole.parsed!.length;
    assert.ok(sourceDocument(def, size).parsed, 'at the budget: kept');
    assert.deepEqual(sourceDocument(def, size - 1), { json: whole.json }, 'one byte over: the source alone');
  });

  it('keeps a definition as large as POST /test-runs accepts (512 KiB) under the budget, parsed form or not', () => {
    // 240 steps of 2 KiB of random text: about 500 KiB of source, which packs poorly.
    const def = parseDefinition(definitionOf(240, 2048));
    const doc = sourceDocument(def);
    assert.ok(Buffer.byteLength(doc.json) > 450 * 1024);
    assert.ok(Buffer.byteLength(doc.json) + (doc.parsed?.length ?? 0) <= SOURCE_DOCUMENT_BUDGET);
    assert.ok(SOURCE_DOCUMENT_BUDGET < 1024 * 1024 - 64 * 1024, 'room under 1 MiB for field names and the document name');
  });
});
