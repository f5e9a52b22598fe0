// Preloaded (NODE_OPTIONS=--require) by scripts/restore-drill.ts into the processes `npm run
// restore` starts: the one running PEAK_RSS_SCRIPT writes, as it exits, its resource usage (maxRSS:
// peak resident memory, KiB) and the peaks of its memory parts sampled every 100 ms (V8 heap in use,
// memory outside it) to PEAK_RSS_FILE. npm's own process, which gets the preload too, does not.
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload
const { writeFileSync } = require('node:fs');
const script = process.env.PEAK_RSS_SCRIPT;
if (script && process.argv[1] && process.argv[1].endsWith(script) && process.env.PEAK_RSS_FILE) {
  const peaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(peaks)) peaks[k] = Math.max(peaks[k], m[k]);
  };
  setInterval(sample, 100).unref();
  process.on('exit', () => {
    sample();
    writeFileSync(process.env.PEAK_RSS_FILE, JSON.stringify({ ...process.resourceUsage(), peaks }));
  });
}
