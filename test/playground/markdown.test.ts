// The hover text goes into the page as HTML: what the program says (a target string can hold
// anything) must come out as text, never as markup.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownToHtml } from '../../playground/markdown.ts';
import { PlaygroundWorkspace } from '../../playground/workspace.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');

function workspace(): PlaygroundWorkspace {
  const files: Record<string, string> = {};
  for (const f of readdirSync(EXAMPLES).filter((n) => n.endsWith('.peft'))) files[`examples/${f}`] = readFileSync(join(EXAMPLES, f), 'utf8');
  return new PlaygroundWorkspace(files, 'examples/tiny-gpt-lora.peft');
}

describe('the playground\'s hover HTML', () => {
  it('keeps the language server\'s code and bold, one paragraph per blank line', () => {
    expect(markdownToHtml('**member** `c_attn` of `Attention`\n\npath: `h.0.attn.c_attn`')).toBe('<p><strong>member</strong> <code>c_attn</code> of <code>Attention</code></p><p>path: <code>h.0.attn.c_attn</code></p>');
  });

  it('escapes markup a target string brings into the hover text', () => {
    const ws = workspace();
    const text = 'import "tiny-gpt.peft"\npeft {\n  lora(rank = 2) on "<img src=x onerror=alert(1)>"\n}\n';
    ws.update('examples/tiny-gpt-lora.peft', text);
    const hover = ws.hover(text.indexOf('<img') + 2);
    expect(hover).toContain('<img src=x onerror=alert(1)>');
    const html = markdownToHtml(hover!);
    expect(html).not.toContain('<img');
    expect(html).toContain('&#60;img src=x onerror=alert(1)&#62;');
  });

  it('answers from the edited text: diagnostics, completion of module paths', () => {
    const ws = workspace();
    const text = 'import "tiny-gpt.peft"\npeft {\n  lora(rnak = 2) on "h.0.mlp."\n}\n';
    ws.update('examples/tiny-gpt-lora.peft', text);
    expect(ws.diagnostics().map((d) => d.message).join('\n')).toMatch(/rnak/);
    const labels = ws.complete(text.indexOf('mlp.') + 4).map((c) => c.label);
    expect(labels).toEqual(expect.arrayContaining(['c_fc', 'c_proj']));
  });
});
