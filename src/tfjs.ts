// segloss/tfjs: the TensorFlow.js bridge. A compiled loss as a tfjs loss
// function whose gradient is the compiled kernels' (tf.customGrad).
//
//   import { load } from 'segloss';
//   import { toTfjs } from 'segloss/tfjs';
//   model.compile({ optimizer: 'adam', loss: toTfjs(await load('dice')) });
//
// The bridge registers the gradient of its own loss; the gradients of the rest
// of the model's ops are TensorFlow.js's: import '@tensorflow/tfjs' (or
// '@tensorflow/tfjs-node'), which registers them, as any tfjs training does.
export { type SyncValueAndGrad, type TfjsLoss, type ToTfjsOptions, toTfjs } from './runtime/tfjs-bridge.ts';
export { type DeviceLossSource, type TfjsDeviceLoss, type ToTfjsDeviceOptions, toTfjsDevice } from './runtime/tfjs-device.ts';
