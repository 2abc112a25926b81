// Sets of modules written back as patterns: Hugging Face's `target_modules` (names of the last
// path segment, or one regular expression over full names) and the .peft language's globs.

/** Last path segment. */
export function leaf(path: string): string {
  return path.slice(path.lastIndexOf('.') + 1);
}

/**
 * The shortest faithful `target_modules` for `targets` within `universe` (every module path):
 * the leaf names, when each name picks exactly the targets among all modules; otherwise null.
 */
export function leafNames(targets: readonly string[], universe: Iterable<string>): string[] | null {
  const names = [...new Set(targets.map(leaf))].sort();
  const all = [...universe];
  const exact = names.every((n) => {
    const hit = all.filter((u) => leaf(u) === n);
    return hit.length === targets.filter((t) => leaf(t) === n).length && hit.every((u) => targets.includes(u));
  });
  return exact ? names : null;
}

const esc = (s: string): string => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');

/**
 * One regular expression that full-matches exactly these names (Hugging Face PEFT applies a
 * string `target_modules` with `re.fullmatch`). Names differing only in one layer index share
 * an alternation: `transformer\.h\.(1|2|3)\.attn\.c_attn`.
 */
export function exactRegex(names: readonly string[]): string {
  const groups = new Map<string, string[]>();
  const order: string[] = [];
  for (const n of names) {
    const parts = n.split('.');
    const idx = parts.map((p, i) => (/^\d+$/.test(p) ? i : -1)).filter((i) => i >= 0);
    const key = idx.length === 1 ? parts.map((p, i) => (i === idx[0] ? '\u0000' : p)).join('.') : `=${n}`;
    if (!groups.has(key)) order.push(key);
    groups.set(key, [...(groups.get(key) ?? []), idx.length === 1 ? parts[idx[0]!]! : n]);
  }
  const alts = order.map((key) => {
    const vals = groups.get(key)!;
    if (key.startsWith('=')) return esc(vals[0]!);
    const [before, after] = key.split('\u0000') as [string, string];
    const inner = vals.length === 1 ? vals[0]! : `(${vals.join('|')})`;
    return esc(before) + inner + esc(after);
  });
  return alts.length === 1 ? alts[0]! : `(${alts.join('|')})`;
}

/**
 * .peft patterns that match exactly `targets` among `universe`: leaf names where they are exact,
 * then globs with `*` for a layer index where those are exact, then the paths themselves.
 */
export function pefPatterns(targets: readonly string[], universe: Iterable<string>): string[] {
  const all = [...universe];
  const want = new Set(targets);
  const out: string[] = [];
  const done = new Set<string>();
  const byLeaf = new Map<string, string[]>();
  for (const t of targets) byLeaf.set(leaf(t), [...(byLeaf.get(leaf(t)) ?? []), t]);
  for (const [name, group] of byLeaf) {
    const hit = all.filter((u) => leaf(u) === name);
    if (hit.length === group.length && hit.every((u) => want.has(u))) {
      out.push(name);
      for (const g of group) done.add(g);
    }
  }
  const globs = new Map<string, string[]>();
  for (const t of targets) {
    if (done.has(t)) continue;
    const glob = t.split('.').map((p) => (/^\d+$/.test(p) ? '*' : p)).join('.');
    globs.set(glob, [...(globs.get(glob) ?? []), t]);
  }
  for (const [glob, group] of globs) {
    const rx = new RegExp(`^${glob.split('.').map((p) => (p === '*' ? '[^.]*' : esc(p))).join('\\.')}$`);
    const hit = all.filter((u) => rx.test(u));
    if (glob.includes('*') && group.length > 1 && hit.length === group.length && hit.every((u) => want.has(u))) out.push(glob);
    else out.push(...group);
  }
  return out;
}
