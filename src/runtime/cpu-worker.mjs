// A worker of the cpu backend's thread pool: builds gpu.js cpu kernels from the
// sources the runtime sends and runs them over one slice of the threads.
// Inputs arrive as views on shared memory; results go back as transferables.
// Plain JavaScript, so a worker starts without a TypeScript loader.

import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

const { GPU } = createRequire(import.meta.url)('gpu.js');
const gpu = new GPU({ mode: 'cpu' });
const kernels = new Map();

parentPort.on('message', (msg) => {
  try {
    const key = `${msg.id}:${msg.count}`;
    let kernel = kernels.get(key);
    if (!kernel) {
      kernel = gpu.createKernel(msg.source, { output: [msg.count], loopMaxIterations: msg.loopMaxIterations, precision: 'single' });
      kernels.set(key, kernel);
    }
    const out = kernel(...msg.args, msg.offset);
    if (out instanceof Float32Array) {
      parentPort.postMessage({ seq: msg.seq, out }, [out.buffer]);
    } else {
      // Array(k) returns: k-wide cells, flattened for the trip back.
      const width = msg.width;
      const flat = new Float32Array(out.length * width);
      for (let i = 0; i < out.length; i++) for (let j = 0; j < width; j++) flat[i * width + j] = out[i][j];
      parentPort.postMessage({ seq: msg.seq, out: flat }, [flat.buffer]);
    }
  } catch (e) {
    parentPort.postMessage({ seq: msg.seq, error: e instanceof Error ? e.message : String(e) });
  }
});
