// Text for the catalogue's pages: HTML escaping, header prose with its
// backticks as code and its arXiv identifiers as links, and the groups of the
// index.

export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** Header prose as HTML: `code` in backticks becomes <code>, everything else escaped. */
export function prose(s: string): string {
  return s.split(/(`[^`]+`)/).map((part) => (/^`[^`]+`$/.test(part) ? `<code>${esc(part.slice(1, -1))}</code>` : flags(esc(part)))).join('');
}

/** Command-line flags in escaped prose (`--param smooth=0`, `--activation softmax`) as code; a run of them is one piece. */
function flags(html: string): string {
  return html.replace(/--[a-z][a-z_-]*(?:[ =](?!-)[^\s,;()]+)?(?: --[a-z][a-z_-]*(?:[ =](?!-)[^\s,;()]+)?)*/g, (m) => {
    const tail = /[.:]$/.exec(m)?.[0] ?? '';
    return `<code>${tail ? m.slice(0, -1) : m}</code>${tail}`;
  });
}

/**
 * A citation as HTML: each arXiv identifier a link to its abstract page; a citation
 * without one gets a link that searches for it (Google Scholar).
 */
export function citation(s: string): string {
  if (!s) return '';
  const parts = prose(s).split(/(arXiv:\d{4}\.\d{4,5}(?:v\d+)?)/);
  const linked = parts.map((p) => (/^arXiv:/.test(p) ? `<a href="https://arxiv.org/abs/${p.slice(6)}">${p}</a>` : p)).join('');
  return parts.length > 1 ? linked : `${linked} <a class="find" href="https://scholar.google.com/scholar?q=${encodeURIComponent(s)}">find it</a>`;
}

/** The index's groups, in order, by loss name; a name in none is "other". */
export const GROUPS: { id: string; title: string; blurb: string; names: string[] }[] = [
  { id: 'distribution', title: 'Distribution-based', blurb: 'per-pixel cross-entropy and its weighted and focal forms', names: ['bce', 'ce', 'weighted_ce', 'balanced_ce', 'focal', 'categorical_focal', 'distance_penalty_ce'] },
  { id: 'region', title: 'Region-based', blurb: 'overlap of prediction and target over a region: Dice, Jaccard, Tversky and kin, and the windowed structural similarity', names: ['dice', 'log_dice', 'log_cosh_dice', 'generalized_dice', 'generalized_wasserstein_dice', 'jaccard', 'tversky', 'focal_tversky', 'sensitivity_specificity', 'mcc', 'lovasz_hinge', 'lovasz_softmax', 'ssim', 'ms_ssim'] },
  { id: 'boundary', title: 'Boundary, distance and topology', blurb: 'distance maps, contours and skeletons', names: ['boundary', 'hausdorff_dt', 'log_hausdorff_dt', 'shape_aware', 'cldice'] },
  { id: 'compound', title: 'Compound', blurb: 'sums of the above', names: ['combo', 'bce_dice', 'dice_ce', 'dice_focal', 'dice_cldice', 'exp_log', 'asym_unified_focal', 'cmssl', 'unet3p_hybrid', 'basnet_hybrid'] },
  { id: 'seed', title: 'Seed variants', blurb: "SemSegLoss's exact constants: global sums, smooth 1", names: ['seed_dice', 'seed_jaccard', 'seed_tversky', 'seed_focal_tversky', 'seed_log_cosh_dice'] },
];

export function groupOf(name: string): string {
  return GROUPS.find((g) => g.names.includes(name))?.id ?? (name.startsWith('seed_') ? 'seed' : 'other');
}
