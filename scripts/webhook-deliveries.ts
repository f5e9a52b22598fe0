/**
 * `npm run deliveries -- list [--status published|failed|publishing] [--limit N]`
 * `npm run deliveries -- show <deliveryId>`
 * `npm run deliveries -- replay <deliveryId>`
 *
 * The admin view of webhook intake: every delivery recorded in Firestore (`webhook_deliveries`),
 * and a replay that publishes a recorded delivery again on `webhook-events` as a new event
 * (attribute `replay=N`). Runs against the emulators locally or against the project with ADC.
 */
import { parseArgs } from 'node:util';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { status: { type: 'string' }, limit: { type: 'string', default: '20' } },
  });
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { getDelivery, listDeliveries, replayDelivery } = await import('../shared/webhooks/deliveries');
  const [command, id] = positionals;
  const brief = (d: Awaited<ReturnType<typeof listDeliveries>>[number]) => ({
    deliveryId: d.key,
    receivedAt: d.receivedAt.toISOString(),
    status: d.status,
    scheme: d.scheme,
    summary: d.summary,
    messageId: d.messageId,
    attempts: d.attempts,
    duplicates: d.duplicates,
    replays: d.replays,
    ...(d.lastError ? { lastError: d.lastError } : {}),
  });
  switch (command) {
    case 'list': {
      const status = values.status as 'published' | 'failed' | 'publishing' | undefined;
      const list = await listDeliveries({ status, limit: Number(values.limit) });
      process.stdout.write(`${JSON.stringify(list.map(brief), null, 2)}\n`);
      break;
    }
    case 'show': {
      const d = id ? await getDelivery(id) : undefined;
      if (!d) throw new Error(`no delivery ${id ?? '(missing id)'}`);
      process.stdout.write(`${JSON.stringify({ ...brief(d), contentType: d.contentType, body: d.rawBody.toString('utf8') }, null, 2)}\n`);
      break;
    }
    case 'replay': {
      if (!id) throw new Error('replay needs a delivery id');
      process.stdout.write(`${JSON.stringify(await replayDelivery(id))}\n`);
      break;
    }
    default:
      process.stderr.write('usage: npm run deliveries -- list [--status S] [--limit N] | show <id> | replay <id>\n');
      process.exit(2);
  }
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
