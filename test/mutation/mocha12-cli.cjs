/**
 * Lets @stryker-mutator/mocha-runner 10.1.1 load Mocha 12's CLI internals.
 *
 * Mocha 12 ships them as `lib/cli/run-helpers.cjs`, `options.cjs` and `collect-files.cjs`, and the
 * runner requires them without an extension, which Node resolves only for the extensions it
 * registers (.js, .json, .node): without this, the plugin fails to load ("no TestRunner plugins
 * were loaded"). Registering `.cjs` makes those requires resolve. Fixed upstream in
 * stryker-js#6205 (open when this was written): delete this file, and its two uses in
 * stryker.config.mjs, once a mocha-runner release with that fix is installed.
 */
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload (node --require)
const Module = require('node:module');
Module._extensions['.cjs'] ??= Module._extensions['.js'];
