// Learning-rate schedules: constant, or cosine decay to zero, each after an optional
// linear warm-up from zero.
export type ScheduleKind = 'constant' | 'cosine';

export interface Schedule {
  kind: ScheduleKind;
  lr: number;
  warmup: number;
  total: number;
}

/** The learning rate of 0-based step `step`. */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmup) return (s.lr * (step + 1)) / s.warmup;
  if (s.kind === 'constant') return s.lr;
  const span = Math.max(1, s.total - s.warmup);
  const progress = Math.min(1, (step - s.warmup) / span);
  return 0.5 * s.lr * (1 + Math.cos(Math.PI * progress));
}
