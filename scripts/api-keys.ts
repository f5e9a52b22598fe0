/**
 * `npm run api-keys -- create --tenant T --user U [--scopes commands,test-runs] [--name N] [--per-minute N] [--per-day N]`
 * `npm run api-keys -- revoke <key or its sha256>`
 * `npm run api-keys -- list [--tenant T]`
 *
 * Creates an API key (printed once; only its SHA-256 is stored), revokes one, or lists them
 * (hashes and owners only). Locally prefix with the emulator variables `npm start` prints.
 */
import { parseArgs } from 'node:util';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { tenant: { type: 'string' }, user: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, 'per-minute': { type: 'string' }, 'per-day': { type: 'string' } },
  });
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { hashKey, KEY_PREFIX, newApiKey, revokeApiKey, storeApiKey } = await import('../shared/auth');
  const { collections, db } = await import('../shared/firestore');
  const [command, arg] = positionals;
  switch (command) {
    case 'create': {
      if (!values.tenant || !values.user) throw new Error('create needs --tenant and --user');
      const scopes = (values.scopes ?? 'commands,test-runs').split(',').map((s) => s.trim()).filter(Boolean);
      const limit = (flag: 'per-minute' | 'per-day') => {
        const raw = values[flag];
        if (raw === undefined) return undefined;
        const n = Number(raw);
        if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer`);
        return n;
      };
      const limits = { ...(limit('per-minute') ? { perMinute: limit('per-minute') } : {}), ...(limit('per-day') ? { perDay: limit('per-day') } : {}) };
      const { key, record } = newApiKey({ tenantId: values.tenant, userId: values.user, scopes, name: values.name, ...(Object.keys(limits).length ? { limits } : {}) });
      await storeApiKey(record);
      process.stdout.write(`${JSON.stringify({ key, keyHash: record.keyHash, tenantId: record.tenantId, userId: record.userId, scopes, ...(record.limits ? { limits: record.limits } : {}) }, null, 2)}\n`);
      process.stderr.write('Store the key now: it is not kept and cannot be shown again.\n');
      break;
    }
    case 'revoke': {
      if (!arg) throw new Error('revoke needs the key or its sha256');
      const keyHash = arg.startsWith(KEY_PREFIX) ? hashKey(arg) : arg;
      if (!(await revokeApiKey(keyHash))) throw new Error(`no API key ${keyHash}`);
      process.stdout.write(`revoked ${keyHash}\n`);
      break;
    }
    case 'list': {
      let q: FirebaseFirestore.Query = db().collection(collections.apiKeys);
      if (values.tenant) q = q.where('tenantId', '==', values.tenant);
      const snap = await q.get();
      const rows = snap.docs.map((d) => {
        const r = d.data();
        return { keyHash: d.id, tenantId: r.tenantId, userId: r.userId, scopes: r.scopes, active: r.active, name: r.name, limits: r.limits };
      });
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      break;
    }
    default:
      process.stderr.write('usage: npm run api-keys -- create --tenant T --user U [--scopes a,b] [--name N] [--per-minute N] [--per-day N] | revoke <key|sha256> | list [--tenant T]\n');
      process.exit(2);
  }
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
