/**
 * Secrets from Secret Manager, cached in memory for SECRET_TTL_MS so rotation reaches warm
 * instances without a redeploy. Locally (and in tests) a secret is read from the environment
 * variable named after it (`virtuoso-webhook-secret` → `VIRTUOSO_WEBHOOK_SECRET`) when that is set.
 * Values never reach a log.
 */
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { getConfig } from './config';
import { dependencyError } from './errors';
import { secretEnvName, type SecretName } from './infra';
import { standInOptions } from './stand-in';

let client: SecretManagerServiceClient | undefined;
interface Entry {
  value: Promise<string | undefined>;
  expires: number;
}
const cache = new Map<SecretName, Entry>();
/** The last value read successfully: served while a refresh fails (a short Secret Manager outage). */
const lastGood = new Map<SecretName, string | undefined>();
const RETRY_AFTER_FAILURE_MS = 5000;
/** Not found: gRPC NOT_FOUND (5), or HTTP 404 from the REST transport. */
const NOT_FOUND = new Set<unknown>([5, 404]);
/** Deadline for one Secret Manager read, so an outage answers 503 quickly instead of hanging. */
const ACCESS_TIMEOUT_MS = 5000;

function secretManager(): SecretManagerServiceClient {
  if (!client) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SecretManagerServiceClient: Client } = require('@google-cloud/secret-manager') as typeof import('@google-cloud/secret-manager');
    const endpoint = getConfig().secretManagerEndpoint;
    if (endpoint) {
      // A local stand-in speaking the REST API (tests): the real client, no Google credentials.
      client = new Client(standInOptions(endpoint) as ConstructorParameters<typeof Client>[0]);
    } else {
      client = new Client();
    }
  }
  return client;
}

async function fetchSecret(name: SecretName): Promise<string | undefined> {
  const fromEnv = process.env[secretEnvName(name)];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const path = `projects/${getConfig().projectId}/secrets/${name}/versions/latest`;
  try {
    const [version] = await secretManager().accessSecretVersion({ name: path }, { timeout: ACCESS_TIMEOUT_MS });
    const data = version.payload?.data;
    if (data == null) return undefined;
    return typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  } catch (err) {
    if (NOT_FOUND.has((err as { code?: unknown }).code)) return undefined;
    throw dependencyError('Secret Manager', err);
  }
}

/** The secret's latest value, or undefined when it does not exist. */
export function getSecret(name: SecretName): Promise<string | undefined> {
  const now = Date.now();
  const hit = cache.get(name);
  if (hit && hit.expires > now) return hit.value;
  const entry: Entry = { value: Promise.resolve(undefined), expires: now + getConfig().secretTtlMs };
  entry.value = fetchSecret(name).then(
    (value) => {
      lastGood.set(name, value);
      return value;
    },
    (err: unknown) => {
      if (lastGood.has(name)) {
        entry.expires = Date.now() + RETRY_AFTER_FAILURE_MS; // keep the old value, try again soon
        return lastGood.get(name);
      }
      if (cache.get(name) === entry) cache.delete(name); // a failure is not cached
      throw err;
    },
  );
  cache.set(name, entry);
  return entry.value;
}

/** A secret holding several values (rotation): split on whitespace and commas, empties dropped. */
export async function getSecretList(name: SecretName): Promise<string[]> {
  const value = await getSecret(name);
  return (value ?? '').split(/[\s,]+/).filter(Boolean);
}

/** Forgets cached values (tests; after a known rotation). */
export function clearSecretCache(): void {
  cache.clear();
  lastGood.clear();
}
