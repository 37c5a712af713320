// Where axis names meet array positions: shapes in a user's layout (nhwc as in
// TensorFlow.js and Keras, nchw as in PyTorch; 2-D and 3-D), the canonical
// order the runtime computes in (batch, class, z, y, x), and index maps.

import type { Axes, Axis } from './ir.ts';
import { InputError } from './errors.ts';

/** 2-D images or 3-D volumes. */
export type Dims = 2 | 3;
export type Layout = 'nhwc' | 'nchw';
export type Sizes = Readonly<Record<Axis, number>>;

/** The axes of a full tensor in a layout, outermost first. */
export function layoutAxes(layout: Layout, dims: Dims): Axis[] {
  const space: Axis[] = dims === 3 ? ['z', 'y', 'x'] : ['y', 'x'];
  return layout === 'nhwc' ? ['batch', ...space, 'class'] : ['batch', 'class', ...space];
}

export function canonicalAxes(dims: Dims): Axis[] {
  return layoutAxes('nchw', dims);
}

/** Axis sizes from a shape written in `layout`; absent axes (z in 2-D) have size 1. */
export function sizesOf(shape: readonly number[], layout: Layout): { sizes: Sizes; dims: Dims } {
  if (shape.length !== 4 && shape.length !== 5) {
    throw new InputError(`a shape has 4 (2-D) or 5 (3-D) dimensions in layout ${layout}, got [${shape.join(', ')}]`);
  }
  const dims: Dims = shape.length === 5 ? 3 : 2;
  const sizes: Record<Axis, number> = { batch: 1, class: 1, z: 1, y: 1, x: 1 };
  layoutAxes(layout, dims).forEach((a, i) => {
    const n = shape[i]!;
    if (!Number.isInteger(n) || n < 1) throw new InputError(`dimension ${i} of [${shape.join(', ')}] must be a positive integer`);
    sizes[a] = n;
  });
  return { sizes, dims };
}

export function count(axes: Axes, sizes: Sizes): number {
  let n = 1;
  for (const a of axes) n *= sizes[a];
  return n;
}

/**
 * Index maps by axes and sizes, least recently used first. Bounded by bytes, not only by count: one map is as
 * large as a tensor (4 bytes an element), so 256 maps of 1M elements would hold 1 GiB. 64 MiB keeps a training
 * loop's few shapes (each needs a handful of maps) and drops the rest.
 */
const mapCache = new Map<string, Int32Array>();
const MAP_CACHE_BYTES = 64 << 20;
let mapCacheBytes = 0;

/**
 * For each flat index of a tensor with axes `outer` (row-major), the flat index
 * of the element of a tensor with axes `inner` (a subset, or a permutation) at
 * the same coordinates. Broadcasting, reductions and transposes all use it.
 */
export function indexMap(outer: Axes, inner: Axes, sizes: Sizes): Int32Array {
  const key = `${outer.join(',')}|${inner.join(',')}|${outer.map((a) => sizes[a]).join(',')}`;
  const hit = mapCache.get(key);
  if (hit) {
    mapCache.delete(key);
    mapCache.set(key, hit);
    return hit;
  }
  const innerStride = new Map<Axis, number>();
  let s = 1;
  for (let i = inner.length - 1; i >= 0; i--) { innerStride.set(inner[i]!, s); s *= sizes[inner[i]!]; }
  const dims = outer.map((a) => sizes[a]);
  const strides = outer.map((a) => innerStride.get(a) ?? 0);
  const n = count(outer, sizes);
  const out = new Int32Array(n);
  const idx = new Array<number>(outer.length).fill(0);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    out[i] = pos;
    for (let d = outer.length - 1; d >= 0; d--) {
      idx[d]!++;
      pos += strides[d]!;
      if (idx[d]! < dims[d]!) break;
      pos -= strides[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
  if (out.byteLength > MAP_CACHE_BYTES) return out;
  for (const [k, v] of mapCache) {
    if (mapCacheBytes + out.byteLength <= MAP_CACHE_BYTES && mapCache.size < 256) break;
    mapCache.delete(k);
    mapCacheBytes -= v.byteLength;
  }
  mapCache.set(key, out);
  mapCacheBytes += out.byteLength;
  return out;
}

/** Reorder a full tensor from one axis order to another. */
export function transpose<T extends Float32Array | Float64Array>(data: ArrayLike<number>, from: Axes, to: Axes, sizes: Sizes, make: (n: number) => T): T {
  // The same order once axes of size 1 are left out (nhwc with one class, and canonical order): a copy.
  const big = (axes: Axes) => axes.filter((a) => sizes[a] !== 1);
  const f = big(from), t = big(to);
  if (f.length === t.length && f.every((a, i) => a === t[i]) && from.every((a) => to.includes(a))) {
    const out = make(count(to, sizes));
    out.set(data);
    return out;
  }
  const map = indexMap(to, from, sizes);
  const out = make(map.length);
  for (let i = 0; i < map.length; i++) out[i] = data[map[i]!]!;
  return out;
}

/** A full tensor in a user's layout, reordered to canonical order; `fromCanonical` undoes it. */
export function toCanonical(data: ArrayLike<number>, layout: Layout, sizes: Sizes, dims: Dims): Float64Array {
  return transpose(data, layoutAxes(layout, dims), canonicalAxes(dims), sizes, (n) => new Float64Array(n));
}
export function fromCanonical<T extends Float32Array | Float64Array>(data: ArrayLike<number>, layout: Layout, sizes: Sizes, dims: Dims, make: (n: number) => T): T {
  return transpose(data, canonicalAxes(dims), layoutAxes(layout, dims), sizes, make);
}

/**
 * The other layout, when a shape read in `layout` looks like it was written in
 * that one: a class axis of at least 16 that is at least 4× the axis the other
 * layout puts the classes on. (B, C, H, W) = (2, 3, 32, 32) read as nhwc is 32
 * classes of 3×32 images; read as nchw, 3 classes of 32×32. Real images are
 * rarely 4× narrower than their class count.
 */
export function otherLayoutLikely(shape: readonly number[], layout: Layout): Layout | undefined {
  if (shape.length !== 4 && shape.length !== 5) return undefined;
  const last = shape[shape.length - 1]!, second = shape[1]!;
  const [classes, other] = layout === 'nhwc' ? [last, second] : [second, last];
  return classes >= 16 && classes >= 4 * other ? (layout === 'nhwc' ? 'nchw' : 'nhwc') : undefined;
}

/** A shape in `from` written in layout `to` (the class axis moved). */
export function relayout(shape: readonly number[], from: Layout, to: Layout): number[] {
  if (from === to || shape.length < 3) return [...shape];
  const s = [...shape];
  if (from === 'nhwc') { const c = s.pop()!; s.splice(1, 0, c); } else { const [c] = s.splice(1, 1); s.push(c!); }
  return s;
}
