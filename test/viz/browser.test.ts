// The partition page in headless Chromium, opened from a file:// URL with every network
// request recorded and blocked, in a 1440×900 window. The first screen must show where every
// trainable tensor sits (a labelled band, at true scale or in the magnified inset), what each
// method adds and the costs against a full fine-tune; modules are tinted by their trainable
// share; numbers are never cut off; a row of the trainable list selects its module for good;
// several adapters are told apart. Writes screenshots to test/viz/__screenshots__/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vizMulti } from '../../cli/multi.ts';
import { EXAMPLES } from '../helpers.ts';
import { makeCheckpoint } from '../interop/helpers.ts';
import { htmlOf } from './helpers.ts';

const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('__screenshots__/', import.meta.url));
const VIEW = { width: 1440, height: 900 };
/** A labelled band must be at least this tall. */
const MIN_LABELLED = 16;
/** The frozen tint (COLORS.frozen.tint) as the browser reports it. */
const FROZEN_TINT = 'rgb(230, 233, 238)';

interface Opened {
  page: Page;
  context: BrowserContext;
  requests: string[];
  errors: string[];
  /** performance.now() when the page set its `rendered` marker: navigation → rendered. */
  renderedAt: number;
}

/** Every trainable tensor of the page without a visible labelled band of MIN_LABELLED px (in the icicle or the inset). */
function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate((min) => {
    const ids = [...document.querySelectorAll<HTMLElement>('.cell.leaf[data-trainable="true"]')].map((e) => e.dataset.id!);
    const bad: string[] = [];
    for (const id of ids) {
      const name = id.replace(/#$/, '').split('.').slice(-2).join('.').replace(/^.*:/, '');
      const ok = [...document.querySelectorAll<HTMLElement>(`[data-id="${CSS.escape(id)}"]`)].some((e) => {
        const r = e.getBoundingClientRect();
        return r.height >= min && r.width >= 40 && e.innerText.includes(name.split(':').pop()!.split('.').slice(-2).join('.').replace(/^[^.]*\.(?=.*\.)/, ''));
      });
      if (!ok) bad.push(id);
    }
    return bad;
  }, MIN_LABELLED);
}

/** Module bands tinted a method's colour while less than half of them trains. */
function dishonestTints(page: Page): Promise<string[]> {
  return page.evaluate((frozen) => [...document.querySelectorAll<HTMLElement>('.cell:not(.leaf)')].filter((e) => Number(e.dataset.share) < 0.5 && getComputedStyle(e).backgroundColor !== frozen).map((e) => e.dataset.id!), FROZEN_TINT);
}

/** Text boxes whose content is wider than the box: cut-off numbers. */
function truncated(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('#headline, .card .value, .cost > div, .method .line, .cell .sub, .inset-band .sub, .inset-band .count, #crumbs .shown, .inset-head')]
      .filter((e) => e.scrollWidth > e.clientWidth + 1)
      .map((e) => `${e.className}: ${e.innerText}`),
  );
}

/** The bottom edge of an element, in page pixels. */
async function bottom(page: Page, selector: string): Promise<number> {
  const box = (await page.locator(selector).boundingBox())!;
  return box.y + box.height;
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
    const context = await browser.newContext({ viewport: VIEW, deviceScaleFactor: 1 });
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
    return { page, context, requests, errors, renderedAt };
  }

  /** What every page must do on its first screen. */
  async function firstScreen(o: Opened, name: string): Promise<void> {
    await o.page.screenshot({ path: join(SHOTS, `${name}.png`) });
    expect(await unlabelled(o.page), 'trainable tensors without a labelled band').toEqual([]);
    expect(await dishonestTints(o.page), 'bands tinted trainable below a 50 % share').toEqual([]);
    expect(await truncated(o.page), 'cut-off text').toEqual([]);
    for (const s of ['#where', '#what', '#compare']) expect(await bottom(o.page, s), `${s} below the fold`).toBeLessThanOrEqual(VIEW.height);
    expect(o.errors).toEqual([]);
    expect(o.requests).toEqual([]);
  }

  it('gpt2-lora: LoRA labelled where it sits, honest tints, costs on the first screen; the list selects for good', async () => {
    const o = await open(htmlOf('gpt2-lora.peft'), 'gpt2-lora.html');
    const { page } = o;
    await firstScreen(o, 'gpt2-lora');
    expect(await page.locator('#headline').innerText()).toBe('294,912 of 124,734,720 parameters train (0.24%): LoRA on 12 modules. The rest is frozen.');
    expect(await page.locator('#stats').innerText()).toContain('trainable params: 294,912 || all params: 124,734,720 || trainable%: 0.2364');
    // The 12 identical layers are one band; LoRA's tensors are in the inset, ×12.
    expect(await page.locator('.cell[data-id="h.0–11"]').innerText()).toMatch(/^h\.0–11 ×12/);
    expect(await page.locator('.inset-band').allInnerTexts()).toEqual([expect.stringMatching(/^c_attn\.lora_A\.weight ×12/), expect.stringMatching(/^c_attn\.lora_B\.weight ×12\n221,184 · \[2,304, 8\] ×12/)]);
    expect(await page.locator('.inset-head').innerText()).toMatch(/^Magnified ×\d+/);
    // GPT2 and h are 0.24 % and 0.35 % trainable: frozen grey, not LoRA's tint.
    for (const id of ['(model)', 'h.0–11', 'h.0–11.attn', 'h.0–11.attn.c_attn']) {
      expect(await page.locator(`.cell[data-id="${id}"]`).evaluate((e) => getComputedStyle(e).backgroundColor)).toBe(FROZEN_TINT);
    }
    expect(await page.locator('.method[data-method="lora"]').innerText()).toMatch(/rank=8[^]*on 12 modules[^]*h\.0–11\.attn\.c_attn[^]*lora_A\.weight\s+\[8, 768\][^]*294,912\s+parameters/);

    const compare = await page.locator('#compare').innerText();
    expect(compare).toMatch(/Trainable parameters[^]*294,912\s+124,439,808\s+422× fewer/);
    expect(compare).toMatch(/Gradients \+ AdamW[^]*3\.4 MiB\s+1\.4 GiB\s+422× less/);
    expect(compare).toMatch(/Work per token[^]*MFLOP[^]*MFLOP\s+1\.\d× less/);
    expect(compare).toContain('2·in·out');

    // Zoomed into c_attn, its LoRA tensors are still labelled and on the first screen.
    await page.click('.cell[data-id="h.0–11.attn.c_attn"]');
    expect(await page.locator('#crumbs').innerText()).toMatch(/h\.0–11 ×12\s*›\s*attn ×12\s*›\s*c_attn ×12/);
    expect(await unlabelled(page)).toEqual([]);
    for (const id of ['h.0–11.attn.c_attn.lora_A.weight#', 'h.0–11.attn.c_attn.lora_B.weight#']) {
      const el = page.locator(`[data-id="${id}"]`).filter({ hasText: 'lora_' }).first();
      expect(await bottom(page, `[data-id="${id}"] >> nth=-1`)).toBeLessThanOrEqual(VIEW.height);
      expect((await el.boundingBox())!.height).toBeGreaterThanOrEqual(MIN_LABELLED);
    }
    await page.screenshot({ path: join(SHOTS, 'gpt2-lora-c_attn.png') });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    expect(await page.locator('#crumbs .shown').innerText()).toBe('124,734,720 parameters shown');

    // A row of the list selects its module; the pointer then over a frozen band changes nothing.
    await page.click('#trainable button[data-path="h.5.attn.c_attn"]');
    const picked = await page.locator('#details').innerText();
    expect(picked).toMatch(/^linear\s+h\.5\.attn\.c_attn\n/i);
    expect(picked).toMatch(/Trainable\s+24,576/);
    expect(await page.locator('.cell.selected').getAttribute('data-id')).toBe('h.0–11.attn.c_attn');
    const frozen = (await page.locator('.cell[data-id="h.0–11.attn.c_attn.weight#"]').boundingBox())!;
    await page.mouse.move(frozen.x + frozen.width / 2, frozen.y + frozen.height / 2, { steps: 4 });
    await page.mouse.move(frozen.x + 10, frozen.y + 10, { steps: 2 });
    expect(await page.locator('#tip').innerText()).toContain('weight ×12');
    expect(await page.locator('#details').innerText()).toBe(picked);

    // Trainable only: sizes by the trainable count.
    await page.click('#only-trainable');
    expect(await page.locator('#crumbs .shown').innerText()).toMatch(/^294,912 parameters shown/);
    await o.context.close();
  });

  it('bert-adapter: the chip shows the adapter width it resolved to; every tensor labelled', async () => {
    const o = await open(htmlOf('bert-adapter.peft'), 'bert-adapter.html');
    await firstScreen(o, 'bert-adapter');
    const card = await o.page.locator('.method[data-method="adapter"]').innerText();
    expect(card).toMatch(/bottleneck=48\s+reduction=16\s+activation=gelu/);
    expect(card).not.toContain('bottleneck=0');
    expect(await o.page.locator('.method[data-method="train"]').innerText()).toMatch(/on 25 modules/);
    // Inset labels tell the two adapters of a layer apart.
    const labels = await o.page.locator('.inset-band .name').allInnerTexts();
    expect(labels).toContain('attention…adapter.down.weight ×12');
    expect(labels).toContain('output…adapter.down.weight ×12');
    expect(new Set(labels).size).toBe(labels.length);
    await o.context.close();
  });

  it('gpt2-lora-prompt and llama-lora: a 7,680-parameter prompt and LoRA on q/v are labelled bands', async () => {
    const p = await open(htmlOf('gpt2-lora-prompt.peft'), 'gpt2-lora-prompt.html');
    await firstScreen(p, 'gpt2-lora-prompt');
    const prompt = p.page.locator('.inset-band[data-id="prompt.prompt_embeddings#"]');
    expect(await prompt.innerText()).toMatch(/prompt_embeddings\s+7,680/);
    expect((await prompt.boundingBox())!.height).toBeGreaterThanOrEqual(MIN_LABELLED);
    expect(await p.page.locator('#headline').innerText()).toContain('Prompt on 1 module, LoRA on 22 modules');
    await p.context.close();
    const l = await open(htmlOf('llama-lora.peft'), 'llama-lora.html');
    await firstScreen(l, 'llama-lora');
    expect(await l.page.locator('.inset-band .name').allInnerTexts()).toEqual(['q_proj.lora_A.weight ×22', 'q_proj.lora_B.weight ×22', 'v_proj.lora_A.weight ×22', 'v_proj.lora_B.weight ×22']);
    await l.context.close();
  });

  it('several adapters over one base: each labelled by name, no "full fine-tune" anywhere', async () => {
    const set = ['vocab_size=256,n_positions=64,n_embd=32,n_layer=2,n_head=2'];
    const base = resolve(EXAMPLES, 'gpt2.peft');
    const imp = `import ${JSON.stringify(base)}\n`;
    await makeCheckpoint(join(dir, 'a'), `${imp}peft { lora(rank = 4, alpha = 8) on "c_attn" }\n`, set, 2);
    await makeCheckpoint(join(dir, 'c'), `${imp}peft { adapter(bottleneck = 4) on "h.*.mlp" }\n`, set, 4);
    const out = join(dir, 'adapters.html');
    const write = process.stdout.write;
    process.stdout.write = () => true;
    try {
      expect(await vizMulti(base, { set, adapter: [`a=${join(dir, 'a')}`, `c=${join(dir, 'c')}`], output: out })).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    const o = await open(readFileSync(out, 'utf8'), 'adapters.html');
    await firstScreen(o, 'adapters');
    const text = await o.page.locator('main').innerText();
    expect(text).not.toMatch(/full fine-tune|every parameter trains/i);
    expect(await o.page.locator('#headline').innerText()).toMatch(/^2 adapters over one frozen base of [\d,]+ parameters, held once: a \([\d,]+\), c \([\d,]+\)\.$/);
    expect(await o.page.locator('.method[data-adapter="a"]').innerText()).toMatch(/^a\s+LoRA\s+rank=4/);
    expect(await o.page.locator('.method[data-adapter="c"]').innerText()).toMatch(/^c\s+Adapter\s+bottleneck=4/);
    const names = await o.page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.cell.leaf[data-trainable="true"] .name, .inset-band .name')].map((e) => e.innerText));
    expect(names.some((n) => n.includes('a: lora_A.weight'))).toBe(true);
    expect(names.some((n) => n.includes('c: down.weight'))).toBe(true);
    expect(await o.page.locator('#compare').innerText()).toMatch(/Serving 2 tasks from one base[^]*2 fine-tuned copies/);
    await o.context.close();
  });

  it('a 48-layer GPT-2 renders in under a second (median of 3 loads)', async () => {
    const html = htmlOf('gpt2.peft', ['n_layer=48']);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { page, context, requests, errors, renderedAt } = await open(html, 'gpt2-48.html');
      times.push(renderedAt);
      if (i === 0) {
        expect(await page.locator('.cell[data-id="h.0–47"]').innerText()).toMatch(/^h\.0–47 ×48/);
        expect(await page.locator('#headline').innerText()).toBe('Every parameter trains (379,603,200): a full fine-tune.');
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
