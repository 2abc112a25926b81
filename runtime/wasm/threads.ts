// The wasm backend's threads: the main thread and T − 1 workers, each with its own instance of
// the gemm module over the one shared memory (heap.ts). A product is split into T parts (column
// or row ranges of C, gemm.ts); the main thread writes the parts into control words in the
// memory, wakes the workers with Atomics.notify, computes part 0 itself and waits (Atomics.wait)
// until every worker has counted itself done. Waking a worker this way costs microseconds where a
// message would cost tens, and a training step makes hundreds of products.
//
// Workers block in Atomics.wait between products and are unref'd, so they never keep the process
// alive. A trap in a worker (or an instance it could not make) is caught there and reported
// through the control words, and the worker goes on answering, so the main thread never waits
// for a worker that cannot compute. The control words start zeroed (heap.ts's reserve).
import { Worker } from 'node:worker_threads';
import type { WasmHeap } from './heap.ts';

/** Control words: [0] sequence, [1] stop, [2] workers done, [3] a worker's error, [4 …] the job. */
const SEQ = 0;
const STOP = 1;
const DONE = 2;
const FAILED = 3;
/** The shared arguments of `part` (M … hasBias: 13 words). */
export const JOB = 4;
export const JOB_WORDS = 13;
/** Each thread's own arguments (m0, m1, n0, n1, scratch, active) from PARTS + 8·thread. */
export const PARTS = 32;
const PART_WORDS = 8;
export const MAX_THREADS = 64;
const CONTROL_INTS = PARTS + PART_WORDS * MAX_THREADS;

/** `part` of gemm.wat: the shared 13 arguments, then m0, m1, n0, n1, scratch. */
export type PartFn = (...args: number[]) => void;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, module, control, id } = workerData;
const ctl = new Int32Array(memory.buffer, control, ${CONTROL_INTS});
let part = null;
try {
  part = new WebAssembly.Instance(module, { env: { memory } }).exports.part;
} catch (e) {
  // without its instance this thread still answers every product (as failed), so none waits for it
}
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${SEQ}, seen);
  seen = Atomics.load(ctl, ${SEQ});
  if (Atomics.load(ctl, ${STOP})) break;
  const o = ${PARTS} + ${PART_WORDS} * id;
  if (ctl[o + 5]) {
    try {
      part(${Array.from({ length: JOB_WORDS }, (_, i) => `ctl[${JOB + i}]`).join(', ')}, ctl[o], ctl[o + 1], ctl[o + 2], ctl[o + 3], ctl[o + 4]);
    } catch (e) {
      Atomics.store(ctl, ${FAILED}, 1);
    }
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly workers: Worker[] = [];

  /** `threads` in all, the main thread included; `scratch[t]` is thread t's packing area. */
  constructor(
    heap: WasmHeap,
    module: WebAssembly.Module,
    readonly threads: number,
    readonly scratch: number[],
    private readonly mainPart: PartFn,
  ) {
    const at = heap.reserve(CONTROL_INTS * 4, 'the threads\' control words');
    this.control = heap.ints(at, CONTROL_INTS);
    for (let id = 1; id < threads; id++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory: heap.memory, module, control: at, id } });
      w.unref();
      this.workers.push(w);
    }
  }

  /**
   * Runs `part` on every thread: `job` the 13 shared arguments, `parts[t]` thread t's
   * [m0, m1, n0, n1] (empty ranges for threads with nothing to do).
   */
  run(job: number[], parts: [number, number, number, number][]): void {
    const c = this.control;
    for (let i = 0; i < JOB_WORDS; i++) c[JOB + i] = job[i]!;
    for (let t = 0; t < this.threads; t++) {
      const o = PARTS + PART_WORDS * t;
      const p = parts[t];
      const active = p !== undefined && p[0] < p[1] && p[2] < p[3];
      if (p) c.set(p, o);
      c[o + 4] = this.scratch[t]!;
      c[o + 5] = active ? 1 : 0;
    }
    // A product with one part (a small one) runs here alone: waking the workers would cost more.
    const n = parts.length > 1 ? this.workers.length : 0;
    if (n > 0) {
      Atomics.store(c, DONE, 0);
      Atomics.store(c, FAILED, 0);
      Atomics.add(c, SEQ, 1);
      Atomics.notify(c, SEQ);
    }
    try {
      if (c[PARTS + 5]) this.mainPart(...job, c[PARTS]!, c[PARTS + 1]!, c[PARTS + 2]!, c[PARTS + 3]!, c[PARTS + 4]!);
    } finally {
      // also when this thread's part trapped: the next product must not start under running workers
      for (let d = Atomics.load(c, DONE); d < n; d = Atomics.load(c, DONE)) Atomics.wait(c, DONE, d);
    }
    if (Atomics.load(c, FAILED)) throw new Error('a wasm backend thread trapped in a product');
  }

  /** Stops the workers (they exit at their next wake). */
  close(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
  }
}
