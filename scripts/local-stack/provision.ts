/**
 * Creates the topics and subscriptions of shared/infra.ts in the Pub/Sub emulator (idempotent).
 * Push subscriptions point at the local function URLs; Functions Framework turns a push into a
 * CloudEvent only when the path is /projects/P/topics/T, so that path is appended.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { functions, subscriptions, topics, type FunctionName, type SubscriptionSpec } from '../../shared/infra';

const ALREADY_EXISTS = 6;

async function ignoreExisting<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { code?: number }).code !== ALREADY_EXISTS) throw err;
  }
}

export async function provisionPubsub(
  client: PubSub,
  projectId: string,
  pushEndpoints: Partial<Record<FunctionName, string>> = {},
): Promise<void> {
  await Promise.all(Object.values(topics).map((t) => ignoreExisting(client.createTopic(t))));
  // Pub/Sub-triggered functions: in production Eventarc makes their subscription; locally a push
  // subscription of the same shape stands in for it (retried with backoff when the function fails).
  const triggers: SubscriptionSpec[] = functions.flatMap((f) =>
    f.trigger.kind === 'pubsub'
      ? [{ name: `${f.name}-trigger`, topic: f.trigger.topic, pushTo: f.name, ackDeadlineSeconds: 60, retentionSeconds: 24 * 3600, retry: { minimumBackoffSeconds: 1, maximumBackoffSeconds: 60 }, deadLetter: f.trigger.deadLetter }]
      : [],
  );
  await Promise.all(
    [...subscriptions, ...triggers].map((s) => {
      const base = s.pushTo ? pushEndpoints[s.pushTo] : undefined;
      if (s.pushTo && !base) return Promise.resolve(); // that function is not running locally
      return ignoreExisting(
        client.topic(s.topic).createSubscription(s.name, {
          ackDeadlineSeconds: s.ackDeadlineSeconds,
          messageRetentionDuration: { seconds: s.retentionSeconds },
          retryPolicy: {
            minimumBackoff: { seconds: s.retry.minimumBackoffSeconds },
            maximumBackoff: { seconds: s.retry.maximumBackoffSeconds },
          },
          ...(s.deadLetter
            ? { deadLetterPolicy: { deadLetterTopic: `projects/${projectId}/topics/${s.deadLetter.topic}`, maxDeliveryAttempts: s.deadLetter.maxDeliveryAttempts } }
            : {}),
          ...(base ? { pushConfig: { pushEndpoint: `${base}/projects/${projectId}/topics/${s.topic}` } } : {}),
        }),
      );
    }),
  );
}
