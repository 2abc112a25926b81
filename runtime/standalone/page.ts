// The browser entry of a built trainer (bundled by `peftc build` into DIR/page.js for
// DIR/index.html). It fetches the trainer's files beside the page, opens navigator.gpu, and
// trains on the bundled sample or a picked file; the checkpoint downloads in `peftc train`'s
// format. For tests and the curious, the page reports itself on <html data-state> (loading,
// ready, training, done, error) and on window.peftcResult.
import { serializeSafetensors } from '../io/safetensors.ts';
import type { DataSource } from '../data/dataset.ts';
import { openBrowserGpu } from '../webgpu/device.ts';
import { LossChart } from './chart.ts';
import { evalCommand } from './eval-command.ts';
import { parseTrainerFiles } from './files.ts';
import { TRAINER_FILES, type TrainerManifest } from './manifest.ts';
import { BuiltTrainer, runTraining, type CheckpointFiles, type RunOptions, type RunResult } from './trainer.ts';

type State = 'loading' | 'ready' | 'training' | 'done' | 'error';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

/** The page's `<svg id>`: an SVG element is no HTMLElement, so `$` cannot hand it out. */
function svg(id: string): SVGSVGElement {
  const el = document.getElementById(id);
  if (!(el instanceof SVGSVGElement)) throw new Error(`the page has no <svg id="${id}">`);
  return el;
}

declare global {
  /** The last run's result, for the browser test (test/build/). */
  interface Window {
    peftcResult?: RunResult;
  }
}

function setState(state: State): void {
  document.documentElement.dataset.state = state;
}

function status(text: string, error = false): void {
  const el = $('status');
  el.textContent = text;
  el.className = error ? 'error' : '';
}

function log(text: string): void {
  const el = $('log');
  el.textContent += text + '\n';
  el.scrollTop = el.scrollHeight;
}

async function fetchOk(name: string): Promise<Response> {
  const res = await fetch(name, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
  return res;
}

function download(name: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function describe(m: TrainerManifest): string {
  const pct = ((100 * m.stats.trainable) / Math.max(1, m.stats.total)).toFixed(4);
  return `${m.model.entry}${m.model.set.length ? ` (--set ${m.model.set.join(' ')})` : ''}: trainable params ${m.stats.trainable.toLocaleString('en')} of ${m.stats.total.toLocaleString('en')} (${pct}%); batches of ${m.dims.B}×${m.dims.T} tokens, ${m.tokenizer} tokenizer; planned for ${m.target.name} with ${m.target.kernels.map((k) => `${k} kernels (${m.stats.dispatches[k]} dispatches per step)`).join(' and ')}.`;
}

async function main(): Promise<void> {
  if (location.protocol === 'file:') {
    throw new Error('open this page over HTTP: in the trainer folder run `node train.mjs --serve` (or any static server, e.g. `python3 -m http.server`), then open the address it prints');
  }
  // All three files first, checked together: a corrupt one is one line naming the file and field.
  const [manifestText, planText, weights] = await Promise.all([
    fetchOk(TRAINER_FILES.manifest).then((r) => r.text()),
    fetchOk(TRAINER_FILES.plan).then((r) => r.text()),
    fetchOk(TRAINER_FILES.weights).then(async (r) => new Uint8Array(await r.arrayBuffer())),
  ]);
  const files = parseTrainerFiles({ manifest: manifestText, plan: planText, weights });
  const manifest = files.manifest;
  $('title').textContent = `peftc trainer: ${manifest.model.name}`;
  $('summary').textContent = describe(manifest);
  $('eval-command').textContent = evalCommand(manifest);
  const chart = new LossChart(svg('chart'));
  const steps = $<HTMLInputElement>('steps');
  const lr = $<HTMLInputElement>('lr');
  const seed = $<HTMLInputElement>('seed');
  steps.value = String(manifest.settings.steps || '');
  steps.placeholder = 'one epoch';
  lr.value = String(manifest.settings.lr);
  seed.value = String(manifest.settings.seed);
  const useSample = $<HTMLInputElement>('use-sample');
  if (manifest.sample) {
    $('sample-label').textContent = `the bundled sample (${manifest.sample.source}, ${(manifest.sample.bytes / 1024).toFixed(1)} KB)`;
  } else {
    $('sample-label').textContent = 'no sample bundled';
    useSample.disabled = true;
    $<HTMLInputElement>('use-file').checked = true;
  }

  status('opening WebGPU…');
  const gpu = await openBrowserGpu();
  status('compiling the kernels…');
  const trainer = await BuiltTrainer.open(gpu, files);
  status(`ready on ${trainer.name}`);
  setState('ready');

  let latest: CheckpointFiles | undefined;
  let stop = false;
  let runs = 0;
  const trainBtn = $<HTMLButtonElement>('train');
  const stopBtn = $<HTMLButtonElement>('stop');
  const ckBtn = $<HTMLButtonElement>('download-checkpoint');
  const adBtn = $<HTMLButtonElement>('download-adapter');
  trainBtn.disabled = false;

  const dataSource = async (): Promise<DataSource> => {
    if (useSample.checked && manifest.sample) {
      const format = manifest.sample.file.endsWith('.jsonl') ? 'jsonl' : 'text';
      return { name: manifest.sample.source, text: await (await fetchOk(manifest.sample.file)).text(), format };
    }
    const file = $<HTMLInputElement>('file').files?.[0];
    if (!file) throw new Error('choose a data file (or the bundled sample)');
    return { name: file.name, text: await file.text(), format: /\.(jsonl|ndjson)$/i.test(file.name) ? 'jsonl' : 'text' };
  };

  trainBtn.addEventListener('click', () => {
    void (async () => {
      trainBtn.disabled = true;
      stopBtn.disabled = false;
      stop = false;
      setState('training');
      $('log').textContent = '';
      chart.reset();
      try {
        if (runs++ > 0) trainer.reset();
        const opts: RunOptions = { data: await dataSource() };
        if (steps.value.trim()) opts.steps = Number(steps.value);
        if (lr.value.trim()) opts.lr = Number(lr.value);
        if (seed.value.trim()) opts.seed = Number(seed.value);
        if (opts.steps !== undefined && !(Number.isInteger(opts.steps) && opts.steps >= 1)) throw new Error('steps must be an integer ≥ 1');
        if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new Error('the seed must be an integer');
        if (opts.lr !== undefined && !(opts.lr > 0 && Number.isFinite(opts.lr))) throw new Error('the learning rate must be a positive number');
        status(`training on ${trainer.name}…`);
        const res: RunResult = await runTraining(trainer, opts, {
          note: log,
          onStep: (i) => {
            chart.addStep(i.step, i.loss);
            log(`step ${i.step}  loss ${i.loss.toFixed(4)}  lr ${i.lr.toExponential(2)}  ${Math.round(i.tokensPerSecond)} tok/s`);
          },
          onEval: (st, v) => {
            chart.addValidation(st, v);
            log(`step ${st}  validation loss ${v.toFixed(4)}`);
          },
          checkpoint: async (files) => {
            latest = files;
            ckBtn.disabled = false;
            adBtn.disabled = false;
          },
          shouldStop: () => stop,
        });
        window.peftcResult = res;
        const how = res.end === 'done' ? 'done' : res.end === 'interrupted' ? `stopped at step ${res.step}` : `training diverged at step ${res.diverged?.step ?? res.step + 1} (${res.diverged?.what ?? 'the loss is not finite'}); try a lower learning rate`;
        status(`${how}: validation loss ${res.before.toFixed(4)} → ${res.valLoss?.toFixed(4) ?? '–'}`, res.end === 'diverged');
        setState('done');
      } catch (e) {
        fatal(e);
      } finally {
        trainBtn.disabled = false;
        stopBtn.disabled = true;
      }
    })();
  });
  stopBtn.addEventListener('click', () => (stop = true));
  $('file').addEventListener('change', () => ($<HTMLInputElement>('use-file').checked = true));
  ckBtn.addEventListener('click', () => {
    if (latest) download('checkpoint.safetensors', serializeSafetensors(latest.checkpoint.tensors, latest.checkpoint.metadata));
  });
  adBtn.addEventListener('click', () => {
    if (latest) download('adapter.safetensors', serializeSafetensors(latest.adapter, { format: 'peftc-adapter/1' }));
  });
}

function fatal(e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  status(message, true);
  console.error(`peftc trainer: ${message}`);
  setState('error');
}

main().catch(fatal);
