/**
 * `npm run pull -- <subscription> [--max N] [--wait SECONDS]`: prints (and acknowledges) the
 * messages waiting on a pull subscription, e.g. `webhook-events-archive`. Works against the
 * emulator (PUBSUB_EMULATOR_HOST) and against Pub/Sub itself.
 */
import { parseArgs } from 'node:util';
import { subscriptions } from '../shared/infra';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { max: { type: 'string', default: '100' }, wait: { type: 'string', default: '2' } } });
  const name = positionals[0];
  const known = subscriptions.filter((s) => !s.pushTo).map((s) => s.name);
  if (!name || !known.includes(name)) {
    process.stderr.write(`usage: npm run pull -- <subscription> [--max N] [--wait S]\nsubscriptions: ${known.join(', ')}\n`);
    process.exit(2);
  }
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const { pubsub } = await import('../shared/events');
  const max = Number(values.max);
  const sub = pubsub().subscription(name, { flowControl: { maxMessages: max, allowExcessMessages: false } });
  let count = 0;
  await new Promise<void>((resolve) => {
    let idle = setTimeout(resolve, Number(values.wait) * 1000);
    sub.on('message', (m) => {
      count++;
      let data: unknown = m.data.toString('utf8');
      try {
        data = JSON.parse(data as string);
      } catch {
        /* printed as text */
      }
      process.stdout.write(`${JSON.stringify({ messageId: m.id, publishTime: m.publishTime.toISOString(), attributes: m.attributes, data }, null, 2)}\n`);
      m.ack();
      clearTimeout(idle);
      idle = setTimeout(resolve, count >= max ? 0 : 500);
    });
    sub.on('error', (err) => {
      process.stderr.write(`pull failed: ${err.message}\n`);
      process.exit(1);
    });
  });
  await sub.close();
  process.stderr.write(`${count} message(s) from ${name}\n`);
  process.exit(0);
}

void main();
