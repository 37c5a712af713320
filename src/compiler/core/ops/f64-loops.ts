// Float64 semantics of the spatial ops: windows (separable, symmetric, zero
// padded), max pooling and its gradient, the interior mask of a window, and the
// exact Euclidean distance transform. Each works on a canonical-order array
// whose spatial axes are innermost: `outer` slices of `dims` (e.g. [Y, X]).
// Every function is exported and the file imports nothing: `segloss compile
// --out` copies the host steps into its standalone modules by their text.

/** Normalized 1-D Gaussian weights, as tf.image.ssim's _fspecial_gauss (its outer product sums to 1). */
export function gaussianWeights(size: number, sigma: number): number[] {
  const c = (size - 1) / 2;
  const w = Array.from({ length: size }, (_, i) => Math.exp(-((i - c) ** 2) / (2 * sigma * sigma)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

export function boxWeights(size: number): number[] {
  return new Array<number>(size).fill(1 / size);
}

export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
}

/**
 * Apply the 1-D symmetric weights along spatial axis `axis` (an index into
 * dims), zero outside the image. With dilation D = 2^s (a scale-level-s source)
 * the taps are D apart and the result is 0 off the level's lattice (coordinates
 * not multiples of D, on any axis): the window of the level-s image, zero
 * padded, at its lattice points. One per axis, nested, is the product kernel.
 */
export function windowRef(x: Float64Array, outer: number, dims: readonly number[], axis: number, w: readonly number[], dilation = 1): Float64Array {
  const h = (w.length - 1) / 2;
  return alongAxes(x, outer, dims, (line, out, n, ax) => {
    for (let c = 0; c < n; c += dilation) {
      // Another axis: the level's lattice points as they are.
      if (ax !== axis) { out[c] = line(c); continue; }
      let acc = 0;
      for (let t = 0; t < w.length; t++) {
        const cc = c + (t - h) * dilation;
        if (cc >= 0 && cc < n) acc += w[t]! * line(cc);
      }
      out[c] = acc;
    }
  });
}

/**
 * Apply a 1-D map along each spatial axis in turn: `f(line, out, n, ax)` reads
 * the line (along axis index ax) through `line(c)` and writes every element of
 * `out` it defines (the rest stay 0). Separable ops (windows, 2x pooling) are products of these.
 */
export function alongAxes(x: Float64Array, outer: number, dims: readonly number[], f: (line: (c: number) => number, out: Float64Array, n: number, ax: number) => void): Float64Array {
  const sp = dims.reduce((a, b) => a * b, 1);
  const st = strides(dims);
  let cur = Float64Array.from(x);
  for (let ax = 0; ax < dims.length; ax++) {
    const n = dims[ax]!;
    const s = st[ax]!;
    const next = new Float64Array(cur.length);
    const out = new Float64Array(n);
    for (let o = 0; o < outer; o++) {
      // Every line along axis ax: start indices are those with coordinate 0 on it.
      for (let i = 0; i < sp; i++) {
        if (Math.floor(i / s) % n !== 0) continue;
        const base = o * sp + i;
        out.fill(0);
        f((c) => cur[base + c * s]!, out, n, ax);
        for (let c = 0; c < n; c++) next[base + c * s] = out[c]!;
      }
    }
    cur = next;
  }
  return cur;
}

/** The extent of the level-s image of an n-long axis: ceil(n / 2^s). */
export function levelExtent(n: number, level: number): number {
  return Math.ceil(n / 2 ** level);
}

/**
 * 2x average pooling, level s → s + 1, as tf.image.ssim_multiscale downsamples:
 * an odd level-s extent is padded by repeating its last element (SYMMETRIC),
 * then 2-wide blocks are averaged (stride 2, VALID). At the level-(s+1) point
 * of index k per axis: the mean over level-s indices {2k, min(2k + 1, n_s − 1)}
 * per axis; 0 off that lattice.
 */
export function avgpool2Ref(x: Float64Array, outer: number, dims: readonly number[], level: number): Float64Array {
  const q = 2 ** level;
  return alongAxes(x, outer, dims, (line, out, n) => {
    const last = (levelExtent(n, level) - 1) * q;
    for (let c = 0; c < n; c += 2 * q) out[c] = 0.5 * (line(c) + line(Math.min(c + q, last)));
  });
}

/**
 * The adjoint of avgpool2Ref (its transpose): the level-s point of index j per
 * axis gets half the level-(s+1) value of its block ⌊j/2⌋, twice that at the
 * padded end (an odd n_s: both taps of the last block read it); 0 off the level-s lattice.
 */
export function unpool2Ref(g: Float64Array, outer: number, dims: readonly number[], level: number): Float64Array {
  const q = 2 ** level;
  return alongAxes(g, outer, dims, (line, out, n) => {
    const ns = levelExtent(n, level);
    const last = (ns - 1) * q;
    for (let c = 0; c < n; c += q) out[c] = (c === last && ns % 2 === 1 ? 1 : 0.5) * line(Math.floor(c / (2 * q)) * 2 * q);
  });
}

/** A pool's widths per spatial axis: k along every axis (a cube), or a list of widths (an axis-wise window). */
export function widthsOf(k: number | readonly number[], d: number): number[] {
  return typeof k === 'number' ? new Array<number>(d).fill(k) : [...k];
}

/**
 * Visit the in-image neighbours j of i within a window k wide (offsets −h..h, h = (k − 1)/2, along every
 * axis; or k[a] wide along axis a), in row-major order.
 */
export function neighbours(i: number, dims: readonly number[], st: readonly number[], k: number | readonly number[], f: (j: number) => void): void {
  const hs = widthsOf(k, dims.length).map((w) => (w - 1) / 2);
  const c = dims.map((n, a) => Math.floor(i / st[a]!) % n);
  // Only the offsets inside the image, in scan order: the cost is the window's part inside the image, not its width.
  const lo = hs.map((h, a) => Math.max(-h, -c[a]!));
  const hi = hs.map((h, a) => Math.min(h, dims[a]! - 1 - c[a]!));
  const off = [...lo];
  for (;;) {
    let j = i;
    for (let a = 0; a < dims.length; a++) j += off[a]! * st[a]!;
    f(j);
    let a = dims.length - 1;
    while (a >= 0 && off[a] === hi[a]) { off[a] = lo[a]!; a--; }
    if (a < 0) return;
    off[a]!++;
  }
}

/** out[o·sp + i] = f(o·sp, i) for each slice o and element i of the slice. */
export function perElement(outer: number, dims: readonly number[], f: (base: number, i: number, st: readonly number[]) => number): Float64Array {
  const sp = dims.reduce((a, b) => a * b, 1);
  const st = strides(dims);
  const out = new Float64Array(outer * sp);
  for (let o = 0; o < outer; o++) for (let i = 0; i < sp; i++) out[o * sp + i] = f(o * sp, i, st);
  return out;
}

/** Max over the window around each element (stride 1, same size; outside the image is ignored, as −∞ padding). */
export function maxpoolRef(x: Float64Array, outer: number, dims: readonly number[], k: number | readonly number[]): Float64Array {
  return perElement(outer, dims, (base, i, st) => {
    let m = -Infinity;
    neighbours(i, dims, st, k, (j) => { m = Math.max(m, x[base + j]!); });
    return m;
  });
}

/** The tap index (row-major over the spatial axes, k[a] taps along axis a) of element j in the window centred at i. */
export function tapIndex(i: number, j: number, dims: readonly number[], st: readonly number[], k: number | readonly number[]): number {
  const ks = widthsOf(k, dims.length);
  let t = 0;
  for (let a = 0; a < dims.length; a++) t = t * ks[a]! + (Math.floor(j / st[a]!) % dims[a]! - (Math.floor(i / st[a]!) % dims[a]!) + (ks[a]! - 1) / 2);
  return t;
}

/** Per window, the tap of its first maximum in scan order (ties go to the first, as TensorFlow's max-pool gradient). */
export function poolargRef(x: Float64Array, outer: number, dims: readonly number[], k: number | readonly number[]): Float64Array {
  return perElement(outer, dims, (base, i, st) => {
    let m = -Infinity;
    let arg = 0;
    neighbours(i, dims, st, k, (j) => { if (x[base + j]! > m) { m = x[base + j]!; arg = tapIndex(i, j, dims, st, k); } });
    return arg;
  });
}

/** The adjoint of maxpool: element i collects g[j] from every window j whose first max it is (windows are symmetric). */
export function poolgradRef(g: Float64Array, a: Float64Array, outer: number, dims: readonly number[], k: number | readonly number[]): Float64Array {
  return perElement(outer, dims, (base, i, st) => {
    let acc = 0;
    neighbours(i, dims, st, k, (j) => { if (a[base + j] === tapIndex(j, i, dims, st, k)) acc += g[base + j]!; });
    return acc;
  });
}

/**
 * 1 where a k-wide window around the element fits inside the image ('valid'
 * positions), else 0. At scale level s: 1 at the level-s lattice points (index
 * j = c / 2^s per axis) where the window fits inside the level-s image, h ≤ j < n_s − h.
 */
export function interiorRef(outer: number, dims: readonly number[], k: number, level = 0): Float64Array {
  const sp = dims.reduce((a, b) => a * b, 1);
  const st = strides(dims);
  const h = (k - 1) / 2;
  const q = 2 ** level;
  const out = new Float64Array(outer * sp);
  for (let i = 0; i < sp; i++) {
    const inside = dims.every((n, a) => {
      const c = Math.floor(i / st[a]!) % n;
      return c % q === 0 && c / q >= h && c / q < Math.ceil(n / q) - h;
    });
    if (inside) for (let o = 0; o < outer; o++) out[o * sp + i] = 1;
  }
  return out;
}

/**
 * The flat indices of each sort slice, in its order. The arrays hold `outer` = batch·rest slices of `sp`
 * elements (canonical order, batch outermost); `join` = 1: each slice alone (per batch and class); `join` =
 * batch: per rest index r, the batch's slices of r one after another (one sort across the batch).
 */
export function sortSlices(outer: number, sp: number, join: number): Int32Array[] {
  const rest = outer / join;
  return Array.from({ length: rest }, (_, r) => {
    const idx = new Int32Array(join * sp);
    for (let b = 0; b < join; b++) for (let i = 0; i < sp; i++) idx[b * sp + i] = (b * rest + r) * sp + i;
    return idx;
  });
}

/**
 * Per slice, its indices in the order that sorts `key` descending (ties keep their order). The last sort is
 * kept: a plan sorts by the same keys several times a call (Lovász: its errors and labels, then the gradient
 * back), and keys and slices equal to the last call's (compared in full, a small part of a sort) give its
 * orders again.
 */
export function orders(key: Float64Array, slices: readonly Int32Array[]): Int32Array[] {
  if (lastSort && sameAs(lastSort.key, key) && lastSort.slices.length === slices.length && slices.every((sl, i) => sameAs(lastSort!.slices[i]!, sl))) return lastSort.out;
  const out = slices.map((sl) => (sl.length < RADIX_MIN ? Int32Array.from(sl).sort((a, b) => key[b]! - key[a]! || a - b) : radixOrder(key, sl)));
  // Only sorts worth keeping (a comparison of the keys costs less than sorting them again).
  if (key.length >= RADIX_MIN) lastSort = { key: Float64Array.from(key), slices: slices.map((sl) => Int32Array.from(sl)), out };
  return out;
}

let lastSort: { key: Float64Array; slices: Int32Array[]; out: Int32Array[] } | undefined;

/** Equal lengths and elements (NaN equal to NaN, as a key's bits sort it). */
function sameAs(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) return false;
  return true;
}

/** Below this many elements a comparison sort is as fast as the radix sort's histograms. */
const RADIX_MIN = 1024;
/** The radix sort's digit counters, made once (each pass clears the ones it uses). */
let counts: Int32Array | undefined;

/**
 * `sl` ordered by `key` descending, ties in their order: a stable LSD radix sort on the keys' bits, mapped
 * to unsigned words that ascend as the keys descend. Keys that are all float32 values (what kernels write)
 * sort as one 32-bit word in three passes of 11 bits (2,048 counters: they stay in cache); others as two
 * words, four passes of 16 bits. A pass is skipped where every key has the same digit. The same order as
 * the comparison sort (−0 sorts as +0, as equal keys do); NaN keys, which a comparison leaves anywhere, go
 * last. About 4 times faster than the comparison sort at 262,144 keys.
 */
function radixOrder(key: Float64Array, sl: Int32Array): Int32Array {
  const n = sl.length;
  let f32 = true;
  for (let i = 0; i < n && f32; i++) { const x = key[sl[i]!]!; f32 = Math.fround(x) === x || Number.isNaN(x); }
  const words: [Uint32Array, number, number][] = [];
  if (f32) {
    const f = new Float32Array(1);
    const w = new Uint32Array(f.buffer);
    const k = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const x = key[sl[i]!]!;
      if (Number.isNaN(x)) { k[i] = 0xffffffff; continue; }
      f[0] = x === 0 ? 0 : x;
      k[i] = w[0]! >>> 31 ? w[0]! : ~w[0]! & 0x7fffffff;
    }
    words.push([k, 0, 0x7ff], [k, 11, 0x7ff], [k, 22, 0x3ff]);
  } else {
    const f = new Float64Array(1);
    const w = new Uint32Array(f.buffer);
    const hi = new Uint32Array(n);
    const lo = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const x = key[sl[i]!]!;
      if (Number.isNaN(x)) { hi[i] = 0xffffffff; lo[i] = 0xffffffff; continue; }
      f[0] = x === 0 ? 0 : x;
      if (w[1]! >>> 31) { hi[i] = w[1]!; lo[i] = w[0]!; } else { hi[i] = ~w[1]! & 0x7fffffff; lo[i] = ~w[0]! >>> 0; }
    }
    words.push([lo, 0, 0xffff], [lo, 16, 0xffff], [hi, 0, 0xffff], [hi, 16, 0xffff]);
  }
  // Positions into the slice (0..n−1), sorted pass by pass, each pass's key words moved with them (read in order).
  let idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  let tmp = new Int32Array(n);
  const count = (counts ??= new Int32Array(65536));
  const moved = words.map(([k]) => k).filter((k, i, all) => all.indexOf(k) === i);
  let cur = moved.map((k) => Uint32Array.from(k));
  let next = moved.map((k) => new Uint32Array(k.length));
  for (const [k0, shift, mask] of words) {
    const w = moved.indexOf(k0);
    const k = cur[w]!;
    count.fill(0, 0, mask + 1);
    for (let i = 0; i < n; i++) count[(k[i]! >>> shift) & mask]!++;
    if (count[(k[0]! >>> shift) & mask] === n) continue;
    let sum = 0;
    for (let d = 0; d <= mask; d++) { const c = count[d]!; count[d] = sum; sum += c; }
    if (cur.length === 1) {
      const nk = next[0]!;
      for (let i = 0; i < n; i++) { const d = count[(k[i]! >>> shift) & mask]!++; tmp[d] = idx[i]!; nk[d] = k[i]!; }
    } else {
      const a = cur[0]!, b = cur[1]!, na = next[0]!, nb = next[1]!;
      for (let i = 0; i < n; i++) { const d = count[(k[i]! >>> shift) & mask]!++; tmp[d] = idx[i]!; na[d] = a[i]!; nb[d] = b[i]!; }
    }
    [idx, tmp] = [tmp, idx];
    [cur, next] = [next, cur];
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = sl[idx[i]!]!;
  return out;
}

/** x reordered so that `key` descends, per slice. */
export function sortedRef(x: Float64Array, key: Float64Array, slices: readonly Int32Array[]): Float64Array {
  const out = new Float64Array(x.length);
  orders(key, slices).forEach((ord, o) => { const sl = slices[o]!; for (let k = 0; k < sl.length; k++) out[sl[k]!] = x[ord[k]!]!; });
  return out;
}

/** The inverse permutation of sortedRef: value k goes back to the position of the k-th largest key. */
export function unsortRef(x: Float64Array, key: Float64Array, slices: readonly Int32Array[]): Float64Array {
  const out = new Float64Array(x.length);
  orders(key, slices).forEach((ord, o) => { const sl = slices[o]!; for (let k = 0; k < sl.length; k++) out[ord[k]!] = x[sl[k]!]!; });
  return out;
}

/** Inclusive cumulative sum, per slice. */
export function cumsumRef(x: Float64Array, slices: readonly Int32Array[]): Float64Array {
  const out = new Float64Array(x.length);
  for (const sl of slices) {
    let acc = 0;
    for (let k = 0; k < sl.length; k++) { acc += x[sl[k]!]!; out[sl[k]!] = acc; }
  }
  return out;
}

/** Squared 1-D distance transform of f (Felzenszwalb & Huttenlocher 2012), in place through `d`. */
export function dt1(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = 0;
  v[0] = 0;
  z[0] = -Infinity;
  z[1] = Infinity;
  for (let q = 1; q < n; q++) {
    if (f[q] === Infinity) continue;
    if (f[v[k]!] === Infinity) { v[k] = q; continue; }
    let s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
    while (s <= z[k]!) {
      k--;
      s = (f[q]! + q * q - (f[v[k]!]! + v[k]! * v[k]!)) / (2 * q - 2 * v[k]!);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  k = 0;
  for (let q = 0; q < n; q++) {
    while (z[k + 1]! < q) k++;
    const dq = q - v[k]!;
    d[q] = f[v[k]!] === Infinity ? Infinity : dq * dq + f[v[k]!]!;
  }
}

/**
 * Exact Euclidean distance transform, linear time: for each element with
 * m > 0.5, the distance to the nearest element with m ≤ 0.5 in its slice; 0 on
 * those elements, and 0 everywhere in a slice that has none (a full mask).
 */
/** Lines of a distance transform's later passes read and written together (8 float64: a cache line). */
const TILE = 8;

export function edtRef(m: Float64Array, outer: number, dims: readonly number[]): Float64Array {
  const sp = dims.reduce((a, b) => a * b, 1);
  const st = strides(dims);
  const out = new Float64Array(m.length);
  const maxN = Math.max(...dims);
  const d = new Float64Array(maxN), z = new Float64Array(maxN + 1);
  const v = new Int32Array(maxN);
  const g = new Float64Array(sp);
  const tile = new Float64Array(TILE * maxN);
  const last = dims.length - 1;
  const nx = dims[last]!;
  for (let o = 0; o < outer; o++) {
    const base = o * sp;
    let anyZero = false;
    for (let i = 0; i < sp && !anyZero; i++) anyZero = !(m[base + i]! > 0.5);
    if (!anyZero) continue;
    // The innermost axis first, where the mask is still binary: per row, the squared distance to the
    // nearest background element along it (two sweeps), infinity in a row that has none.
    for (let r = 0; r < sp; r += nx) {
      let at = -Infinity;
      for (let q = 0; q < nx; q++) {
        if (!(m[base + r + q]! > 0.5)) at = q;
        g[r + q] = q - at;
      }
      at = Infinity;
      for (let q = nx - 1; q >= 0; q--) {
        if (!(m[base + r + q]! > 0.5)) at = q;
        const e = Math.min(g[r + q]!, at - q);
        g[r + q] = e * e;
      }
    }
    // The other axes on those squared distances (Felzenszwalb & Huttenlocher), line by line. The lines along
    // axis a start at the indices whose coordinate on a is 0: blocks of s in steps of n·s. TILE neighbouring
    // lines are read and written together (a cache line each step along the axis, not one value).
    for (let a = last - 1; a >= 0; a--) {
      const n = dims[a]!;
      const s = st[a]!;
      for (let b = 0; b < sp; b += n * s) {
        for (let i0 = b; i0 < b + s; i0 += TILE) {
          const w = Math.min(TILE, b + s - i0);
          for (let q = 0; q < n; q++) for (let j = 0; j < w; j++) tile[j * n + q] = g[i0 + j + q * s]!;
          for (let j = 0; j < w; j++) {
            const fj = tile.subarray(j * n, (j + 1) * n);
            dt1(fj, n, d, v, z);
            fj.set(d.subarray(0, n));
          }
          for (let q = 0; q < n; q++) for (let j = 0; j < w; j++) g[i0 + j + q * s] = tile[j * n + q]!;
        }
      }
    }
    for (let i = 0; i < sp; i++) out[base + i] = Math.sqrt(g[i]!);
  }
  return out;
}
