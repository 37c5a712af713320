// fast-check generators of random .loss formulas: elementwise ops, reductions
// over random axis sets, bindings used more than once, broadcasting by axis name.
// No detach: its zero gradient is by definition, so finite differences disagree.
// Every formula keeps its values finite on inputs p ∈ (0, 1), g ∈ {0, 1}, w > 0.

import fc from 'fast-check';

const AXES = ['batch', 'class', 'y', 'x'] as const;
type Ax = (typeof AXES)[number];
interface E { text: string; axes: readonly Ax[] }

const UNARY: ((s: string) => string)[] = [
  (s) => `sigmoid(${s})`, (s) => `tanh(${s})`, (s) => `softplus(${s})`, (s) => `logsigmoid(${s})`,
  (s) => `logcosh(${s})`, (s) => `abs(${s})`, (s) => `exp(tanh(${s}))`, (s) => `log(1 + (${s})^2)`,
  (s) => `sqrt(1 + (${s})^2)`, (s) => `-(${s})`, (s) => `(${s})^2`,
  (s) => `clip(${s}, 0.1, 0.9)`, (s) => `relu(${s} - 0.5)`, (s) => `log1p(sigmoid(${s}))`,
  // Spatial ops: a Gaussian window (zero padding), distance maps, the interior mask.
  (s) => `window(${s}, gaussian(3, 1.0))`, (s) => `(${s}) * edt(g) / 4`, (s) => `(${s}) * interior(3)`,
  // Scale levels: 2x average pooling (one and two levels down), a window at the coarser level (taps
  // 2 apart), summed over the level's lattice (interior(1, s) selects it): no spatial axis is left.
  (s) => `sum[space](interior(1, 1) * sigmoid(window(avgpool2(${s}), gaussian(3, 1.0))))`,
  (s) => `sum[space](interior(1, 2) * avgpool2(avgpool2(${s}))^2)`,
];
/** The axes of a unary form's result, from its argument's. */
function unaryAxes(form: string, axes: readonly Ax[]): Ax[] {
  if (form.startsWith('sum[space]')) return axes.filter((a) => a !== 'y' && a !== 'x');
  return /^(window|maxpool|minpool)/.test(form) ? union(axes, ['y', 'x']) : [...axes];
}
// Pools and box windows make exact ties on small images (two positions, one max), where
// subgradient conventions differ from finite differences and tf.maxPool: backend tests only.
const TIED: ((s: string) => string)[] = [(s) => `window(${s}, box(3))`, (s) => `maxpool(${s}, 3)`, (s) => `minpool(${s}, 3)`];
const BINARY: ((a: string, b: string) => string)[] = [
  (a, b) => `${a} + ${b}`, (a, b) => `(${a}) - (${b})`, (a, b) => `(${a}) * (${b})`,
  (a, b) => `(${a}) / (1 + (${b})^2)`, (a, b) => `max(${a}, ${b})`, (a, b) => `min(${a}, ${b})`,
  (a, b) => `where(${a} > ${b}, ${a}, 0.5 * (${b}))`, (a, b) => `pow(1 + (${a})^2, sigmoid(${b}))`,
];
const REDUCE = ['sum', 'mean', 'max', 'min'] as const;

function union(a: readonly Ax[], b: readonly Ax[]): Ax[] {
  return AXES.filter((x) => a.includes(x) || b.includes(x));
}

function exprArb(leaves: readonly E[], continuous: boolean): fc.Arbitrary<E> {
  // `where` jumps at its threshold: a float32 backend and the float64 reference may
  // land on opposite sides of a near-tie, so backend comparisons leave it out.
  const binary = continuous ? BINARY.filter((f) => !f('a', 'b').startsWith('where')) : BINARY;
  const unary = continuous ? [...UNARY, ...TIED] : UNARY;
  const { e } = fc.letrec<{ e: E }>((tie) => ({
    e: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.oneof(fc.constantFrom(...leaves), fc.double({ min: -2, max: 2, noNaN: true }).map((v) => ({ text: v.toFixed(3), axes: [] as Ax[] }))),
      fc.tuple(tie('e'), fc.nat(unary.length - 1)).map(([x, i]) => ({ text: unary[i]!(x.text), axes: unaryAxes(unary[i]!('s'), x.axes) })),
      fc.tuple(tie('e'), tie('e'), fc.nat(binary.length - 1)).map(([a, b, i]) => ({ text: `(${binary[i]!(a.text, b.text)})`, axes: union(a.axes, b.axes) })),
      fc.tuple(tie('e'), fc.constantFrom(...REDUCE), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 })).map(([x, op, pick]) => {
        const over = x.axes.filter((_, i) => pick[i]);
        if (over.length === 0) return { text: `${op}(${x.text})`, axes: [] as Ax[] };
        return { text: `${op}[${over.join(', ')}](${x.text})`, axes: x.axes.filter((a) => !over.includes(a)) };
      }),
    ),
  }));
  return e;
}

const INPUTS: E[] = [{ text: 'p', axes: AXES }, { text: 'g', axes: AXES }, { text: 'w', axes: AXES }];

/** A whole .loss source: two bindings (the second may use the first), a result using both. */
function lossArb(continuous: boolean): fc.Arbitrary<string> {
  return exprArb(INPUTS, continuous).chain((b1) =>
    exprArb([...INPUTS, { text: 't1', axes: b1.axes }], continuous).chain((b2) =>
      exprArb([...INPUTS, { text: 't1', axes: b1.axes }, { text: 't2', axes: b2.axes }], continuous).map((r) =>
        [
          'loss random(p: prob, g: target, w: weight)',
          `  t1 = ${b1.text}`,
          `  t2 = ${b2.text}`,
          `  = sum((${r.text}) * p + t1 * t2)`,
        ].join('\n'),
      ),
    ),
  );
}

export const lossSource = lossArb(false);
/** Without discontinuous ops, for float32 backends against the float64 reference. */
export const continuousLossSource = lossArb(true);

/** Random 2-D shapes in nhwc, odd sizes and 1x1 images included. */
export const shape2d: fc.Arbitrary<number[]> = fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }));
