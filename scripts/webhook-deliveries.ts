/**
 * `npm run deliveries -- list [--status S] [--event E] [--since T] [--until T] [--limit N] [--page-token P]`
 * `npm run deliveries -- show <deliveryId>`
 * `npm run deliveries -- replay <deliveryId> [--idempotency-key K]`
 * `npm run deliveries -- replay-many [--status S] [--event E] [--since T] [--until T] [--limit N] [--dry-run] [--idempotency-key K]`
 *
 * A client of the webhook inbox (the `webhook` function's `/deliveries` routes, shared/webhooks/inbox.ts):
 * the function's URL from --url or WEBHOOK_URL, an API key with the `admin` scope from --key or
 * API_KEY. Prints the answer's JSON; exits 1 with the error's message when the API refuses.
 * A bulk replay without --dry-run gets an Idempotency-Key (printed to stderr) unless one is given,
 * so running the same command again with it replays nothing twice.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

const USAGE =
  'usage: npm run deliveries -- [--url URL] [--key KEY] list [--status S] [--event E] [--since T] [--until T] [--limit N] [--page-token P]\n' +
  '                             | show <id> | replay <id> [--idempotency-key K]\n' +
  '                             | replay-many [--status S] [--event E] [--since T] [--until T] [--limit N] [--dry-run] [--idempotency-key K]\n';

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      key: { type: 'string' },
      status: { type: 'string' },
      event: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      limit: { type: 'string' },
      'page-token': { type: 'string' },
      'dry-run': { type: 'boolean' },
      'idempotency-key': { type: 'string' },
    },
  });
  const base = (values.url ?? process.env.WEBHOOK_URL ?? '').replace(/\/+$/, '');
  const key = values.key ?? process.env.API_KEY;
  const [command, id] = positionals;
  if (!base || !key || !command) {
    process.stderr.write(`${!base ? 'the webhook function URL is missing (--url or WEBHOOK_URL)\n' : ''}${!key ? 'an admin API key is missing (--key or API_KEY)\n' : ''}${USAGE}`);
    return 2;
  }
  const filter = { status: values.status, event: values.event, since: values.since, until: values.until };
  const call = async (method: string, path: string, body?: unknown, idempotencyKey?: string) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) {
      let message = text;
      try {
        message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
      } catch {
        // not JSON: print it as it is
      }
      process.stderr.write(`${res.status}: ${message}\n`);
      return 1;
    }
    process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
    return 0;
  };
  switch (command) {
    case 'list': {
      const q = new URLSearchParams(
        Object.entries({ ...filter, limit: values.limit, pageToken: values['page-token'] }).filter((e): e is [string, string] => e[1] !== undefined),
      );
      return call('GET', `/deliveries${q.size ? `?${q}` : ''}`);
    }
    case 'show':
      if (!id) break;
      return call('GET', `/deliveries/${encodeURIComponent(id)}`);
    case 'replay':
      if (!id) break;
      return call('POST', `/deliveries/${encodeURIComponent(id)}/replay`, undefined, values['idempotency-key']);
    case 'replay-many': {
      const dryRun = values['dry-run'] ?? false;
      const idempotencyKey = dryRun ? undefined : (values['idempotency-key'] ?? randomUUID());
      if (idempotencyKey && !values['idempotency-key']) process.stderr.write(`Idempotency-Key: ${idempotencyKey} (run again with --idempotency-key to resume without replaying twice)\n`);
      const body = Object.fromEntries(Object.entries({ ...filter, limit: values.limit === undefined ? undefined : Number(values.limit), dryRun }).filter(([, v]) => v !== undefined));
      return call('POST', '/deliveries/replay', body, idempotencyKey);
    }
  }
  process.stderr.write(USAGE);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  },
);
