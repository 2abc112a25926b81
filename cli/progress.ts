// How a training run reports itself: a progress bar on a terminal (step, loss, learning
// rate, tokens/s, ETA), plain log lines otherwise, or one JSON object per line (--json).
import cliProgress from 'cli-progress';
import type { StepInfo } from '../runtime/trainer.ts';

export interface Reporter {
  start(total: number, from: number): void;
  step(info: StepInfo): void;
  eval(step: number, valLoss: number): void;
  /** A line of text that must not tear the bar. */
  note(text: string): void;
  stop(): void;
}

export function makeReporter(mode: { json: boolean; tty: boolean; logEvery: number }): Reporter {
  if (mode.json) return jsonReporter(mode.logEvery);
  return mode.tty ? barReporter() : lineReporter(mode.logEvery);
}

/** "1 step", "2 steps". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

const fmt = (x: number, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

function jsonReporter(every: number): Reporter {
  const out = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');
  return {
    start: () => {},
    step: (i) => {
      if (i.step % every === 0 || i.step === 1) out({ step: i.step, loss: i.loss, lr: i.lr, grad_norm: i.gradNorm, tokens_per_s: Math.round(i.tokensPerSecond) });
    },
    eval: (step, valLoss) => out({ step, val_loss: valLoss }),
    note: (text) => process.stderr.write(text + '\n'),
    stop: () => {},
  };
}

function lineReporter(every: number): Reporter {
  return {
    start: () => {},
    step: (i) => {
      if (i.step % every === 0 || i.step === 1) {
        process.stdout.write(`step ${i.step}  loss ${fmt(i.loss)}  lr ${i.lr.toExponential(2)}  ${Math.round(i.tokensPerSecond)} tok/s\n`);
      }
    },
    eval: (step, valLoss) => process.stdout.write(`step ${step}  validation loss ${fmt(valLoss)}\n`),
    note: (text) => process.stdout.write(text + '\n'),
    stop: () => {},
  };
}

function barReporter(): Reporter {
  // A MultiBar with one bar: it can print lines above the bar without tearing it.
  const multi = new cliProgress.MultiBar(
    { format: 'step {value}/{total} {bar} loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true, etaBuffer: 20, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  return {
    start: (total, from) => {
      bar = multi.create(total, from, { loss: '-', lr: '-', tps: '-' });
    },
    step: (i) => bar?.update(i.step, { loss: fmt(i.loss), lr: i.lr.toExponential(2), tps: Math.round(i.tokensPerSecond) }),
    eval: (step, valLoss) => {
      const line = `step ${step}  validation loss ${fmt(valLoss)}\n`;
      if (bar) multi.log(line);
      else process.stdout.write(line);
    },
    note: (text) => (bar ? multi.log(text + '\n') : process.stdout.write(text + '\n')),
    stop: () => {
      // Logged lines are printed on the next redraw: force one, then print directly.
      multi.update();
      multi.stop();
      bar = undefined;
    },
  };
}
