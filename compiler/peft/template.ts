// Prompt templates: where a prompt's virtual tokens go among the input text's pieces.
//
//   prompt(template = "[P:4] {sentence} [P:2] It was")
//
// `[P:n]` places n virtual tokens (group g gets its own table `prompt_embeddings.g` [n, d]),
// `{name}` the tokens of the data's field `name` (JSONL; `text` for plain text), and anything
// else is literal text, tokenized on its own. Whitespace next to a `[P:n]` marker only separates
// (virtual tokens are not text); other spaces belong to the literal text.
//
// In the graph the virtual tokens are ids past the vocabulary: the data side writes group g's
// token k as N + start_g + k (N the embedding's rows), and the embedding becomes soft_embedding
// over the table and the groups' tables concatenated. Shapes stay those of the token rows.
// Pure and isomorphic: the data side (runtime/data/template.ts) fills templates with tokens.

export type TemplatePiece =
  /** Virtual tokens start … start+length−1 of the concatenated soft table. */
  | { kind: 'soft'; group: number; length: number; start: number }
  | { kind: 'field'; name: string }
  | { kind: 'text'; text: string };

export interface PromptTemplate {
  source: string;
  pieces: TemplatePiece[];
  /** Length of each group, in order. */
  groups: number[];
  /** All virtual tokens (Σ groups). */
  virtual: number;
  /** The fields, in order of appearance. */
  fields: string[];
}

const MARKER = /\[P:(\d+)\]|\{([A-Za-z_][A-Za-z0-9_-]*)\}/g;

/** The template, or what is wrong with it. */
export function parseTemplate(source: string): PromptTemplate | string {
  const raw: TemplatePiece[] = [];
  let at = 0;
  let start = 0;
  const groups: number[] = [];
  for (const m of source.matchAll(MARKER)) {
    if (m.index! > at) raw.push({ kind: 'text', text: source.slice(at, m.index) });
    if (m[1] !== undefined) {
      const n = Number(m[1]);
      if (!(n >= 1)) return `\`${m[0]}\` places no virtual token; write [P:n] with n ≥ 1`;
      raw.push({ kind: 'soft', group: groups.length, length: n, start });
      groups.push(n);
      start += n;
    } else {
      raw.push({ kind: 'field', name: m[2]! });
    }
    at = m.index! + m[0].length;
  }
  if (at < source.length) raw.push({ kind: 'text', text: source.slice(at) });
  const pieces: TemplatePiece[] = [];
  raw.forEach((p, i) => {
    if (p.kind !== 'text') return void pieces.push(p);
    let text = p.text;
    if (raw[i - 1]?.kind === 'soft') text = text.trimStart();
    if (raw[i + 1]?.kind === 'soft') text = text.trimEnd();
    if (text !== '') pieces.push({ kind: 'text', text });
  });
  for (const p of pieces) {
    if (p.kind !== 'text') continue;
    if (/[{}]/.test(p.text)) return `${JSON.stringify(p.text)} has a brace that is not a field: fields are written {name}, with a letter or _ first`;
    if (/\[P:/i.test(p.text)) return `${JSON.stringify(p.text)} has a malformed virtual-token marker: write [P:n], e.g. [P:4]`;
  }
  if (!groups.length) return 'it places no virtual tokens; add [P:n], e.g. "[P:8] {text}"';
  const fields = pieces.flatMap((p) => (p.kind === 'field' ? [p.name] : []));
  if (!fields.length) return 'it names no field of the data; add one, e.g. {text} or {sentence}';
  return { source, pieces, groups, virtual: start, fields };
}

/**
 * The template's prefixed form `[P:n] {field}` (one group first, then one field and nothing
 * else): Hugging Face PEFT's prompt tuning. Returns n, or null for any other template.
 */
export function prefixedLength(t: PromptTemplate): number | null {
  const [a, b, ...rest] = t.pieces;
  return a?.kind === 'soft' && b?.kind === 'field' && rest.length === 0 ? a.length : null;
}

/** Path of group g's table. */
export const softTable = (g: number): string => `prompt_embeddings.${g}`;

/** The prompt template of a compiled graph and N, the rows of the table it extends; undefined without one. */
export function promptTemplateOf(g: { params: { method?: { name: string; settings: Record<string, number | string | boolean> } }[]; nodes: { op: string; inputs: number[]; shape: (number | string)[] }[] }): { template: PromptTemplate; base: number } | undefined {
  const p = g.params.find((x) => x.method?.name === 'prompt' && typeof x.method.settings.template === 'string' && x.method.settings.template !== '');
  const node = g.nodes.find((n) => n.op === 'soft_embedding');
  if (!p || !node) return undefined;
  const t = parseTemplate(p.method!.settings.template as string);
  if (typeof t === 'string') throw new Error(`internal: the compiled template does not parse: ${t}`);
  return { template: t, base: g.nodes[node.inputs[0]!]!.shape[0] as number };
}
