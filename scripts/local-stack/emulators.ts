/**
 * The Firestore and Pub/Sub emulators (their JVMs launched directly: one PID each, ~1 s to ready)
 * and Redis (a configured or already running server, else a private `redis-server`).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort, httpAnswers, redisAnswers, spawnService, waitUntil, type Service } from './processes';

const SDK = process.env.CLOUDSDK_PLATFORM_DIR ?? '/usr/lib/google-cloud-sdk/platform';
const READY_TIMEOUT_MS = 60_000;

export function emulatorJars(): { firestore: string; pubsub: string } {
  const firestore = join(SDK, 'cloud-firestore-emulator', 'cloud-firestore-emulator.jar');
  const pubsubDir = join(SDK, 'pubsub-emulator', 'lib');
  const pubsubJar = existsSync(pubsubDir) ? readdirSync(pubsubDir).find((f) => /^cloud-pubsub-emulator-.*-all\.jar$/.test(f)) : undefined;
  const missing = [
    existsSync(firestore) ? undefined : firestore,
    pubsubJar ? undefined : join(pubsubDir, 'cloud-pubsub-emulator-*-all.jar'),
  ].filter(Boolean);
  if (missing.length) {
    throw new Error(
      `Emulator jar(s) not found: ${missing.join(', ')}. They come with the Google Cloud SDK image ` +
        '(components cloud-firestore-emulator and pubsub-emulator); set CLOUDSDK_PLATFORM_DIR if they live elsewhere.',
    );
  }
  return { firestore, pubsub: join(pubsubDir, pubsubJar!) };
}

async function startJvm(name: string, port: number, args: string[]): Promise<Service> {
  const svc = spawnService(name, 'java', ['-Xmx512m', ...args]);
  try {
    await waitUntil(`${name} emulator on port ${port}`, () => httpAnswers(`http://127.0.0.1:${port}/`, 'Ok'), READY_TIMEOUT_MS, svc.exited);
  } catch (err) {
    await svc.stop();
    throw new Error(`${(err as Error).message} (see ${svc.logFile})`);
  }
  return { name, host: '127.0.0.1', port, logFile: svc.logFile, pid: svc.pid, stop: svc.stop };
}

export async function startFirestoreEmulator(port?: number): Promise<Service> {
  const p = port ?? (await freePort());
  return startJvm('firestore', p, [
    '-cp', emulatorJars().firestore,
    'com.google.cloud.datastore.emulator.firestore.CloudFirestore', 'start',
    '--host=127.0.0.1', `--port=${p}`, '--database-mode=firestore-native',
  ]);
}

export async function startPubsubEmulator(port?: number): Promise<Service> {
  const p = port ?? (await freePort());
  return startJvm('pubsub', p, ['-jar', emulatorJars().pubsub, '--host=127.0.0.1', `--port=${p}`]);
}

export interface RedisService extends Service {
  url: string;
  /** True when we started it (and so may stop, flush or restart it freely). */
  private: boolean;
}

export function redisServerAvailable(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A private `redis-server` on `port` (free port when omitted), keeping nothing on disk. */
export async function startPrivateRedis(port?: number): Promise<RedisService> {
  const p = port ?? (await freePort());
  const svc = spawnService('redis', 'redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitUntil(`redis-server on port ${p}`, () => redisAnswers('127.0.0.1', p), 10_000, svc.exited);
  return { name: 'redis', host: '127.0.0.1', port: p, url: `redis://127.0.0.1:${p}`, private: true, logFile: svc.logFile, pid: svc.pid, stop: svc.stop };
}

/**
 * Redis for `npm start`: REDIS_URL when set, else the server on 127.0.0.1:6379 when one answers,
 * else a private `redis-server`.
 */
export async function startRedis(options: { preferPrivate?: boolean; port?: number } = {}): Promise<RedisService> {
  const configured = process.env.REDIS_URL;
  if (configured && !options.preferPrivate) {
    const u = new URL(configured);
    return { name: 'redis', host: u.hostname, port: Number(u.port || 6379), url: configured, private: false, stop: async () => {} };
  }
  if (!options.preferPrivate && (await redisAnswers('127.0.0.1', 6379))) {
    return { name: 'redis', host: '127.0.0.1', port: 6379, url: 'redis://127.0.0.1:6379', private: false, stop: async () => {} };
  }
  if (!redisServerAvailable()) {
    throw new Error('No Redis: set REDIS_URL, run a server on 127.0.0.1:6379, or install redis-server (apt-get install -y redis-server)');
  }
  return startPrivateRedis(options.port);
}
