// How long a wait on the GPU may last: it scales with the work instead of a fixed limit.
//
// A wait (readback, queue wait, error scope) fails only when the GPU has finished none of the
// work submitted before it for `limitMs()`: a slow adapter that keeps finishing work is never
// cut off, however long the whole wait takes (a GPT-2-small step on SwiftShader takes minutes),
// while a GPU that stops making progress is reported with what it was running. Batches are
// submitted in pieces of a few dispatches (gpu.ts) so that progress is seen within a step.
//
// The default limit starts at DEFAULT_STALL_MS and grows to STALL_GROWTH times the slowest piece
// seen so far, so an adapter whose pieces take tens of seconds gets minutes. An explicit limit
// (`--gpu-timeout`) is used as it is; 0 means no limit. Isomorphic: no Node APIs.

/** The limit before anything has been measured: no piece of a healthy GPU takes this long. */
export const DEFAULT_STALL_MS = 60_000;
/** The default limit is at least this many times the slowest piece seen so far. */
export const STALL_GROWTH = 10;

/** One queue submission being watched: its batch and kernels, for the message of a stall. */
export interface Piece {
  label: string;
  kernels: readonly string[];
  submittedAt: number;
}

/** The longest limit a timer can hold (setTimeout's 2^31 − 1 ms, about 24.8 days). */
export const MAX_LIMIT_MS = 2 ** 31 - 1;

/** How to tell a user to raise the limit (the CLI's and the built trainer's flag). */
export const RAISE_HINT = 'if the GPU is only slow, raise the limit with --gpu-timeout SECONDS (0: no limit)';

/**
 * A limit given in seconds (the --gpu-timeout flag) in milliseconds; 0 means no limit.
 * Throws RangeError saying what is wrong with the text.
 */
export function waitLimitMs(seconds: string): number {
  const s = Number(seconds);
  if (seconds.trim() === '' || !Number.isFinite(s) || s < 0 || s * 1000 > MAX_LIMIT_MS) {
    throw new RangeError(`must be a number of seconds from 0 to ${Math.floor(MAX_LIMIT_MS / 1000)} (0: no limit), not \`${seconds}\``);
  }
  return Math.round(s * 1000);
}

export class QueueWatch {
  /** Pieces submitted and not yet finished, oldest first (a queue finishes in order). */
  private readonly pending: Piece[] = [];
  private lastFinishedAt = -Infinity;
  /** The longest time one piece kept the queue busy, in ms. */
  slowestPieceMs = 0;
  /** When the GPU last finished a piece (ms, `now()`'s clock). */
  lastProgressAt = -Infinity;

  private fixed: number | undefined;

  constructor(
    fixedMs: number | undefined = undefined,
    readonly hint: string = RAISE_HINT,
    readonly now: () => number = Date.now,
  ) {
    this.fixedMs = fixedMs;
  }

  /** Fixed limit in ms (0: none), or undefined for the default that grows with the work. */
  get fixedMs(): number | undefined {
    return this.fixed;
  }

  set fixedMs(ms: number | undefined) {
    if (ms !== undefined && !(ms >= 0 && ms <= MAX_LIMIT_MS)) throw new RangeError(`the GPU wait limit must be from 0 to ${MAX_LIMIT_MS} ms, not ${ms}`);
    this.fixed = ms;
  }

  /** The milliseconds without progress after which a wait fails, or null for no limit. */
  limitMs(): number | null {
    if (this.fixed !== undefined) return this.fixed === 0 ? null : this.fixed;
    return Math.min(MAX_LIMIT_MS, Math.max(DEFAULT_STALL_MS, STALL_GROWTH * this.slowestPieceMs));
  }

  submitted(label: string, kernels: readonly string[]): Piece {
    const piece = { label, kernels, submittedAt: this.now() };
    this.pending.push(piece);
    return piece;
  }

  /** The queue finished `piece` (and, being in order, every piece before it). */
  finished(piece: Piece): void {
    const i = this.pending.indexOf(piece);
    if (i < 0) return;
    this.pending.splice(0, i + 1);
    const t = this.now();
    // The piece kept the queue busy from when it was submitted or the previous one finished.
    this.slowestPieceMs = Math.max(this.slowestPieceMs, t - Math.max(piece.submittedAt, this.lastFinishedAt));
    this.lastFinishedAt = t;
    this.lastProgressAt = t;
  }

  /** The device is gone: nothing pending will finish. */
  clear(): void {
    this.pending.length = 0;
  }

  /** When a wait that began at `startedAt` fails, on `now()`'s clock; null: never. */
  deadline(startedAt: number): number | null {
    const limit = this.limitMs();
    return limit === null ? null : Math.max(startedAt, this.lastProgressAt) + limit;
  }

  /** The message of a wait for `what` that began at `startedAt` and saw no progress in time. */
  stalled(what: string, startedAt: number): string {
    const limit = this.limitMs() ?? 0;
    const waited = this.now() - startedAt;
    const running = this.pending[0];
    const kernels = running?.kernels.length ? ` [${running.kernels.slice(0, 4).join(', ')}${running.kernels.length > 4 ? ', …' : ''}]` : '';
    const where = running ? `; still running: ${running.label}${kernels}${this.pending.length > 1 ? ` and ${this.pending.length - 1} more submission${this.pending.length > 2 ? 's' : ''}` : ''}` : '';
    return `${what} did not finish: the GPU finished no work for ${seconds(limit)} (waited ${seconds(waited)} in all${where}); ${this.hint}`;
  }
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(ms >= 1000 ? 1 : 3)} s`;
}
