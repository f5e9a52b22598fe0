/**
 * Where completion callbacks may go (shared/testruns/callback-target.ts): the address rules, the
 * URL rules, and the check after resolution with a resolver the test controls — no connection is
 * made to any address here.
 */
import assert from 'node:assert/strict';
import { CallbackRefused, callbackUrlProblem, forbiddenAddress, resolveTarget } from '../../shared/testruns/callback-target';

describe('callback targets (SSRF)', () => {
  describe('forbiddenAddress', () => {
    const refused = [
      '127.0.0.1', '127.1.2.3', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.254', '192.168.1.1', '169.254.169.254', '169.254.0.1',
      '100.64.0.1', '0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255', '192.0.2.10', '198.51.100.1', '203.0.113.5',
      '198.18.0.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd00:ec2::254', 'ff02::1', '2001:db8::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe', '::ffff:10.0.0.1', '64:ff9b::10.0.0.1', '64:ff9b::a9fe:a9fe',
    ];
    for (const address of refused) {
      it(`refuses ${address}`, () => assert.ok(forbiddenAddress(address, false), address));
    }
    const allowed = ['8.8.8.8', '1.1.1.1', '172.15.255.255', '172.32.0.1', '100.63.255.255', '100.128.0.1', '169.253.255.255', '2606:4700:4700::1111', '2a00:1450:4001::200e', '64:ff9b::8.8.8.8'];
    for (const address of allowed) {
      it(`allows ${address}`, () => assert.equal(forbiddenAddress(address, false), undefined));
    }
    it('allows loopback, and only loopback, with the local-stack allowance', () => {
      for (const a of ['127.0.0.1', '127.0.0.53', '::1', '::ffff:127.0.0.1']) assert.equal(forbiddenAddress(a, true), undefined, a);
      for (const a of ['10.0.0.1', '169.254.169.254', '192.168.0.1', 'fc00::1', 'fe80::1']) assert.ok(forbiddenAddress(a, true), a);
    });
  });

  describe('callbackUrlProblem', () => {
    it('wants https, no credentials and no metadata host', () => {
      assert.equal(callbackUrlProblem('https://ci.example.com/hooks/virtuoso?x=1', false), undefined);
      assert.match(callbackUrlProblem('http://ci.example.com/hook', false)!, /must be https/);
      assert.match(callbackUrlProblem('ftp://ci.example.com/hook', false)!, /must be https/);
      assert.match(callbackUrlProblem('https://user:pw@ci.example.com/hook', false)!, /credentials/);
      assert.match(callbackUrlProblem('https://metadata.google.internal/computeMetadata/v1/', false)!, /metadata/);
      assert.match(callbackUrlProblem('not a url', false)!, /not a URL/);
      assert.match(callbackUrlProblem('https://169.254.169.254/latest', false)!, /private, link-local, metadata/);
      assert.match(callbackUrlProblem('https://[::1]:8443/hook', false)!, /loopback/);
    });
    it('takes plain http only to loopback, only with the allowance', () => {
      assert.equal(callbackUrlProblem('http://127.0.0.1:8080/hook', true), undefined);
      assert.equal(callbackUrlProblem('http://localhost:8080/hook', true), undefined);
      assert.equal(callbackUrlProblem('http://[::1]:8080/hook', true), undefined);
      assert.match(callbackUrlProblem('http://127.0.0.1:8080/hook', false)!, /must be https/);
      assert.match(callbackUrlProblem('http://ci.example.com/hook', true)!, /must be https/);
      assert.match(callbackUrlProblem('http://10.0.0.1/hook', true)!, /must be https/);
    });
  });

  describe('resolveTarget', () => {
    /** A resolver that answers these addresses for any name, and remembers what it was asked. */
    const resolver = (addresses: string[], asked: string[] = []) =>
      (async (host: string) => {
        asked.push(host);
        return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
      }) as unknown as typeof import('node:dns/promises').lookup;

    it('checks every address a name resolves to, after resolution', async () => {
      const asked: string[] = [];
      const target = await resolveTarget('https://hooks.example.com/x', false, resolver(['93.184.216.34'], asked));
      assert.deepEqual(asked, ['hooks.example.com']);
      assert.equal(target.address, '93.184.216.34');
      assert.equal(target.family, 4);
      for (const bad of [['169.254.169.254'], ['10.1.2.3'], ['93.184.216.34', '127.0.0.1'], ['fd00::1']]) {
        await assert.rejects(resolveTarget('https://rebind.example.com/x', false, resolver(bad)), (e: Error) => e instanceof CallbackRefused && /resolves to/.test(e.message), bad.join());
      }
    });

    it('resolves a real name through the system resolver (localhost is loopback: refused, or allowed locally)', async () => {
      await assert.rejects(resolveTarget('https://localhost:8443/x', false), CallbackRefused);
      const local = await resolveTarget('http://localhost:8080/x', true);
      assert.ok(['127.0.0.1', '::1'].includes(local.address), local.address);
    });

    it('does not look up an IP literal, and refuses a bad one without a lookup', async () => {
      const asked: string[] = [];
      await assert.rejects(resolveTarget('https://10.0.0.8/x', false, resolver(['8.8.8.8'], asked)), CallbackRefused);
      assert.deepEqual(asked, []);
    });
  });
});
