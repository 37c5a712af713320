// The HTML shell of every catalogue page: the stylesheet (readable from phone
// width up: figures and tables shrink or wrap, wide formulas scroll inside
// their box, never the page) and, on the index only, the search box's script.

import { esc } from './text.ts';

const STYLE = `
*, *::before, *::after { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 1.5em auto; padding: 0 1em; color: #222; overflow-wrap: break-word; }
h1 { font-size: 1.6em; line-height: 1.25; } h1 code, code { overflow-wrap: anywhere; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: .35em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.n { text-align: right; }
.scroll { max-width: 100%; overflow-x: auto; }
[hidden] { display: none !important; }
table.losses { width: 100%; } table.losses td:first-child code { overflow-wrap: normal; white-space: nowrap; } table.losses td.cite { font-size: 90%; color: #555; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; max-width: 100%; }
pre.source, pre.use { white-space: pre-wrap; overflow-wrap: anywhere; } .file { margin-bottom: 0; font-family: monospace; color: #555; }
dt { font-weight: 600; } dd { margin: 0 0 .5em 1.5em; }
.katex-display { overflow-x: auto; overflow-y: hidden; padding: .5em 0; max-width: 100%; }
.formula h3, .use-it h3 { font-size: 1em; margin: 1em 0 .2em; color: #444; }
figure { margin: 1em 0 2em; max-width: 100%; } figcaption { color: #555; font-size: 90%; max-width: 640px; }
svg.plot, svg.heatmap { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #333; } .note, .absent { color: #8a5a00; }
.eqnote, .defaults { color: #555; font-size: 90%; } .defaults { margin: 0; }
ul.eq { padding-left: 1.2em; } ul.eq li { margin-bottom: .6em; } .lib { font-weight: 600; }
nav.groups a { margin-right: .8em; white-space: nowrap; }
#search { font: inherit; padding: .4em .6em; width: 100%; max-width: 28em; margin: .5em 0 1em; }
@media (max-width: 700px) {
  body { margin: 1em auto; font-size: 15px; }
  dd { margin-left: .8em; }
  table.losses tr:first-child { display: none; }
  table.losses, table.losses tbody, table.losses tr, table.losses td { display: block; width: 100%; }
  table.losses tr { padding: .5em 0; border-bottom: 1px solid #ddd; }
  table.losses td { border: 0; padding: .1em 0; text-align: left; }
  table.losses td.n::before { content: "passes: "; color: #555; }
  table.losses td:nth-child(2) { font-weight: 600; }
}
`;

/** Filters the index's rows by the words typed (every word must occur in the row); hides empty groups. */
const SEARCH = `
const box = document.getElementById('search');
const filter = () => {
  const words = box.value.toLowerCase().split(/\\s+/).filter(Boolean);
  for (const section of document.querySelectorAll('section.group')) {
    let shown = 0;
    for (const row of section.querySelectorAll('tr[data-search]')) {
      const hit = words.every((w) => row.dataset.search.includes(w));
      row.hidden = !hit;
      if (hit) shown++;
    }
    section.hidden = shown === 0;
  }
  document.getElementById('count').textContent = words.length ? document.querySelectorAll('tr[data-search]:not([hidden])').length + ' match' : '';
};
box.addEventListener('input', filter);
filter();
`;

export function html(title: string, body: string, opts: { search?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="stylesheet" href="assets/katex.min.css">
<style>${STYLE}</style></head>
<body>
${body}
${opts.search ? `<script>${SEARCH}</script>` : ''}
</body></html>
`;
}
