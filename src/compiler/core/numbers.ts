// float32's range, which every backend computes in: the one definition of a constant a kernel can hold.

/** The largest float32, and the smallest normal one: kernels run in float32 (GPUs flush subnormals to zero). */
export const F32_MAX = 3.4028234663852886e38;
export const F32_MIN_NORMAL = 1.1754943508222875e-38;

/** A constant every backend holds exactly enough: finite, within float32's range, 0 or not below its normal numbers. */
export function representable(v: number): boolean {
  return Number.isFinite(v) && Math.abs(v) <= F32_MAX && (v === 0 || Math.abs(v) >= F32_MIN_NORMAL);
}
