// The end of the demo (scripts/demo.sh): the base model and its fine-tune on the same held-out
// rows, a few of them side by side with each model's answer and confidence, then a results
// table. Accuracy and loss come from `peftc eval --json` outputs when given (the commands the
// demo ran), else from this script's own predictions, which are the same numbers.
//
//   npx tsx scripts/demo-report.ts MODEL.peft --init BASE.safetensors --adapter RUN_DIR
//       --data test.jsonl --seq T [--base-eval base.json --tuned-eval tuned.json]
//       [--train-seconds S] [--samples 5] [--labels ham,spam] [--json results.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { formatCount, summarize } from '../compiler/params.ts';
import { CpuBackend } from '../runtime/backend.ts';
import { Batcher } from '../runtime/data/batches.ts';
import { loadDataset } from '../runtime/data/load-node.ts';
import { optimizerFrom } from '../cli/flags.ts';
import { openSession, trainingGraph } from '../cli/session.ts';

/** One held-out row as a model sees it: the label, the predicted label and its probability. */
export interface Prediction {
  label: number;
  predicted: number;
  confidence: number;
}

export interface Scores {
  predictions: Prediction[];
  accuracy: number;
  /** Mean cross-entropy in nats, as `peftc eval` reports it. */
  loss: number;
}

export interface Report {
  base: Scores;
  tuned: Scores;
  trainable: number;
  total: number;
  trainSeconds?: number;
}

/** Every row of `data` through a classifier, in file order: the evaluation `peftc eval` runs. */
export async function classify(model: string, opts: { init: string; adapter?: string; data: string; seq: number }): Promise<Scores & { trainable: number; total: number }> {
  const s = await openSession(model, { init: opts.init, ...(opts.adapter ? { adapter: opts.adapter } : {}) });
  if (!s) throw new Error(`${model} does not compile`);
  const g = s.graph;
  if (g.task !== 'classification') throw new Error(`${model} is not a classifier`);
  const classes = g.nodes[g.outputs.logits]!.shape[1] as number;
  const data = loadDataset({ data: opts.data, valid: opts.data, task: g.task, tokenizer: s.tokenizer, seqLen: opts.seq, numLabels: classes });
  const backend = new CpuBackend(trainingGraph(g, optimizerFrom({})), s.store);
  const predictions: Prediction[] = [];
  let nats = 0;
  for (const b of new Batcher(data, { batchSize: 64, promptLength: g.promptLength }).validationBatches()) {
    const { logits } = await backend.evaluate(b);
    b.targets.data.forEach((label, i) => {
      if (label < 0) return; // a filler row
      const p = softmax(Array.from(logits.data.subarray(i * classes, (i + 1) * classes)));
      const predicted = p.indexOf(Math.max(...p));
      predictions.push({ label, predicted, confidence: p[predicted]! });
      nats -= Math.log(p[label]!);
    });
  }
  const p = summarize(g);
  return { predictions, accuracy: predictions.filter((x) => x.predicted === x.label).length / predictions.length, loss: nats / predictions.length, trainable: p.kept.trainable, total: p.kept.total };
}

function softmax(row: number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/** The base (`--init` alone: its LoRA adds nothing and its head is freshly initialised) and the fine-tune. */
export async function measure(model: string, opts: { init: string; adapter: string; data: string; seq: number }): Promise<Report> {
  const base = await classify(model, { init: opts.init, data: opts.data, seq: opts.seq });
  const { trainable, total, ...tuned } = await classify(model, opts);
  return { base: { predictions: base.predictions, accuracy: base.accuracy, loss: base.loss }, tuned, trainable, total };
}

/** Up to n row indices, alternating between labels (spam, ham, spam, … in file order). */
export function samples(predictions: Prediction[], n: number): number[] {
  const byLabel = new Map<number, number[]>();
  predictions.forEach((p, i) => byLabel.set(p.label, [...(byLabel.get(p.label) ?? []), i]));
  const queues = [...byLabel.entries()].sort((a, b) => b[0] - a[0]).map((e) => e[1]);
  const out: number[] = [];
  for (let k = 0; out.length < Math.min(n, predictions.length); k++) for (const q of queues) if (k < q.length && out.length < n) out.push(q[k]!);
  return out;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function sideBySide(r: Report, texts: string[], labels: string[], n: number): string {
  const answer = (p: Prediction) => `${labels[p.predicted] ?? p.predicted} (${pct(p.confidence)}) ${p.predicted === p.label ? '✓' : '✗'}`;
  const rows = samples(r.tuned.predictions, n).map((i) => [JSON.stringify(texts[i]), answer(r.base.predictions[i]!), answer(r.tuned.predictions[i]!), labels[r.tuned.predictions[i]!.label] ?? '?']);
  return table(['held-out subject', 'base model', 'fine-tuned', 'truth'], rows);
}

export function resultsTable(r: Report): string {
  const rows = [
    ['accuracy on the held-out subjects', pct(r.base.accuracy), pct(r.tuned.accuracy)],
    ['held-out loss (cross-entropy, nats)', r.base.loss.toFixed(3), r.tuned.loss.toFixed(3)],
    ['trainable parameters', '0', `${formatCount(r.trainable)} of ${formatCount(r.total)} (${((100 * r.trainable) / r.total).toFixed(1)}%)`],
    ['training time', '—', r.trainSeconds === undefined ? '—' : `${r.trainSeconds.toFixed(0)} s`],
  ];
  return table(['', 'base', 'fine-tuned (LoRA + head)'], rows);
}

/** A plain-text table with padded columns (also valid Markdown). */
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...r[i]!].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n') + '\n';
}

/** `peftc eval --json` output: its accuracy and loss replace the script's own (they agree). */
function withEval(s: Scores, file?: string): Scores {
  if (!file) return s;
  const e = JSON.parse(readFileSync(file, 'utf8')) as { accuracy?: number; loss?: number };
  return { ...s, accuracy: e.accuracy ?? s.accuracy, loss: e.loss ?? s.loss };
}

async function main(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      init: { type: 'string' },
      adapter: { type: 'string' },
      data: { type: 'string' },
      seq: { type: 'string' },
      'base-eval': { type: 'string' },
      'tuned-eval': { type: 'string' },
      'train-seconds': { type: 'string' },
      samples: { type: 'string', default: '5' },
      labels: { type: 'string', default: 'ham,spam' },
      json: { type: 'string' },
    },
  });
  const model = positionals[0];
  if (!model || !v.init || !v.adapter || !v.data || !v.seq) {
    throw new Error('usage: demo-report.ts MODEL.peft --init BASE --adapter RUN_DIR --data test.jsonl --seq T [--base-eval F] [--tuned-eval F] [--train-seconds S] [--samples N] [--labels a,b] [--json OUT]');
  }
  const measured = await measure(model, { init: v.init, adapter: v.adapter, data: v.data, seq: Number(v.seq) });
  const report: Report = {
    ...measured,
    base: withEval(measured.base, v['base-eval']),
    tuned: withEval(measured.tuned, v['tuned-eval']),
    ...(v['train-seconds'] ? { trainSeconds: Number(v['train-seconds']) } : {}),
  };
  const texts = readFileSync(v.data, 'utf8').split('\n').filter((l) => l.trim()).map((l) => (JSON.parse(l) as { text: string }).text);
  const labels = v.labels.split(',');
  const n = report.tuned.predictions.length;
  const counts = labels.map((_, id) => report.tuned.predictions.filter((p) => p.label === id).length);
  process.stdout.write(`${n} held-out subjects, never trained on (${labels.map((l, i) => `${counts[i]} ${l}`).join(', ')}):\n\n${sideBySide(report, texts, labels, Number(v.samples))}\n`);
  process.stdout.write(resultsTable(report));
  process.stdout.write(`\nAlways answering "${labels[counts.indexOf(Math.max(...counts))]}" would score ${pct(Math.max(...counts) / n)}.\n`);
  if (v.json) writeFileSync(v.json, JSON.stringify({ ...report, base: { accuracy: report.base.accuracy, loss: report.base.loss }, tuned: { accuracy: report.tuned.accuracy, loss: report.tuned.loss } }, null, 2) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    console.error(`demo-report: ${e.message}`);
    process.exit(1);
  });
}
