// Every command the documentation marks as runnable (<!-- runnable --> before a ```sh block)
// runs, on small settings, and exits 0: the docs cannot drift from the command again.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandsOf, runnableBlocks, shortened, type DocBlock } from './doc-commands.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const DOCS = ['README.md', 'examples/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const BLOCKS: DocBlock[] = DOCS.flatMap((f) => runnableBlocks(join(ROOT, f)).map((b) => ({ ...b, where: b.where.slice(ROOT.length + 1) })));

/** Inputs a reader is assumed to have, made small. */
function provide(dir: string, name: string): void {
  const text = 'It is a truth universally acknowledged, that a single model in possession of a good base must be in want of an adapter. '.repeat(40);
  if (name.endsWith('.txt')) writeFileSync(join(dir, name), text);
  else if (name.endsWith('.json')) writeFileSync(join(dir, name), JSON.stringify([Array.from({ length: 16 }, (_, i) => (i * 7) % 200), Array.from({ length: 16 }, (_, i) => (i * 11) % 200)]));
  else if (name.endsWith('.jsonl')) writeFileSync(join(dir, name), Array.from({ length: 40 }, (_, i) => JSON.stringify({ prompt: `Q${i}: `, completion: `A${i}\n` })).join('\n'));
  else throw new Error(`no sample for needs="${name}"`);
}

function sandbox(block: DocBlock): string {
  const dir = mkdtempSync(join(tmpdir(), 'peftc-doc-'));
  symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
  // A built trainer imports the `webgpu` package, found from the folder it was built in.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (const n of block.needs) provide(dir, n);
  return dir;
}

const PRELUDE = `set -eo pipefail; peftc() { node ${JSON.stringify(join(ROOT, 'bin/peftc.js'))} "$@"; }\n`;

function run(cmd: string, cwd: string): { code: number; out: string } {
  const r = spawnSync('bash', ['-c', PRELUDE + cmd], { cwd, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

/** A server command: it must print its address, and the page there must load. */
async function serve(cmd: string, cwd: string): Promise<{ code: number; out: string }> {
  const child = spawn('bash', ['-c', PRELUDE + `exec ${cmd}`], { cwd });
  let out = '';
  try {
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`no address printed within 60 s:\n${out}`)), 60_000);
      const seen = (d: Buffer) => {
        out += d.toString();
        const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
        if (m) (clearTimeout(timer), ok(m[0]));
      };
      child.stdout.on('data', seen);
      child.stderr.on('data', seen);
      child.on('exit', (code) => (clearTimeout(timer), fail(new Error(`exited with ${code} before serving:\n${out}`))));
    });
    const res = await fetch(url);
    return { code: res.ok ? 0 : res.status, out };
  } finally {
    child.kill('SIGTERM');
  }
}

describe('the extractor', () => {
  it('joins continued lines and drops comments', () => {
    expect(commandsOf(['# a comment', 'peftc train a.peft \\', '  --steps 150   # the run', '', 'peftc eval "x # y"'])).toEqual(['peftc train a.peft --steps 150', 'peftc eval "x # y"']);
  });
  it('runs documented commands on small settings', () => {
    expect(shortened('peftc train m.peft --steps 150 --warmup 10 --eval-rows 128')).toBe('peftc train m.peft --steps 2 --warmup 1 --eval-rows 4');
    expect(shortened('peftc train m.peft --resume r --steps 300')).toBe('peftc train m.peft --resume r --steps 4 --eval-rows 8');
    expect(shortened('node trainer/train.mjs --serve 8080')).toBe('node trainer/train.mjs --serve 0');
  });
  it('finds the runnable blocks of the docs', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(5);
  });
});

describe('every runnable command in the docs', () => {
  for (const block of BLOCKS) {
    it(`${block.where} runs`, async () => {
      const dir = sandbox(block);
      for (const cmd of block.commands.map(shortened)) {
        const r = /--serve\b/.test(cmd) ? await serve(cmd, dir) : run(cmd, dir);
        expect(r.code, `${block.where}: \`${cmd}\` failed in ${dir}:\n${r.out.slice(-2000)}`).toBe(0);
      }
    }, 600_000);
  }
});
