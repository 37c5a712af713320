#!/usr/bin/env node
// The segloss command: runs the TypeScript sources through tsx's loaders
// (ESM for our sources; CommonJS so TensorFlow.js's gradient registry loads).
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
await import('../src/cli/main.ts');
