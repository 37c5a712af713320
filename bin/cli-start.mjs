#!/usr/bin/env node
// npm run bench:cli [-- launcher]: how fast the command starts. Median wall time
// of 10 runs each of `segloss --help`, `--version` and `list`, through the given
// launcher (default bin/segloss.js, the sources through tsx; dist/bin/segloss.js
// is the built one, after npm run build), and the mean CPU time (user + system)
// the runs took, which other work on the machine inflates far less than the
// wall time (Linux: the children's times in /proc/self/stat, 10 ms ticks). The
// load average is printed first. A measurement, not a test.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const RUNS = 10;
const bin = process.argv[2] ?? 'bin/segloss.js';
if (!existsSync(bin)) {
  console.error(`bench:cli: ${bin} does not exist${bin.startsWith('dist') ? ' (npm run build writes it)' : ''}`);
  process.exit(2);
}

/** The CPU seconds (user + system) of this process's waited-for children, or undefined off Linux. */
function childrenCpu() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100; // cutime, cstime (fields 16, 17), in USER_HZ = 100
  } catch {
    return undefined;
  }
}

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, ${RUNS} runs each`);
for (const args of [['--help'], ['--version'], ['list']]) {
  const t = [];
  let status;
  const cpu0 = childrenCpu();
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    status = spawnSync(process.execPath, [bin, ...args], { stdio: 'ignore' }).status;
    t.push((performance.now() - t0) / 1000);
  }
  const cpu1 = childrenCpu();
  t.sort((a, b) => a - b);
  const cpu = cpu0 === undefined || cpu1 === undefined ? '' : `, cpu ${((cpu1 - cpu0) / RUNS).toFixed(2)} s`;
  console.log(`${bin} ${args.join(' ')}: median ${((t[4] + t[5]) / 2).toFixed(2)} s (min ${t[0].toFixed(2)}, max ${t[RUNS - 1].toFixed(2)})${cpu}, exit ${status}`);
}
