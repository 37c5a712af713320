// chevrotain, the parser toolkit, through one module. `npm run build` replaces
// this file's output (dist/grammar/chevrotain.js) with chevrotain bundled by
// esbuild into one file: chevrotain's own ESM build loads about 600 lodash-es
// files, about 0.35 s at every start of the command, and with the bundle the
// installed package needs neither chevrotain nor lodash-es.
export * from 'chevrotain';
