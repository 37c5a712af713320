// The knobs' names: the one list. Their meaning, parsing and application live in
// src/compiler/lower/knobs.ts; the list sits here, below lowering, so that the
// diagnostics table (E225's hint) and everything above (the CLI's help, the API)
// read it too. tests/lists.test.ts checks the README's knob table against it.

export const KNOB_NAMES = ['activation', 'region', 'include_background', 'class_weights', 'mask', 'ignore_index', 'reduction', 'class_distances', 'label_smoothing'] as const;

export type KnobName = (typeof KNOB_NAMES)[number];
