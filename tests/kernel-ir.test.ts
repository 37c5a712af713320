// The kernel IR's printers (src/compiler/codegen/kernel-ir.ts): one statement list,
// printed as gpu.js kernel source and as the plain-JS thread loop. Oracle: the
// expected text, written out by hand, and running the plain-JS text.

import { describe, expect, test } from 'vitest';
import { addTo, assign, constant, letVar, loop, printGpuJs, printPlainJs, result, when } from '../src/compiler/codegen/kernel-ir.ts';

describe('kernel IR printers', () => {
  // Element t of a 3 × 4 tensor: row c_y = ⌊t / 4⌋ (constant over runs of 4 threads), column c_x; sums row c_y of `in_a`.
  const body = [
    constant('c_y', 'Math.floor(t / 4)', 4),
    constant('c_x', 't % 4'),
    letVar('acc0', '0.0'),
    loop('x1', 4, [addTo('acc0', 'in_a[c_y * 4 + x1]')]),
    when('c_x == 0', [assign('acc0', 'acc0 * 2.0')], true),
    result(['acc0', 'c_x']),
  ];

  test('gpu.js: the thread index from this.thread.x, nested blocks indented, an array returned', () => {
    expect(printGpuJs(['in_a'], body)).toBe([
      'function(in_a) {',
      '  const t = this.thread.x;',
      '  const c_y = Math.floor(t / 4);',
      '  const c_x = t % 4;',
      '  let acc0 = 0.0;',
      '  for (let x1 = 0; x1 < 4; x1++) {',
      '    acc0 += in_a[c_y * 4 + x1];',
      '  }',
      '  if (c_x == 0) { acc0 = acc0 * 2.0; }',
      '  return [acc0, c_x];',
      '}',
    ].join('\n'));
  });

  test('plain JS: runs of threads share the outer coordinate; a result is stored into out and the thread ends', () => {
    const src = printPlainJs(['in_a'], body);
    expect(src).toContain('    const c_y = Math.floor(run / 4);\n    const runEnd = Math.min(end, (c_y + 1) * 4);');
    expect(src).toContain('      out[t * 2] = acc0; out[t * 2 + 1] = c_x; continue thread;');
    const fn = new Function(`return ${src}`)() as (a: Float32Array, out: Float32Array, start: number, end: number) => void;
    const a = Float32Array.from({ length: 12 }, (_, i) => i);
    const out = new Float32Array(24);
    fn(a, out, 3, 9); // starts and ends inside a run
    const row = (y: number) => 4 * (4 * y) + 6;
    expect([...out.slice(6, 18)]).toEqual([row(0), 3, 2 * row(1), 0, row(1), 1, row(1), 2, row(1), 3, 2 * row(2), 0]);
  });

  test('plain JS without a run coordinate: one loop over threads, one value per thread', () => {
    expect(printPlainJs(['in_a'], [constant('v0', 'in_a[t] * 2.0'), result(['v0'])])).toBe([
      'function(in_a, out, start, end) {',
      '  thread: for (let t = start; t < end; t++) {',
      '    const v0 = in_a[t] * 2.0;',
      '    out[t] = v0; continue thread;',
      '  }',
      '}',
    ].join('\n'));
  });
});
