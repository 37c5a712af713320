// Vectorized float32 math for the wasm backend's SIMD kernels (codegen/wat.ts):
// f32x4 → f32x4 functions in WebAssembly text, each with range reduction and
// a short polynomial, written once here and included in every kernel module
// (and in the test module of tests/wasm-math.test.ts, which measures each
// against Math in ulps over its domain).
//
//   $vexp   exp(x) = 2^n · e^r, n = round(x / ln 2), r = x − n·ln2 (two-part ln 2), |r| ≤ ln2/2;
//           e^r by a degree-7 Taylor polynomial (truncation 5e-9 relative); 2^n applied as two
//           factors so that results down to the subnormals come out; x > 88.72 → inf, NaN → NaN.
//   $vlog   log(x) = e·ln 2 + log(m), x = m·2^e with m in [√½, √2); log(1 + f), f = m − 1, as f − f²/2 + f³·P(f)
//           with Cephes' degree-8 P (no division); subnormals scaled by 2^23 first; 0 → −inf, x < 0 → NaN, inf → inf.
//   $vlog1p log(1+x): u = 1+x rounded, log(u) corrected by (x − (u − 1))/u (Goldberg's trick), x small: x.
//   $vsigmoid  1/(1+e^−x) for x ≥ 0, e^x/(1+e^x) for x < 0 (no overflow on either side).
//   $vsoftplus max(x,0) + log1p(e^−|x|).
//   $vpow   |x|^y = exp(y·log|x|): log's error (about an ulp) grows by |y·log|x||, so the bound is stated
//           over |y·log|x|| ≤ 16; x < 0 with integer y (odd y negates), x = ±0 and y = 0 by case.

const f = (v: number) => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v));
const C = (v: number) => `(v128.const f32x4 ${f(v)} ${f(v)} ${f(v)} ${f(v)})`;
const I = (v: number) => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;

/** The functions, as module fields. */
export const WAT_MATH = `
  (func $vexp (param $x v128) (result v128) (local $n v128) (local $r v128) (local $p v128) (local $ni v128) (local $h v128)
    (local.set $x (f32x4.min (f32x4.max (local.get $x) ${C(-104)}) ${C(89)}))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) ${C(1.4426950408889634)})))
    (local.set $r (f32x4.sub (f32x4.sub (local.get $x) (f32x4.mul (local.get $n) ${C(0.693359375)})) (f32x4.mul (local.get $n) ${C(-2.12194440e-4)})))
    (local.set $p ${C(1 / 5040)})
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1 / 720)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1 / 120)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1 / 24)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1 / 6)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(0.5)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1)}))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${C(1)}))
    (local.set $ni (i32x4.trunc_sat_f32x4_s (local.get $n)))
    (local.set $h (i32x4.shr_s (local.get $ni) (i32.const 1)))
    (local.set $p (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (local.get $h) ${I(127)}) (i32.const 23))))
    (local.set $p (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (i32x4.sub (local.get $ni) (local.get $h)) ${I(127)}) (i32.const 23))))
    (v128.bitselect ${C(Infinity)} (local.get $p) (f32x4.gt (local.get $x) ${C(88.72283935546875)})))

  (func $vlog (param $x v128) (result v128) (local $b v128) (local $e v128) (local $m v128) (local $big v128) (local $s v128) (local $z v128) (local $q v128) (local $r v128) (local $ef v128)
    (local.set $big (f32x4.lt (local.get $x) ${C(1.1754943508222875e-38)}))
    (local.set $b (v128.bitselect (f32x4.mul (local.get $x) ${C(8388608)}) (local.get $x) (local.get $big)))
    (local.set $e (i32x4.sub (i32x4.shr_u (local.get $b) (i32.const 23)) ${I(127)}))
    (local.set $e (i32x4.sub (local.get $e) (v128.and (local.get $big) ${I(23)})))
    (local.set $m (v128.or (v128.and (local.get $b) ${I(0x7fffff)}) ${I(0x3f800000)}))
    (local.set $big (f32x4.gt (local.get $m) ${C(1.4142135623730951)}))
    (local.set $m (v128.bitselect (f32x4.mul (local.get $m) ${C(0.5)}) (local.get $m) (local.get $big)))
    (local.set $e (i32x4.sub (local.get $e) (local.get $big)))
    ;; f = m − 1 in [√½ − 1, √2 − 1]: log(1 + f) = f − f²/2 + f³·P(f), P of degree 8 (Cephes logf), no division
    (local.set $s (f32x4.sub (local.get $m) ${C(1)}))
    (local.set $z (f32x4.mul (local.get $s) (local.get $s)))
    (local.set $q ${C(0.070376836292)})
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(-0.1151461031)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(0.1167699874)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(-0.12420140846)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(0.14249322787)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(-0.16668057665)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(0.20000714765)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(-0.24999993993)}))
    (local.set $q (f32x4.add (f32x4.mul (local.get $q) (local.get $s)) ${C(0.33333331174)}))
    (local.set $q (f32x4.mul (f32x4.mul (local.get $q) (local.get $z)) (local.get $s)))
    (local.set $ef (f32x4.convert_i32x4_s (local.get $e)))
    ;; log x = e·ln2_hi + (f + ((q + e·ln2_lo) − z/2)): the small parts first
    (local.set $r (f32x4.add (f32x4.mul (local.get $ef) ${C(0.693359375)}) (f32x4.add (local.get $s) (f32x4.sub (f32x4.add (local.get $q) (f32x4.mul (local.get $ef) ${C(-2.12194440e-4)})) (f32x4.mul (local.get $z) ${C(0.5)})))))
    (local.set $r (v128.bitselect ${C(-Infinity)} (local.get $r) (f32x4.eq (local.get $x) ${C(0)})))
    (local.set $r (v128.bitselect ${C(Infinity)} (local.get $r) (f32x4.eq (local.get $x) ${C(Infinity)})))
    (v128.bitselect ${C(NaN)} (local.get $r) (v128.not (f32x4.ge (local.get $x) ${C(0)}))))

  (func $vlog1p (param $x v128) (result v128) (local $u v128) (local $l v128) (local $d v128)
    (local.set $u (f32x4.add (local.get $x) ${C(1)}))
    (local.set $d (f32x4.sub (local.get $u) ${C(1)}))
    (local.set $l (call $vlog (local.get $u)))
    ;; log(u)·x/(u−1) where u−1 ≠ 0 and u is finite; x itself where 1+x rounds to 1
    (local.set $l (v128.bitselect
      (f32x4.mul (local.get $l) (f32x4.div (local.get $x) (local.get $d)))
      (local.get $l)
      (v128.and (f32x4.ne (local.get $d) ${C(0)}) (f32x4.lt (f32x4.abs (local.get $u)) ${C(Infinity)}))))
    (v128.bitselect (local.get $x) (local.get $l) (f32x4.eq (local.get $d) ${C(0)})))

  (func $vsigmoid (param $x v128) (result v128) (local $e v128) (local $q v128)
    (local.set $e (call $vexp (f32x4.neg (f32x4.abs (local.get $x)))))
    (local.set $q (f32x4.div ${C(1)} (f32x4.add ${C(1)} (local.get $e))))
    (v128.bitselect (local.get $q) (f32x4.mul (local.get $e) (local.get $q)) (f32x4.ge (local.get $x) ${C(0)})))

  (func $vsoftplus (param $x v128) (result v128)
    (f32x4.add (f32x4.max (local.get $x) ${C(0)}) (call $vlog1p (call $vexp (f32x4.neg (f32x4.abs (local.get $x)))))))

  (func $vpow (param $x v128) (param $y v128) (result v128) (local $a v128) (local $l v128) (local $r v128) (local $yi v128) (local $odd v128) (local $hi v128) (local $t v128)
    (local.set $a (f32x4.abs (local.get $x)))
    (local.set $l (call $vlog (local.get $a)))
    ;; exp(y·log|x|): the error of log|x| (about an ulp) is multiplied by |y·log|x||
    (local.set $hi (f32x4.mul (local.get $y) (local.get $l)))
    (local.set $r (call $vexp (local.get $hi)))
    ;; x < 0: defined for integer y, odd y negates
    (local.set $yi (i32x4.trunc_sat_f32x4_s (local.get $y)))
    (local.set $odd (v128.and (i32x4.eq (v128.and (local.get $yi) ${I(1)}) ${I(1)}) (f32x4.lt (f32x4.abs (local.get $y)) ${C(16777216)})))
    (local.set $r (v128.bitselect (f32x4.neg (local.get $r)) (local.get $r) (v128.and (local.get $odd) (f32x4.lt (local.get $x) ${C(0)}))))
    (local.set $r (v128.bitselect ${C(NaN)} (local.get $r) (v128.and (f32x4.lt (local.get $x) ${C(0)}) (f32x4.ne (f32x4.floor (local.get $y)) (local.get $y)))))
    ;; x = ±0: 0 for y > 0, inf for y < 0 (signed for odd y)
    (local.set $t (v128.bitselect ${C(0)} ${C(Infinity)} (f32x4.gt (local.get $y) ${C(0)})))
    (local.set $t (v128.bitselect (v128.or (local.get $t) (v128.and (local.get $x) ${I(-0x80000000)})) (local.get $t) (local.get $odd)))
    (local.set $r (v128.bitselect (local.get $t) (local.get $r) (f32x4.eq (local.get $x) ${C(0)})))
    (v128.bitselect ${C(1)} (local.get $r) (f32x4.eq (local.get $y) ${C(0)})))
`;

/** The vectorized functions of one argument, by name, and pow of two. */
export const VMATH_UNARY = ['exp', 'log', 'log1p', 'sigmoid', 'softplus'] as const;

/**
 * A module for tests: `<name>(src, dst, n)` applies the function to n f32 at src into dst (n a multiple
 * of 4), `pow(xs, ys, dst, n)`; memory exported as `mem`.
 */
export function printMathModule(): string {
  const loop = (body: string) => `(local $i i32) (block $d (loop $l (br_if $d (i32.ge_u (local.get $i) (i32.shl (local.get $n) (i32.const 2)))) ${body} (local.set $i (i32.add (local.get $i) (i32.const 16))) (br $l)))`;
  const unary = VMATH_UNARY.map((f) => `  (func (export "${f}") (param $src i32) (param $dst i32) (param $n i32) ${loop(`(v128.store (i32.add (local.get $dst) (local.get $i)) (call $v${f} (v128.load (i32.add (local.get $src) (local.get $i)))))`)})`);
  const pow = `  (func (export "pow") (param $xs i32) (param $ys i32) (param $dst i32) (param $n i32) ${loop('(v128.store (i32.add (local.get $dst) (local.get $i)) (call $vpow (v128.load (i32.add (local.get $xs) (local.get $i))) (v128.load (i32.add (local.get $ys) (local.get $i)))))')})`;
  return ['(module', '  (memory (export "mem") 512)', WAT_MATH, ...unary, pow, ')'].join('\n');
}
