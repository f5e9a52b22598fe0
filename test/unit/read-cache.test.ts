import assert from 'node:assert/strict';
import { answerTags, argumentTags } from '../../shared/commands/read-cache';

describe('read cache tags (shared/commands/read-cache.ts)', () => {
  it('names the objects of a command’s id arguments and flags, in any spelling, with the CLI’s prefixes', () => {
    assert.deepEqual(argumentTags({ checkpointId: 'cp_5062' }), { tags: ['checkpoint:5062'], lastKind: 'checkpoint' });
    assert.deepEqual(argumentTags({ goalId: '2001', snapshotId: 3001, name: 'x' }), { tags: ['goal:2001', 'snapshot:3001'], lastKind: 'snapshot' });
    assert.deepEqual(argumentTags({ libraryId: 'lib_7', title: 'T' }), { tags: ['library:7'], lastKind: 'library' });
    assert.deepEqual(argumentTags({ 'table-id': '11001', 'import-csv': 'a,b' }).tags, ['table:11001']);
    assert.deepEqual(argumentTags({ limit: '5' }), { tags: [], lastKind: undefined });
  });

  it('names what an answer holds: list items as children of the last argument, id fields by name, a named object', () => {
    // list-checkpoint-steps 5062 → its steps
    assert.deepEqual(answerTags([{ id: '9001', position: 1 }, { id: '9002', position: 2 }], 'checkpoint'), ['step:9001', 'step:9002']);
    // list-checkpoints 4002 → its checkpoints; list-journeys G S → journeys; list-projects → projects
    assert.deepEqual(answerTags([{ id: '5001', steps: 3 }], 'journey'), ['checkpoint:5001']);
    assert.deepEqual(answerTags([{ id: '4001' }], 'snapshot'), ['journey:4001']);
    assert.deepEqual(answerTags([{ id: '1001', name: 'P' }], undefined), ['project:1001']);
    // get-step 9001 → the step and its checkpoint; create-checkpoint → the new checkpoint and its journey
    assert.deepEqual(answerTags({ id: '9001', checkpoint_id: '5062' }, 'step'), ['step:9001', 'checkpoint:5062']);
    assert.deepEqual(answerTags({ status: 'success', checkpoint_id: '5003', journey_id: '4002', position: 2 }, 'snapshot').sort(), ['checkpoint:5003', 'journey:4002']);
    assert.deepEqual(answerTags({ status: 'success', library_checkpoint_id: '7', name: 'N' }, 'library'), ['library:7']);
    assert.deepEqual(answerTags('text', 'checkpoint'), []);
  });
});
