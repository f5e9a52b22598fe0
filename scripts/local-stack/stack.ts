/**
 * The local stack in one call: the Firestore and Pub/Sub emulators and Redis, started in parallel,
 * with the environment that points the Google client libraries at them. Used by `npm start`,
 * the test harness and the benchmarks.
 */
import { connect } from 'node:net';
import { startFirestoreEmulator, startPubsubEmulator, startRedis, type RedisService } from './emulators';
import { installExitHooks, type Service } from './processes';

export interface StackOptions {
  projectId: string;
  firestorePort?: number;
  pubsubPort?: number;
  /** 'private' always starts our own redis-server; 'auto' prefers REDIS_URL or a server on 6379. */
  redis: 'private' | 'auto';
  redisPort?: number;
}

export interface Stack {
  projectId: string;
  firestore: Service;
  pubsub: Service;
  redis: RedisService;
  /** Environment for any process (or this one) that should use the stack. */
  env: Record<string, string>;
  /** Empties Firestore and (when private) Redis. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const started: Service[] = [];
  const stopAll = async () => {
    await Promise.all(started.map((s) => s.stop().catch(() => undefined)));
  };
  installExitHooks(stopAll);
  const track = <T extends Service>(p: Promise<T>) => p.then((s) => (started.push(s), s));
  let firestore: Service, pubsub: Service, redis: RedisService;
  try {
    [firestore, pubsub, redis] = await Promise.all([
      track(startFirestoreEmulator(options.firestorePort)),
      track(startPubsubEmulator(options.pubsubPort)),
      track(startRedis({ preferPrivate: options.redis === 'private', port: options.redisPort })),
    ]);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const env = {
    GOOGLE_CLOUD_PROJECT: options.projectId,
    METADATA_SERVER_DETECTION: 'none',
    FIRESTORE_EMULATOR_HOST: `127.0.0.1:${firestore.port}`,
    PUBSUB_EMULATOR_HOST: `127.0.0.1:${pubsub.port}`,
    REDIS_URL: redis.url,
  };
  return {
    projectId: options.projectId,
    firestore,
    pubsub,
    redis,
    env,
    reset: async () => {
      await Promise.all([
        clearFirestore(firestore.port, options.projectId),
        redis.private ? redisCommand(redis.port, 'FLUSHALL') : Promise.resolve(),
      ]);
    },
    stop: stopAll,
  };
}

export async function clearFirestore(port: number, projectId: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/emulator/v1/projects/${projectId}/databases/(default)/documents`, { method: 'DELETE' });
  if (!res.ok) throw new Error(`Firestore emulator reset failed: ${res.status}`);
}

/** Deletes every topic and subscription in the Pub/Sub emulator. */
export async function resetPubsub(port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`Pub/Sub emulator reset failed: ${res.status}`);
}

function redisCommand(port: number, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('error', reject);
    s.once('connect', () => s.write(`${command}\r\n`));
    s.once('data', (d) => {
      s.destroy();
      if (d.toString().startsWith('+OK')) resolve();
      else reject(new Error(`redis ${command}: ${d.toString().trim()}`));
    });
  });
}
