/** Root hooks: whatever the tests started is stopped once the run ends. */
import { closeCache } from '../shared/cache';
import { stopTestStack } from './helpers/stack';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await closeCache();
    await stopTestStack();
  },
};
