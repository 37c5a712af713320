// A worker of the js backend: compiles generated kernels (plain JavaScript over
// a range of threads) and runs its slice of them, writing into shared memory.
// Plain JavaScript, so a worker starts without a TypeScript loader.

import { parentPort } from 'node:worker_threads';

const kernels = new Map();

parentPort.on('message', (msg) => {
  try {
    let fn = kernels.get(msg.id);
    if (!fn) {
      fn = new Function(`return ${msg.source}`)();
      kernels.set(msg.id, fn);
    }
    for (const [start, end] of msg.ranges) fn(...msg.args, msg.out, start, end);
    parentPort.postMessage({ seq: msg.seq });
  } catch (e) {
    parentPort.postMessage({ seq: msg.seq, error: e instanceof Error ? e.message : String(e) });
  }
});
