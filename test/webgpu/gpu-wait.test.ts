// Waits on the GPU scale with the work: a slow queue that keeps finishing work is waited for
// however long it takes, a queue that stops is reported with what it was running and how to
// raise the limit. A fake device in-process with fake timers: no real GPU, no real waits.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { GpuInfo } from '../../runtime/webgpu/device.ts';
import { GpuError } from '../../runtime/webgpu/errors.ts';
import { Gpu, type Kernel, PIECE_DISPATCHES } from '../../runtime/webgpu/gpu.ts';
import { DEFAULT_STALL_MS, QueueWatch, STALL_GROWTH } from '../../runtime/webgpu/queue-watch.ts';

/** A queue that runs its submissions one after another; each kernel takes `cost(label)` ms of fake time (Infinity: never ends). */
function fakeDevice(cost: (kernel: string) => number) {
  let busyUntil = 0;
  const submissions: string[][] = [];
  let loseDevice: (info: GPUDeviceLostInfo) => void = () => undefined;
  /** Resolves when everything submitted so far has run (never, past a kernel that hangs). */
  const idle = (): Promise<void> => {
    const at = busyUntil;
    if (at === Infinity) return new Promise(() => undefined);
    return new Promise((done) => setTimeout(done, Math.max(0, at - Date.now())));
  };
  const device = {
    lost: new Promise<GPUDeviceLostInfo>((resolve) => (loseDevice = resolve)),
    onuncapturederror: null,
    pushErrorScope: () => undefined,
    popErrorScope: () => Promise.resolve(null),
    createBuffer: (d: GPUBufferDescriptor) => ({
      size: d.size,
      label: d.label ?? '',
      getMappedRange: () => new ArrayBuffer(d.size),
      mapAsync: () => idle(),
      unmap: () => undefined,
      destroy: () => undefined,
    }),
    createBindGroup: () => ({}),
    createCommandEncoder: () => {
      const commands: string[] = [];
      let pipeline = '';
      return {
        beginComputePass: () => ({
          setPipeline: (p: { label: string }) => (pipeline = p.label),
          setBindGroup: () => undefined,
          dispatchWorkgroups: () => commands.push(pipeline),
          end: () => undefined,
        }),
        copyBufferToBuffer: () => commands.push('copy'),
        finish: () => ({ commands }),
      };
    },
    queue: {
      submit: ([cb]: { commands: string[] }[]) => {
        submissions.push(cb!.commands);
        const work = cb!.commands.reduce((t, k) => t + (k === 'copy' ? 0 : cost(k)), 0);
        busyUntil = Math.max(busyUntil, Date.now()) + work;
      },
      onSubmittedWorkDone: () => idle(),
      writeBuffer: () => undefined,
    },
    destroy: () => loseDevice({ reason: 'destroyed', message: '' } as GPUDeviceLostInfo),
  };
  const big = 2 ** 30;
  const info = { limits: { maxBufferSize: big, maxStorageBufferBindingSize: big, maxComputeWorkgroupsPerDimension: 65535 } } as unknown as GpuInfo;
  return { device: device as unknown as GPUDevice, info, submissions, lose: (message: string) => loseDevice({ reason: 'unknown', message } as GPUDeviceLostInfo) };
}

const kernel = (label: string): Kernel => ({ label, pipeline: { label, getBindGroupLayout: () => ({}) } as unknown as GPUComputePipeline });

/** A training step of `n` dispatches of `name`, then the readback of its clipping result. */
async function stepThenRead(gpu: Gpu, n: number, name = 'matmul', stuck?: { at: number; name: string }) {
  const out = gpu.buffer(16, { label: 'optim.clip' });
  const batch = gpu.commands('training step 1');
  for (let i = 0; i < n; i++) batch.dispatch(kernel(stuck && i === stuck.at ? stuck.name : name), [out], [1]);
  await batch.submit();
  return gpu.read(out);
}

/** Whether `p` has settled, and how, as fake time advances. */
function settleState<T>(p: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then((value) => Object.assign(state, { done: true, value }), (error: unknown) => Object.assign(state, { done: true, error }));
  return state;
}

describe('GPU waits that scale with the work', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a step of many slow dispatches is waited for past 60 s when the GPU keeps finishing work (GPT-2-small on SwiftShader)', async () => {
    const fake = fakeDevice(() => 2_000); // 2 s per dispatch
    const gpu = new Gpu(fake.device, fake.info);
    const read = settleState(stepThenRead(gpu, 150)); // 300 s of work before the readback
    await vi.advanceTimersByTimeAsync(299_000);
    expect(read.done).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(read.error).toBeUndefined();
    expect(read.done).toBe(true);
    // The step went to the queue in pieces, in order, each watched.
    expect(fake.submissions.length).toBe(Math.ceil(150 / PIECE_DISPATCHES) + 1);
    expect(fake.submissions.slice(0, -1).every((s) => s.length <= PIECE_DISPATCHES)).toBe(true);
    expect(fake.submissions.at(-1)).toEqual(['copy']);
  });

  it('a GPU that stops is reported after the limit, naming the wait, the stuck kernels and --gpu-timeout', async () => {
    const fake = fakeDevice((k) => (k === 'attention_grad_q' ? Infinity : 100));
    const gpu = new Gpu(fake.device, fake.info);
    const read = settleState(stepThenRead(gpu, 40, 'matmul', { at: 20, name: 'attention_grad_q' }));
    // The two pieces before the stuck one finish by 1.6 s; the limit counts from then.
    await vi.advanceTimersByTimeAsync(1_600 + DEFAULT_STALL_MS - 500);
    expect(read.done).toBe(false);
    expect(gpu.watch.limitMs()).toBe(DEFAULT_STALL_MS);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(read.error).toBeInstanceOf(GpuError);
    const e = read.error as GpuError;
    expect(e.kind).toBe('timeout');
    expect(e.message).toContain('readback of optim.clip did not finish');
    expect(e.message).toContain('the GPU finished no work for 60 s (waited 62 s in all');
    expect(e.message).toContain('still running: training step 1 [matmul, attention_grad_q] and 3 more submissions)');
    expect(e.message).toContain('--gpu-timeout SECONDS (0: no limit)');
    expect(e.message.split('\n')).toHaveLength(1);
  });

  it('the default limit grows to STALL_GROWTH times the slowest piece seen', async () => {
    const fake = fakeDevice((k) => (k === 'big' ? 30_000 : k === 'hang' ? Infinity : 10));
    const gpu = new Gpu(fake.device, fake.info);
    const first = settleState(stepThenRead(gpu, 1, 'big')); // one piece of 30 s: no problem under 60 s
    await vi.advanceTimersByTimeAsync(31_000);
    expect(first.done && first.error === undefined).toBe(true);
    expect(gpu.watch.limitMs()).toBe(STALL_GROWTH * 30_000);
    const stuck = settleState(stepThenRead(gpu, 1, 'hang'));
    await vi.advanceTimersByTimeAsync(STALL_GROWTH * 30_000 - 1_000);
    expect(stuck.done).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    expect((stuck.error as GpuError).message).toContain('finished no work for 300 s');
  });

  it('a fixed limit (--gpu-timeout) counts time without progress, not the whole wait', async () => {
    const fake = fakeDevice(() => 4_000 / PIECE_DISPATCHES); // 4 s per piece
    const gpu = new Gpu(fake.device, fake.info, { timeoutMs: 5_000 });
    const read = settleState(stepThenRead(gpu, 10 * PIECE_DISPATCHES)); // 40 s in all
    await vi.advanceTimersByTimeAsync(41_000);
    expect(read.error).toBeUndefined();
    expect(read.done).toBe(true);
    // One piece slower than the fixed limit is a timeout: a fixed limit does not grow.
    const slow = fakeDevice(() => 6_000);
    const strict = new Gpu(slow.device, slow.info, { timeoutMs: 5_000 });
    const late = settleState(stepThenRead(strict, 1));
    await vi.advanceTimersByTimeAsync(5_500);
    expect((late.error as GpuError).message).toMatch(/finished no work for 5\.0 s \(waited 5\.0 s in all; still running: training step 1 \[matmul\]/);
  });

  it('--gpu-timeout 0 waits without a limit', async () => {
    const fake = fakeDevice(() => 3 * 3600_000); // three hours
    const gpu = new Gpu(fake.device, fake.info, { timeoutMs: 0 });
    const read = settleState(stepThenRead(gpu, 1));
    await vi.advanceTimersByTimeAsync(3 * 3600_000 + 1_000);
    expect(read.error).toBeUndefined();
    expect(read.done).toBe(true);
  });

  it('a device lost during a wait is reported as such, not as a timeout', async () => {
    const fake = fakeDevice(() => Infinity);
    const gpu = new Gpu(fake.device, fake.info);
    const read = settleState(stepThenRead(gpu, 1));
    await vi.advanceTimersByTimeAsync(1_000);
    fake.lose('driver reset');
    await vi.advanceTimersByTimeAsync(1);
    expect((read.error as GpuError).kind).toBe('device-lost');
    expect((read.error as GpuError).message).toContain('driver reset while waiting for readback of optim.clip');
  });

  it('limits outside 0 … 2^31 − 1 ms are refused', () => {
    expect(() => new QueueWatch(-1)).toThrow(/from 0 to 2147483647 ms, not -1/);
    expect(() => new QueueWatch(Number.NaN)).toThrow(RangeError);
    expect(() => new QueueWatch(2 ** 31)).toThrow(RangeError);
  });
});
