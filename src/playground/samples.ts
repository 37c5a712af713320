// The prediction/target pair the playground evaluates a loss on: a label map the
// user draws on (target) and a soft blob the user moves (prediction), in 2-D
// (1 × N × N × C, nhwc) or 3-D (1 × D × N × N × C); the library's samples start it.
// Pixels are addressed (z, y, x); the loss's inputs are built in its layout (nhwc).

export interface Blob { x: number; y: number; z: number; r: number }

export interface Scene {
  size: number;
  depth: number;
  classes: number;
  /** Labels 0..classes-1 (0 background), depth × size × size. */
  labels: Uint8Array;
  blob: Blob;
  /** Width of the blob's soft edge in pixels. */
  soft: number;
}

export const SAMPLES = ['disc vs shifted disc', 'square vs disc', 'two discs, one found', 'thin bar', 'empty target'] as const;
export type Sample = (typeof SAMPLES)[number];

/** A sample scene at a size; the target's shape is drawn per slice (a ball, a cube, a rod in 3-D). */
export function sampleScene(kind: Sample, size: number, depth: number, classes: number): Scene {
  const n = size;
  const labels = new Uint8Array(depth * n * n);
  const fg = 1;
  const zc = (depth - 1) / 2;
  // How much of the shape a slice cuts: 1 at the middle slice, less towards the ends (a ball).
  const cut = (z: number) => (depth === 1 ? 1 : Math.sqrt(Math.max(0, 1 - ((z - zc) / (depth / 2)) ** 2)));
  const disc = (cx: number, cy: number, r: number, label: number) => {
    for (let z = 0; z < depth; z++) {
      const rz = r * cut(z);
      for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= rz * rz) labels[(z * n + y) * n + x] = label;
    }
  };
  const rect = (x0: number, y0: number, x1: number, y1: number, label: number, z0 = 0, z1 = depth - 1) => {
    for (let z = Math.max(0, z0); z <= Math.min(depth - 1, z1); z++) {
      for (let y = Math.max(0, Math.round(y0)); y < Math.min(n, Math.round(y1)); y++) for (let x = Math.max(0, Math.round(x0)); x < Math.min(n, Math.round(x1)); x++) labels[(z * n + y) * n + x] = label;
    }
  };
  let blob: Blob = { x: 0.58 * n, y: 0.55 * n, z: zc, r: 0.22 * n };
  switch (kind) {
    case 'disc vs shifted disc': disc(0.5 * n, 0.5 * n, 0.25 * n, fg); break;
    case 'square vs disc': rect(0.28 * n, 0.28 * n, 0.72 * n, 0.72 * n, fg, Math.round(depth * 0.2), Math.round(depth * 0.8) - (depth > 1 ? 1 : 0)); blob = { x: 0.5 * n, y: 0.5 * n, z: zc, r: 0.24 * n }; break;
    case 'two discs, one found': disc(0.3 * n, 0.32 * n, 0.15 * n, fg); disc(0.7 * n, 0.68 * n, 0.12 * n, classes > 2 ? 2 : fg); blob = { x: 0.32 * n, y: 0.33 * n, z: zc, r: 0.16 * n }; break;
    case 'thin bar': rect(0.15 * n, 0.47 * n, 0.85 * n, 0.47 * n + Math.max(1, 0.06 * n), fg); blob = { x: 0.5 * n, y: 0.5 * n, z: zc, r: 0.2 * n }; break;
    case 'empty target': blob = { x: 0.5 * n, y: 0.5 * n, z: zc, r: 0.15 * n }; break;
  }
  return { size: n, depth, classes, labels, blob, soft: Math.max(1, n / 24) };
}

/** The foreground probability of the blob at a voxel, in [0.02, 0.98] (so logs stay finite and gradients visible). */
function blobProb(s: Scene, z: number, y: number, x: number): number {
  const b = s.blob;
  const d = Math.sqrt((x + 0.5 - b.x) ** 2 + (y + 0.5 - b.y) ** 2 + (s.depth > 1 ? (z - b.z) ** 2 : 0));
  const q = 1 / (1 + Math.exp(-(b.r - d) / s.soft));
  return 0.02 + 0.96 * q;
}

/** The input shape (nhwc): [1, N, N, C] or [1, D, N, N, C]. */
export const shapeOf = (s: Scene): number[] => (s.depth > 1 ? [1, s.depth, s.size, s.size, s.classes] : [1, s.size, s.size, s.classes]);

/**
 * Prediction (probabilities per class; one channel: the foreground's) and target (one-hot of the labels;
 * one channel: label > 0), both in nhwc order. Classes beyond the blob's two share a small probability.
 */
export function tensors(s: Scene): { p: Float32Array; g: Float32Array } {
  const { size: n, depth, classes: c } = s;
  const voxels = depth * n * n;
  const p = new Float32Array(voxels * c);
  const g = new Float32Array(voxels * c);
  for (let z = 0; z < depth; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) {
    const v = (z * n + y) * n + x;
    const q = blobProb(s, z, y, x);
    const label = s.labels[v]!;
    if (c === 1) { p[v] = q; g[v] = label > 0 ? 1 : 0; continue; }
    const rest = c > 2 ? 0.04 : 0;
    for (let k = 0; k < c; k++) p[v * c + k] = k === 0 ? (1 - q) * (1 - rest) : k === 1 ? q * (1 - rest) : rest / (c - 2);
    g[v * c + Math.min(label, c - 1)] = 1;
  }
  return { p, g };
}

/** Paint (or erase, label 0) a disc of radius `r` on slice z. */
export function paint(s: Scene, z: number, cx: number, cy: number, r: number, label: number): void {
  const n = s.size;
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(n - 1, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(n - 1, Math.ceil(cx + r)); x++) {
      if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) s.labels[(z * n + y) * n + x] = label;
    }
  }
}

/** One channel of one slice of an nhwc tensor of the scene's shape, as size × size values. */
export function slice(s: Scene, data: ArrayLike<number>, z: number, channel: number): Float32Array {
  const { size: n, classes: c } = s;
  const out = new Float32Array(n * n);
  for (let i = 0; i < n * n; i++) out[i] = data[(z * n * n + i) * c + channel]!;
  return out;
}
