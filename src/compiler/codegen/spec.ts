// What codegen hands the runtime for one pass (KernelSpec), and what it needs to
// know of the shape at hand (ShapeContext).

import type { Node } from '../core/ir.ts';
import type { Stmt } from '../core/kernel-ir.ts';
import type { Dims, Layout, Sizes } from '../core/layout.ts';
import type { BufferSlot } from '../plan/plan.ts';

export interface KernelSpec {
  /** gpu.js kernel source: `function(a0, a1, ..., small) { ... }`. */
  source: string;
  /**
   * The same kernel as plain JavaScript over a range of threads:
   * `function(a0, ..., small, out, start, end)` writing `width` values per thread into `out`.
   */
  jsSource: string;
  /**
   * The kernel before printing: its argument names and statements (codegen/kernel-ir.ts), for a
   * backend with a printer of its own (`source` and `jsSource` are printGpuJs and printPlainJs of them).
   */
  args: string[];
  body: Stmt[];
  /** The full-size inputs, in argument order, then the small-values buffer. */
  inputs: string[];
  output: number;
  /** Values per thread: 1 (a number) or 2–4 (an array). */
  width: number;
  loopMaxIterations: number;
  /** Threads [0, mapThreads) write the gradient; the rest accumulate. */
  mapThreads: number;
  reduce: ReduceLayout | undefined;
  /** Reductions whose per-element terms threads [mapThreads, 2·mapThreads) write, for the host to add. */
  terms: Node[];
  /** Buffers this pass writes: node k in output elements [kN, (k+1)N). */
  buffers: Node[];
}

/** How reduce threads are laid out, for the host to sum their partials. */
export interface ReduceLayout {
  reductions: Node[];
  /** Groups: every (batch, class) pair, canonical order. */
  groups: number;
  /** Chunks of the spatial range per group (threads per group). */
  chunks: number;
  /** Blocks of up to 4 accumulators (threads per group and chunk). */
  parts: number;
}

export interface ShapeContext {
  sizes: Sizes;
  dims: Dims;
  layout: Layout;
  /** Offset of each small input in the small-values buffer. */
  smallOffset: ReadonlyMap<number, number>;
  /** Values of the plan's static nodes for this shape. */
  statics: ReadonlyMap<number, number>;
  /** Full-size nodes held in memory (read like inputs), and where. */
  slots: ReadonlyMap<number, BufferSlot>;
  /**
   * Kernels for a CPU backend (the plain-JS loop, WebAssembly): reduce threads over long
   * chunks in blocks (codegen/pass.ts reduceShape), not a GPU's thousands of short ones.
   */
  cpu?: boolean;
}

/** The small-values buffer's name among a kernel's inputs: '#' cannot start a name in a formula, so no input is called that. */
export const SMALL = '#small';
/** The kernel argument of an input or buffer: its name's character codes, so no text from a formula reaches the kernel. */
export const inputVar = (name: string) => `in_${[...name].map((c) => c.charCodeAt(0).toString(36)).join('')}`;
