#!/usr/bin/env node
// The `api-cli` bin (package.json "bin"): runs shared/client/main.ts through tsx's require hook,
// so the command always runs the checkout's own source, on any Node.js >= 20. `npx api-cli` in the
// repository finds this bin and puts node_modules/.bin first on PATH, so it runs on the project's
// Node.js 24; a CI runner's own node (20, 22) runs it too.
'use strict';
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`api-cli needs Node.js 20 or later (this is ${process.version})\n`);
  process.exit(2);
}
let register;
try {
  register = require('tsx/cjs/api').register;
} catch {
  process.stderr.write('api-cli: its dependencies are not installed; run `npm ci` in ' + require('node:path').join(__dirname, '..', '..', '..') + '\n');
  process.exit(2);
}
register();
require('../main.ts').cli();
