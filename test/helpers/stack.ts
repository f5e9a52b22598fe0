/**
 * The real local stack for integration tests: started once per run (on the ports test/setup.ts
 * chose), reset between tests by the suites that ask for it.
 */
import { startStack, resetPubsub, type Stack } from '../../scripts/local-stack/stack';
import { provisionPubsub } from '../../scripts/local-stack/provision';
import { startPrivateRedis } from '../../scripts/local-stack/emulators';
import { pubsub } from '../../shared/events';
import { ports, TEST_ENV } from '../setup';

let stack: Promise<Stack> | undefined;

export function testStack(): Promise<Stack> {
  stack ??= startStack({
    projectId: TEST_ENV.GOOGLE_CLOUD_PROJECT,
    firestorePort: ports.firestorePort,
    pubsubPort: ports.pubsubPort,
    redis: 'private',
    redisPort: ports.redisPort,
  }).then(async (s) => {
    await provisionPubsub(pubsub(), s.projectId);
    return s;
  });
  return stack;
}

/** Empties Firestore, Redis and Pub/Sub (topics and subscriptions are created anew). */
export async function resetState(): Promise<void> {
  const s = await testStack();
  await Promise.all([s.reset(), resetPubsub(s.pubsub.port)]);
  await provisionPubsub(pubsub(), s.projectId);
}

/** Call inside a describe(): the stack is up before its tests and fresh before each. */
export function useStack(): void {
  before(async function () {
    this.timeout(90_000);
    await testStack();
  });
  beforeEach(resetState);
}

/** Stops the private Redis (to test running without the cache) and returns a restart function. */
export async function stopRedis(): Promise<() => Promise<void>> {
  const s = await testStack();
  await s.redis.stop();
  return async () => {
    const fresh = await startPrivateRedis(ports.redisPort);
    s.redis.stop = fresh.stop;
    s.redis.pid = fresh.pid;
  };
}

export async function stopTestStack(): Promise<void> {
  if (stack) await (await stack).stop();
}
