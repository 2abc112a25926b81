// Extracts the runnable shell commands from the documentation, so a test can run them.
//
// A fenced ```sh block is runnable when the line before it is a marker comment:
//   <!-- runnable -->
//   <!-- runnable needs="my-text.txt t.json" -->
// `needs` names input files the reader is assumed to have; the test provides small ones.
// Each block runs in a fresh folder (with `examples/` linked in), its commands in order,
// so later commands may use what earlier ones wrote. Lines starting with `#` are comments;
// a trailing `\` continues a command on the next line; `# …` after a command is dropped.
import { readFileSync } from 'node:fs';

export interface DocBlock {
  /** The file and 1-based line of the opening fence, for messages. */
  where: string;
  needs: string[];
  commands: string[];
}

const MARKER = /^<!--\s*runnable(?:\s+needs="([^"]*)")?\s*-->\s*$/;

export function runnableBlocks(file: string, text = readFileSync(file, 'utf8')): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]!.trim());
    if (!m) continue;
    const fence = i + 1;
    if (!/^```(sh|bash|console)?\s*$/.test(lines[fence]?.trim() ?? '')) {
      throw new Error(`${file}:${i + 1}: a runnable marker must be followed by a \`\`\`sh block`);
    }
    const end = lines.findIndex((l, k) => k > fence && l.trim() === '```');
    if (end < 0) throw new Error(`${file}:${fence + 1}: unterminated code block`);
    blocks.push({ where: `${file}:${fence + 1}`, needs: m[1]?.split(/\s+/).filter(Boolean) ?? [], commands: commandsOf(lines.slice(fence + 1, end)) });
    i = end;
  }
  return blocks;
}

/** Joins continuation lines, drops comments and blank lines. */
export function commandsOf(lines: string[]): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (!pending && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1).trim() + ' ';
      continue;
    }
    out.push(stripComment(pending + line.trim()));
    pending = '';
  }
  if (pending.trim()) out.push(stripComment(pending.trim()));
  return out;
}

/** Drops a trailing ` # comment` outside quotes. */
function stripComment(cmd: string): string {
  let quote = '';
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && i > 0 && /\s/.test(cmd[i - 1]!)) {
      return cmd.slice(0, i).trim();
    }
  }
  return cmd.trim();
}

/**
 * Small settings: the docs show real runs; the test runs the same commands, shorter. Step
 * counts shrink in proportion (150 → 2, 300 → 4), so a resumed run still has steps to go.
 */
const CLAMPS: Array<[RegExp, string | ((m: string, n: string) => string)]> = [
  [/--steps[ =](\d+)/g, (_m, n) => `--steps ${Math.max(1, Math.ceil(Number(n) / 75))}`],
  [/--max-tokens[ =](\d+)/g, '--max-tokens 8'],
  [/--eval-rows[ =](\d+)/g, '--eval-rows 4'],
  [/--eval-every[ =](\d+)/g, '--eval-every 1'],
  [/--warmup[ =](\d+)/g, '--warmup 1'],
  [/--serve[ =](\d+)/g, '--serve 0'],
];

export function shortened(cmd: string): string {
  const short = CLAMPS.reduce((c, [re, to]) => c.replace(re, to as string), cmd);
  // Validation over 8 rows, not 256, unless the command says how many.
  return /^peftc train\b/.test(short) && !/--eval-rows\b/.test(short) ? `${short} --eval-rows 8` : short;
}
