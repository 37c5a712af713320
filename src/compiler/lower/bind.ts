// Binding a loss's inputs and parameters to IR: each input a full tensor
// (through the activation when the prediction holds logits), each parameter
// its constant (a default or an override). Checks roles, duplicates, the one
// prediction and the parameters' values (E205, E207-E209, E213, E214, E219, E220).

import type * as A from '../front/ast.ts';
import * as B from '../core/build.ts';
import { representable } from '../core/numbers.ts';
import { suggest } from '../front/diagnostics.ts';
import { softmax } from './builtins.ts';
import { type LowerContext, type LoweredInput, type LoweredParam, type Scope, allAxes } from './context.ts';

const ROLES: readonly string[] = ['prob', 'logits', 'target', 'weight', 'map'];

/** The loss's inputs in a fresh scope; `names`: every name the signature binds so far. */
export function bindInputs(cx: LowerContext, loss: A.LossDecl): { scope: Scope; inputs: LoweredInput[]; names: Set<string> } {
  const scope: Scope = new Map();
  const inputs: LoweredInput[] = [];
  const names = new Set<string>();
  for (const i of loss.inputs) {
    if (names.has(i.name)) cx.err('E205', i.span, { name: i.name });
    names.add(i.name);
    if (!ROLES.includes(i.role)) {
      cx.err('E207', i.roleSpan, { name: i.role });
      scope.set(i.name, undefined);
      continue;
    }
    const node = B.input(i.name, allAxes(cx.opts.dims));
    const act = cx.opts.activation ?? 'none';
    if (act !== 'none' && (i.role === 'prob' || i.role === 'logits')) {
      if (i.role === 'logits') cx.err('E220', i.roleSpan, { name: i.name, activation: act });
      inputs.push({ name: i.name, role: 'logits', node });
      scope.set(i.name, act === 'sigmoid' ? B.un('sigmoid', node) : softmax(node));
      continue;
    }
    inputs.push({ name: i.name, role: i.role as A.Role, node });
    scope.set(i.name, node);
  }
  const preds = inputs.filter((i) => i.role === 'prob' || i.role === 'logits');
  if (preds.length === 0 && inputs.length === loss.inputs.length) cx.err('E208', loss.nameSpan, { name: loss.name });
  if (preds.length > 1) cx.err('E209', loss.nameSpan, { name: loss.name, names: preds.map((p) => p.name).join(', ') });
  return { scope, inputs, names };
}

/** The loss's parameters into `scope`: each its override or its literal default. */
export function bindParams(cx: LowerContext, loss: A.LossDecl, overrides: Readonly<Record<string, number>>, scope: Scope, names: Set<string>): LoweredParam[] {
  for (const k of Object.keys(overrides)) {
    if (!loss.params.some((p) => p.name === k)) {
      cx.err('E214', loss.nameSpan, { loss: loss.name, name: k, hint: suggest(k, loss.params.map((p) => p.name)) || `parameters: ${loss.params.map((p) => p.name).join(', ') || 'none'}` });
    }
  }
  const params: LoweredParam[] = [];
  for (const p of loss.params) {
    if (names.has(p.name)) cx.err('E205', p.span, { name: p.name });
    names.add(p.name);
    const dflt = constantValue(p.value);
    const value = overrides[p.name] ?? dflt;
    if (dflt === undefined) cx.err('E213', p.value.span, { name: p.name });
    else if (value !== undefined && !representable(value)) cx.err('E219', p.span, { name: p.name, value: String(value) });
    if (value === undefined || !representable(value) || dflt === undefined) { scope.set(p.name, undefined); continue; }
    params.push({ name: p.name, value, default: dflt });
    scope.set(p.name, B.K(value));
  }
  return params;
}

/** The value of a literal default (`0.5`, `-1`, `--2`), or undefined. */
export function constantValue(e: A.Expr): number | undefined {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'neg') {
    const v = constantValue(e.arg);
    return v === undefined ? undefined : -v;
  }
  return undefined;
}
