#!/usr/bin/env node
// npm run bench:cli [-- launcher]: how fast the command starts. Median wall time
// of 10 runs each of `segloss --help`, `--version` and `list`, through the given
// launcher (default bin/segloss.js, the sources through tsx; dist/bin/segloss.js
// is the built one, after npm run build). A measurement, not a test.
import { spawnSync } from 'node:child_process';

const bin = process.argv[2] ?? 'bin/segloss.js';
for (const args of [['--help'], ['--version'], ['list']]) {
  const t = [];
  let status;
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    status = spawnSync(process.execPath, [bin, ...args], { stdio: 'ignore' }).status;
    t.push((performance.now() - t0) / 1000);
  }
  t.sort((a, b) => a - b);
  console.log(`${bin} ${args.join(' ')}: median ${((t[4] + t[5]) / 2).toFixed(2)} s (min ${t[0].toFixed(2)}, max ${t[9].toFixed(2)}), exit ${status}`);
}
