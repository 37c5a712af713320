// TensorFlow.js set up as the oracle: tfjs-core on the cpu backend, with its
// gradient functions registered. The CommonJS build registers none, and the ESM
// file that does uses directory imports plain Node rejects: try both ways.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';

let ready: Promise<typeof tf> | undefined;

/** Load one of tfjs-core's side-effect modules (gradients, chained ops) in either environment. */
async function sideEffect(path: string): Promise<void> {
  try {
    // Under tsx, require() transpiles the ESM file and resolves its extensionless imports.
    createRequire(import.meta.url)(`${path}.js`);
  } catch {
    // Under vitest (vite's resolver) the ESM import itself works.
    await import(path);
  }
}

async function registerGradients(): Promise<void> {
  await sideEffect('@tensorflow/tfjs-core/dist/register_all_gradients');
  // Some gradient functions (gather's) call chained ops such as x.split().
  await sideEffect('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops');
  if (!tf.getGradient('Sum')) throw new Error('TensorFlow.js gradients could not be registered');
}

/** tfjs on its cpu backend with gradients; call once, await everywhere. */
export function tfjs(backend: 'cpu' | 'wasm' = 'cpu'): Promise<typeof tf> {
  ready ??= (async () => {
    tf.env().set('PROD', true);
    await registerGradients();
    return tf;
  })();
  return ready.then(async (t) => {
    if (t.getBackend() !== backend) {
      if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
      if (!(await t.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' failed to start`);
    }
    return t;
  });
}
