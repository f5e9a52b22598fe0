/** Webhook bodies (shared/webhooks/payload.ts): parsing both content types and summarising for routing. */
import assert from 'node:assert/strict';
import { AppError } from '../../shared/errors';
import { parseWebhookBody, summarize, WEBHOOK_MEDIA_TYPES } from '../../shared/webhooks/payload';

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

function assertAppError(fn: () => unknown, code: string, status: number, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.status, status);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());

describe('webhook payloads', () => {
  it('accepts exactly JSON and form-encoded bodies', () => {
    assert.deepEqual([...WEBHOOK_MEDIA_TYPES], [JSON_TYPE, FORM_TYPE]);
  });

  describe('parseWebhookBody', () => {
    const payload = { event: 'EXECUTION', status: 'FINISHED', jobId: 123, nested: { note: 'a & b = c + d' } };

    it('parses a JSON object body', () => {
      assert.deepEqual(parseWebhookBody(Buffer.from(JSON.stringify(payload)), JSON_TYPE), payload);
    });

    it('parses JSON when no media type is known', () => {
      assert.deepEqual(parseWebhookBody(Buffer.from(JSON.stringify(payload)), undefined), payload);
    });

    it('keeps non-ASCII text intact', () => {
      const p = { name: 'Zürich ✓ 東京' };
      assert.deepEqual(parseWebhookBody(Buffer.from(JSON.stringify(p), 'utf8'), JSON_TYPE), p);
    });

    it('reads the JSON from the payload field of a form-encoded body', () => {
      assert.deepEqual(parseWebhookBody(form({ payload: JSON.stringify(payload) }), FORM_TYPE), payload);
    });

    it('ignores other form fields and decodes + as a space', () => {
      const raw = Buffer.from(`other=1&payload=${encodeURIComponent('{"event":"A B"}').replace(/%20/g, '+')}&x=y`);
      assert.deepEqual(parseWebhookBody(raw, FORM_TYPE), { event: 'A B' });
    });

    it('a form body without a payload field is 422', () => {
      assertAppError(() => parseWebhookBody(form({ data: JSON.stringify(payload) }), FORM_TYPE), 'unprocessable_entity', 422, /'payload' field/);
      assertAppError(() => parseWebhookBody(Buffer.alloc(0), FORM_TYPE), 'unprocessable_entity', 422);
    });

    it('invalid JSON is 400 invalid_json, in either content type', () => {
      assertAppError(() => parseWebhookBody(Buffer.from('{"event": '), JSON_TYPE), 'invalid_json', 400, /not valid JSON/);
      assertAppError(() => parseWebhookBody(Buffer.from('not json'), JSON_TYPE), 'invalid_json', 400);
      assertAppError(() => parseWebhookBody(Buffer.alloc(0), JSON_TYPE), 'invalid_json', 400);
      assertAppError(() => parseWebhookBody(form({ payload: '{oops' }), FORM_TYPE), 'invalid_json', 400);
      assertAppError(() => parseWebhookBody(form({ payload: '' }), FORM_TYPE), 'invalid_json', 400);
    });

    it('JSON that is not an object (array, null, number, string, boolean) is 422', () => {
      const cases: [string, RegExp][] = [
        ['[1,2]', /not an array/],
        ['[]', /not an array/],
        ['null', /not null/],
        ['42', /not number/],
        ['"text"', /not string/],
        ['true', /not boolean/],
      ];
      for (const [raw, message] of cases) {
        assertAppError(() => parseWebhookBody(Buffer.from(raw), JSON_TYPE), 'unprocessable_entity', 422, message);
        assertAppError(() => parseWebhookBody(form({ payload: raw }), FORM_TYPE), 'unprocessable_entity', 422, message);
      }
    });
  });

  describe('summarize', () => {
    it('reads the canonical top-level fields', () => {
      assert.deepEqual(
        summarize({ event: 'EXECUTION', executionId: 'e1', status: 'FINISHED', projectId: 'p1', goalId: 'g1', journeyId: 'j1' }),
        { event: 'EXECUTION', executionId: 'e1', status: 'FINISHED', projectId: 'p1', goalId: 'g1', journeyId: 'j1' },
      );
    });

    it('turns numeric ids into strings', () => {
      assert.deepEqual(summarize({ jobId: 123, projectId: 4711, goalId: 99, suiteId: 7 }), {
        executionId: '123',
        projectId: '4711',
        goalId: '99',
        journeyId: '7',
      });
      assert.deepEqual(summarize({ executionId: 0 }), { executionId: '0' });
    });

    it('omits absent fields entirely (no undefined keys)', () => {
      const s = summarize({ unrelated: true });
      assert.deepEqual(s, {});
      assert.deepEqual(Object.keys(summarize({ event: 'X' })), ['event']);
    });

    it('finds the event under each supported name', () => {
      for (const key of ['event', 'eventType', 'event_type', 'type', 'action']) {
        assert.deepEqual(summarize({ [key]: 'EXECUTION' }), { event: 'EXECUTION' }, key);
      }
    });

    it('finds the execution id under each supported name and path', () => {
      const variants: Record<string, unknown>[] = [
        { executionId: 5 },
        { jobId: 5 },
        { job_id: 5 },
        { execution_id: 5 },
        { job: { id: 5 } },
        { execution: { id: 5 } },
        { item: { jobId: 5 } },
        { item: { id: 5 } },
      ];
      for (const v of variants) assert.equal(summarize(v).executionId, '5', JSON.stringify(v));
    });

    it('finds the status under each supported name and path', () => {
      const variants: Record<string, unknown>[] = [
        { status: 'FAILED' },
        { state: 'FAILED' },
        { executionStatus: 'FAILED' },
        { job: { status: 'FAILED' } },
        { execution: { status: 'FAILED' } },
        { item: { status: 'FAILED' } },
      ];
      for (const v of variants) assert.equal(summarize(v).status, 'FAILED', JSON.stringify(v));
    });

    it('finds the project, goal and journey ids under each supported name and path', () => {
      const projects: Record<string, unknown>[] = [
        { projectId: 1 },
        { project_id: 1 },
        { project: { id: 1 } },
        { job: { projectId: 1 } },
        { execution: { projectId: 1 } },
      ];
      for (const v of projects) assert.equal(summarize(v).projectId, '1', JSON.stringify(v));
      const goals: Record<string, unknown>[] = [
        { goalId: 2 },
        { goal_id: 2 },
        { goal: { id: 2 } },
        { job: { goalId: 2 } },
        { execution: { goalId: 2 } },
      ];
      for (const v of goals) assert.equal(summarize(v).goalId, '2', JSON.stringify(v));
      const journeys: Record<string, unknown>[] = [{ journeyId: 3 }, { suiteId: 3 }, { testsuiteId: 3 }, { journey: { id: 3 } }];
      for (const v of journeys) assert.equal(summarize(v).journeyId, '3', JSON.stringify(v));
    });

    it('takes the first variant present, in the documented order', () => {
      assert.deepEqual(summarize({ type: 'later', event: 'first' }), { event: 'first' });
      assert.deepEqual(summarize({ job: { id: 2 }, jobId: 1 }), { executionId: '1' });
      assert.deepEqual(summarize({ job: { status: 'B' }, state: 'A' }), { status: 'A' });
    });

    it('a realistic nested Virtuoso-style payload', () => {
      const payload = {
        event: 'EXECUTION',
        job: { id: 880, status: 'RUNNING', projectId: 12, goalId: 34 },
        journey: { id: 56 },
      };
      assert.deepEqual(summarize(payload), {
        event: 'EXECUTION',
        executionId: '880',
        status: 'RUNNING',
        projectId: '12',
        goalId: '34',
        journeyId: '56',
      });
    });

    it('skips blank strings, booleans, objects and arrays and falls through to the next variant', () => {
      assert.deepEqual(summarize({ event: '   ', eventType: 'E' }), { event: 'E' });
      assert.deepEqual(summarize({ executionId: true, jobId: { id: 1 }, job_id: [1], execution_id: 'x1' }), { executionId: 'x1' });
      assert.deepEqual(summarize({ status: null, state: '' }), {});
    });

    it('does not follow paths through arrays or primitives', () => {
      assert.deepEqual(summarize({ job: [{ id: 1 }], execution: 'e', item: null }), {});
    });

    it('trims values and caps them at 200 characters', () => {
      assert.deepEqual(summarize({ status: '  FINISHED \n' }), { status: 'FINISHED' });
      assert.equal(summarize({ event: 'x'.repeat(500) }).event, 'x'.repeat(200));
    });
  });
});
