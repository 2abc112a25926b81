// `peftc fmt FILE…`: rewrites .peft files in the canonical layout (grammar/format-source.ts);
// `--check` changes nothing and exits 1 if any file would change. A file with syntax errors is
// left as it is, its errors printed as `peftc check` prints them.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { formatSource } from '../grammar/format-source.ts';
import { reportText } from './common.ts';

export interface FmtFlags {
  check?: boolean;
}

/** The largest file formatted: .peft files are small; a bigger one is a mistake (a weights file). */
const MAX_BYTES = 16 * 1024 * 1024;

export function fmtCommand(files: string[], flags: FmtFlags): number {
  let failed = false;
  let unformatted = 0;
  for (const file of files) {
    const text = readSource(file);
    if (text === undefined) {
      failed = true;
      continue;
    }
    const res = formatSource(text, file);
    if (res.text === undefined) {
      process.stderr.write(reportText({ diagnostics: res.diagnostics, texts: new Map([[file, text]]) }));
      failed = true;
    } else if (res.text !== text) {
      unformatted++;
      if (flags.check) process.stdout.write(`${file}: not formatted\n`);
      else {
        writeFileSync(file, res.text);
        process.stdout.write(`${file}: formatted\n`);
      }
    }
  }
  if (flags.check && unformatted) process.stderr.write(`${unformatted} file${unformatted === 1 ? '' : 's'} would be reformatted by \`peftc fmt\`\n`);
  return failed || (flags.check && unformatted) ? 1 : 0;
}

/** The file's text, or undefined after printing one line on why it cannot be read. */
function readSource(file: string): string | undefined {
  try {
    const st = statSync(file);
    if (!st.isFile()) return fail(file, 'not a file');
    if (st.size > MAX_BYTES) return fail(file, `${st.size} bytes; a .peft file is at most ${MAX_BYTES}`);
    const text = readFileSync(file, 'utf8');
    if (text.includes('\u0000')) return fail(file, 'a binary file, not a .peft file');
    return text;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(file, code === 'ENOENT' ? 'no such file' : (e as Error).message);
  }
}

function fail(file: string, why: string): undefined {
  process.stderr.write(`peftc: ${file}: ${why}\n`);
  return undefined;
}
