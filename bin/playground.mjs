#!/usr/bin/env node
// The playground (issue 13): builds src/playground/ with esbuild into a folder
// (src/playground/write.ts) and serves it on localhost with node:http, printing
// the URL. The page is served cross-origin isolated (COOP/COEP), so the js
// backend's Web Workers share memory; http://localhost is a secure context, so
// WebGPU can start where the browser has it.
//
//   node bin/playground.mjs [--port 8765] [--host 127.0.0.1] [--no-minify]
//   node bin/playground.mjs --out DIR          # write the built page into DIR and exit
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.woff2': 'font/woff2', '.woff': 'font/woff', '.ttf': 'font/ttf', '.json': 'application/json', '.loss': 'text/plain; charset=utf-8',
};
const ISOLATED = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-store' };

/** Serve the files of `dir` on host:port; resolves with the server and its URL, rejects with a clear message when the port is taken. */
export function serve(dir, { port = 8765, host = '127.0.0.1' } = {}) {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...ISOLATED }).end(readFileSync(file));
  });
  return new Promise((ok, fail) => {
    server.once('error', (e) => fail(e.code === 'EADDRINUSE'
      ? new Error(`port ${port} on ${host} is already in use: stop what holds it, or pass --port N (--port 0 picks a free one)`)
      : e));
    server.listen(port, host, () => {
      const a = server.address();
      ok({ server, url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  if (args.includes('--help')) {
    console.log('usage: node bin/playground.mjs [--port 8765] [--host 127.0.0.1] [--no-minify]\n       node bin/playground.mjs --out DIR   (write the built page and exit)');
    process.exit(0);
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { writePlayground } = await import('../src/playground/write.ts');
  const out = opt('--out');
  const dir = out ? resolve(out) : mkdtempSync(join(tmpdir(), 'segloss-playground-'));
  const t0 = performance.now();
  const built = await writePlayground(dir, { minify: !args.includes('--no-minify') });
  const note = `built ${built.dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s: playground.js ${(built.bytes / 1024).toFixed(0)} KiB, ${built.losses} library losses`;
  if (out) { console.log(note); process.exit(0); }
  console.log(note);
  // The built folder is a temporary one: removed when the server stops or cannot start.
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const { url } = await serve(dir, { port: Number(opt('--port') ?? 8765), host: opt('--host') ?? '127.0.0.1' });
    console.log(`segloss playground: ${url}  (Ctrl-C stops it)`);
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(0); });
  } catch (e) {
    cleanup();
    console.error(`segloss playground: ${e.message}`);
    process.exit(1);
  }
}
