// Module paths in few words: the layers a method is applied to, as index ranges
// (`h.0–11.attn.c_attn`, `h.{1, 3, 5–7}.mlp.c_fc`) instead of one path per layer.

/** `[h.0.attn.c_attn, …, h.11.attn.c_attn]` → `['h.0–11.attn.c_attn']`; first-seen order. */
export function compressPaths(paths: readonly string[]): string[] {
  const groups = new Map<string, number[]>();
  const plain: string[] = [];
  for (const p of paths) {
    const m = /^(.*?)\.(\d+)(\..*)?$/.exec(p);
    if (!m) {
      plain.push(p);
      groups.set(p, []);
      continue;
    }
    const key = `${m[1]}.#${m[3] ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), Number(m[2])]);
  }
  return [...groups].map(([key, idx]) => {
    if (!idx.length) return key;
    const r = ranges(idx);
    return key.replace('#', r.includes(',') ? `{${r}}` : r);
  });
}

/** `[0, 1, 2, 5]` → `0–2, 5`. */
export function ranges(xs: readonly number[]): string {
  const s = [...new Set(xs)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j]! + 1) j++;
    out.push(j === i ? String(s[i]) : j === i + 1 ? `${s[i]}, ${s[j]}` : `${s[i]}–${s[j]}`);
    i = j + 1;
  }
  return out.join(', ');
}
