// `npm run bench [-- flags]`: the `segloss bench` command itself (src/cli/commands/bench.ts),
// through the CLI's own error handling; the flags are the command's (`npm run bench -- --help`).
// package.json runs it with --expose-gc, so each row's memory baseline follows a full GC.

process.argv.splice(2, 0, 'bench');
await import('../src/cli/main.ts');
