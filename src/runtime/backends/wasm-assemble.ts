// WebAssembly text to a module, by wabt's assembler (loaded once per process,
// on first use): the wasm backend's kernels (backends/wasm.ts) and its memory's
// probability check (backends/wasm-arena.ts).

interface Wabt {
  parseWat(file: string, text: string, features?: Record<string, boolean>): { toBinary(o: object): { buffer: Uint8Array }; validate(): void; destroy(): void };
}

let wabt: Wabt | undefined;
let loading: Promise<Wabt> | undefined;

/** Load the assembler (once per process): the backend's kernels are built synchronously afterwards. */
export async function loadWasm(): Promise<void> {
  if (wabt) return;
  loading ??= import('wabt').then(async (m) => {
    const init = ((m as { default?: unknown }).default ?? m) as () => Promise<Wabt>;
    return init();
  });
  wabt = await loading;
}

/** WAT text to a compiled module. */
export function assemble(wat: string, name = 'kernel.wat'): WebAssembly.Module {
  if (!wabt) throw new Error('internal: the wasm backend was not loaded (loadWasm)');
  const m = wabt.parseWat(name, wat, { simd: true, threads: true, mutable_globals: true, sat_float_to_int: true, sign_extension: true, bulk_memory: true });
  try {
    // No m.validate(): wabt's validator refuses shared memories whatever the features; the engine validates.
    const bytes = m.toBinary({}).buffer;
    return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  } finally {
    m.destroy();
  }
}
