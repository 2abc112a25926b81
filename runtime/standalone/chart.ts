// The browser trainer's loss chart: step on x, loss on y, both with ticks and labels (d3's
// scales and axes). Training loss per step is noisy and, during the learning-rate warm-up,
// often climbs while the model improves, so it is drawn as faint points under an exponential
// moving average; the validation loss (before the first step and at each checkpoint) is the
// line that says whether training helps.
import { axisBottom, axisLeft } from 'd3-axis';
import { scaleLinear } from 'd3-scale';
import { select, type Selection } from 'd3-selection';
import { line } from 'd3-shape';

export interface LossPoint {
  step: number;
  loss: number;
}

/** The EMA's weight on the past: about the last 10 steps. */
export const EMA_DECAY = 0.9;

/** The moving average, bias-corrected (as Adam's moments) so that it starts at the first loss, not at 0. */
export function smooth(points: readonly LossPoint[], decay = EMA_DECAY): LossPoint[] {
  let avg = 0;
  let n = 0;
  const out: LossPoint[] = [];
  for (const p of points) {
    if (!Number.isFinite(p.loss)) continue;
    avg = decay * avg + (1 - decay) * p.loss;
    n++;
    out.push({ step: p.step, loss: avg / (1 - decay ** n) });
  }
  return out;
}

const WIDTH = 640;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 16, bottom: 38, left: 56 };

export class LossChart {
  private train: LossPoint[] = [];
  private valid: LossPoint[] = [];
  private readonly svg: Selection<SVGSVGElement, unknown, null, undefined>;

  constructor(element: SVGSVGElement) {
    this.svg = select(element).attr('viewBox', `0 0 ${WIDTH} ${HEIGHT}`).attr('preserveAspectRatio', 'xMidYMid meet');
    this.draw();
  }

  /** Clears both series (a new run). */
  reset(): void {
    this.train = [];
    this.valid = [];
    this.draw();
  }

  addStep(step: number, loss: number): void {
    this.train.push({ step, loss });
    this.draw();
  }

  addValidation(step: number, loss: number): void {
    this.valid.push({ step, loss });
    this.draw();
  }

  private draw(): void {
    const finite = [...this.train, ...this.valid].filter((p) => Number.isFinite(p.loss));
    const lastStep = Math.max(1, ...finite.map((p) => p.step));
    const losses = finite.map((p) => p.loss);
    const lo = losses.length ? Math.min(...losses) : 0;
    const hi = losses.length ? Math.max(...losses) : 1;
    const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 0.5;
    const x = scaleLinear().domain([0, lastStep]).nice().range([MARGIN.left, WIDTH - MARGIN.right]);
    const y = scaleLinear().domain([lo - pad, hi + pad]).nice().range([HEIGHT - MARGIN.bottom, MARGIN.top]);

    const svg = this.svg;
    svg.selectAll('*').remove();
    svg.append('g').attr('class', 'x-axis').attr('transform', `translate(0,${HEIGHT - MARGIN.bottom})`).call(axisBottom(x).ticks(8).tickSizeOuter(0));
    svg.append('g').attr('class', 'y-axis').attr('transform', `translate(${MARGIN.left},0)`).call(axisLeft(y).ticks(5).tickSizeOuter(0));
    svg.append('text').attr('class', 'axis-label').attr('x', (MARGIN.left + WIDTH - MARGIN.right) / 2).attr('y', HEIGHT - 6).attr('text-anchor', 'middle').text('step');
    svg.append('text').attr('class', 'axis-label').attr('transform', `translate(14,${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text('loss');

    const path = line<LossPoint>().x((p) => x(p.step)).y((p) => y(p.loss));
    const train = this.train.filter((p) => Number.isFinite(p.loss));
    svg.append('g').attr('class', 'train-raw').selectAll('circle').data(train).join('circle').attr('cx', (p) => x(p.step)).attr('cy', (p) => y(p.loss)).attr('r', 2.5);
    svg.append('path').attr('class', 'train-ema').attr('d', path(smooth(train)) ?? '');
    const valid = this.valid.filter((p) => Number.isFinite(p.loss));
    svg.append('path').attr('class', 'valid-line').attr('d', path(valid) ?? '');
    svg.append('g').attr('class', 'valid').selectAll('circle').data(valid).join('circle').attr('cx', (p) => x(p.step)).attr('cy', (p) => y(p.loss)).attr('r', 3.5);
    this.legend();
  }

  private legend(): void {
    const g = this.svg.append('g').attr('class', 'legend').attr('transform', `translate(${WIDTH - MARGIN.right - 270},${MARGIN.top + 6})`);
    const entries: [string, string][] = [['train-ema', 'training loss (EMA; dots: each step)'], ['valid-line', 'validation loss']];
    entries.forEach(([cls, text], i) => {
      const row = g.append('g').attr('transform', `translate(0,${i * 16})`);
      row.append('line').attr('class', cls).attr('x1', 0).attr('x2', 18).attr('y1', 0).attr('y2', 0);
      row.append('text').attr('x', 24).attr('y', 4).text(text);
    });
  }
}
