// The hover texts' markdown (paragraphs, `code` and **bold**: all the language server writes)
// as HTML, escaped first so that no text of the program becomes markup.
export function markdownToHtml(md: string): string {
  return md
    .split(/\n{2,}/)
    .map((para) => `<p>${inline(para).replace(/\n/g, '<br>')}</p>`)
    .join('');
}

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]*)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
