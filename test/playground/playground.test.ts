// The playground in headless Chromium (Debian's chromium, WebGPU on SwiftShader), opened from a
// file:// URL with every request outside its folder recorded and blocked: the editor shows a
// typed mistake as a diagnostic; fixing it redraws the partition view with the new counts; hover
// and completion answer from the language server's code; Train compiles the file, plans and
// trains it in the page, and the validation loss falls. Screenshots go to a temporary folder,
// or to docs/playground*.png with PEFTC_WRITE_DOCS_IMAGES=1.
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playgroundCommand } from '../../cli/playground.ts';
import { UserError } from '../../cli/errors.ts';
import type { RunResult } from '../../runtime/standalone/trainer.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const VIEW = { width: 1440, height: 900 };
const DOCS = process.env.PEFTC_WRITE_DOCS_IMAGES === '1';
const STEPS = 16;

let work: string;
let site: string;
let browser: Browser;

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: run bash scripts/setup.sh (or set PEFTC_CHROMIUM)`).toBe(true);
  work = mkdtempSync(join(tmpdir(), 'peftc-playground-'));
  site = join(work, 'site');
  expect(await playgroundCommand({ out: site })).toBe(0);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const shot = (name: string) => (DOCS ? join(ROOT, 'docs', `${name}.png`) : join(work, `${name}.png`));

/** The partition view's headline, once it reads `count of …`. */
async function headline(page: Page, count: string): Promise<string> {
  const h = page.frameLocator('#partitions').locator('#headline');
  await expect.poll(() => h.innerText(), { timeout: 20_000 }).toMatch(new RegExp(`^${count} of `));
  return h.innerText();
}

/** Double-clicks the first whole word `word` of the editor's text (selecting it) and types over it. */
async function retype(page: Page, word: string, text: string): Promise<void> {
  const box = await page.evaluate((w) => {
    const walker = document.createTreeWalker(document.querySelector('.cm-content')!, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const at = new RegExp(`\\b${w}\\b`).exec(n.textContent ?? '')?.index;
      if (at === undefined) continue;
      const r = document.createRange();
      r.setStart(n, at);
      r.setEnd(n, at + w.length);
      const b = r.getBoundingClientRect();
      return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    }
    return undefined;
  }, word);
  expect(box, `\`${word}\` in the editor`).toBeDefined();
  await page.mouse.dblclick(box!.x, box!.y);
  await page.keyboard.type(text);
}

describe('peftc playground', () => {
  it('refuses to write over a folder that is not a playground', async () => {
    const other = join(work, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'mine');
    await expect(playgroundCommand({ out: other })).rejects.toThrow(UserError);
    await expect(playgroundCommand({ out: other })).rejects.toThrow(/-o .*other: the folder holds other files than a playground's/);
    // Under a file: one line naming the folder it could not make (before any bundling).
    await expect(playgroundCommand({ out: join(other, 'notes.txt', 'site') })).rejects.toThrow(/-o .*notes\.txt\/site: cannot create .*notes\.txt\/site \(ENOTDIR\)/);
    await expect(playgroundCommand({ out: join(other, 'notes.txt') })).rejects.toThrow(/-o .*notes\.txt: not a folder/);
  });

  it('shows diagnostics as you type, redraws the partitions, hovers, completes and trains on WebGPU', async () => {
    const url = pathToFileURL(join(site, 'index.html')).href;
    const allowed = pathToFileURL(site).href + '/';
    const context = await browser.newContext({ viewport: VIEW, deviceScaleFactor: 1 });
    const requests: string[] = [];
    const problems: string[] = [];
    await context.route('**/*', (route) => {
      if (route.request().url().startsWith(allowed)) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);

    // The first example compiles: LoRA rank 8 on c_attn and c_fc of the tiny GPT's 4 layers.
    await headline(page, '18,432');
    await expect.poll(() => page.locator('#compile-status').innerText()).toBe('compiles');
    expect((await page.locator('#example option').allInnerTexts())).toContain('gpt2-lora.peft');
    await page.screenshot({ path: shot('playground') });

    // Hover: a method's meaning and where it applies, from the language server's hover.
    await page.locator('.cm-line span').filter({ hasText: /^lora$/ }).first().hover(); // a method name: highlighted, so a span of its own
    const tip = page.locator('.cm-tooltip-hover');
    await expect.poll(() => tip.innerText(), { timeout: 10_000 }).toMatch(/lora/);
    expect(await tip.innerText()).toMatch(/Applied to .*c_attn/);
    await page.mouse.move(5, 5);

    // A typo in a setting: the diagnostic is underlined, listed, and Train is off.
    await retype(page, 'rank', 'rnak');
    await expect.poll(() => page.locator('#problems').innerText(), { timeout: 10_000 }).toMatch(/rnak/);
    expect(await page.locator('#problems').innerText()).toMatch(/[Dd]id you mean `rank`/);
    expect(await page.locator('.cm-lintRange-error').count()).toBeGreaterThan(0);
    expect(await page.locator('#compile-status').innerText()).toBe('1 error');
    expect(await page.locator('#train').isDisabled()).toBe(true);
    expect(await page.frameLocator('#partitions').locator('#headline').innerText()).toMatch(/^18,432 of /);

    // Fixed, at rank 2: the partition view follows (a quarter of the LoRA parameters).
    await retype(page, 'rnak', 'rank');
    await retype(page, '8', '2');
    await headline(page, '4,608');
    expect(await page.locator('#problems').isHidden()).toBe(true);

    // Completion of a module path inside a target string, from the module tree.
    await page.locator('.cm-line').filter({ hasText: '"c_fc"' }).click();
    await page.keyboard.press('End');
    await page.keyboard.type(', "h.0.mlp.');
    const options = page.locator('.cm-tooltip-autocomplete li');
    await expect.poll(() => options.allInnerTexts(), { timeout: 10_000 }).toEqual(expect.arrayContaining([expect.stringMatching(/^c_fc/), expect.stringMatching(/^c_proj/)]));
    await page.keyboard.type('c_p');
    // Take c_proj from the list with the mouse. On a busy machine the check of the edit (debounced)
    // can land meanwhile and close the list: then ask for the completions again (Ctrl+Space), at
    // most three times. (Enter on a list that has just closed would break the line instead.)
    const content = () => page.locator('.cm-content').innerText();
    const cProj = page.locator('.cm-tooltip-autocomplete li').filter({ hasText: /^c_proj/ }).first();
    for (let attempt = 0; attempt < 3 && !/"h\.0\.mlp\.c_proj"/.test(await content()); attempt++) {
      if (attempt > 0) await page.keyboard.press('Control+Space');
      await cProj.click({ timeout: 10_000 }).catch(() => undefined);
      await page.waitForTimeout(300);
    }
    await expect.poll(content).toMatch(/"h\.0\.mlp\.c_proj"/);
    await headline(page, '5,248'); // + LoRA rank 2 on one 256 → 64 projection: 2·256 + 64·2

    // Train: compiled and planned in the page, run on SwiftShader; the validation loss falls.
    await page.fill('#steps', String(STEPS));
    await page.fill('#batch', '8');
    await page.fill('#seq', '32');
    await page.fill('#lr', '3e-3');
    await page.click('#train');
    await page.waitForFunction(() => ['done', 'error'].includes(document.documentElement.dataset.train ?? ''), null, { timeout: 150_000 });
    expect(await page.evaluate(() => document.documentElement.dataset.train), await page.locator('#train-status').innerText()).toBe('done');
    const res = await page.evaluate(() => (window as unknown as { peftcResult: RunResult }).peftcResult);
    expect(res.end).toBe('done');
    expect(res.losses).toHaveLength(STEPS);
    expect(res.valLoss!).toBeLessThan(res.before);
    expect(await page.locator('#chart .train-raw circle').count()).toBe(STEPS);
    expect(await page.locator('#train-status').innerText()).toMatch(/^done: validation loss [\d.]+ → [\d.]+$/);
    await page.screenshot({ path: shot('playground-trained') });

    // Another example from the menu: GPT-2 small compiles in the page; Train says why not here.
    await page.selectOption('#example', 'examples/gpt2-lora.peft');
    await headline(page, '294,912');
    await page.click('#train');
    await page.waitForFunction(() => document.documentElement.dataset.train === 'error');
    expect(await page.locator('#train-status').innerText()).toMatch(/^this model has 124,734,720 parameters; the page trains models up to 20,000,000 .*`peftc build`/);

    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await context.close();
  }, 200_000);
});
