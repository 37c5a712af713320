// A worker of the js backend: compiles generated kernels (plain JavaScript over
// a range of threads) and runs its slice of them, writing into shared memory.
// Plain JavaScript, so a worker starts without a TypeScript loader.
// Compiled kernels are cached by id until the main thread says to forget them.

import { parentPort } from 'node:worker_threads';

const kernels = new Map();

parentPort.on('message', (msg) => {
  if (msg.forget) {
    for (const id of msg.forget) kernels.delete(id);
    return;
  }
  if (msg.count) {
    parentPort.postMessage({ seq: msg.seq, kernels: kernels.size });
    return;
  }
  try {
    let fn = kernels.get(msg.id);
    if (!fn) {
      fn = new Function(`return ${msg.source}`)();
      // A kernel released while this call was queued runs once, uncached.
      if (msg.keep) kernels.set(msg.id, fn);
    }
    for (const [start, end] of msg.ranges) fn(...msg.args, msg.out, start, end);
    parentPort.postMessage({ seq: msg.seq });
  } catch (e) {
    parentPort.postMessage({ seq: msg.seq, error: e instanceof Error ? e.message : String(e) });
  }
});
