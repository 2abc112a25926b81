// `peftc fmt` and `peftc fmt --check` through the command: exit codes, what they print, that
// --check changes nothing, that a file with syntax errors is left alone with its errors printed.
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { peftc } from '../cli/peftc.ts';

const golden = (name: string) => new URL(`golden/${name}`, import.meta.url);

describe('peftc fmt', () => {
  it('--check passes on the examples', () => {
    const files = readdirSync('examples').filter((n) => n.endsWith('.peft')).map((n) => `examples/${n}`);
    expect(peftc('fmt', '--check', ...files)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('--check lists what would change and changes nothing; fmt rewrites; syntax errors leave the file alone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peftc-fmt-'));
    const messy = join(dir, 'messy.peft');
    const bad = join(dir, 'bad.peft');
    copyFileSync(golden('messy.peft'), messy);
    writeFileSync(bad, 'config {\n  a = \n}\n');

    const check = peftc('fmt', '--check', messy, bad, join(dir, 'missing.peft'));
    expect(check.code).toBe(1);
    expect(check.stdout).toBe(`${messy}: not formatted\n`);
    expect(check.stderr).toContain(`${bad}:3:1: error E0101: expected an expression after \`=\`, found \`}\``);
    expect(check.stderr).toContain(`peftc: ${join(dir, 'missing.peft')}: no such file\n`);
    expect(check.stderr).toContain('1 file would be reformatted by `peftc fmt`');
    expect(readFileSync(messy, 'utf8')).toBe(readFileSync(golden('messy.peft'), 'utf8'));

    const write = peftc('fmt', messy, bad);
    expect(write.code).toBe(1);
    expect(write.stdout).toBe(`${messy}: formatted\n`);
    expect(readFileSync(messy, 'utf8')).toBe(readFileSync(golden('messy.formatted.peft'), 'utf8'));
    expect(readFileSync(bad, 'utf8')).toBe('config {\n  a = \n}\n');
  });
});
