// The small helper layer over a GPUDevice: buffers from typed arrays, readbacks, compute
// pipelines from WGSL (cached by source), and batches of dispatches submitted in pieces.
// Every GPU call that can fail runs inside error scopes and throws GpuError; every wait is
// raced against device loss and a limit on the time without progress that grows with the work
// (queue-watch.ts). Isomorphic: no Node APIs.

import type { GpuInfo } from './device.ts';
import { GpuError, type GpuErrorKind } from './errors.ts';
import { QueueWatch } from './queue-watch.ts';

// The spec's numeric flags, so that this file needs no GPUBufferUsage/GPUMapMode globals.
export const Usage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;
const MAP_MODE_READ = 0x1;
const ERROR_FILTERS: GPUErrorFilter[] = ['validation', 'out-of-memory', 'internal'];

export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
type TypedArrayCtor<T extends TypedArray> = { new (buffer: ArrayBuffer): T; BYTES_PER_ELEMENT: number };

/** A byte range of a buffer to bind; offset must be a multiple of minStorageBufferOffsetAlignment (256). */
export interface BufferRange {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** What a dispatch binds: a whole buffer or a range of one. */
export type Bindable = GPUBuffer | BufferRange;

const isRange = (b: Bindable): b is BufferRange => 'buffer' in b && 'offset' in b;

export interface BufferOptions {
  label?: string;
  /** GPUBufferUsage flags; default STORAGE | COPY_SRC | COPY_DST. */
  usage?: number;
}

/** A compiled compute pipeline and what it was made from. */
export interface Kernel {
  pipeline: GPUComputePipeline;
  label: string;
}

const roundUp4 = (n: number): number => Math.max(4, Math.ceil(n / 4) * 4);

/**
 * Dispatches per queue submission. A batch (a whole training step) goes to the queue in pieces
 * of this many, each watched for completion, so that a wait sees the GPU progress within a step.
 */
export const PIECE_DISPATCHES = 8;

export interface GpuOptions {
  /**
   * Milliseconds a wait may go without the GPU finishing any submitted work before it fails with
   * a 'timeout' GpuError; 0: no limit. Default: 60 s, growing with the slowest work seen.
   */
  timeoutMs?: number | undefined;
  /** What a timeout's message says to do about it (default: the --gpu-timeout flag). */
  timeoutHint?: string | undefined;
}

export class Gpu {
  /** @internal What the queue is running, and how long a wait may go without progress. */
  readonly watch: QueueWatch;
  /** Dispatches per queue submission (PIECE_DISPATCHES; Infinity submits each batch whole). */
  pieceDispatches = PIECE_DISPATCHES;
  private readonly pipelines = new Map<string, Promise<Kernel>>();
  /** Pipelines compiled so far (the cache hands out the rest), and the milliseconds their creation took. */
  readonly compiled = { count: 0, ms: 0 };
  private lostError: GpuError | null = null;
  private lostReason = '';
  private readonly waiters = new Set<() => void>();
  private readonly uncaptured: string[] = [];

  constructor(
    readonly device: GPUDevice,
    readonly info: GpuInfo,
    opts: GpuOptions = {},
  ) {
    this.watch = new QueueWatch(opts.timeoutMs, opts.timeoutHint);
    device.lost.then((lost) => {
      const why = lost.reason === 'destroyed' ? 'the device was destroyed' : `the device was lost: ${lost.message}`;
      this.lostReason = why;
      this.lostError = new GpuError('device-lost', why);
      this.watch.clear();
      for (const reject of this.waiters) reject();
      this.waiters.clear();
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(ev.error.message);
    };
  }

  /** The fixed wait limit in ms (0: none), or undefined for the default that grows with the work. */
  get timeoutMs(): number | undefined {
    return this.watch.fixedMs;
  }

  set timeoutMs(ms: number | undefined) {
    this.watch.fixedMs = ms;
  }

  get isLost(): boolean {
    return this.lostError !== null;
  }

  // ------------------------------------------------------------------ buffers

  /** A storage buffer holding `data`, or `byteLength` zero bytes. Sizes are padded to 4 bytes. */
  buffer(data: TypedArray | number, opts: BufferOptions = {}): GPUBuffer {
    this.throwIfUnusable();
    const byteLength = typeof data === 'number' ? data : data.byteLength;
    const size = roundUp4(byteLength);
    if (size > this.info.limits.maxBufferSize) {
      throw new GpuError(
        'limit',
        `buffer of ${size} bytes exceeds this adapter's maxBufferSize (${this.info.limits.maxBufferSize} bytes)`,
        opts.label,
      );
    }
    const usage = opts.usage ?? Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;
    const buffer = this.device.createBuffer({
      size,
      usage,
      mappedAtCreation: typeof data !== 'number',
      ...(opts.label ? { label: opts.label } : {}),
    });
    if (typeof data !== 'number') {
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      buffer.unmap();
    }
    return buffer;
  }

  /** Writes `data` into `buffer` at `byteOffset` (queued before the next submit). */
  write(buffer: GPUBuffer, data: TypedArray, byteOffset = 0): void {
    this.throwIfUnusable();
    this.device.queue.writeBuffer(buffer, byteOffset, data.buffer, data.byteOffset, roundUp4(data.byteLength));
  }

  /** Copies `buffer` (or its `byteLength` bytes from `byteOffset`, a multiple of 4) back to the CPU. */
  async read<T extends TypedArray = Float32Array>(
    buffer: GPUBuffer,
    ctor: TypedArrayCtor<T> = Float32Array as unknown as TypedArrayCtor<T>,
    byteLength = buffer.size,
    byteOffset = 0,
  ): Promise<T> {
    const size = roundUp4(byteLength);
    const staging = this.buffer(size, { usage: Usage.MAP_READ | Usage.COPY_DST, label: 'readback' });
    try {
      await this.commands(`readback of ${buffer.label || 'buffer'}`).copy(buffer, staging, size, byteOffset).submit();
      await this.guard(staging.mapAsync(MAP_MODE_READ, 0, size), `readback of ${buffer.label || 'buffer'}`);
      const bytes = staging.getMappedRange(0, size).slice(0, byteLength - (byteLength % ctor.BYTES_PER_ELEMENT));
      staging.unmap();
      return new ctor(bytes);
    } finally {
      staging.destroy();
    }
  }

  // ------------------------------------------------------------------ pipelines

  /**
   * Compiles a compute pipeline from WGSL (layout 'auto'), cached by source and entry point.
   * A shader that fails to compile or validate throws GpuError('validation') with the compiler's
   * messages, each under the source line it refers to.
   */
  pipeline(wgsl: string, opts: { entryPoint?: string; label?: string } = {}): Promise<Kernel> {
    const entryPoint = opts.entryPoint ?? 'main';
    const key = `${entryPoint}\u0000${wgsl}`;
    let cached = this.pipelines.get(key);
    if (!cached) {
      cached = this.compile(wgsl, entryPoint, opts.label ?? entryPoint);
      cached.catch(() => this.pipelines.delete(key));
      this.pipelines.set(key, cached);
    }
    return cached;
  }

  private async compile(wgsl: string, entryPoint: string, label: string): Promise<Kernel> {
    this.throwIfUnusable();
    this.pushScopes();
    const t0 = performance.now();
    const module = this.device.createShaderModule({ code: wgsl, label });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint }, label });
    this.compiled.count++;
    this.compiled.ms += performance.now() - t0;
    const errors = await this.popScopes(`pipeline ${label}`);
    if (errors.length === 0) return { pipeline, label };
    const info = await module.getCompilationInfo().catch(() => null);
    const compileMessages = info ? formatCompilationMessages(info.messages, wgsl, label) : '';
    const first = errors[0]!;
    const detail = compileMessages || errors.map((e) => e.message).join('\n');
    throw new GpuError(first.kind, `pipeline failed to build:\n${detail}`, `pipeline ${label}`);
  }

  // ------------------------------------------------------------------ dispatch

  /** A batch of dispatches and copies recorded into one command encoder at submit(). */
  commands(label = 'commands'): CommandBatch {
    return new CommandBatch(this, label);
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.throwIfUnusable();
    await this.guard(this.device.queue.onSubmittedWorkDone(), 'queue wait');
  }

  destroy(): void {
    this.device.destroy();
  }

  // ------------------------------------------------------------------ error plumbing (CommandBatch uses these)

  /** @internal */
  pushScopes(): void {
    for (const filter of ERROR_FILTERS) this.device.pushErrorScope(filter);
  }

  /** @internal Pops the three scopes pushed by pushScopes; returns the errors they caught. */
  async popScopes(what: string): Promise<{ kind: GpuErrorKind; message: string }[]> {
    const pops = [...ERROR_FILTERS].reverse().map((filter) =>
      this.device.popErrorScope().then((e) => (e ? { kind: filter as GpuErrorKind, message: e.message } : null)),
    );
    const found = await this.guard(Promise.all(pops), what);
    return found.filter((e): e is { kind: GpuErrorKind; message: string } => e !== null).reverse();
  }

  /**
   * @internal Rejects with a GpuError when the device is lost, or when the GPU finishes none of
   * its submitted work for the watch's limit (the deadline moves with every piece that finishes).
   */
  guard<T>(work: Promise<T>, what: string): Promise<T> {
    if (this.lostError) return Promise.reject(this.lostError);
    const startedAt = this.watch.now();
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = (): void => {
        clearTimeout(timer);
        this.waiters.delete(onLost);
      };
      const onLost = (): void => {
        clearTimeout(timer);
        reject(new GpuError('device-lost', `${this.lostReason} while waiting for ${what}`));
      };
      const check = (): void => {
        const deadline = this.watch.deadline(startedAt);
        if (deadline === null) return;
        const left = deadline - this.watch.now();
        if (left > 0) {
          timer = setTimeout(check, left);
          return;
        }
        settle();
        reject(new GpuError('timeout', this.watch.stalled(what, startedAt)));
      };
      this.waiters.add(onLost);
      check();
      work.then(
        (v) => {
          settle();
          resolve(v);
        },
        (e: unknown) => {
          settle();
          reject(
            this.lostError ?? new GpuError('internal', `${what} failed: ${(e as Error)?.message ?? String(e)}`),
          );
        },
      );
    });
  }

  /** @internal Throws when the device is lost or an error escaped every scope. */
  throwIfUnusable(): void {
    if (this.lostError) throw this.lostError;
    if (this.uncaptured.length > 0) {
      const messages = this.uncaptured.splice(0);
      throw new GpuError('validation', `an earlier GPU call failed outside an error scope:\n${messages.join('\n')}`);
    }
  }
}

type Command =
  | { op: 'dispatch'; kernel: Kernel; buffers: Bindable[]; workgroups: [number, number, number] }
  | { op: 'copy'; src: GPUBuffer; dst: GPUBuffer; size: number; srcOffset: number; dstOffset: number };

/** Dispatches and copies, encoded and submitted together; submit() throws on any GPU error. */
export class CommandBatch {
  private readonly commands: Command[] = [];

  constructor(
    private readonly gpu: Gpu,
    readonly label: string,
  ) {}

  get size(): number {
    return this.commands.length;
  }

  /**
   * Binds `buffers` (whole buffers or byte ranges of them) to @group(0) @binding(0…n-1) of the
   * kernel and dispatches `workgroups`.
   */
  dispatch(kernel: Kernel, buffers: Bindable[], workgroups: readonly number[]): this {
    const limits = this.gpu.info.limits;
    for (const bound of buffers) {
      const b = isRange(bound) ? bound.buffer : bound;
      const size = isRange(bound) ? bound.size : b.size;
      if (size > limits.maxStorageBufferBindingSize) {
        throw new GpuError(
          'limit',
          `buffer ${b.label || '(unlabeled)'} of ${size} bytes exceeds maxStorageBufferBindingSize ` +
            `(${limits.maxStorageBufferBindingSize} bytes); bind a range of it (the plan splits large tensors into windows)`,
          kernel.label,
        );
      }
    }
    const [x = 1, y = 1, z = 1] = workgroups;
    for (const n of [x, y, z]) {
      if (n > limits.maxComputeWorkgroupsPerDimension) {
        throw new GpuError(
          'limit',
          `dispatch of ${n} workgroups exceeds maxComputeWorkgroupsPerDimension (${limits.maxComputeWorkgroupsPerDimension})`,
          kernel.label,
        );
      }
    }
    this.commands.push({ op: 'dispatch', kernel, buffers, workgroups: [x, y, z] });
    return this;
  }

  copy(src: GPUBuffer, dst: GPUBuffer, size: number, srcOffset = 0, dstOffset = 0): this {
    this.commands.push({ op: 'copy', src, dst, size, srcOffset, dstOffset });
    return this;
  }

  /** Encodes every command into one command buffer, submits it, and checks the error scopes. */
  async submit(): Promise<void> {
    const gpu = this.gpu;
    const device = gpu.device;
    gpu.throwIfUnusable();
    gpu.pushScopes();
    try {
      this.encodeAndSubmit(device);
    } catch (e) {
      await gpu.popScopes(this.label);
      throw e;
    }
    const errors = await gpu.popScopes(this.label);
    if (errors.length > 0) {
      const kernels = [...new Set(this.commands.flatMap((c) => (c.op === 'dispatch' ? [c.kernel.label] : [])))];
      throw new GpuError(
        errors[0]!.kind,
        `${errors.map((e) => e.message).join('\n')}\n(kernels in this batch: ${kernels.join(', ') || 'none'})`,
        this.label,
      );
    }
  }

  /**
   * Records the commands into command buffers of at most PIECE_DISPATCHES dispatches each and
   * submits them one by one, telling the watch when each finishes (the queue runs them in order,
   * as one buffer would run).
   */
  private encodeAndSubmit(device: GPUDevice): void {
    const watch = this.gpu.watch;
    for (const piece of pieces(this.commands, this.gpu.pieceDispatches)) {
      const encoder = device.createCommandEncoder({ label: this.label });
      let pass: GPUComputePassEncoder | null = null;
      for (const c of piece) {
        if (c.op === 'copy') {
          pass?.end();
          pass = null;
          encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
          continue;
        }
        pass ??= encoder.beginComputePass({ label: this.label });
        const bindGroup = device.createBindGroup({
          layout: c.kernel.pipeline.getBindGroupLayout(0),
          entries: c.buffers.map((b, binding) => ({ binding, resource: isRange(b) ? { ...b } : { buffer: b } })),
        });
        pass.setPipeline(c.kernel.pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(...c.workgroups);
      }
      pass?.end();
      device.queue.submit([encoder.finish()]);
      const watched = watch.submitted(this.label, [...new Set(piece.flatMap((c) => (c.op === 'dispatch' ? [c.kernel.label] : [])))]);
      // A lost device rejects this; the loss itself is reported by every waiter.
      device.queue.onSubmittedWorkDone().then(() => watch.finished(watched), () => undefined);
    }
  }
}

/** Consecutive runs of the commands with at most `size` dispatches each. */
function pieces(commands: readonly Command[], size: number): Command[][] {
  const out: Command[][] = [];
  let current: Command[] = [];
  let dispatches = 0;
  for (const c of commands) {
    if (c.op === 'dispatch' && dispatches >= size) {
      out.push(current);
      current = [];
      dispatches = 0;
    }
    current.push(c);
    if (c.op === 'dispatch') dispatches++;
  }
  if (current.length > 0 || out.length === 0) out.push(current);
  return out;
}

/** Formats WGSL compiler messages as `label:line:col: error: text` with the line and a caret. */
export function formatCompilationMessages(
  messages: readonly GPUCompilationMessage[],
  wgsl: string,
  label: string,
): string {
  const lines = wgsl.split('\n');
  return messages
    .map((m) => {
      const head = `${label}:${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}`;
      const src = m.lineNum > 0 ? lines[m.lineNum - 1] : undefined;
      if (src === undefined) return head;
      const caret = ' '.repeat(Math.max(0, m.linePos - 1)) + '^'.repeat(Math.max(1, Math.min(m.length, src.length)));
      return `${head}\n  ${src}\n  ${caret}`;
    })
    .join('\n');
}
