import assert from 'node:assert/strict';
import { buildEnvelope, publishEvent } from '../../shared/events';
import { AppError } from '../../shared/errors';
import { pull } from '../helpers/pubsub';
import { useStack } from '../helpers/stack';

describe('events (integration: Pub/Sub emulator)', () => {
  useStack();

  it('publishes the envelope with eventType and the given attributes, and returns the confirmed message id', async () => {
    const { messageId, envelope } = await publishEvent(
      'system-events',
      'system.health',
      { status: 'ok' },
      { source: 'test', attributes: { region: 'eu', empty: '' }, userId: 'u1' },
    );
    const [m] = await pull('system-events-archive');
    assert.equal(m.messageId, messageId);
    assert.deepEqual(m.attributes, { eventType: 'system.health', region: 'eu' });
    assert.deepEqual(m.json, envelope);
    assert.deepEqual(m.json.metadata, { source: 'test', version: '1', userId: 'u1' });
    assert.ok(!Number.isNaN(Date.parse(m.json.timestamp)));
  });

  it('refuses an envelope that breaks the schema before anything is sent', async () => {
    assert.throws(() => buildEnvelope('NotDotted', {}, { source: 'test' }), (e: AppError) => e.code === 'internal');
    assert.throws(() => buildEnvelope('a.b', {}, { source: '' }), AppError);
    await assert.rejects(publishEvent('system-events', 'Bad Type', {}, { source: 'test' }), AppError);
    assert.equal((await pull('system-events-archive')).length, 0);
  });

  it('reports a failed publish as unavailable (503, retryable)', async () => {
    await assert.rejects(
      // A topic that does not exist: the emulator answers NOT_FOUND.
      publishEvent('no-such-topic' as 'system-events', 'system.health', {}, { source: 'test' }),
      (e: AppError) => e.code === 'unavailable' && e.status === 503 && e.retryable,
    );
  });
});
