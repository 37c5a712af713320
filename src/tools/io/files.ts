// The file system side of readArray and writeArray: a regular file's bytes,
// read without blocking on a FIFO, and atomic writes (see index.ts).

import { constants as bufferConstants } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { type Stats, chmodSync, closeSync, constants, fstatSync, fsyncSync, openSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ArrayFileError, ElementLimitError } from './types.ts';

/** What a file that is not regular is, for messages. */
function fileKind(st: Stats): string {
  return st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a file';
}

/**
 * The bytes of a regular file of at most `maxBytes`. Opened non-blocking, so a
 * FIFO cannot hold the open, and refused after fstat unless it is a regular file.
 */
export function readRegular(path: string, maxBytes: number, max: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ArrayFileError(path, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : `cannot open (${code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ArrayFileError(path, 'is a directory');
    if (!st.isFile()) throw new ArrayFileError(path, `not a regular file (${fileKind(st)})`);
    if (st.size > maxBytes) throw new ElementLimitError(path, `${st.size} bytes, more than a file of at most ${max} elements needs (${maxBytes} bytes), the limit`);
    if (st.size > bufferConstants.MAX_LENGTH) throw new ArrayFileError(path, `${st.size} bytes, more than Node can read at once (${bufferConstants.MAX_LENGTH})`);
    const buf = Buffer.allocUnsafeSlow(st.size); // its own ArrayBuffer, at offset 0
    let n = 0;
    for (let k; n < st.size && (k = readSync(fd, buf, n, st.size - n, n)) > 0;) n += k;
    return n === st.size ? buf : buf.subarray(0, n);
  } catch (e) {
    if (e instanceof ArrayFileError) throw e;
    throw new ArrayFileError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}

/**
 * `bytes` into `path` through a temporary file in the same folder and a rename:
 * readers never see half a file, and an error leaves the old file as it was.
 * A symlink is followed (the link stays); anything but a regular file is refused.
 */
export function writeAtomic(path: string, bytes: Uint8Array): void {
  let target = path, mode: number | undefined;
  try { target = realpathSync(path); } catch { /* a new file */ }
  let st: Stats | undefined;
  try { st = statSync(target); } catch { /* a new file */ }
  if (st?.isDirectory()) throw new ArrayFileError(path, 'is a directory');
  if (st && !st.isFile()) throw new ArrayFileError(path, `not a regular file (${fileKind(st)})`);
  if (st) mode = st.mode & 0o7777;
  const tmp = join(dirname(target), `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o666);
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, target);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw new ArrayFileError(path, `cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
