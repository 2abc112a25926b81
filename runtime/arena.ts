// Parameter storage as two physical arenas, as on the GPU: one for the frozen
// partition, one contiguous arena for the trainable partition (so the optimizer is
// one pass over one array, and a checkpoint of a fine-tune is that array).
import type { Graph, Param } from '../compiler/ir/types.ts';
import type { FloatArray, Precision } from './cpu/tensor.ts';
import { allocFloat } from './cpu/tensor.ts';
import { checkParamsFit } from '../compiler/size.ts';

export interface ArenaSlot {
  param: Param;
  offset: number;
  size: number;
}

export class Arena {
  readonly data: FloatArray;
  readonly slots: ArenaSlot[];
  private readonly byPath: Map<string, ArenaSlot>;

  /**
   * `config` (the graph's) lets a too-large arena's error name the constants behind it; `data`, when
   * given, is the memory to lay the parameters over instead of a new array (the wasm backend's
   * copy in WebAssembly memory).
   */
  constructor(params: Param[], precision: Precision, what = 'the parameters', config?: Graph['config'], data?: FloatArray) {
    checkParamsFit(params, precision === 'f64' ? 8 : 4, what, config);
    let offset = 0;
    this.slots = params.map((p) => {
      const size = p.shape.reduce((a, b) => a * b, 1);
      const slot = { param: p, offset, size };
      offset += size;
      return slot;
    });
    if (data && data.length !== offset) throw new Error(`an arena of ${offset} values laid over ${data.length}`);
    this.data = data ?? allocFloat(offset, precision);
    this.byPath = new Map(this.slots.map((s) => [s.param.path, s]));
  }

  get size(): number {
    return this.data.length;
  }

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  slot(path: string): ArenaSlot {
    const s = this.byPath.get(path);
    if (!s) throw new Error(`no parameter ${path} in this arena`);
    return s;
  }

  /** A view (no copy) of one parameter's values. */
  view(path: string): FloatArray {
    const s = this.slot(path);
    return this.data.subarray(s.offset, s.offset + s.size);
  }
}

export interface ParamStore {
  frozen: Arena;
  trainable: Arena;
}

export function createStore(g: Graph, precision: Precision): ParamStore {
  return {
    frozen: new Arena(g.params.filter((p) => p.partition === 'frozen'), precision, 'the frozen parameters', g.config),
    trainable: new Arena(g.params.filter((p) => p.partition === 'trainable'), precision, 'the trainable parameters', g.config),
  };
}

export function paramView(store: ParamStore, path: string): FloatArray {
  return store.trainable.has(path) ? store.trainable.view(path) : store.frozen.view(path);
}
