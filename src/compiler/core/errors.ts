// Errors that mean "the caller's input is wrong" (a shape, a file, a name), as
// opposed to a bug: the CLI prints their message and exits 2, with no stack.

export class InputError extends Error {
  override readonly name: string = 'InputError';
}
