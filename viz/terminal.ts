// The module tree for a terminal (`peftc params`): one line per module with its
// parameter count, trainable count and a bar of the trainable share; consecutive
// identical layers collapse into one line (`h.0–11 ×12`) whose counts are totals.
//
//   module          type         params  trainable  trainable share
//   GPT2            GPT2    124,734,720    294,912  ▏·········  0.24%
//   ├─ h.0–11 ×12   Block    85,349,376    294,912  ▏·········  0.35%
import { formatCount, formatShare, methodNote } from './format.ts';
import { METHOD_KEYS, type MethodKey, type VizNode } from './tree.ts';

export interface TreeTextOptions {
  /** ANSI colours (only when writing to a terminal). */
  color?: boolean;
}

const BAR_WIDTH = 10;
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

const ANSI: Record<MethodKey | 'dim' | 'bold', string> = {
  frozen: '\x1b[2m',
  lora: '\x1b[34m',
  adapter: '\x1b[33m',
  prefix: '\x1b[32m',
  prompt: '\x1b[35m',
  ia3: '\x1b[93m',
  train: '\x1b[31m',
  full: '\x1b[36m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
};
const RESET = '\x1b[0m';

interface Line {
  tree: string;
  type: string;
  count: number;
  trainable: number;
  /** The method that trains most of this module's trainable parameters. */
  main?: MethodKey;
  note: string;
}

/** A bar of `share` (0…1) in eighth-blocks; any share above zero shows at least ▏. */
export function shareBar(share: number, width = BAR_WIDTH): { filled: string; empty: string } {
  if (!(share > 0)) return { filled: '', empty: '·'.repeat(width) };
  const eighths = Math.max(1, Math.round(Math.min(share, 1) * width * 8));
  const full = Math.floor(eighths / 8);
  const filled = '█'.repeat(full) + EIGHTHS[eighths % 8];
  return { filled, empty: '·'.repeat(width - [...filled].length) };
}

/** Text that identifies a subtree's structure (not its own name): equal for layers that are copies. */
function signatures(): (n: VizNode) => string {
  const memo = new Map<VizNode, string>();
  const sig = (n: VizNode): string => {
    let s = memo.get(n);
    if (s === undefined) {
      const params = n.params.map((p) => `${p.name}:${p.shape.join('x')}:${p.method}`).join(',');
      s = `${n.type}|${params}|${JSON.stringify(n.methods)}|${n.tiedTo ?? ''}[${n.children.map((c) => `${c.name}=${sig(c)}`).join(';')}]`;
      memo.set(n, s);
    }
    return s;
  };
  return sig;
}

/** Consecutive runs of identical siblings: [first, length]. */
function runs(children: VizNode[], sig: (n: VizNode) => string): { first: VizNode; index: number; n: number }[] {
  const out: { first: VizNode; index: number; n: number }[] = [];
  children.forEach((c, i) => {
    const last = out[out.length - 1];
    if (last && sig(last.first) === sig(c)) last.n++;
    else out.push({ first: c, index: i, n: 1 });
  });
  return out;
}

function mainMethod(n: VizNode): MethodKey | undefined {
  let best: MethodKey | undefined;
  for (const k of METHOD_KEYS) {
    if (k === 'frozen') continue;
    if ((n.byMethod[k] ?? 0) > (best ? n.byMethod[best]! : 0)) best = k;
  }
  return best;
}

function lines(tree: VizNode): { lines: Line[]; grouped: boolean } {
  const sig = signatures();
  const out: Line[] = [];
  let grouped = false;
  const typeOf = (n: VizNode) => (n.tiedTo ? `tied → ${n.tiedTo}` : n.type);
  const emit = (n: VizNode, label: string, type: string, k: number, lead: string, branch: string, childLead: string) => {
    const line: Line = { tree: lead + branch + label, type, count: n.count * k, trainable: n.trainable * k, note: methodNote(n.methods) };
    const main = mainMethod(n);
    if (main) line.main = main;
    out.push(line);
    visitChildren(n, k, childLead);
  };
  const visitChildren = (n: VizNode, k: number, lead: string) => {
    const items = n.repeat !== undefined ? runs(n.children, sig) : n.children.map((c, index) => ({ first: c, index, n: 1 }));
    items.forEach((it, i) => {
      const last = i === items.length - 1;
      const branch = last ? '└─ ' : '├─ ';
      const childLead = lead + (last ? '   ' : '│  ');
      if (n.repeat !== undefined) {
        const range = it.n > 1 ? `${it.index}–${it.index + it.n - 1} ×${it.n}` : String(it.index);
        if (it.n > 1) grouped = true;
        emit(it.first, `${n.name}.${range}`, typeOf(it.first), k * it.n, lead, branch, childLead);
      } else {
        visit(it.first, k, lead, branch, childLead);
      }
    });
  };
  const visit = (n: VizNode, k: number, lead: string, branch: string, childLead: string) => {
    // A repeat whose layers are all identical is one line: `h.0–11 ×12`.
    const only = n.repeat !== undefined && n.children.length > 1 ? runs(n.children, sig) : [];
    if (only.length === 1) {
      grouped = true;
      const c = only[0]!.first;
      const len = n.children.length;
      emit(c, `${n.name}.0–${len - 1} ×${len}`, typeOf(c), k * len, lead, branch, childLead);
      return;
    }
    emit(n, n.name, n.repeat !== undefined ? `repeat ×${n.repeat}` : typeOf(n), k, lead, branch, childLead);
  };
  visit(tree, 1, '', '', '');
  return { lines: out, grouped };
}

/** The tree as text; ends with a newline. */
export function renderTreeText(tree: VizNode, opts: TreeTextOptions = {}): string {
  const { lines: rows, grouped } = lines(tree);
  const paint = (code: string, s: string) => (opts.color && code && s ? code + s + RESET : s);
  const head = { tree: 'module', type: 'type', count: 'params', trainable: 'trainable', share: 'trainable share' };
  const w = {
    tree: Math.max(head.tree.length, ...rows.map((r) => [...r.tree].length)),
    type: Math.max(head.type.length, ...rows.map((r) => [...r.type].length)),
    count: Math.max(head.count.length, ...rows.map((r) => formatCount(r.count).length)),
    trainable: Math.max(head.trainable.length, ...rows.map((r) => formatCount(r.trainable).length)),
    pct: Math.max(...rows.map((r) => formatShare(r.trainable, r.count).length)),
  };
  const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - [...s].length));
  const headLine = [pad(head.tree, w.tree), pad(head.type, w.type), head.count.padStart(w.count), head.trainable.padStart(w.trainable), head.share].join('  ');
  const text = [paint(ANSI.bold, headLine)];
  for (const r of rows) {
    const bar = shareBar(r.count ? r.trainable / r.count : 0);
    const frozen = r.trainable === 0;
    const cells = [
      pad(r.tree, w.tree),
      paint(ANSI.dim, pad(r.type, w.type)),
      formatCount(r.count).padStart(w.count),
      paint(frozen ? ANSI.dim : '', formatCount(r.trainable).padStart(w.trainable)),
      paint(r.main ? ANSI[r.main] : '', bar.filled) + paint(ANSI.dim, bar.empty),
      paint(frozen ? ANSI.dim : '', formatShare(r.trainable, r.count).padStart(w.pct)),
    ];
    if (r.note) cells.push(paint(r.main ? ANSI[r.main] : '', r.note));
    text.push(cells.join('  ').trimEnd());
  }
  if (grouped) text.push('', paint(ANSI.dim, '×N: N identical consecutive layers shown once; their counts are totals over all N.'));
  return text.join('\n') + '\n';
}
