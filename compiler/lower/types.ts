// The plan's data types: buffers, byte regions, dispatch and copy steps, statistics. A plan is
// plain data (JSON-serialisable); compiler/lower/plan.ts builds it, runtime/webgpu/executor.ts runs it.
import type { OptimizerConfig } from '../autodiff/backward.ts';
import type { FusionKind } from './fuse.ts';
import type { ArenaLayout } from './memory.ts';

export type BufferKind =
  | 'frozen' // frozen parameters
  | 'trainable' // trainable parameters
  | 'grads' // their gradients (trainable layout)
  | 'optim-state' // Adam m and v, SGD momentum (trainable layout)
  | 'optim-scratch' // decay mask, hyper-parameters, partial sums, clip factor
  | 'activation' // pooled activations and backward temporaries
  | 'input' // tokens and targets
  | 'kv-cache' // a decoding plan's keys and values of every position so far (kept between runs)
  | 'globals'; // u32 [step, training, 0, 0] for kernels that read the step (dropout)

export interface PlanBuffer {
  id: number;
  label: string;
  kind: BufferKind;
  bytes: number;
}

/** A byte range of a plan buffer (offsets are multiples of 256 where a range is bound). */
export interface Region {
  buffer: number;
  offset: number;
  bytes: number;
}

export type Phase = 'forward' | 'backward' | 'optimizer';

export interface DispatchStep {
  kind: 'dispatch';
  label: string;
  /** Index into plan.shaders. */
  shader: number;
  workgroups: [number, number, number];
  bindings: Region[];
  /** Indices into `bindings` the kernel writes (the rest are read-only). */
  writes: number[];
  phase: Phase;
  /** IR nodes this dispatch computes (empty for optimizer kernels). */
  nodes: number[];
  /** The kernel's open sizes (Kernel.sizes): the runtime binds them as a uniform after `bindings`. */
  sizes?: number[];
}

export interface CopyStep {
  kind: 'copy';
  label: string;
  src: Region;
  dst: Region;
  phase: Phase;
  nodes: number[];
}

export type PlanStep = DispatchStep | CopyStep;

export interface PlanShader {
  label: string;
  wgsl: string;
}

export interface PlanStats {
  frozenBytes: number;
  trainableBytes: number;
  gradBytes: number;
  /** Adam m and v (or SGD momentum). */
  optimizerStateBytes: number;
  /** Decay mask, hyper-parameters, partial sums. */
  optimizerScratchBytes: number;
  /** Bytes of the activation pool: what the plan allocates for activations and temporaries. */
  activationPeakBytes: number;
  /** What the activations would take with one buffer per value. */
  activationNoReuseBytes: number;
  /** The largest sum of simultaneously live values (a lower bound for any allocator). */
  activationLiveMaxBytes: number;
  inputBytes: number;
  /** Rows of logits per chunk of the chunked loss (PlanOptions.lossChunkBytes), and the chunks; absent when the logits are whole. */
  lossChunk?: { rows: number; chunks: number; vocab: number };
}

export interface PlanFusion {
  kind: FusionKind;
  nodes: number[];
}

export interface Plan {
  dims: { B: number; T: number };
  /** 'train': dropout draws its mask (from globals[0], the step); 'eval': dropout is the identity. */
  dropout: 'train' | 'eval';
  /** Whether the plan has a backward pass and an optimizer (false: forward only). */
  training: boolean;
  /** What the plan was made for: a software adapter's kernels or not, and the binding limit. */
  gpu: { isSoftware: boolean; maxStorageBufferBindingSize: number };
  buffers: PlanBuffer[];
  shaders: PlanShader[];
  steps: PlanStep[];
  /** steps[0, forwardEnd) are the forward pass, [forwardEnd, backwardEnd) the backward, then the optimizer. */
  forwardEnd: number;
  backwardEnd: number;
  frozen: ArenaLayout;
  trainable: ArenaLayout;
  /** Buffer ids of the fixed buffers; absent where a plan has none (no optimizer when forward only). */
  ids: {
    /** The frozen arena's buffer; with `frozenParts`, the first of several. */
    frozen: number;
    /**
     * When the frozen arena is larger than maxBufferSize: its buffers, one per range of whole
     * slots (`start`, `bytes` in arena bytes; a slot's offset in its buffer is offset − start).
     */
    frozenParts?: { buffer: number; start: number; bytes: number }[];
    trainable: number;
    grads: number;
    m?: number;
    v?: number;
    decay?: number;
    hyper?: number;
    partials?: number;
    clip?: number;
    globals: number;
    tokens: number;
    /** −1 without targets. */
    targets: number;
  };
  io: {
    tokens: Region & { shape: number[] };
    /** Absent in a plan of a decoding graph (logits only, no loss). */
    targets?: Region & { shape: number[] };
    /**
     * Further graph inputs by name (`adapter_ids` i32 [B]), when the graph has any. `fill`: the
     * value a batch that leaves the input out gets everywhere (`lengths`: the sequence length).
     */
    extra?: Record<string, Region & { shape: number[]; fill?: number }>;
    /** Absent in a plan that computes the loss over chunks of rows (PlanOptions.lossChunkBytes). */
    logits?: Region & { shape: number[] };
    loss: Region;
  };
  /**
   * Where each IR node's value lives while it is live (null for nodes the plan does not compute
   * or that a fusion absorbed). Pool buffers are shared, so a region holds its value only
   * between the dispatch that writes it and its last reader.
   */
  values: (Region | null)[];
  /** Where each trainable parameter's gradient lands: its slot of the gradient arena. */
  grads: { path: string; node: number; region: Region }[];
  optimizer: OptimizerConfig;
  fusions: PlanFusion[];
  stats: PlanStats;
}
