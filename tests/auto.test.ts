// `backend: 'auto'` (the default) is measured, not assumed (issue 14): measureAuto times Dice value +
// gradient on each backend of AUTO_ORDER that starts here and picks the fastest. Oracle: the times it
// reports (the pick is their minimum), and what load() without a backend then runs on.

import { describe, expect, test } from 'vitest';
import { AUTO_ORDER, load, measureAuto } from '../src/index.ts';

describe('auto', () => {
  test('measures every backend of AUTO_ORDER that starts, and picks the fastest; load() without a backend takes it', async () => {
    const choice = await measureAuto();
    expect(AUTO_ORDER).toEqual(['wasm', 'js']);
    // Both start on any Node 20 (WebAssembly SIMD and worker threads are built in).
    expect(Object.keys(choice.failed)).toEqual([]);
    for (const b of AUTO_ORDER) expect(choice.ms[b]).toBeGreaterThan(0);
    const fastest = AUTO_ORDER.reduce((a, b) => (choice.ms[b]! < choice.ms[a]! ? b : a));
    expect(choice.backend).toBe(fastest);
    expect(choice.probe).toBe('dice value + gradient at 1x256x256x1');
    // Measured once per process: the same answer again.
    expect(await measureAuto()).toBe(choice);
    const loss = await load('dice');
    expect(loss.backend).toBe(choice.backend);
    loss.dispose();
  });
});
