import assert from 'node:assert/strict';
import * as functions from '@google-cloud/functions-framework';
import { httpFunction } from '../../shared/http';
import { request, serve, type Served } from '../helpers/http';

/** Whether the code runs inside a `domain` (the Functions Framework's per-request one). */
const inDomain = () => Boolean((process as { domain?: unknown }).domain);

// Registered at load, as the functions' modules do.
httpFunction('dispatchProbe', { methods: ['GET', 'POST'] }, async (ctx) => {
  if (ctx.path === '/throw') throw new Error('a bug with a secret stack');
  await new Promise((r) => setImmediate(r));
  return { status: 200, body: { inDomain: inDomain(), bytes: ctx.rawBody.length } };
});
// A function registered with the framework directly keeps its wrapper: the control for the above.
functions.http('frameworkProbe', (_req, res) => {
  res.json({ inDomain: inDomain() });
});

describe('httpFunction dispatch (the framework calls it without its per-request domain)', () => {
  let own: Served;
  let plain: Served;
  before(async () => {
    own = await serve('dispatchProbe');
    plain = await serve('frameworkProbe');
  });
  after(async () => {
    await own.close();
    await plain.close();
  });

  it('runs an httpFunction handler outside any domain, through the framework’s own server', async () => {
    const res = await request(own.url);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.inDomain, false);
  });

  it('leaves functions registered directly with the framework in its domain', async () => {
    const res = await request(plain.url);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.inDomain, true);
  });

  it('still gets the raw body from the framework’s parsers and maps a thrown error to the JSON 500', async () => {
    const body = JSON.stringify({ hello: 'world' });
    const ok = await request(own.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.bytes, Buffer.byteLength(body));
    const failed = await request(`${own.url}/throw`);
    assert.equal(failed.status, 500);
    assert.equal(failed.body.error.code, 'internal');
    assert.ok(!failed.text.includes('secret stack'), failed.text);
  });
});
