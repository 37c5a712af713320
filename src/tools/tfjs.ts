// TensorFlow.js set up as the oracle: tfjs-core on the cpu backend, with its
// gradient functions registered. tfjs-core's CommonJS build (what Node loads
// for '@tensorflow/tfjs-core') registers none; the ESM files that do import
// their siblings without extensions ('./gradients/Abs_grad'), which bundlers
// and vite resolve and plain Node rejects. So under plain Node a resolve hook
// (node:module's register) retries those imports with `.js` and `/index.js`,
// for files inside tfjs-core only; everything else resolves as usual.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as nodeModule from 'node:module';

let ready: Promise<typeof tf> | undefined;

/** The resolve hook, as a module of its own (node:module's register runs hooks off-thread). */
const HOOK = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const inTfjsCore = (context.parentURL ?? '').includes('/@tensorflow/tfjs-core/');
    if (!inTfjsCore || !/^\\.\\.?\\//.test(specifier) || /\\.m?js$/.test(specifier)) throw error;
    for (const tail of ['.js', '/index.js']) {
      try { return await next(specifier + tail, context); } catch { /* the next tail */ }
    }
    throw error;
  }
}`;

let hooked = false;
function hookTfjsCoreResolution(): void {
  if (hooked) return;
  hooked = true;
  const register = (nodeModule as { register?: (url: string) => void }).register;
  if (typeof register === 'function') register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
}

/** Load one of tfjs-core's side-effect ESM modules (gradients, chained ops). */
async function sideEffect(path: string): Promise<void> {
  hookTfjsCoreResolution();
  await import(`${path}.js`);
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
      if (backend === 'wasm') {
        try {
          await import('@tensorflow/tfjs-backend-wasm');
        } catch (e) {
          const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
          throw new Error(missing
            ? "TensorFlow.js's wasm backend (the benchmark's tfjs-wasm peer) is an optional package: `npm install @tensorflow/tfjs-backend-wasm@^4.22.0`"
            : `TensorFlow.js's wasm backend does not load: ${(e as Error).message}`);
        }
      }
      if (!(await t.setBackend(backend))) throw new Error(`TensorFlow.js backend '${backend}' failed to start`);
    }
    return t;
  });
}
