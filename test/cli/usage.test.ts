// Usage mistakes on the command line get a short answer, not the whole help page.
import { describe, expect, it } from 'vitest';
import { peftc } from './peftc.ts';

describe('usage errors', () => {
  it('a missing required option is one line and a pointer to --help, exit 1', () => {
    const r = peftc('eval', 'examples/tiny-gpt-lora.peft');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/required option '--data <data>' not specified/);
    expect(lines.length).toBeLessThanOrEqual(2);
    expect(r.stderr).not.toMatch(/Options:/);
  });
  it('an unknown option says which, without the help page', () => {
    const r = peftc('params', 'examples/tiny-gpt-lora.peft', '--no-such-flag');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unknown option '--no-such-flag'/);
    expect(r.stderr).not.toMatch(/Options:/);
  });
});
