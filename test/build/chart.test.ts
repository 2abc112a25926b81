// The browser trainer's loss chart, in headless Chromium on SwiftShader: after a run it has
// both axes with ticks and labels, one faint dot per training step under the moving average,
// and the validation loss as a line with a dot per evaluation; the footer gives the eval
// command. The screenshot goes to a temporary folder, or to docs/build-trainer-chart.png with
// PEFTC_WRITE_DOCS_IMAGES=1.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainerServer } from '../../runtime/standalone/serve.ts';
import { peftc } from '../cli/peftc.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.PEFTC_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const STEPS = 12;
const EVAL_EVERY = 3;

let work: string;
let server: Server;
let browser: Browser;
let url: string;

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: run bash scripts/setup.sh (or set PEFTC_CHROMIUM)`).toBe(true);
  work = mkdtempSync(join(tmpdir(), 'peftc-chart-'));
  const text = join(work, 'text.txt');
  const lines = ['It was the best of times, it was the worst of times,', 'it was the age of wisdom, it was the age of foolishness,', 'it was the epoch of belief, it was the epoch of incredulity.'];
  writeFileSync(text, Array.from({ length: 120 }, (_, i) => lines[i % 3]).join('\n'));
  const dir = join(work, 'trainer');
  const b = peftc('build', 'examples/gpt2-lora.peft', '--set', 'vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2', '--batch', '2', '--seq', '16',
    '--steps', String(STEPS), '--warmup', '4', '--lr', '1e-2', '--eval-every', String(EVAL_EVERY), '--eval-rows', '8', '--data', text, '-o', dir);
  expect(b.code, b.stderr).toBe(0);
  server = trainerServer(dir);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((res) => (server ? server.close(() => res()) : res()));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the browser trainer\'s chart', () => {
  it('has axes with ticks and labels, the training loss (dots and moving average) and the validation loss', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    const settle = async (states: string[]) => {
      await page.waitForFunction((s) => s.includes(document.documentElement.dataset.state ?? ''), states, { timeout: 120_000 });
      return page.evaluate(() => document.documentElement.dataset.state);
    };
    expect(await settle(['ready', 'error']), await page.locator('#status').innerText()).toBe('ready');
    expect(await page.locator('#eval-command').innerText()).toBe('peftc eval examples/gpt2-lora.peft --set vocab_size=256,n_positions=32,n_embd=16,n_layer=1,n_head=2 --adapter adapter.safetensors --data …');
    await page.click('#train');
    expect(await settle(['done', 'error']), await page.locator('#status').innerText()).toBe('done');

    const chart = await page.evaluate(() => {
      const svg = document.getElementById('chart')!;
      const texts = (sel: string) => [...svg.querySelectorAll(sel)].map((t) => t.textContent ?? '');
      return {
        xTicks: texts('.x-axis .tick text'),
        yTicks: texts('.y-axis .tick text'),
        labels: texts('.axis-label'),
        rawDots: svg.querySelectorAll('.train-raw circle').length,
        rawOpacity: Number(getComputedStyle(svg.querySelector('.train-raw circle')!).opacity),
        ema: svg.querySelector('path.train-ema')?.getAttribute('d') ?? '',
        validLine: svg.querySelector('path.valid-line')?.getAttribute('d') ?? '',
        validDots: svg.querySelectorAll('.valid circle').length,
        legend: texts('.legend text'),
      };
    });
    expect(chart.xTicks.length).toBeGreaterThanOrEqual(3);
    expect(chart.xTicks).toContain('0');
    expect(chart.yTicks.length).toBeGreaterThanOrEqual(3);
    expect(chart.yTicks.every((t) => Number.isFinite(Number(t)))).toBe(true);
    expect(chart.labels).toEqual(['step', 'loss']);
    expect(chart.rawDots).toBe(STEPS);
    expect(chart.rawOpacity).toBeLessThan(0.5); // the raw points are faint
    expect(chart.ema.split(/[ML]/).filter(Boolean)).toHaveLength(STEPS); // a point per step
    expect(chart.validDots).toBe(STEPS / EVAL_EVERY + 1); // before the first step, then every 3
    expect(chart.validLine.split(/[ML]/).filter(Boolean)).toHaveLength(STEPS / EVAL_EVERY + 1);
    expect(chart.legend.join(' | ')).toBe('training loss (EMA; dots: each step) | validation loss');
    expect(problems).toEqual([]);

    const shot = process.env.PEFTC_WRITE_DOCS_IMAGES === '1' ? join(ROOT, 'docs/build-trainer-chart.png') : join(work, 'chart.png');
    await page.locator('#chart').screenshot({ path: shot });
    expect(existsSync(shot)).toBe(true);
    await page.close();
  });
});
