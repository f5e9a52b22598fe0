/**
 * Options that point a real Google client library (google-gax) at a local stand-in speaking the
 * service's REST API, without Google credentials: used where no emulator exists (Secret Manager,
 * Cloud Tasks) in tests and in the local stack.
 */
export function standInOptions(endpoint: string): Record<string, unknown> {
  const u = new URL(endpoint);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { PassThroughClient } = require('google-auth-library') as typeof import('google-auth-library');
  return {
    apiEndpoint: u.hostname,
    port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    protocol: u.protocol.replace(':', ''),
    fallback: true,
    authClient: new PassThroughClient(),
  };
}
