/**
 * The process's Virtuoso client: base URL and organization from config, the token from Secret
 * Manager (`virtuoso-api-key`, cached by shared/secrets), created on first use.
 */
import { getConfig } from '../config';
import { unavailable } from '../errors';
import { secrets } from '../infra';
import { getSecret } from '../secrets';
import { VirtuosoClient } from './client';

export const DEFAULT_VIRTUOSO_BASE_URL = 'https://api-app2.virtuoso.qa/api';

let client: VirtuosoClient | undefined;

export function virtuoso(): VirtuosoClient {
  client ??= new VirtuosoClient({
    baseUrl: getConfig().virtuosoBaseUrl ?? DEFAULT_VIRTUOSO_BASE_URL,
    token: async () => {
      const token = await getSecret(secrets.virtuosoApiKey);
      // A deployment fault: queued work should wait for the fix, not fail for good.
      if (!token) throw unavailable('The Virtuoso API key is not configured', 60);
      return token;
    },
  });
  return client;
}

export { VirtuosoApiError, VirtuosoClient, idOf, type VirtuosoId } from './client';
export { virtuosoToAppError } from './errors';
