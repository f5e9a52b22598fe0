/** The local Cloud Storage for integration tests: an empty bucket for each test, on the port test/setup.ts chose. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStorageServer, type StorageServer } from '../../scripts/local-stack/storage-server';
import { ports } from '../setup';

/** Call inside a describe(): `current()` is this test's server (set `failWith` on it to fail requests). */
export function useEmptyStorage(): { current(): StorageServer } {
  let server: StorageServer | undefined;
  let dir: string | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-'));
    server = await startStorageServer({ port: ports.storagePort, dir });
  });
  afterEach(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    current: () => {
      if (!server) throw new Error('no storage server outside a test');
      return server;
    },
  };
}
