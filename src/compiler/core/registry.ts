// Transitional: the op records' old flat view (kind 'spatial' for stencil and
// host ops, a `host` flag), for the files still being moved onto core/ops/
// (codegen, the runtime's executor and programs, tools/module.ts). New code
// imports core/ops/index.ts; this file goes once nothing imports it.

import { type OpRecord, record as opRecord } from './ops/index.ts';
import type { Op } from './ir.ts';

export type { Domain, EmitContext, TfContext } from './ops/index.ts';

export type LegacyRecord = Omit<OpRecord, 'kind'> & { readonly kind: 'leaf' | 'expand' | 'reduce' | 'elementwise' | 'spatial'; readonly host?: true };

const views = new Map<Op, LegacyRecord>();

/** @deprecated Import `record` from core/ops/index.ts: kind 'spatial' is 'stencil' or 'host' there, `host` is kind 'host'. */
export function record(op: Op): LegacyRecord {
  let v = views.get(op);
  if (!v) {
    const r = opRecord(op);
    v = r.kind === 'stencil' || r.kind === 'host' ? { ...r, kind: 'spatial', ...(r.kind === 'host' ? { host: true } : {}) } : r;
    views.set(op, v);
  }
  return v;
}
