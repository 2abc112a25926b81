// The partition page in headless Chromium, opened from a file:// URL with every network
// request recorded and blocked: it must make none, show the totals and the trainable
// modules, answer hover and filters, and draw a 48-layer model in under a second.
// Writes screenshots to test/viz/__screenshots__/ for people to look at.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htmlOf } from './helpers.ts';

const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('__screenshots__/', import.meta.url));

interface Opened {
  page: Page;
  context: BrowserContext;
  url: string;
  /** Every request but the page's own file. */
  requests: string[];
  errors: string[];
  /** performance.now() when the page set its `rendered` marker: navigation → rendered. */
  renderedAt: number;
}

// A missing browser is a failure, never a skip: `bash scripts/setup.sh` installs Debian's chromium.
describe('the partition page in Chromium', () => {
  it('has a browser to run in', () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: run bash scripts/setup.sh (or set PEFTC_CHROMIUM)`).toBe(true);
  });

  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peftc-viz-'));
    mkdirSync(SHOTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function open(html: string, name: string): Promise<Opened> {
    const file = join(dir, name);
    writeFileSync(file, html);
    const url = pathToFileURL(file).href;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const requests: string[] = [];
    const errors: string[] = [];
    await context.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    page.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text());
    });
    await page.goto(url);
    await page.waitForFunction(() => document.documentElement.dataset.rendered === 'true');
    const renderedAt = await page.evaluate(() => (window as unknown as { peftcRenderedAt: number }).peftcRenderedAt);
    return { page, context, url, requests, errors, renderedAt };
  }

  it('gpt2-lora: totals, trainable modules, details on hover, filters; no request of any kind', async () => {
    const { page, context, requests, errors } = await open(htmlOf('gpt2-lora.peft'), 'gpt2-lora.html');
    await page.screenshot({ path: join(SHOTS, 'gpt2-lora.png'), fullPage: true });

    const text = await page.locator('main').innerText();
    expect(text).toContain('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    expect(await page.getByTestId('total-trainable').innerText()).toBe('294,912');
    expect(await page.getByTestId('total-all').innerText()).toBe('124,734,720');
    expect(await page.locator('#crumbs .shown').innerText()).toBe('124,734,720 parameters shown');

    const rows = page.locator('#trainable tbody tr');
    expect(await rows.count()).toBe(12);
    expect(await rows.first().innerText()).toMatch(/^h\.0\.attn\.c_attn\s+LoRA\s+24,576\s+8\.33%$/);
    expect(await rows.last().innerText()).toMatch(/^h\.11\.attn\.c_attn\s+LoRA/);

    // Every LoRA tensor is drawn, however small it is in the whole model.
    const loraCells = page.locator('.cell.leaf[data-id*="lora_"]');
    expect(await loraCells.count()).toBe(24);
    for (const box of await Promise.all((await loraCells.all()).map((c) => c.boundingBox()))) expect(box!.height).toBeGreaterThanOrEqual(1.5);

    // Zoom into a layer, hover its attention projection: path, shapes, method and settings.
    await page.click('[data-id="h.0"]');
    expect(await page.locator('#crumbs').innerText()).toContain('h.0');
    await page.hover('[data-id="h.0.attn.c_attn"]');
    const details = await page.locator('#details').innerText();
    expect(details).toContain('h.0.attn.c_attn');
    expect(details).toMatch(/LoRA\s+rank=8\s+alpha=16/);
    expect(details).toContain('[2,304, 8]');
    expect(details).toContain('lora_B.weight');
    await page.screenshot({ path: join(SHOTS, 'gpt2-lora-h0.png'), fullPage: false });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    expect(await page.locator('#crumbs .shown').innerText()).toBe('124,734,720 parameters shown');

    // Filters: trainable only sizes by the trainable count; unticking LoRA too leaves nothing.
    await page.click('#only-trainable');
    expect(await page.locator('#crumbs .shown').innerText()).toBe('294,912 parameters shown');
    expect(await page.locator('.cell.leaf').count()).toBe(24);
    await page.uncheck('input[data-method="lora"]');
    expect(await page.locator('.cell').count()).toBe(0);
    await page.check('input[data-method="lora"]');
    await page.check('input[data-method="frozen"]');

    // A row of the list reveals its module.
    await page.click('#trainable button[data-path="h.5.attn.c_attn"]');
    expect(await page.locator('#crumbs').innerText()).toMatch(/h\.5\s*›\s*attn/);
    expect(await page.locator('#details').innerText()).toContain('h.5.attn.c_attn');

    const compare = await page.locator('#compare').innerText();
    expect(compare).toMatch(/Trainable parameters[^]*294,912 \(0\.24%\)\s+124,439,808 \(100%\)\s+422× fewer/);
    expect(compare).toMatch(/Gradients \+ optimizer[^]*3\.4 MiB\s+1\.4 GiB/);

    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    await context.close();
  });

  it('a 48-layer GPT-2 renders in under a second (median of 3 loads)', async () => {
    const html = htmlOf('gpt2.peft', ['n_layer=48']);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { page, context, requests, errors, renderedAt } = await open(html, 'gpt2-48.html');
      times.push(renderedAt);
      if (i === 0) {
        const layers = await page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.cell')].filter((e) => /^h\.\d+$/.test(e.dataset.id!)).length);
        expect(layers).toBe(48);
        expect(await page.getByTestId('total-all').innerText()).toBe('379,603,200');
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
      }
      await context.close();
    }
    const median = [...times].sort((a, b) => a - b)[1]!;
    console.info(`48-layer GPT-2: navigation → rendered ${times.map((t) => t.toFixed(0)).join(', ')} ms; median ${median.toFixed(0)} ms`);
    expect(median).toBeLessThan(1000);
  });
});
