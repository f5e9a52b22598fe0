/**
 * Webhook signature schemes (shared/webhooks/signature.ts).
 *
 * The Standard Webhooks cases mirror the reference library's own test
 * (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts): the same
 * fixture (msg id, payload, secret), the same failure cases and the same known-answer vector.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '../../shared/errors';
import {
  schemeOf,
  signStandard,
  signVirtuoso,
  usableStandardSecrets,
  verifyStandard,
  verifyVirtuoso,
} from '../../shared/webhooks/signature';

function assertUnauthenticated(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AppError, `expected an AppError, got ${String(err)}`);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(err.status, 401);
    assert.equal(err.retryable, false);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('webhook signatures', () => {
  describe('Virtuoso (X-Virtuoso-Signature: sha1=<hex>)', () => {
    const body = Buffer.from(JSON.stringify({ event: 'EXECUTION', status: 'FINISHED', jobId: 123 }));
    const secret = 'new-virtuoso-secret';
    const rotation = ['old-virtuoso-secret', 'new-virtuoso-secret', 'next-virtuoso-secret'];

    it('signs as sha1=<40 lower-case hex digits of HMAC-SHA1 over the raw body>', () => {
      const sig = signVirtuoso(body, secret);
      assert.match(sig, /^sha1=[0-9a-f]{40}$/);
      assert.equal(sig, `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`);
      assert.equal(signVirtuoso(body.toString('utf8'), secret), sig, 'string and Buffer bodies sign alike');
    });

    it('accepts a valid signature', () => {
      assert.deepEqual(verifyVirtuoso(body, signVirtuoso(body, secret), [secret]), { scheme: 'virtuoso' });
    });

    it('accepts a signature made with any one of several rotation secrets', () => {
      for (const s of rotation) {
        assert.deepEqual(verifyVirtuoso(body, signVirtuoso(body, s), rotation), { scheme: 'virtuoso' }, s);
      }
    });

    it('rejects a signature made with a secret that is not current', () => {
      assertUnauthenticated(() => verifyVirtuoso(body, signVirtuoso(body, 'retired-secret'), rotation), /does not match/);
    });

    it('rejects everything when no secret is configured', () => {
      assertUnauthenticated(() => verifyVirtuoso(body, signVirtuoso(body, secret), []));
    });

    it('accepts upper-case hex (and an upper-case prefix) and surrounding whitespace', () => {
      const hex = signVirtuoso(body, secret).slice('sha1='.length);
      verifyVirtuoso(body, `sha1=${hex.toUpperCase()}`, [secret]);
      verifyVirtuoso(body, `SHA1=${hex}`, [secret]);
      verifyVirtuoso(body, `  sha1=${hex}\t`, [secret]);
    });

    it('rejects a signature without the sha1= prefix, or with another algorithm prefix', () => {
      const hex = signVirtuoso(body, secret).slice('sha1='.length);
      assertUnauthenticated(() => verifyVirtuoso(body, hex, [secret]), /sha1=<40 hex digits>/);
      assertUnauthenticated(() => verifyVirtuoso(body, `sha256=${hex}`, [secret]));
      assertUnauthenticated(() => verifyVirtuoso(body, `sha1:${hex}`, [secret]));
      // The prefix must start the header: anything before it is not the Virtuoso format.
      assertUnauthenticated(() => verifyVirtuoso(body, `xsha1=${hex}`, [secret]), /sha1=<40 hex digits>/);
      assertUnauthenticated(() => verifyVirtuoso(body, `sha256,sha1=${hex}`, [secret]), /sha1=<40 hex digits>/);
    });

    it('rejects a missing or empty header', () => {
      assertUnauthenticated(() => verifyVirtuoso(body, undefined, [secret]));
      assertUnauthenticated(() => verifyVirtuoso(body, '', [secret]));
      assertUnauthenticated(() => verifyVirtuoso(body, 'sha1=', [secret]));
    });

    it('rejects a digest of the wrong length or with non-hex digits', () => {
      const hex = signVirtuoso(body, secret).slice('sha1='.length);
      assertUnauthenticated(() => verifyVirtuoso(body, `sha1=${hex.slice(0, 39)}`, [secret]));
      assertUnauthenticated(() => verifyVirtuoso(body, `sha1=${hex}0`, [secret]));
      const sha256 = createHmac('sha256', secret).update(body).digest('hex');
      assertUnauthenticated(() => verifyVirtuoso(body, `sha1=${sha256}`, [secret]));
      assertUnauthenticated(() => verifyVirtuoso(body, `sha1=${'g'.repeat(40)}`, [secret]));
    });

    it('rejects a tampered body (one byte changed, appended or re-serialised)', () => {
      const sig = signVirtuoso(body, secret);
      const flipped = Buffer.from(body);
      flipped[flipped.length - 2] ^= 1;
      assertUnauthenticated(() => verifyVirtuoso(flipped, sig, [secret]));
      assertUnauthenticated(() => verifyVirtuoso(Buffer.concat([body, Buffer.from(' ')]), sig, [secret]));
      const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
      assertUnauthenticated(() => verifyVirtuoso(reserialised, sig, [secret]));
    });
  });

  describe('Standard Webhooks v1 (as the reference library tests it)', () => {
    const defaultMsgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const defaultPayload = '{"test": 2432232314}';
    const defaultSecret = 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const toleranceSeconds = 300;
    const now = 1_700_000_000;

    /** The reference test's TestPayload: a real message signed independently of the code under test. */
    class TestPayload {
      readonly id = defaultMsgId;
      readonly payload = defaultPayload;
      readonly secret = defaultSecret;
      readonly timestamp: number;
      readonly signature: string;
      header: Record<string, string>;

      constructor(timestampSeconds = now) {
        this.timestamp = timestampSeconds;
        const toSign = `${this.id}.${this.timestamp}.${this.payload}`;
        this.signature = createHmac('sha256', Buffer.from(this.secret, 'base64')).update(toSign).digest('base64');
        this.header = {
          'webhook-id': this.id,
          'webhook-signature': `v1,${this.signature}`,
          'webhook-timestamp': String(this.timestamp),
        };
      }

      verify(secrets: readonly string[] = [defaultSecret], nowSeconds = now) {
        return verifyStandard(Buffer.from(this.payload), this.header as IncomingHttpHeaders, secrets, toleranceSeconds, nowSeconds);
      }
    }

    it('accepts a valid signature and returns the message id and timestamp', () => {
      const p = new TestPayload();
      assert.deepEqual(p.verify(), { scheme: 'standard', webhookId: defaultMsgId, timestamp: now });
    });

    it('missing id raises an error', () => {
      const p = new TestPayload();
      delete p.header['webhook-id'];
      assertUnauthenticated(() => p.verify(), /required/);
    });

    it('missing timestamp raises an error', () => {
      const p = new TestPayload();
      delete p.header['webhook-timestamp'];
      assertUnauthenticated(() => p.verify(), /required/);
    });

    it('missing signature raises an error', () => {
      const p = new TestPayload();
      delete p.header['webhook-signature'];
      assertUnauthenticated(() => p.verify(), /required/);
    });

    it('a non-numeric timestamp raises an error', () => {
      const p = new TestPayload();
      p.header['webhook-timestamp'] = 'hello';
      assertUnauthenticated(() => p.verify(), /Unix seconds/);
      for (const ts of [`${now}.5`, `-${now}`, `${now}ms`, ' ']) {
        p.header['webhook-timestamp'] = ts;
        assertUnauthenticated(() => p.verify());
      }
    });

    it('a timestamp that is not plain decimal seconds is refused before any signature is checked', () => {
      // Each of these reads as 1700000000 (or near it) to Number(): only digits, at most 12, pass.
      for (const ts of [`+${now}`, `${now}.0`, `${now}e0`, ` ${now}`, `${now}\n`, `${now}000`, '0x6553f100']) {
        const p = new TestPayload();
        p.header['webhook-timestamp'] = ts;
        assertUnauthenticated(() => p.verify(), /Unix seconds/);
      }
    });

    it('signs the timestamp as the header carries it: a signature made for 1700000000 does not verify as 001700000000', () => {
      const p = new TestPayload();
      p.header['webhook-timestamp'] = `00${now}`;
      assertUnauthenticated(() => p.verify(), /does not match/);
      // What the sender signed is "{id}.{header text}.{body}" (the spec's content to sign), so a
      // signature over the header's own text verifies, and reports the time it stands for.
      const mac = createHmac('sha256', Buffer.from(defaultSecret, 'base64')).update(`${p.id}.00${now}.${p.payload}`).digest('base64');
      p.header['webhook-signature'] = `v1,${mac}`;
      assert.equal(p.verify().timestamp, now);
    });

    it('an invalid signature raises an error', () => {
      const p = new TestPayload();
      p.header['webhook-signature'] = 'v1,dawfeoifkpqwoekfpqoekf';
      assertUnauthenticated(() => p.verify(), /does not match/);
    });

    it('a partial signature raises an error, and so does "v1," with nothing after it', () => {
      const p = new TestPayload();
      p.header['webhook-signature'] = p.header['webhook-signature'].slice(0, 8);
      assertUnauthenticated(() => p.verify());
      p.header['webhook-signature'] = `v1,${p.signature.slice(0, -4)}`;
      assertUnauthenticated(() => p.verify());
      p.header['webhook-signature'] = 'v1,';
      assertUnauthenticated(() => p.verify());
    });

    it('a signature without a version, or with another version, raises an error', () => {
      const p = new TestPayload();
      for (const sig of [p.signature, `v2,${p.signature}`, `v1a,${p.signature}`, `V1,${p.signature}`]) {
        p.header['webhook-signature'] = sig;
        assertUnauthenticated(() => p.verify());
      }
    });

    it('a timestamp older than the tolerance + 1 s fails', () => {
      const p = new TestPayload(now - toleranceSeconds - 1);
      assertUnauthenticated(() => p.verify(), /away from now/);
    });

    it('a timestamp newer than the tolerance + 1 s fails', () => {
      const p = new TestPayload(now + toleranceSeconds + 1);
      assertUnauthenticated(() => p.verify(), /away from now/);
    });

    it('a timestamp exactly at the tolerance, in either direction, passes (as in the reference library)', () => {
      new TestPayload(now - toleranceSeconds).verify();
      new TestPayload(now + toleranceSeconds).verify();
    });

    it('the timestamp is checked against the real clock when nowSeconds is not given', () => {
      const p = new TestPayload(Math.floor(Date.now() / 1000));
      const body = Buffer.from(p.payload);
      verifyStandard(body, p.header, [defaultSecret], toleranceSeconds);
      const stale = new TestPayload(Math.floor(Date.now() / 1000) - toleranceSeconds - 60);
      assertUnauthenticated(() => verifyStandard(body, stale.header, [defaultSecret], toleranceSeconds));
    });

    it('a multi-signature header with one valid signature among wrong and wrong-version ones is valid', () => {
      const p = new TestPayload();
      p.header['webhook-signature'] = [
        'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
        'v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
        p.header['webhook-signature'], // the valid one
        'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
      ].join(' ');
      assert.equal(p.verify().webhookId, defaultMsgId);
    });

    it('a multi-signature header with only wrong signatures fails', () => {
      const p = new TestPayload();
      p.header['webhook-signature'] = [
        'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=',
        `v2,${p.signature}`,
      ].join(' ');
      assertUnauthenticated(() => p.verify());
    });

    it('verification works with and without the whsec_ prefix on the secret', () => {
      const p = new TestPayload();
      p.verify([defaultSecret]);
      p.verify([`whsec_${defaultSecret}`]);
    });

    it('any one of several current secrets verifies (rotation), a wrong one alone does not', () => {
      const other = 'whsec_' + Buffer.from('another-secret-of-24-bytes!').toString('base64');
      const p = new TestPayload();
      p.verify([other, `whsec_${defaultSecret}`]);
      assertUnauthenticated(() => p.verify([other]), /does not match/);
      assertUnauthenticated(() => p.verify([]));
    });

    it('a tampered body, id or timestamp fails', () => {
      const p = new TestPayload();
      const h = p.header as IncomingHttpHeaders;
      assertUnauthenticated(() => verifyStandard(Buffer.from('{"test": 2432232315}'), h, [defaultSecret], toleranceSeconds, now));
      assertUnauthenticated(() =>
        verifyStandard(Buffer.from(p.payload), { ...h, 'webhook-id': 'msg_other' }, [defaultSecret], toleranceSeconds, now),
      );
      assertUnauthenticated(() =>
        verifyStandard(Buffer.from(p.payload), { ...h, 'webhook-timestamp': String(now + 1) }, [defaultSecret], toleranceSeconds, now),
      );
    });

    it('signStandard produces what verifyStandard accepts', () => {
      const body = Buffer.from('{"hello":"world"}');
      const header = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': signStandard('msg_1', now, body, defaultSecret) };
      assert.equal(verifyStandard(body, header, [`whsec_${defaultSecret}`], toleranceSeconds, now).webhookId, 'msg_1');
    });

    describe('known-answer vector (reference "sign function works")', () => {
      const key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
      const msgId = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
      const timestamp = 1614265330;
      const payload = '{"test": 2432232314}';
      const expected = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

      it('signStandard reproduces the vector, with and without the whsec_ prefix', () => {
        assert.equal(signStandard(msgId, timestamp, payload, key), expected);
        assert.equal(signStandard(msgId, timestamp, Buffer.from(payload), key.slice('whsec_'.length)), expected);
      });

      it('the vector is HMAC-SHA256 with the base64-decoded secret over "{id}.{timestamp}.{body}"', () => {
        const secret = Buffer.from(key.slice('whsec_'.length), 'base64');
        assert.equal(secret.length, 24);
        const mac = createHmac('sha256', secret).update(`${msgId}.${timestamp}.${payload}`).digest('base64');
        assert.equal(`v1,${mac}`, expected);
      });

      it('verifyStandard accepts the vector at its own time', () => {
        const header = { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': expected };
        assert.deepEqual(verifyStandard(Buffer.from(payload), header, [key], toleranceSeconds, timestamp), {
          scheme: 'standard',
          webhookId: msgId,
          timestamp,
        });
      });
    });
  });

  describe('schemeOf', () => {
    it('prefers Standard Webhooks when its signature header is present, else Virtuoso, else none', () => {
      assert.equal(schemeOf({ 'webhook-signature': 'v1,x', 'x-virtuoso-signature': 'sha1=x' }), 'standard');
      assert.equal(schemeOf({ 'x-virtuoso-signature': 'sha1=x' }), 'virtuoso');
      assert.equal(schemeOf({ 'webhook-id': 'msg_1' }), undefined);
    });
  });
});

describe('Standard Webhooks secrets too short to trust', () => {
  it('are refused, so a truncated or empty secret never verifies anything', () => {
    const body = Buffer.from('{"a":1}');
    const now = 1_700_000_000;
    for (const weak of ['whsec_', 'whsec_AAAA', 'short']) {
      const headers = { 'webhook-id': 'm', 'webhook-timestamp': String(now), 'webhook-signature': signStandard('m', now, body, weak) };
      assert.throws(() => verifyStandard(body, headers, [weak], 300, now), (e: AppError) => e.status === 401);
    }
    assert.deepEqual(usableStandardSecrets(['whsec_', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']), ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
  });

  it('the shortest usable key is 16 bytes: one byte less is refused', () => {
    const key = (bytes: number) => `whsec_${Buffer.alloc(bytes, 7).toString('base64')}`;
    assert.deepEqual(usableStandardSecrets([key(15), key(16), key(17)]), [key(16), key(17)]);
  });
});
