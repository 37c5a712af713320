// Scale levels (see core/ir.ts): 0 for the inputs, one more after each
// avgpool2, else the level of a value's sources; undefined for a value constant
// over space (a scalar, a per-class value), which fits every level. Lowering
// asks for each value it builds; a clash is E223 at the expression.

import type { Node } from '../core/ir.ts';
import { isSpatial } from '../core/ir.ts';
import { record } from '../core/ops/index.ts';

/** Two sources at different levels, or a coarser value given to an op that runs at full resolution. */
export interface LevelClash { a: number; b: number; fullResolution: boolean }

/** The scale levels of the values lowered so far, by node id. */
export class Levels {
  private readonly known = new Map<number, number | undefined>();

  /** The level of n, which must not clash (lowering reported E223 where it would). */
  of(n: Node): number | undefined {
    const l = this.orClash(n);
    if (typeof l === 'object') throw new Error(`internal: node ${n.id} (${n.op}) mixes scale levels ${l.a} and ${l.b}`);
    return l;
  }

  /**
   * The level of n, or the clash: two sources at different levels, or an op
   * that runs at full resolution (pools, distance maps, sorts: the op record's
   * `fullResolution`) given a coarser value.
   */
  orClash(n: Node): number | undefined | LevelClash {
    if (this.known.has(n.id)) return this.known.get(n.id);
    let l: number | undefined;
    for (const src of n.src) {
      const ls = this.orClash(src);
      if (typeof ls === 'object') return ls;
      if (ls === undefined) continue;
      if (l !== undefined && l !== ls) return { a: l, b: ls, fullResolution: false };
      l = ls;
    }
    const r = record(n.op);
    if (l && r.fullResolution) return { a: l, b: 0, fullResolution: true };
    if (!n.axes.some(isSpatial)) l = undefined;
    else if (n.op === 'input') l = 0;
    else if (r.level) l = r.level(n);
    this.known.set(n.id, l);
    return l;
  }
}

/** E223's hint for a clash. */
export function clashHint(c: LevelClash): string {
  return c.fullResolution
    ? 'maxpool, minpool, edt, sdt, sorted and cumsum run at full resolution (level 0), before any avgpool2'
    : 'each avgpool2 moves a value one level down; combine values of one level (scalars and values reduced over space fit every level)';
}
