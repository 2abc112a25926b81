// The playground page: pick an example or write a `.peft` file; the language server's answers
// (diagnostics, hover, completion) come from the compiler running in the page; the partition
// view is redrawn after each compile; Train compiles the file to plans and trains it on WebGPU
// with the loss chart. For tests and the curious the page reports itself on <html>:
// data-analyses (compiles so far), data-train (idle, training, done, error), and
// window.peftcResult (the last run).
import type { EditorView } from '@codemirror/view';
import type { Analysis } from '../cli/lsp/analysis.ts';
import { LossChart } from '../runtime/standalone/chart.ts';
import type { RunResult } from '../runtime/standalone/trainer.ts';
import { fromBase64, playgroundData } from './data.ts';
import { createEditor, setText } from './editor.ts';
import { partitionsHtml } from './partitions.ts';
import { problemsList } from './problems.ts';
import { PAGE_FROZEN_DTYPES, trainInPage, type PageFrozenDtype, type PageRun } from './trainer.ts';
import { PlaygroundWorkspace } from './workspace.ts';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
};

const data = playgroundData();
const ws = new PlaygroundWorkspace(data.examples, data.first);
let analyses = 0;
let lastPage: string | undefined;
let training = false;

function analyzed(a: Analysis): void {
  document.documentElement.dataset.analyses = String(++analyses);
  const diags = ws.diagnostics();
  problemsList($('problems'), diags);
  const errors = diags.filter((d) => d.severity === 1).length;
  $('compile-status').textContent = errors ? `${errors} error${errors === 1 ? '' : 's'}` : a.result.graph ? 'compiles' : 'no model';
  $('compile-status').className = errors ? 'bad' : 'good';
  $<HTMLButtonElement>('train').disabled = training || !a.result.graph || errors > 0;
  const html = partitionsHtml(a, ws.host, data.viz);
  if (html && html !== lastPage) {
    lastPage = html;
    $<HTMLIFrameElement>('partitions').srcdoc = html;
  }
  $('partitions-note').textContent = html ? '' : 'The view shows the last version that compiled.';
}

function examplesMenu(view: EditorView): void {
  const menu = $<HTMLSelectElement>('example');
  for (const path of Object.keys(data.examples).sort()) {
    const opt = document.createElement('option');
    opt.value = path;
    opt.textContent = path.slice(path.lastIndexOf('/') + 1);
    menu.append(opt);
  }
  const open = (path: string) => {
    menu.value = path;
    ws.update(path, data.examples[path] ?? '');
    $('file-name').textContent = path;
    setText(view, data.examples[path] ?? '');
  };
  menu.addEventListener('change', () => open(menu.value));
  open(data.first);
}

function frozenChoice(v: string): PageFrozenDtype {
  if (!(PAGE_FROZEN_DTYPES as readonly string[]).includes(v)) throw new Error(`the frozen base must be ${PAGE_FROZEN_DTYPES.join(', ')}, not “${v}”`);
  return v as PageFrozenDtype;
}

function runSettings(): PageRun {
  const read = (id: string, what: string, ok: (n: number) => boolean): number => {
    const n = Number($<HTMLInputElement>(id).value);
    if (!ok(n)) throw new Error(`${what} must be ${id === 'lr' ? 'a positive number' : 'a whole number ≥ 1'}, not “${$<HTMLInputElement>(id).value}”`);
    return n;
  };
  const whole = (n: number) => Number.isInteger(n) && n >= 1 && n <= 100_000;
  return {
    steps: read('steps', 'steps', whole),
    batch: read('batch', 'batch', (n) => whole(n) && n <= 256),
    seq: read('seq', 'sequence length', (n) => whole(n) && n >= 2 && n <= 4096),
    lr: read('lr', 'the learning rate', (n) => n > 0 && Number.isFinite(n)),
    seed: 0,
    frozen: frozenChoice($<HTMLSelectElement>('frozen').value),
  };
}

function trainButton(): void {
  const chart = new LossChart($('chart') as unknown as SVGSVGElement);
  const btn = $<HTMLButtonElement>('train');
  const stopBtn = $<HTMLButtonElement>('stop');
  const log = (text: string) => {
    const el = $('log');
    el.textContent += text + '\n';
    el.scrollTop = el.scrollHeight;
  };
  const status = (text: string, error = false) => {
    $('train-status').textContent = text;
    $('train-status').className = error ? 'bad' : '';
  };
  let stop = false;
  const base = { name: data.base.name, bytes: fromBase64(data.base.base64) };
  btn.addEventListener('click', () => {
    const a = ws.analysis;
    if (!a?.result.graph || training) return;
    void (async () => {
      training = true;
      stop = false;
      btn.disabled = true;
      stopBtn.disabled = false;
      document.documentElement.dataset.train = 'training';
      $('log').textContent = '';
      chart.reset();
      try {
        const run = runSettings();
        status('compiling and planning the training step…');
        const res: RunResult = await trainInPage(a.result.graph!, { entry: a.entry, sources: ws.sources() }, base, data.corpus, run, {
          note: log,
          onStep: (i) => {
            chart.addStep(i.step, i.loss);
            status(`training: step ${i.step} of ${run.steps}, loss ${i.loss.toFixed(4)}`);
            log(`step ${i.step}  loss ${i.loss.toFixed(4)}  ${Math.round(i.tokensPerSecond)} tok/s`);
          },
          onEval: (st, v) => {
            chart.addValidation(st, v);
            log(`step ${st}  validation loss ${v.toFixed(4)}`);
          },
          shouldStop: () => stop,
        });
        (window as unknown as { peftcResult: RunResult }).peftcResult = res;
        const how = res.end === 'done' ? 'done' : res.end === 'interrupted' ? `stopped at step ${res.step}` : `diverged at step ${res.diverged?.step ?? res.step + 1}; try a lower learning rate`;
        status(`${how}: validation loss ${res.before.toFixed(4)} → ${res.valLoss?.toFixed(4) ?? '–'}`, res.end === 'diverged');
        document.documentElement.dataset.train = 'done';
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        status(message, true);
        log(message);
        document.documentElement.dataset.train = 'error';
      } finally {
        training = false;
        btn.disabled = !ws.analysis?.result.graph;
        stopBtn.disabled = true;
      }
    })();
  });
  stopBtn.addEventListener('click', () => (stop = true));
}

function main(): void {
  document.documentElement.dataset.train = 'idle';
  $('corpus').textContent = data.corpus.name;
  $('base').textContent = data.base.name;
  $('version').textContent = data.version;
  const view = createEditor($('editor'), ws, { analyzed });
  examplesMenu(view);
  trainButton();
}

main();
