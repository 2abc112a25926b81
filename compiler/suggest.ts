// "Did you mean …?" suggestions by edit distance.

export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      const cost = a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + cost);
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidates within a distance that grows with the name's length. */
export function closest(name: string, candidates: Iterable<string>, max = 3): string[] {
  const limit = Math.max(name.length >= 4 ? 2 : 1, Math.floor(name.length / 3));
  // The distance is at least the difference in length: a 50,000-character name costs nothing.
  return [...new Set(candidates)]
    .filter((c) => Math.abs(c.length - name.length) <= limit)
    .map((c) => ({ c, d: editDistance(name, c) }))
    .filter((x) => x.d <= limit)
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, max)
    .map((x) => x.c);
}

/** ` Did you mean `a` or `b`?` — empty when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const c = closest(name, candidates);
  if (c.length === 0) return '';
  return ` Did you mean ${c.map((x) => `\`${x}\``).join(' or ')}?`;
}
