// Shortening text a user wrote before it is echoed in a message: a 30,000-character
// pattern or name is shown as its beginning and end around `…`, never in full.

/** `text` if it has at most `max` characters, else its head and tail around `…` (`max` in all). */
export function elide(text: string, max = 60): string {
  if (text.length <= max) return text;
  const keep = Math.max(2, max - 1);
  const head = Math.ceil(keep / 2);
  const tail = keep - head;
  return `${cut(text, 0, head)}…${cut(text, text.length - tail, text.length)}`;
}

/** text.slice(from, to), moved off the middle of a surrogate pair so no half character shows. */
export function cut(text: string, from: number, to: number): string {
  const low = (i: number) => i > 0 && i < text.length && (text.charCodeAt(i) & 0xfc00) === 0xdc00;
  if (low(from)) from++;
  if (low(to)) to--;
  return text.slice(from, Math.max(from, to));
}
