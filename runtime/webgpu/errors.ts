// GpuError: every failure of the WebGPU runtime, as one error type with a kind.
// The runtime never returns zeros from a pipeline or dispatch that failed: it throws one of these.

export type GpuErrorKind =
  | 'no-adapter' // no WebGPU adapter of the requested class could be opened
  | 'validation' // a GPU validation error (bad WGSL, bad binding, over a limit)
  | 'out-of-memory'
  | 'internal'
  | 'device-lost' // the device was lost (driver reset, destroyed): pending work is rejected
  | 'timeout' // a readback or queue wait did not finish in time
  | 'limit'; // a request that exceeds an adapter limit, caught before it reached the GPU

export class GpuError extends Error {
  override readonly name = 'GpuError';
  constructor(
    readonly kind: GpuErrorKind,
    message: string,
    /** What was being done (pipeline label, batch label), for the reader of a log. */
    readonly label?: string,
  ) {
    super(label ? `${kind} error in ${label}: ${message}` : `${kind} error: ${message}`);
  }
}

