// @ts-check
/**
 * Mutation testing of the pure modules (`npm run test:mutation`): StrykerJS changes one thing at a
 * time in the code (a `>=` into `>`, a string into "", a branch into nothing) and runs the unit
 * tests that cover it; a change no test notices is a "survived" mutant, a test worth writing.
 *
 * Slow (minutes, CPU-bound), so not part of `npm test`; run it after changing one of the modules
 * below or their tests, one module at a time while working:
 *   npm run test:mutation -- --mutate shared/webhooks/signature.ts
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
import { createRequire } from 'node:module';

// The mocha runner cannot load Mocha 12 without this shim, here and in each test-runner process.
const mocha12Shim = createRequire(import.meta.url).resolve('./test/mutation/mocha12-cli.cjs');
createRequire(import.meta.url)(mocha12Shim);

export default {
  testRunner: 'mocha',
  // test/hooks.ts (the integration suites' root hooks) imports shared/cache, hence config and errors:
  // loaded by mocha's `require` before Stryker activates a mutant, code those modules run at import
  // would never see its mutants, which would survive falsely. The unit tests need only the
  // environment test/setup.ts sets. Only the mutated modules' own tests run: a mutant in code run
  // at load needs every test run again in a fresh process, and the unit tests of other modules
  // (deploy-plan's spawns hundreds of shells) would make that minutes each.
  mochaOptions: { config: 'test/mutation/mocharc.json' },
  testRunnerNodeArgs: ['--require', mocha12Shim],
  coverageAnalysis: 'perTest',
  mutate: [
    'shared/webhooks/signature.ts',
    'shared/errors.ts',
    'shared/backup/typed-json.ts',
    'shared/config.ts',
    'shared/testruns/report.ts',
    'shared/testruns/junit.ts',
    'shared/testruns/plan.ts',
    'shared/testruns/build.ts',
    'shared/testruns/operations.ts',
    'shared/testruns/definition.ts',
    'shared/virtuoso/cli.ts',
  ],
  // Scored over all mutated files; the per-file scores are in the report. Below `break` the run fails.
  thresholds: { high: 95, low: 90, break: 90 },
  reporters: ['clear-text', 'progress', 'html'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  // Not needed by the unit tests; keeps the sandbox copy small.
  ignorePatterns: ['/dist', '/.local'],
  // The machine is shared: one test process unless asked for more (--concurrency 2).
  concurrency: 1,
};
