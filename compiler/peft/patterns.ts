// Target patterns over module paths, as Hugging Face's `target_modules` reads them:
// a pattern with no dot names the last path segment (`"c_attn"` matches every
// `h.N.attn.c_attn`); otherwise it is a glob over the whole path, where `*` matches
// within one segment and `**` across segments.

export interface PathPattern {
  text: string;
  matches(path: string): boolean;
}

export function compilePattern(text: string): PathPattern {
  const suffixOnly = !text.includes('.') && !text.includes('**');
  let re = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '*' && text[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^.]*';
    else if (c === '?') re += '[^.]';
    else re += c.replace(/[\\^$+.()|{}[\]]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`);
  return {
    text,
    matches: (path) => rx.test(suffixOnly ? path.slice(path.lastIndexOf('.') + 1) : path),
  };
}
