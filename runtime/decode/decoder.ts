// What generation asks of a backend that decodes with a key/value cache: start sequences (one
// prefill each, batched), then extend them a token at a time, reading only the logits of the
// last position. Rows are independent: each may stop or restart (a slid window) on its own.
export interface Decoder {
  /** For notes: `cpu`, `webgpu (…)`. */
  readonly name: string;
  /** Soft prompt tokens each prefill prepends (prompt tuning). */
  readonly promptLength: number;
  /** The first position id of a sequence (the prefix length under prefix tuning). */
  readonly positionOffset: number;
  /**
   * New rows, one per prompt, each prefilled; `rowInputs` gives per-row integer graph inputs
   * (`adapter_ids`: the adapter of each row). The rows' indices and each row's last logits.
   */
  start(prompts: number[][], rowInputs?: Record<string, number[]>): Promise<{ rows: number[]; logits: Float32Array[] }>;
  /** Appends tokens[i] to rows[i] (in one batch); the logits after it, per row. */
  next(rows: number[], tokens: number[]): Promise<Float32Array[]>;
  /** Frees rows (finished sequences, or windows about to be prefilled again). */
  drop(rows: number[]): void;
  /**
   * Room for `rows` sequences of up to `positions` positions each (soft prompt tokens included),
   * before the first start(): a cache of fixed size (WebGPU) is made for it; the CPU's grows.
   */
  reserve?(rows: number, positions: number): void;
  /** Frees what the decoder holds (its GPU buffers). */
  close?(): void;
}
