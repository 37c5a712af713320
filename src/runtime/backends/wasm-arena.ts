// The one WebAssembly.Memory a wasm-backend loss runs on: every kernel of every
// shape is instantiated on it, and the arrays a call works with (its inputs'
// copies, its buffers, its kernels' outputs, and the arrays `loss.alloc` hands
// out) are regions of it. So an input is copied in once per call (not once per
// pass), a pass reads the buffers another wrote where they lie, and an input or
// gradient array from `alloc` is read and written in place.
//
// The memory is shared (a SharedArrayBuffer): worker threads run kernels on it,
// and growing it never detaches an array already handed out (an old buffer
// object still addresses the start of the memory). Free regions are merged
// with their neighbours and taken best fit, so a process that meets ever-new
// shapes reuses the memory the shapes it dropped held.
//
// The arena also checks probabilities where they lie: a SIMD scan over the
// region, about ten times faster than a JavaScript loop over a Float32Array.

import { assemble } from './wasm-assemble.ts';

const PAGE = 65536;
/** Regions are 16-byte aligned with 16 bytes to spare: a vector read past an array's end (a lane a select then drops) stays inside memory. */
const bytesFor = (n: number) => ((n * 4 + 15) & ~15) + 16;

/** `check(at, n)`: the index of the first of n float32 at byte `at` outside [0, 1] (NaN is not outside), or −1. */
const CHECK_WAT = `(module
  (import "env" "mem" (memory 1 65536 shared))
  (func (export "check") (param $at i32) (param $n i32) (result i32) (local $i i32) (local $v v128) (local $x f32)
    (block $scalar (loop $vec
      (br_if $scalar (i32.gt_s (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
      (local.set $v (v128.load (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 2)))))
      (br_if $scalar (v128.any_true (v128.or (f32x4.lt (local.get $v) (v128.const f32x4 0 0 0 0)) (f32x4.gt (local.get $v) (v128.const f32x4 1 1 1 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vec)))
    (block $done (loop $one
      (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
      (local.set $x (f32.load (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 2)))))
      (if (i32.or (f32.lt (local.get $x) (f32.const 0)) (f32.gt (local.get $x) (f32.const 1))) (then (return (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $one)))
    (i32.const -1)))`;

export class WasmArena {
  readonly memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  private top = 0;
  /** Free regions below `top`, by address: [byte offset, bytes], none adjacent to another. */
  private free: [number, number][] = [];
  /** The buffer objects the memory has had (one per size it grew to): an array on any of them is in the arena. */
  private readonly buffers = new WeakSet<ArrayBufferLike>([this.memory.buffer]);
  /** Arrays handed out by `take` and not yet given back, with their region's size in bytes. */
  private readonly regions = new WeakMap<Float32Array, number>();
  /** Arrays a caller owns (loss.alloc): read and written in place when passed in. */
  private readonly owned = new WeakSet<Float32Array>();
  private readonly drop = new FinalizationRegistry<[number, number]>(([at, bytes]) => this.giveBack(at, bytes));
  private readonly checkFn: (at: number, n: number) => number;

  constructor() {
    const inst = new WebAssembly.Instance(assemble(CHECK_WAT, 'check.wat'), { env: { mem: this.memory } });
    this.checkFn = inst.exports.check as (at: number, n: number) => number;
  }

  /** A region of n float32 (not zeroed when reused). */
  take(n: number): Float32Array {
    const bytes = bytesFor(n);
    const at = this.fit(bytes) ?? this.bump(bytes);
    const a = new Float32Array(this.memory.buffer, at, n);
    this.regions.set(a, bytes);
    return a;
  }

  /** A region back to the free lists; the array must not be used afterwards. */
  release(a: Float32Array): void {
    const bytes = this.regions.get(a);
    if (bytes === undefined) return;
    this.regions.delete(a);
    this.giveBack(a.byteOffset, bytes);
  }

  /** An array for a caller to keep (loss.alloc), zeroed: its region returns to the arena when the array is garbage. */
  own(n: number): Float32Array {
    const a = this.take(n).fill(0);
    const bytes = this.regions.get(a)!;
    this.regions.delete(a);
    this.owned.add(a);
    this.drop.register(a, [a.byteOffset, bytes]);
    return a;
  }

  /** Whether the array lies in this memory (a kernel reads it where it is). */
  holds(a: ArrayBufferView): boolean { return this.buffers.has(a.buffer); }
  /** Whether the array is one `own` handed out (so the caller's input is read in place). */
  isOwned(a: unknown): a is Float32Array { return a instanceof Float32Array && this.owned.has(a); }

  /** The index of the first element of `a` (in the arena) outside [0, 1], or −1. */
  outsideUnit(a: Float32Array): number { return this.checkFn(a.byteOffset, a.length); }

  /** Bytes the memory holds now. */
  get size(): number { return this.memory.buffer.byteLength; }

  private bump(bytes: number): number {
    const at = this.top;
    this.top += bytes;
    const have = this.memory.buffer.byteLength;
    if (this.top > have) {
      this.memory.grow(Math.ceil((this.top - have) / PAGE));
      this.buffers.add(this.memory.buffer);
    }
    return at;
  }

  /** The smallest free region that holds `bytes`, its rest left free. */
  private fit(bytes: number): number | undefined {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const s = this.free[i]![1];
      if (s >= bytes && (best < 0 || s < this.free[best]![1])) best = i;
    }
    if (best < 0) return undefined;
    const [at, s] = this.free[best]!;
    if (s === bytes) this.free.splice(best, 1);
    else this.free[best] = [at + bytes, s - bytes];
    return at;
  }

  private giveBack(at: number, bytes: number): void {
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < at) i++;
    this.free.splice(i, 0, [at, bytes]);
    // Merge with the next region, then the previous.
    const next = this.free[i + 1];
    if (next && at + bytes === next[0]) { this.free[i] = [at, bytes + next[1]]; this.free.splice(i + 1, 1); }
    const prev = this.free[i - 1];
    if (prev && prev[0] + prev[1] === at) { this.free[i - 1] = [prev[0], prev[1] + this.free[i]![1]]; this.free.splice(i, 1); }
    // A free region at the top lowers it.
    const last = this.free.at(-1);
    if (last && last[0] + last[1] === this.top) { this.top = last[0]; this.free.pop(); }
  }

  /** Bytes in use below the top (for tests: every region given back leaves 0). */
  get used(): number { return this.top - this.free.reduce((a, [, s]) => a + s, 0); }
}
