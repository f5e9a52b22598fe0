/** Reads what reached a topic, through a pull subscription on the Pub/Sub emulator's REST API. */
import { TEST_ENV } from '../setup';

export interface PulledMessage {
  messageId: string;
  attributes: Record<string, string>;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function pull(subscription: string, max = 100): Promise<PulledMessage[]> {
  const base = `http://${TEST_ENV.PUBSUB_EMULATOR_HOST}/v1/projects/${TEST_ENV.GOOGLE_CLOUD_PROJECT}/subscriptions/${subscription}`;
  const res = await fetch(`${base}:pull`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ maxMessages: max, returnImmediately: true }),
  });
  if (!res.ok) throw new Error(`pull ${subscription}: ${res.status} ${await res.text()}`);
  const { receivedMessages = [] } = (await res.json()) as {
    receivedMessages?: { ackId: string; message: { messageId: string; data: string; attributes?: Record<string, string> } }[];
  };
  if (receivedMessages.length) {
    await fetch(`${base}:acknowledge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ackIds: receivedMessages.map((m) => m.ackId) }),
    });
  }
  return receivedMessages.map(({ message }) => ({
    messageId: message.messageId,
    attributes: message.attributes ?? {},
    json: JSON.parse(Buffer.from(message.data, 'base64').toString('utf8')),
  }));
}
